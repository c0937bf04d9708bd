//! The JSON contract of `abacus report --format json` (one object per experiment):
//!
//! `{"experiment_id", "as_of", "variants": [{"variant", "users"}], "srm": {"chi2", "p_value",
//! "mismatch"}, "diagnostics": {"multiple_exposure_users"}, "metrics": [{"metric", "kind",
//! "variant", "control_users", "treatment_users", "control_value", "treatment_value",
//! "control_conversions", "treatment_conversions", "abs_lift", "rel_lift", "ci_abs_low",
//! "ci_abs_high", "p_value", "p_value_adjusted", "significant"}]}`
//!
//! Conversion counts (converted users) appear for conversion and retention metrics only.
//! More keys are added (name, run, baseline, guardrails, sequential p-values, warnings); none of the
//! keys above is ever removed or renamed.
//!
//! Per metric also: `"engine"` (`frequentist` or `bayesian`), `"cuped"` (true when the
//! values, lifts, intervals and p-value above are CUPED-adjusted), `"verdict_uses"`
//! (`adjusted` or `unadjusted`), and for CUPED rows `"cuped_theta"`, `"variance_reduction"` and
//! `"unadjusted": {"control_value", "treatment_value", "abs_lift", "rel_lift", "ci_abs_low",
//! "ci_abs_high", "ci_rel_low", "ci_rel_high", "p_value"}`; for Bayesian rows
//! `"chance_to_win"`, `"risk_control"`, `"risk_treatment"` (the lifts are then posterior means
//! and the intervals credible intervals); `"planned_users"` when the sequential test was tuned
//! to a plan.

use serde_json::{json, Map, Value};

use crate::{verdict, Report};

/// The report as the JSON contract.
pub fn to_json(r: &Report) -> Value {
    let variants: Vec<Value> = r
        .run
        .variants
        .iter()
        .zip(&r.run.variant_users)
        .zip(&r.run.variant_weights)
        .map(|((v, u), w)| json!({"variant": v, "users": u, "weight": w}))
        .collect();
    let metrics: Vec<Value> = r
        .results
        .iter()
        .map(|m| {
            let mut o = Map::new();
            o.insert("metric".into(), json!(m.metric));
            o.insert("kind".into(), json!(m.kind));
            o.insert("variant".into(), json!(m.variant));
            o.insert("control".into(), json!(m.control));
            o.insert("primary".into(), json!(m.is_primary == 1));
            o.insert("guardrail".into(), json!(m.is_guardrail == 1));
            o.insert("control_users".into(), json!(m.control_users));
            o.insert("treatment_users".into(), json!(m.treatment_users));
            o.insert("control_value".into(), json!(m.control_value));
            o.insert("treatment_value".into(), json!(m.treatment_value));
            if matches!(m.kind.as_str(), "conversion" | "retention") {
                o.insert("control_conversions".into(), json!(m.control_conversions));
                o.insert(
                    "treatment_conversions".into(),
                    json!(m.treatment_conversions),
                );
            }
            o.insert("abs_lift".into(), json!(m.abs_lift));
            o.insert("rel_lift".into(), json!(m.rel_lift));
            o.insert("ci_abs_low".into(), json!(m.ci_abs_low));
            o.insert("ci_abs_high".into(), json!(m.ci_abs_high));
            o.insert("ci_rel_low".into(), json!(m.ci_rel_low));
            o.insert("ci_rel_high".into(), json!(m.ci_rel_high));
            o.insert("method".into(), json!(m.method));
            o.insert("p_value".into(), json!(m.p_value));
            o.insert("p_value_sequential".into(), json!(m.p_value_sequential));
            o.insert("p_value_adjusted".into(), json!(m.p_value_adjusted));
            o.insert("significant".into(), json!(m.significant == 1));
            o.insert("alpha".into(), json!(m.alpha));
            o.insert("verdict".into(), json!(verdict(m)));
            if m.is_guardrail == 1 {
                o.insert("guardrail_verdict".into(), json!(m.guardrail_verdict));
                o.insert("guardrail_p_value".into(), json!(m.guardrail_p_value));
                o.insert("guardrail_bound".into(), json!(m.guardrail_bound));
            }
            o.insert("winsorize_cap".into(), json!(m.winsorize_cap));
            let engine = if m.engine.is_empty() {
                "frequentist"
            } else {
                &m.engine
            };
            o.insert("engine".into(), json!(engine));
            o.insert("cuped".into(), json!(m.cuped == 1));
            let uses = if m.cuped == 1 {
                "adjusted"
            } else {
                "unadjusted"
            };
            o.insert("verdict_uses".into(), json!(uses));
            if m.cuped == 1 {
                o.insert("cuped_theta".into(), json!(m.cuped_theta));
                o.insert("variance_reduction".into(), json!(m.variance_reduction));
                o.insert(
                    "unadjusted".into(),
                    json!({
                        "control_value": m.control_value_unadjusted,
                        "treatment_value": m.treatment_value_unadjusted,
                        "abs_lift": m.abs_lift_unadjusted,
                        "rel_lift": m.rel_lift_unadjusted,
                        "ci_abs_low": m.ci_abs_low_unadjusted,
                        "ci_abs_high": m.ci_abs_high_unadjusted,
                        "ci_rel_low": m.ci_rel_low_unadjusted,
                        "ci_rel_high": m.ci_rel_high_unadjusted,
                        "p_value": m.p_value_unadjusted,
                    }),
                );
            }
            if m.chance_to_win.is_some() {
                o.insert("chance_to_win".into(), json!(m.chance_to_win));
                o.insert("risk_control".into(), json!(m.risk_control));
                o.insert("risk_treatment".into(), json!(m.risk_treatment));
            }
            if m.planned_users.is_some() {
                o.insert("planned_users".into(), json!(m.planned_users));
            }
            o.insert(
                "simpson".into(),
                if m.simpson == 1 {
                    json!({"segment_key": m.simpson_key})
                } else {
                    Value::Null
                },
            );
            if !m.error.is_empty() {
                o.insert("error".into(), json!(m.error));
            }
            Value::Object(o)
        })
        .collect();
    json!({
        "experiment_id": r.run.experiment_id,
        "name": r.name,
        "as_of": r.as_of().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "computed_at": r.computed_at().to_rfc3339(),
        "run_id": r.run.run_id,
        "definition_version": r.run.definition_version,
        "sequential": r.sequential,
        "baseline": r.baseline,
        "variants": variants,
        "srm": {
            "chi2": r.run.srm_chi2,
            "p_value": r.run.srm_p_value,
            "mismatch": r.run.srm_mismatch == 1,
        },
        "diagnostics": {
            "multiple_exposure_users": r.run.multiple_exposure_users,
            "users": r.run.users,
            "warnings": r.run.warnings,
        },
        "metrics": metrics,
    })
}
