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
//!
//! Top level also: `"planned_users"`, the users the definition's plan asks for over all
//! variants (`null` without a plan; see [`crate::progress::planned_users`]).
//!
//! **No test.** A row without a test (too few users, no variance, sums that overflow, a
//! sequential or Bayesian test that could not be computed) says so: `"tested": false`,
//! `"verdict": "no test"` and `"no_test_reason"` (also in `"error"`); `"p_value_adjusted"` and
//! `"significant"` are `null`, and when no comparison could be made at all, so are
//! `"control_value"`, `"treatment_value"`, the lifts, the intervals and `"p_value"`: no number
//! that looks like a result. Users and conversion counts stay. Tested rows have
//! `"tested": true` and `"no_test_reason": null`.
//!
//! Randomization units and concurrent experiments: per metric `"analysis_unit"` (`user`, or the
//! unit the comparison is clustered by) and, for clustered rows, `"control_clusters"`,
//! `"treatment_clusters"` and `"user_level": {"ci_abs_low", "ci_abs_high", "p_value"}` (what a
//! user-level analysis would give); `"srm"` also holds `"counted"` (users, clusters or cells),
//! `"sequential_p_value"`, `"sequential_mismatch"`, `"log_bayes_factor"` and `"alert"` (the
//! always-valid test decides it); `"randomization": {"design", "unit", "clusters",
//! "variant_clusters", "unit_missing", "burn_in_events", "summary"}`; `"interactions"`: the
//! newest interaction check's tests involving the experiment, flagged first, each with a
//! `"summary"` line when flagged.

use serde_json::{json, Map, Value};

use crate::{compared, no_test_reason, tested, verdict, Report};

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
            // Statistics of a row without a comparison are not results: null.
            let real = |x: f64| if compared(m) { json!(x) } else { Value::Null };
            let real_opt = |x: Option<f64>| if compared(m) { json!(x) } else { Value::Null };
            o.insert("control_value".into(), real(m.control_value));
            o.insert("treatment_value".into(), real(m.treatment_value));
            if matches!(m.kind.as_str(), "conversion" | "retention") {
                o.insert("control_conversions".into(), json!(m.control_conversions));
                o.insert(
                    "treatment_conversions".into(),
                    json!(m.treatment_conversions),
                );
            }
            o.insert("abs_lift".into(), real(m.abs_lift));
            o.insert("rel_lift".into(), real_opt(m.rel_lift));
            o.insert("ci_abs_low".into(), real(m.ci_abs_low));
            o.insert("ci_abs_high".into(), real(m.ci_abs_high));
            o.insert("ci_rel_low".into(), real_opt(m.ci_rel_low));
            o.insert("ci_rel_high".into(), real_opt(m.ci_rel_high));
            o.insert("method".into(), json!(m.method));
            o.insert("p_value".into(), real(m.p_value));
            o.insert("p_value_sequential".into(), real_opt(m.p_value_sequential));
            let test = tested(m);
            o.insert(
                "p_value_adjusted".into(),
                if test {
                    json!(m.p_value_adjusted)
                } else {
                    Value::Null
                },
            );
            o.insert(
                "significant".into(),
                if test {
                    json!(m.significant == 1)
                } else {
                    Value::Null
                },
            );
            o.insert("tested".into(), json!(test));
            o.insert(
                "no_test_reason".into(),
                if test {
                    Value::Null
                } else {
                    json!(no_test_reason(m))
                },
            );
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
            o.insert("analysis_unit".into(), json!(m.analysis_unit));
            if m.analysis_unit != "user" && !m.analysis_unit.is_empty() {
                o.insert("control_clusters".into(), json!(m.control_clusters));
                o.insert("treatment_clusters".into(), json!(m.treatment_clusters));
                if m.user_level_p_value.is_some() {
                    o.insert(
                        "user_level".into(),
                        json!({
                            "ci_abs_low": m.user_level_ci_abs_low,
                            "ci_abs_high": m.user_level_ci_abs_high,
                            "p_value": m.user_level_p_value,
                        }),
                    );
                }
            }
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
        "planned_users": r.definition.as_ref().and_then(crate::progress::planned_users),
        "baseline": r.baseline,
        "variants": variants,
        "srm": {
            "chi2": r.run.srm_chi2,
            "p_value": r.run.srm_p_value,
            "mismatch": r.run.srm_mismatch == 1,
            "counted": crate::network::srm_counted(&r.run),
            "sequential_p_value": r.run.srm_sequential_p_value,
            "sequential_mismatch": r.run.srm_sequential_mismatch == 1,
            "log_bayes_factor": r.run.srm_sequential_log_bf,
            "alert": crate::network::srm_alert(&r.run),
        },
        "randomization": {
            "design": if r.run.design.is_empty() { "user" } else { r.run.design.as_str() },
            "unit": r.run.unit,
            "clusters": r.run.clusters,
            "variant_clusters": r.run.variant_clusters,
            "unit_missing": r.run.unit_missing,
            "burn_in_events": r.run.burn_in_events,
            "summary": crate::network::randomization(&r.run, r.definition.as_ref()),
        },
        "interactions": r.interactions.iter().map(|i| json!({
            "experiment_a": i.experiment_a,
            "experiment_b": i.experiment_b,
            "metric": i.metric,
            "variants_a": i.variants_a,
            "variants_b": i.variants_b,
            "cell_users": i.cell_users,
            "cell_values": i.cell_values,
            "chi2": i.chi2,
            "df": i.df,
            "p_value": i.p_value,
            "p_value_adjusted": i.p_value_adjusted,
            "difference": i.difference,
            "ci_low": i.ci_low,
            "ci_high": i.ci_high,
            "flagged": i.flagged == 1,
            "summary": (i.flagged == 1).then(|| crate::network::interaction_line(i)),
            "error": i.error,
        })).collect::<Vec<_>>(),
        "diagnostics": {
            "multiple_exposure_users": r.run.multiple_exposure_users,
            "users": r.run.users,
            "warnings": r.run.warnings,
        },
        "metrics": metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn no_test_is_said_and_carries_no_numbers() {
        let json = to_json(&fixtures::report());
        let m = &json["metrics"][2];
        assert_eq!(m["metric"], "big_spend");
        assert_eq!(m["tested"], false);
        assert_eq!(m["verdict"], "no test");
        assert_eq!(
            m["no_test_reason"],
            "control sum of squares must be finite, got inf"
        );
        for key in [
            "control_value",
            "treatment_value",
            "abs_lift",
            "rel_lift",
            "ci_abs_low",
            "ci_abs_high",
            "ci_rel_low",
            "ci_rel_high",
            "p_value",
            "p_value_sequential",
            "p_value_adjusted",
            "significant",
        ] {
            assert!(m[key].is_null(), "{key} must be null: {m}");
        }
        // Users and counts are real and stay.
        assert_eq!(m["control_users"], 500);
        let t = &json["metrics"][0];
        assert_eq!(t["tested"], true);
        assert!(t["no_test_reason"].is_null());
        assert_eq!(t["p_value"], 0.001);
        assert_eq!(t["significant"], true);
    }

    #[test]
    fn a_missing_sequential_test_leaves_the_row_untested() {
        let mut r = fixtures::report();
        r.results[0].error = "no sequential test: zero users in control".into();
        let m = &to_json(&r)["metrics"][0];
        assert_eq!(m["tested"], false);
        assert_eq!(m["verdict"], "no test");
        assert!(m["significant"].is_null() && m["p_value_adjusted"].is_null());
        // The fixed-horizon comparison exists and is shown.
        assert_eq!(m["p_value"], 0.001);
    }
}
