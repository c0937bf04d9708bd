//! Hand-built reports for the unit tests of the renderers: a two-arm experiment with a tested
//! conversion row, a CUPED revenue row, a row without a test (sums that overflowed) and, on
//! request, the Bayesian engine.

use abacus_aggregator::model::{ResultRow, RunRow};

use crate::Report;

pub(crate) fn run() -> RunRow {
    RunRow {
        run_id: 7,
        experiment_id: "exp".into(),
        definition_version: 1,
        computed_at: 1_700_000_000,
        as_of_ms: 1_700_000_000_000,
        mode: "full".into(),
        recomputed_users: 1000,
        users: 1000,
        multiple_exposure_users: 0,
        variants: vec!["control".into(), "treatment".into()],
        variant_users: vec![500, 500],
        variant_weights: vec![1.0, 1.0],
        srm_chi2: 0.1,
        srm_p_value: 0.7,
        srm_mismatch: 0,
        elapsed_ms: 1,
        warnings: vec![],
        design: "user".into(),
        srm_unit: "users".into(),
        srm_sequential_p_value: 0.9,
        srm_sequential_log_bf: -2.0,
        ..RunRow::default()
    }
}

/// A tested conversion row with a significant +10% lift.
pub(crate) fn tested(metric: &str) -> ResultRow {
    ResultRow {
        run_id: 7,
        experiment_id: "exp".into(),
        metric: metric.into(),
        kind: "conversion".into(),
        is_primary: 1,
        direction: "increase".into(),
        control: "control".into(),
        variant: "treatment".into(),
        control_users: 500,
        treatment_users: 500,
        control_value: 0.1,
        treatment_value: 0.11,
        control_conversions: 50,
        treatment_conversions: 55,
        abs_lift: 0.01,
        rel_lift: Some(0.1),
        ci_abs_low: 0.005,
        ci_abs_high: 0.015,
        ci_rel_low: Some(0.05),
        ci_rel_high: Some(0.15),
        method: "z_test".into(),
        p_value: 0.001,
        p_value_adjusted: 0.002,
        significant: 1,
        alpha: 0.05,
        engine: "frequentist".into(),
        analysis_unit: "user".into(),
        ..ResultRow::default()
    }
}

/// A CUPED revenue row: adjusted +5% (the verdict uses it), unadjusted +6%.
pub(crate) fn cuped(metric: &str) -> ResultRow {
    ResultRow {
        kind: "revenue".into(),
        is_primary: 0,
        method: "cuped".into(),
        control_value: 10.0,
        treatment_value: 10.5,
        abs_lift: 0.5,
        rel_lift: Some(0.05),
        ci_abs_low: 0.1,
        ci_abs_high: 0.9,
        ci_rel_low: Some(0.01),
        ci_rel_high: Some(0.09),
        cuped: 1,
        cuped_theta: Some(0.82),
        variance_reduction: Some(0.364),
        control_value_unadjusted: Some(10.1),
        treatment_value_unadjusted: Some(10.706),
        abs_lift_unadjusted: Some(0.606),
        rel_lift_unadjusted: Some(0.06),
        ci_abs_low_unadjusted: Some(-0.1),
        ci_abs_high_unadjusted: Some(1.3),
        ci_rel_low_unadjusted: Some(-0.01),
        ci_rel_high_unadjusted: Some(0.13),
        p_value_unadjusted: Some(0.09),
        ..tested(metric)
    }
}

/// A row whose statistics could not be computed (as the aggregator writes it: values from
/// overflowed sums, the placeholders `p_value = 1`, no method, the reason in `error`).
pub(crate) fn untested(metric: &str) -> ResultRow {
    ResultRow {
        kind: "revenue".into(),
        is_primary: 0,
        control_value: 0.0,
        treatment_value: 0.0,
        abs_lift: 0.0,
        rel_lift: None,
        ci_abs_low: 0.0,
        ci_abs_high: 0.0,
        ci_rel_low: None,
        ci_rel_high: None,
        method: String::new(),
        p_value: 1.0,
        p_value_adjusted: 1.0,
        significant: 0,
        error: "control sum of squares must be finite, got inf".into(),
        ..tested(metric)
    }
}

/// The report of those three rows.
pub(crate) fn report() -> Report {
    Report {
        name: "Checkout".into(),
        hypothesis: "Faster checkout sells more".into(),
        control: "control".into(),
        baseline: "control".into(),
        definition: None,
        sequential: false,
        run: run(),
        results: vec![
            tested("purchase_rate"),
            cuped("revenue"),
            untested("big_spend"),
        ],
        series: vec![],
        segments: vec![],
        balance: vec![],
        interactions: vec![],
    }
}

/// The same under the Bayesian engine: chance to win and risks on every tested row.
pub(crate) fn bayesian() -> Report {
    let mut r = report();
    for m in &mut r.results {
        m.engine = "bayesian".into();
        if !m.method.is_empty() {
            m.chance_to_win = Some(0.973);
            m.risk_control = Some(0.0123);
            m.risk_treatment = Some(0.0004);
        }
    }
    r
}
