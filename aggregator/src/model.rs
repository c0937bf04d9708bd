//! Rows of the result tables (written by a pass, read back by `abacus-report`) and the sufficient
//! statistics they are computed from. Field order follows the tables in
//! `schema/migrations/0005_results.sql` (then the columns `0006_cuped_bayesian.sql` adds);
//! every column is documented in `schema/README.md`.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// Sufficient statistics of one metric over a group of users: `x` is the per-user value
/// (numerator of a ratio, after winsorization), `y` the denominator of a ratio, `p` the CUPED
/// covariate (the same metric before the first exposure; 0 without CUPED).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sums {
    /// Users counted (for retention: eligible users).
    pub n: u64,
    /// Users with `x > 0` (converted users of conversion and retention metrics).
    pub converted: u64,
    /// Σx.
    pub sx: f64,
    /// Σx².
    pub sxx: f64,
    /// Σy.
    pub sy: f64,
    /// Σy².
    pub syy: f64,
    /// Σxy.
    pub sxy: f64,
    /// Σp.
    pub sp: f64,
    /// Σp².
    pub spp: f64,
    /// Σxp.
    pub sxp: f64,
}

impl Sums {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Sums) {
        self.n += other.n;
        self.converted += other.converted;
        self.sx += other.sx;
        self.sxx += other.sxx;
        self.sy += other.sy;
        self.syy += other.syy;
        self.sxy += other.sxy;
        self.sp += other.sp;
        self.spp += other.spp;
        self.sxp += other.sxp;
    }
}

/// Users of one variant exposed on one day (UTC, by `t0`), with per-metric sums.
#[derive(Clone, Debug, PartialEq)]
pub struct DayCell {
    /// Variant.
    pub variant: String,
    /// Days since 1970-01-01 of the first exposure.
    pub day: i64,
    /// Users.
    pub users: u64,
    /// Per metric, in definition order.
    pub metrics: Vec<Sums>,
}

/// Users of one variant with one value of a segment key, with per-metric sums.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentCell {
    /// Variant.
    pub variant: String,
    /// Segment key (e.g. `region`).
    pub key: String,
    /// Its value on the first exposure (`''` when absent).
    pub value: String,
    /// Users.
    pub users: u64,
    /// Per metric, in definition order.
    pub metrics: Vec<Sums>,
}

/// One row of `experiment_runs`.
#[derive(Clone, Debug, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct RunRow {
    pub run_id: u64,
    pub experiment_id: String,
    pub definition_version: u32,
    /// Unix seconds.
    pub computed_at: u32,
    pub as_of_ms: i64,
    pub mode: String,
    pub recomputed_users: u64,
    pub users: u64,
    pub multiple_exposure_users: u64,
    pub variants: Vec<String>,
    pub variant_users: Vec<u64>,
    pub variant_weights: Vec<f64>,
    pub srm_chi2: f64,
    pub srm_p_value: f64,
    pub srm_mismatch: u8,
    pub elapsed_ms: u64,
    pub warnings: Vec<String>,
    /// `user` (randomized by user), `cluster` (by the `unit` attribute) or `switchback`.
    pub design: String,
    /// The randomization unit's metadata key ('' for users).
    pub unit: String,
    /// Clusters (cluster design) or units (switchback) analysed.
    pub clusters: u64,
    /// Per variant: clusters (cluster design) or (unit, window) cells (switchback).
    pub variant_clusters: Vec<u64>,
    /// Analysed users (cluster design) or events (switchback) without the unit's value.
    pub unit_missing: u64,
    /// Switchback: events in a window's burn-in, left out of the metrics.
    pub burn_in_events: u64,
    /// What the sample ratio tests counted: `users`, `clusters` or `cells`.
    pub srm_unit: String,
    /// Always-valid SRM p-value (Dirichlet–multinomial mixture); the daemon alerts on it.
    pub srm_sequential_p_value: f64,
    pub srm_sequential_log_bf: f64,
    pub srm_sequential_mismatch: u8,
}

/// One row of `results`: a metric of a treatment variant against control.
#[derive(Clone, Debug, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct ResultRow {
    pub run_id: u64,
    pub experiment_id: String,
    /// Unix seconds.
    pub computed_at: u32,
    pub as_of_ms: i64,
    pub metric: String,
    pub kind: String,
    pub is_primary: u8,
    pub is_guardrail: u8,
    pub direction: String,
    pub control: String,
    pub variant: String,
    pub control_users: u64,
    pub treatment_users: u64,
    pub control_value: f64,
    pub treatment_value: f64,
    pub control_conversions: u64,
    pub treatment_conversions: u64,
    pub abs_lift: f64,
    pub rel_lift: Option<f64>,
    pub ci_abs_low: f64,
    pub ci_abs_high: f64,
    pub ci_rel_low: Option<f64>,
    pub ci_rel_high: Option<f64>,
    pub method: String,
    pub p_value: f64,
    pub p_value_sequential: Option<f64>,
    pub p_value_adjusted: f64,
    pub significant: u8,
    pub alpha: f64,
    pub winsorize_cap: Option<f64>,
    pub guardrail_verdict: String,
    pub guardrail_p_value: Option<f64>,
    pub guardrail_bound: Option<f64>,
    pub simpson: u8,
    pub simpson_key: String,
    pub srm_p_value: f64,
    pub srm_mismatch: u8,
    pub error: String,
    /// `frequentist` or `bayesian`.
    pub engine: String,
    /// 1 when the estimates, intervals and p-value above are CUPED-adjusted.
    pub cuped: u8,
    pub cuped_theta: Option<f64>,
    pub variance_reduction: Option<f64>,
    pub control_value_unadjusted: Option<f64>,
    pub treatment_value_unadjusted: Option<f64>,
    pub abs_lift_unadjusted: Option<f64>,
    pub rel_lift_unadjusted: Option<f64>,
    pub ci_abs_low_unadjusted: Option<f64>,
    pub ci_abs_high_unadjusted: Option<f64>,
    pub ci_rel_low_unadjusted: Option<f64>,
    pub ci_rel_high_unadjusted: Option<f64>,
    pub p_value_unadjusted: Option<f64>,
    pub chance_to_win: Option<f64>,
    pub risk_control: Option<f64>,
    pub risk_treatment: Option<f64>,
    /// Users of control and this variant the sequential test was tuned to.
    pub planned_users: Option<u64>,
    /// `user`, or the unit the comparison is clustered by (`company_id`; `city` for a
    /// switchback).
    pub analysis_unit: String,
    /// Clusters (cluster design) or (unit, window) cells (switchback) in control.
    pub control_clusters: u64,
    /// The same in the treatment variant.
    pub treatment_clusters: u64,
    /// What a user-level analysis would give (cluster designs): its interval and p-value.
    pub user_level_ci_abs_low: Option<f64>,
    pub user_level_ci_abs_high: Option<f64>,
    pub user_level_p_value: Option<f64>,
}

/// One row of `results_series`: cumulative comparison up to the end of `day`.
#[derive(Clone, Debug, PartialEq, Row, Serialize, Deserialize)]
pub struct SeriesRow {
    pub run_id: u64,
    pub experiment_id: String,
    pub metric: String,
    pub variant: String,
    /// Days since 1970-01-01.
    pub day: u16,
    pub control_users: u64,
    pub treatment_users: u64,
    pub control_value: f64,
    pub treatment_value: f64,
    pub abs_lift: f64,
    pub rel_lift: Option<f64>,
    pub ci_abs_low: f64,
    pub ci_abs_high: f64,
    pub ci_rel_low: Option<f64>,
    pub ci_rel_high: Option<f64>,
    pub p_value: f64,
    pub error: String,
}

/// One row of `results_segments`.
#[derive(Clone, Debug, PartialEq, Row, Serialize, Deserialize)]
pub struct SegmentRow {
    pub run_id: u64,
    pub experiment_id: String,
    pub metric: String,
    pub segment_key: String,
    pub segment_value: String,
    pub variant: String,
    pub control_users: u64,
    pub treatment_users: u64,
    pub control_value: f64,
    pub treatment_value: f64,
    pub abs_lift: f64,
    pub rel_lift: Option<f64>,
    pub ci_abs_low: f64,
    pub ci_abs_high: f64,
    pub p_value: f64,
    pub error: String,
}

/// One row of `results_balance`.
#[derive(Clone, Debug, PartialEq, Row, Serialize, Deserialize)]
pub struct BalanceRow {
    pub run_id: u64,
    pub experiment_id: String,
    pub segment_key: String,
    pub segment_value: String,
    pub variant: String,
    pub users: u64,
    pub chi2: f64,
    pub df: u32,
    pub p_value: f64,
}

/// Everything one pass computed for one experiment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    pub run: Option<RunRow>,
    pub results: Vec<ResultRow>,
    pub series: Vec<SeriesRow>,
    pub segments: Vec<SegmentRow>,
    pub balance: Vec<BalanceRow>,
}
