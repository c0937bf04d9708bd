//! Turns sufficient statistics into the result rows of one experiment: sample ratio check,
//! one comparison per metric and treatment variant (with sequential and Holm-adjusted
//! p-values and guardrail verdicts), the cumulative series by exposure day, the segment
//! breakdown with its Simpson check, and covariate balance. Pure: no I/O.
//!
//! Conventions (also in the README):
//! - Holm's correction runs over the experiment's non-guardrail metrics × treatment variants;
//!   it adjusts the sequential p-values when the experiment is sequential, else the
//!   fixed-horizon ones. `significant` is `p_value_adjusted < alpha`. Guardrails are judged by
//!   their non-inferiority test and keep their own p-value. Under the Bayesian engine
//!   `significant` is the Bayesian verdict and no correction applies (see [`crate::engine`]).
//! - A sequential experiment with a plan tunes its test to the planned users of each
//!   control/treatment pair; a plan that gives no size is reported in the run's warnings.
//! - Users exposed to a variant the definition does not name are left out and reported in
//!   the run's warnings.
//! - Simpson check: a metric is flagged for a segment key when the pooled lift is non-zero and
//!   every segment of that key (at least two, each with a valid comparison) has a lift of the
//!   opposite sign.

use std::collections::BTreeMap;

use abacus_assign::{Direction, Engine, Experiment, MetricKind};
use abacus_stats::{adjust_p_values, srm_test, Correction, SequentialConfig};

use crate::breakdown;
use crate::engine::{fill_row, planned_pair_users};
use crate::model::{Analysis, DayCell, ResultRow, RunRow, SegmentCell, Sums};

/// Everything an analysis needs besides the statistics.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The definition.
    pub experiment: &'a Experiment,
    /// Its registry version.
    pub definition_version: u32,
    /// The pass.
    pub run_id: u64,
    /// When the pass ran, Unix seconds.
    pub computed_at: u32,
    /// Analysis time, epoch ms.
    pub as_of_ms: i64,
    /// `full` or `incremental`.
    pub mode: &'static str,
    /// User rows written by the pass.
    pub recomputed_users: u64,
    /// SRM p-value threshold.
    pub srm_threshold: f64,
    /// Sequential test mixing variance.
    pub mixing_variance: f64,
}

/// Statistics read from ClickHouse.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Per (variant, day).
    pub days: Vec<DayCell>,
    /// Per (variant, segment value).
    pub segments: Vec<SegmentCell>,
    /// Users excluded for several variants.
    pub multiple_exposure_users: u64,
    /// Winsorization cap per metric.
    pub caps: Vec<Option<f64>>,
}

pub(crate) fn empty(metrics: usize) -> Vec<Sums> {
    vec![Sums::default(); metrics]
}

pub(crate) fn add_all(into: &mut [Sums], from: &[Sums]) {
    for (a, b) in into.iter_mut().zip(from) {
        a.add(b);
    }
}

fn kind_name(kind: MetricKind) -> &'static str {
    MetricKind::ALL
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("conversion", |(n, _)| n)
}

/// Runs the analysis.
pub fn analyze(ctx: &Context<'_>, inputs: &Inputs) -> Analysis {
    let e = ctx.experiment;
    let metrics = e.metrics.len();
    let defined: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
    let mut warnings = Vec::new();

    // Totals per defined variant.
    let mut users: BTreeMap<&str, u64> = BTreeMap::new();
    let mut totals: BTreeMap<&str, Vec<Sums>> = BTreeMap::new();
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for cell in &inputs.days {
        if defined.contains(&cell.variant.as_str()) {
            *users.entry(&cell.variant).or_default() += cell.users;
            add_all(
                totals
                    .entry(&cell.variant)
                    .or_insert_with(|| empty(metrics)),
                &cell.metrics,
            );
        } else {
            *unknown.entry(&cell.variant).or_default() += cell.users;
        }
    }
    for (variant, n) in &unknown {
        warnings.push(format!(
            "{n} users were exposed to variant \"{variant}\", which the definition does not name; they are left out"
        ));
    }
    let variant_users: Vec<u64> = defined
        .iter()
        .map(|v| users.get(v).copied().unwrap_or(0))
        .collect();
    let weights: Vec<f64> = e.variants.iter().map(|v| f64::from(v.weight)).collect();
    let analysed: u64 = variant_users.iter().sum();
    let (srm_chi2, srm_p, srm_mismatch) =
        match srm_test(&variant_users, &weights, ctx.srm_threshold) {
            Ok(r) => (r.chi2, r.p_value, r.mismatch),
            Err(err) => {
                warnings.push(format!("no sample ratio check: {err}"));
                (0.0, 1.0, false)
            }
        };

    let seq = SequentialConfig {
        alpha: e.alpha,
        mixing_variance: ctx.mixing_variance,
        expected_users: None,
    };
    let mut planned = BTreeMap::new();
    for v in &e.variants {
        if e.sequential && v.name != e.control {
            let users = planned_pair_users(e, &v.name).unwrap_or_else(|err| {
                warnings.push(format!(
                    "the sequential test of {} uses the default mixing variance: {err}",
                    v.name
                ));
                None
            });
            planned.insert(v.name.as_str(), users);
        }
    }
    let zero = empty(metrics);
    let sums_of = |v: &str| totals.get(v).unwrap_or(&zero).clone();
    let control = sums_of(&e.control);
    let treatments: Vec<&str> = defined
        .iter()
        .copied()
        .filter(|v| *v != e.control)
        .collect();

    let mut results = Vec::new();
    for (i, m) in e.metrics.iter().enumerate() {
        for t in &treatments {
            let treatment = sums_of(t);
            let (c, tr) = (&control[i], &treatment[i]);
            let seq = SequentialConfig {
                expected_users: planned.get(t).copied().flatten(),
                ..seq
            };
            let mut row = ResultRow {
                run_id: ctx.run_id,
                experiment_id: e.id.clone(),
                computed_at: ctx.computed_at,
                as_of_ms: ctx.as_of_ms,
                metric: m.name.clone(),
                kind: kind_name(m.kind).to_owned(),
                is_primary: u8::from(m.primary),
                is_guardrail: u8::from(m.guardrail),
                direction: match m.direction {
                    Direction::Increase => "increase",
                    Direction::Decrease => "decrease",
                }
                .to_owned(),
                control: e.control.clone(),
                variant: (*t).to_owned(),
                control_users: c.n,
                treatment_users: tr.n,
                control_value: crate::compare::value(m.kind, c),
                treatment_value: crate::compare::value(m.kind, tr),
                control_conversions: if matches!(
                    m.kind,
                    MetricKind::Conversion | MetricKind::Retention
                ) {
                    c.converted
                } else {
                    0
                },
                treatment_conversions: if matches!(
                    m.kind,
                    MetricKind::Conversion | MetricKind::Retention
                ) {
                    tr.converted
                } else {
                    0
                },
                abs_lift: 0.0,
                rel_lift: None,
                ci_abs_low: 0.0,
                ci_abs_high: 0.0,
                ci_rel_low: None,
                ci_rel_high: None,
                method: String::new(),
                p_value: 1.0,
                p_value_sequential: None,
                p_value_adjusted: 1.0,
                significant: 0,
                alpha: e.alpha,
                winsorize_cap: inputs.caps.get(i).copied().flatten(),
                guardrail_verdict: String::new(),
                guardrail_p_value: None,
                guardrail_bound: None,
                simpson: 0,
                simpson_key: String::new(),
                srm_p_value: srm_p,
                srm_mismatch: u8::from(srm_mismatch),
                error: String::new(),
                engine: String::new(),
                cuped: 0,
                cuped_theta: None,
                variance_reduction: None,
                control_value_unadjusted: None,
                treatment_value_unadjusted: None,
                abs_lift_unadjusted: None,
                rel_lift_unadjusted: None,
                ci_abs_low_unadjusted: None,
                ci_abs_high_unadjusted: None,
                ci_rel_low_unadjusted: None,
                ci_rel_high_unadjusted: None,
                p_value_unadjusted: None,
                chance_to_win: None,
                risk_control: None,
                risk_treatment: None,
                planned_users: None,
                analysis_unit: "user".to_owned(),
                ..ResultRow::default()
            };
            fill_row(&mut row, e, m, c, tr, &seq);
            results.push(row);
        }
    }
    if e.engine == Engine::Bayesian {
        for r in &mut results {
            r.p_value_adjusted = r.p_value;
            if r.chance_to_win.is_none() {
                r.significant = 0;
            }
        }
    } else {
        adjust(&mut results, e.sequential);
    }

    let segments = breakdown::segment_rows(ctx, inputs, &treatments);
    breakdown::simpson(&mut results, &segments);
    let balance = breakdown::balance_rows(ctx, inputs, &defined, &mut warnings);
    let series = breakdown::series_rows(ctx, inputs, &treatments);

    let run = RunRow {
        run_id: ctx.run_id,
        experiment_id: e.id.clone(),
        definition_version: ctx.definition_version,
        computed_at: ctx.computed_at,
        as_of_ms: ctx.as_of_ms,
        mode: ctx.mode.to_owned(),
        recomputed_users: ctx.recomputed_users,
        users: analysed,
        multiple_exposure_users: inputs.multiple_exposure_users,
        variants: defined.iter().map(|v| (*v).to_owned()).collect(),
        variant_users,
        variant_weights: weights,
        srm_chi2,
        srm_p_value: srm_p,
        srm_mismatch: u8::from(srm_mismatch),
        elapsed_ms: 0,
        warnings,
        design: "user".to_owned(),
        srm_unit: "users".to_owned(),
        ..RunRow::default()
    };
    Analysis {
        run: Some(run),
        results,
        series,
        segments,
        balance,
    }
}

/// Holm over non-guardrail rows with a test; sets `p_value_adjusted` and `significant`.
pub(crate) fn adjust(results: &mut [ResultRow], sequential: bool) {
    let decision = |r: &ResultRow| {
        if sequential {
            r.p_value_sequential.unwrap_or(r.p_value)
        } else {
            r.p_value
        }
    };
    let family: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_guardrail == 0 && !r.method.is_empty())
        .map(|(i, _)| i)
        .collect();
    let p: Vec<f64> = family.iter().map(|&i| decision(&results[i])).collect();
    if let Ok(adjusted) = adjust_p_values(&p, Correction::Holm) {
        for (&i, q) in family.iter().zip(adjusted) {
            results[i].p_value_adjusted = q;
        }
    }
    for r in results.iter_mut() {
        if r.is_guardrail == 1 && !r.method.is_empty() {
            r.p_value_adjusted = decision(r);
        }
        r.significant = u8::from(!r.method.is_empty() && r.p_value_adjusted < r.alpha);
    }
}
