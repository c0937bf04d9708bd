//! Reports over the aggregation runs the aggregator writes: reading a run's rows back from
//! the result tables and rendering them. The aggregator only computes and writes; everything
//! an analyst reads (the terminal table, the JSON contract, the static HTML page) is rendered
//! here, from the same [`Report`] value.
//!
//! # Layout
//! - [`read`]: loading the newest run of each experiment ([`load`]) from ClickHouse.
//! - [`table`]: the text table of `abacus report`.
//! - [`json`]: the JSON contract of `abacus report --format json`.
//! - [`network`]: randomization units, the sample ratio alert and interactions, in words.
//! - [`html`]: one self-contained HTML page with inline SVG charts.
//! - [`baseline`]: comparisons against another variant than the control (more than two arms).
//! - [`decision`]: health checks and the ship / do-not-decide / keep-running decision (pure).
//! - [`progress`]: how far an experiment is, toward its planned sample or planned end.
//! - [`view`]: the experiment page's metrics table as values; the CSV and JSON exports.
//! - [`pages`]: the dashboard's server-rendered pages (list, experiment, run history).
//! - [`statements`]: every statement the reports run, rendered for the SQL check.
//! - [`text`]: free text (names, hypotheses, segment values) made safe for a terminal or HTML.
//! - [`error`](mod@error): the error type, [`ReportError`].
//!
//! The number formatting shared by every output ([`num`], [`pct`], [`pvalue`], [`verdict`],
//! [`cuped_note`], [`bayes_note`]) lives in this file.

pub mod baseline;
pub mod decision;
pub mod error;
pub mod html;
pub mod json;
pub mod network;
pub mod pages;
pub mod progress;
pub mod read;
pub mod statements;
pub mod table;
pub mod text;
pub mod view;

#[cfg(test)]
mod fixtures;

use abacus_aggregator::model::{BalanceRow, ResultRow, RunRow, SegmentRow, SeriesRow};
use abacus_assign::Experiment;
use chrono::{DateTime, Utc};

pub use error::ReportError;
pub use read::{load, LATEST_RUNS};

/// Everything a report shows for one experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Human-readable name from the registry (the id when unknown).
    pub name: String,
    /// The hypothesis from the registry.
    pub hypothesis: String,
    /// Control variant of the design.
    pub control: String,
    /// The variant the comparisons are against: the control, or another variant picked as
    /// baseline ([`baseline::rebase`]).
    pub baseline: String,
    /// The definition from the registry (absent when the registry no longer has it).
    pub definition: Option<Experiment>,
    /// Whether the experiment uses sequential testing.
    pub sequential: bool,
    /// The run.
    pub run: RunRow,
    /// One row per metric and treatment.
    pub results: Vec<ResultRow>,
    /// Cumulative series by exposure day.
    pub series: Vec<SeriesRow>,
    /// Per segment value.
    pub segments: Vec<SegmentRow>,
    /// Covariate balance.
    pub balance: Vec<BalanceRow>,
    /// The newest interaction check's tests involving this experiment (flagged first).
    pub interactions: Vec<abacus_aggregator::interactions::InteractionRow>,
}

impl Report {
    /// The analysis time.
    pub fn as_of(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.run.as_of_ms).unwrap_or_default()
    }

    /// When the run was computed.
    pub fn computed_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(i64::from(self.run.computed_at), 0).unwrap_or_default()
    }
}

/// A number with `digits` significant digits, without exponent for everyday magnitudes.
pub fn num(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_owned();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..=9).contains(&magnitude) {
        return format!("{x:.*e}", digits.saturating_sub(1));
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A share as a percentage with sign, e.g. `+8.12%`.
pub fn pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

/// A p-value: 4 decimals, or `<0.0001`.
pub fn pvalue(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".to_owned()
    } else {
        format!("{p:.4}")
    }
}

/// Whether the row has a comparison at all (values, lifts, intervals, a p-value): not when
/// the statistics could not be computed (too few users, no variance, sums that overflow).
pub fn compared(r: &ResultRow) -> bool {
    !r.method.is_empty()
}

/// Whether the row has the test its verdict needs: a comparison and no error (a sequential or
/// Bayesian test that could not be computed leaves the row untested).
pub fn tested(r: &ResultRow) -> bool {
    compared(r) && r.error.is_empty()
}

/// Why a row has no test.
pub fn no_test_reason(r: &ResultRow) -> String {
    if !r.error.is_empty() {
        r.error.clone()
    } else {
        "no comparison was computed".to_owned()
    }
}

/// The verdict of one result row, in words.
pub fn verdict(r: &ResultRow) -> String {
    if !tested(r) {
        return "no test".to_owned();
    }
    if r.is_guardrail == 1 {
        return format!("guardrail {}", r.guardrail_verdict);
    }
    let better = match r.direction.as_str() {
        "decrease" => r.abs_lift < 0.0,
        _ => r.abs_lift > 0.0,
    };
    match (r.significant == 1, better) {
        (true, true) => "better".to_owned(),
        (true, false) => "worse".to_owned(),
        (false, _) if r.engine == "bayesian" => "inconclusive".to_owned(),
        (false, _) => "not significant".to_owned(),
    }
}

/// A lift and its interval, relative when the row has one, else absolute.
fn lift_text(
    rel: Option<f64>,
    lo: Option<f64>,
    hi: Option<f64>,
    abs: f64,
    abs_ci: (f64, f64),
) -> String {
    match (rel, lo, hi) {
        (Some(l), Some(lo), Some(hi)) => format!("{} [{}, {}]", pct(l), pct(lo), pct(hi)),
        _ => format!(
            "{:+} [{}, {}] abs",
            num(abs, 4),
            num(abs_ci.0, 3),
            num(abs_ci.1, 3)
        ),
    }
}

/// For a CUPED row: the variance reduction, θ and the unadjusted estimate, and that the
/// verdict uses the adjusted one.
pub fn cuped_note(r: &ResultRow) -> Option<String> {
    if r.cuped != 1 {
        return None;
    }
    let reduction = r.variance_reduction.unwrap_or(0.0);
    let unadjusted = match (
        r.abs_lift_unadjusted,
        r.ci_abs_low_unadjusted,
        r.ci_abs_high_unadjusted,
    ) {
        (Some(abs), Some(lo), Some(hi)) => format!(
            "; unadjusted lift {}, p {}",
            lift_text(
                r.rel_lift_unadjusted,
                r.ci_rel_low_unadjusted,
                r.ci_rel_high_unadjusted,
                abs,
                (lo, hi)
            ),
            r.p_value_unadjusted.map_or("–".to_owned(), pvalue)
        ),
        _ => String::new(),
    };
    Some(format!(
        "CUPED: variance reduced by {:.1}% (theta {}){unadjusted}; the verdict uses the adjusted estimate",
        reduction * 100.0,
        num(r.cuped_theta.unwrap_or(0.0), 3),
    ))
}

/// For a Bayesian row: chance to win and the risk of each choice.
pub fn bayes_note(r: &ResultRow) -> Option<String> {
    let chance = r.chance_to_win?;
    Some(format!(
        "chance to win {:.1}%, risk {:.3}% choosing {} / {:.3}% keeping {}",
        chance * 100.0,
        r.risk_treatment.unwrap_or(0.0) * 100.0,
        r.variant,
        r.risk_control.unwrap_or(0.0) * 100.0,
        r.control
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(num(0.123456, 4), "0.1235");
        assert_eq!(num(1234.5678, 4), "1235");
        assert_eq!(num(5.0, 4), "5.000");
        assert_eq!(pct(0.0812), "+8.12%");
        assert_eq!(pct(-0.5), "-50.00%");
        assert_eq!(pvalue(0.00001), "<0.0001");
        assert_eq!(pvalue(0.04321), "0.0432");
    }
}
