//! CUPED, the Bayesian engine and the sequential test tuned to the plan against GrowthBook's
//! gbstats 0.8.0 (`fixtures/gbstats.json`, written by
//! `scripts/stats-reference/generate_gbstats.py`, which names the gbstats class behind each
//! value). Agreement is required to 1e-6 relative (1e-12 absolute at zero).

mod fixture;

use abacus_stats::*;
use fixture::{cases, close, close_interval, int, num};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/gbstats.json");

fn fixture() -> Value {
    fixture::load(FIXTURE, "gbstats.json")
}

fn cuped_summary(v: &Value) -> CupedSummary {
    CupedSummary {
        n: int(&v["n"]),
        sum_y: num(&v["sum_y"]),
        sum_y2: num(&v["sum_y2"]),
        sum_x: num(&v["sum_x"]),
        sum_x2: num(&v["sum_x2"]),
        sum_xy: num(&v["sum_xy"]),
    }
}

fn value_kind(v: &Value) -> ValueKind {
    match v.as_str() {
        Some("mean") => ValueKind::Continuous,
        Some("binary") => ValueKind::Binary,
        other => panic!("unknown kind {other:?}"),
    }
}

#[test]
fn cuped_matches_gbstats_regression_adjustment() {
    let doc = fixture();
    for case in cases(&doc, "cuped") {
        let name = case["name"].as_str().unwrap_or("?");
        let what = |s: &str| format!("cuped `{name}` {s}");
        let r = compare_cuped(
            &cuped_summary(&case["control"]),
            &cuped_summary(&case["treatment"]),
            value_kind(&case["kind"]),
            num(&case["alpha"]),
        )
        .unwrap();
        println!(
            "cuped `{name}`: theta {:.4}, variance reduction {:.4}",
            r.theta, r.variance_reduction
        );
        close(r.theta, &case["theta"], &what("theta"));
        close(r.control_mean, &case["control_mean"], &what("control mean"));
        close(
            r.treatment_mean,
            &case["treatment_mean"],
            &what("treatment mean"),
        );
        close(
            r.control_mean_unadjusted,
            &case["control_mean_unadjusted"],
            &what("control mean unadjusted"),
        );
        close(r.abs_lift, &case["abs_lift"], &what("abs lift"));
        close_interval(r.ci_abs, &case["ci_abs"], &what("ci abs"));
        close(r.p_value, &case["p_value"], &what("p"));
        close(r.df, &case["df"], &what("df"));
        close(r.se, &case["se"], &what("se"));
        close(r.rel_lift.unwrap(), &case["rel_lift"], &what("rel lift"));
        close_interval(r.ci_rel.unwrap(), &case["ci_rel"], &what("ci rel"));
        close(
            r.variance_reduction,
            &case["variance_reduction"],
            &what("variance reduction"),
        );
        close(
            r.se_unadjusted,
            &case["unadjusted"]["se"],
            &what("se unadjusted"),
        );
        assert_eq!(
            Some(r.significant),
            case["significant"].as_bool(),
            "{}",
            what("significant")
        );
    }
}

fn bayes_config(case: &Value) -> BayesConfig {
    BayesConfig {
        alpha: num(&case["alpha"]),
        prior: (!case["prior"].is_null()).then(|| NormalPrior {
            mean: num(&case["prior"]["mean"]),
            sd: num(&case["prior"]["sd"]),
        }),
        lower_is_better: case["inverse"].as_bool().expect("inverse"),
    }
}

fn ratio_summary(v: &Value) -> RatioSummary {
    RatioSummary {
        n: int(&v["n"]),
        sum_num: num(&v["sum_num"]),
        sum_den: num(&v["sum_den"]),
        sum_num_sq: num(&v["sum_num_sq"]),
        sum_den_sq: num(&v["sum_den_sq"]),
        sum_num_den: num(&v["sum_num_den"]),
    }
}

#[test]
fn bayes_matches_gbstats_effect_model() {
    let doc = fixture();
    for (i, case) in cases(&doc, "bayes").iter().enumerate() {
        let config = bayes_config(case);
        let (c, t) = (&case["control"], &case["treatment"]);
        let r = match case["kind"].as_str() {
            Some("proportions") => bayes_proportions(
                &ProportionSummary::new(int(&c["users"]), int(&c["conversions"])),
                &ProportionSummary::new(int(&t["users"]), int(&t["conversions"])),
                &config,
            ),
            Some("means") => bayes_means(
                &MeanSummary::new(int(&c["n"]), num(&c["mean"]), num(&c["sd"])),
                &MeanSummary::new(int(&t["n"]), num(&t["mean"]), num(&t["sd"])),
                &config,
            ),
            Some("ratios") => bayes_ratios(&ratio_summary(c), &ratio_summary(t), &config),
            Some("cuped") => bayes_cuped(
                &cuped_summary(c),
                &cuped_summary(t),
                value_kind(&case["cuped_kind"]),
                &config,
            ),
            other => panic!("unknown kind {other:?}"),
        }
        .unwrap();
        let what = |s: &str| format!("bayes[{i}] {} {s}", case["kind"]);
        close(
            r.chance_to_win,
            &case["chance_to_win"],
            &what("chance to win"),
        );
        close(r.risk_control, &case["risk_control"], &what("risk control"));
        close(
            r.risk_treatment,
            &case["risk_treatment"],
            &what("risk treatment"),
        );
        close(r.rel_lift, &case["rel_lift"], &what("rel lift"));
        close_interval(r.ci_rel, &case["ci_rel"], &what("ci rel"));
        close(r.rel_sd, &case["rel_sd"], &what("rel sd"));
        close(r.abs_lift, &case["abs_lift"], &what("abs lift"));
        close_interval(r.ci_abs, &case["ci_abs"], &what("ci abs"));
        close(r.abs_sd, &case["abs_sd"], &what("abs sd"));
    }
}

#[test]
fn sequential_tuned_to_the_plan_matches_gbstats() {
    let doc = fixture();
    for (i, case) in cases(&doc, "sequential").iter().enumerate() {
        let config = SequentialConfig {
            alpha: num(&case["alpha"]),
            expected_users: Some(int(&case["expected_users"])),
            ..SequentialConfig::default()
        };
        let (c, t) = (&case["control"], &case["treatment"]);
        let r = match case["kind"].as_str() {
            Some("means") => sequential_means(
                &MeanSummary::new(int(&c["n"]), num(&c["mean"]), num(&c["sd"])),
                &MeanSummary::new(int(&t["n"]), num(&t["mean"]), num(&t["sd"])),
                &config,
            ),
            Some("cuped") => sequential_cuped(
                &cuped_summary(c),
                &cuped_summary(t),
                value_kind(&case["cuped_kind"]),
                &config,
            ),
            other => panic!("unknown kind {other:?}"),
        }
        .unwrap();
        let what = |s: &str| format!("sequential[{i}] {} {s}", case["kind"]);
        close(r.estimate, &case["estimate"], &what("estimate"));
        close(r.p_value, &case["p_value"], &what("p"));
        close_interval(r.ci, &case["ci"], &what("ci"));
    }
}
