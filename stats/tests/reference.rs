//! Every test and interval against reference values from scipy/statsmodels
//! (`fixtures/reference.json`, written by `scripts/stats-reference/generate.py`, which
//! names the exact function behind each value). Agreement is required to 1e-6 relative
//! (with a 1e-12 absolute floor for values at zero); the chi-square test of independence,
//! to 1e-9 relative.

mod fixture;

use abacus_stats::*;
use fixture::{cases, close, close_interval, close_opt_interval, int, num};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/reference.json");

fn fixture() -> Value {
    fixture::load(FIXTURE, "reference.json")
}

fn proportion(v: &Value) -> ProportionSummary {
    ProportionSummary::new(int(&v["users"]), int(&v["conversions"]))
}

fn mean_summary(v: &Value) -> MeanSummary {
    MeanSummary::new(int(&v["n"]), num(&v["mean"]), num(&v["sd"]))
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

fn direction(v: &Value) -> Direction {
    match v.as_str() {
        Some("higher_is_better") => Direction::HigherIsBetter,
        Some("lower_is_better") => Direction::LowerIsBetter,
        other => panic!("unknown direction {other:?}"),
    }
}

#[test]
fn proportions_match_statsmodels_and_scipy() {
    let doc = fixture();
    for (i, case) in cases(&doc, "proportions").iter().enumerate() {
        let c = proportion(&case["control"]);
        let t = proportion(&case["treatment"]);
        let alpha = num(&case["alpha"]);
        let what = |s: &str| format!("proportions[{i}] {s}");

        let z = z_test(&c, &t).unwrap();
        close(z.z, &case["z"], &what("z"));
        close(z.p_value, &case["p_value_z"], &what("z-test p"));
        close_interval(
            wald_interval(&c, &t, alpha).unwrap(),
            &case["ci_wald"],
            &what("wald"),
        );
        close_interval(
            newcombe_interval(&c, &t, alpha).unwrap(),
            &case["ci_newcombe"],
            &what("newcombe"),
        );
        close_opt_interval(
            relative_interval(&c, &t, alpha).unwrap(),
            &case["ci_rel"],
            &what("relative"),
        );
        close_interval(
            wilson_interval(&c, alpha).unwrap(),
            &case["wilson_control"],
            &what("wilson c"),
        );
        close_interval(
            wilson_interval(&t, alpha).unwrap(),
            &case["wilson_treatment"],
            &what("wilson t"),
        );
        close(
            fisher_exact(&c, &t).unwrap(),
            &case["fisher_p"],
            &what("fisher"),
        );
        close(
            min_expected_count(&c, &t).unwrap(),
            &case["min_expected"],
            &what("min expected"),
        );

        let r = compare_proportions(&c, &t, alpha).unwrap();
        assert_eq!(
            Some(r.method.as_str()),
            case["method"].as_str(),
            "{}",
            what("method")
        );
        close(r.control_rate, &case["control_rate"], &what("control rate"));
        close(
            r.treatment_rate,
            &case["treatment_rate"],
            &what("treatment rate"),
        );
        close(r.abs_lift, &case["abs_lift"], &what("abs lift"));
        match r.rel_lift {
            Some(rel) => close(rel, &case["rel_lift"], &what("rel lift")),
            None => assert!(case["rel_lift"].is_null(), "{}", what("rel lift")),
        }
        close(r.p_value, &case["p_value"], &what("p"));
        close_interval(r.ci_abs, &case["ci_abs"], &what("ci abs"));
        close_opt_interval(r.ci_rel, &case["ci_rel"], &what("ci rel"));
        assert_eq!(
            Some(r.significant),
            case["significant"].as_bool(),
            "{}",
            what("significant")
        );
    }
}

#[test]
fn means_match_scipy_welch() {
    let doc = fixture();
    for case in cases(&doc, "means") {
        let name = case["name"].as_str().unwrap_or("?");
        let what = |s: &str| format!("means `{name}` {s}");
        let c = mean_summary(&case["control"]);
        let t = mean_summary(&case["treatment"]);
        let alpha = num(&case["alpha"]);
        let r = compare_means(&c, &t, alpha).unwrap();
        close(r.abs_lift, &case["abs_lift"], &what("abs lift"));
        close(r.t, &case["t"], &what("t"));
        close(r.df, &case["df"], &what("df"));
        close(r.p_value, &case["p_value"], &what("p"));
        close_interval(r.ci_abs, &case["ci_abs"], &what("ci abs"));
        close_opt_interval(r.ci_rel, &case["ci_rel"], &what("ci rel"));
        assert_eq!(
            Some(r.significant),
            case["significant"].as_bool(),
            "{}",
            what("significant")
        );

        // The same from the sufficient statistics (n, Σx, Σx²) the aggregator reads.
        if !case["control"]["sum"].is_null() {
            let from_sums =
                |v: &Value| MeanSummary::from_sums(int(&v["n"]), num(&v["sum"]), num(&v["sum_sq"]));
            let r = compare_means(
                &from_sums(&case["control"]),
                &from_sums(&case["treatment"]),
                alpha,
            )
            .unwrap();
            close(r.t, &case["t"], &what("t from sums"));
            close(r.p_value, &case["p_value"], &what("p from sums"));
            close_interval(r.ci_abs, &case["ci_abs"], &what("ci abs from sums"));
        }
    }
}

#[test]
fn ratios_match_numpy_delta_method() {
    let doc = fixture();
    for case in cases(&doc, "ratios") {
        let name = case["name"].as_str().unwrap_or("?");
        let what = |s: &str| format!("ratios `{name}` {s}");
        let r = compare_ratios(
            &ratio_summary(&case["control"]),
            &ratio_summary(&case["treatment"]),
            num(&case["alpha"]),
        )
        .unwrap();
        close(
            r.control_ratio,
            &case["control_ratio"],
            &what("control ratio"),
        );
        close(
            r.treatment_ratio,
            &case["treatment_ratio"],
            &what("treatment ratio"),
        );
        close(r.z, &case["z"], &what("z"));
        close(r.p_value, &case["p_value"], &what("p"));
        close(r.se, &case["se"], &what("se"));
        close_interval(r.ci_abs, &case["ci_abs"], &what("ci abs"));
        close_opt_interval(r.ci_rel, &case["ci_rel"], &what("ci rel"));
    }
}

fn formula(case: &Value) -> Formula {
    match case["formula"].as_str() {
        Some("pooled") => Formula::Pooled,
        Some("textbook") => Formula::Textbook,
        other => panic!("unknown formula {other:?}"),
    }
}

fn design(case: &Value) -> Design {
    Design {
        alpha: num(&case["alpha"]),
        power: num(&case["power"]),
        ratio: num(&case["ratio"]),
        formula: formula(case),
    }
}

#[test]
fn planning_matches_reference() {
    let doc = fixture();
    for case in cases(&doc, "sample_size_proportions") {
        let design = design(case);
        let n =
            sample_size_proportions(num(&case["baseline"]), num(&case["target"]), &design).unwrap();
        assert_eq!(n.control, int(&case["control"]), "{case}");
        assert_eq!(n.treatment, int(&case["treatment"]), "{case}");
        assert_eq!(n.total, int(&case["total"]), "{case}");
        if !case["days"].is_null() {
            assert_eq!(
                runtime_days(n.total, int(&case["daily_users"])).unwrap(),
                int(&case["days"])
            );
        }
    }
    for case in cases(&doc, "mde_proportions") {
        let design = design(case);
        let d =
            mde_proportions(num(&case["baseline"]), int(&case["control_users"]), &design).unwrap();
        close(d, &case["mde"], &format!("mde proportions {case}"));
    }
    for case in cases(&doc, "power_proportions") {
        let p = power_proportions(
            num(&case["baseline"]),
            num(&case["target"]),
            int(&case["control_users"]),
            num(&case["alpha"]),
            num(&case["ratio"]),
            formula(case),
        )
        .unwrap();
        close(p, &case["power"], &format!("power proportions {case}"));
    }
    for case in cases(&doc, "sample_size_means") {
        let design = Design {
            alpha: num(&case["alpha"]),
            power: num(&case["power"]),
            ratio: num(&case["ratio"]),
            ..Design::default()
        };
        let n = sample_size_means(num(&case["sd"]), num(&case["delta"]), &design).unwrap();
        assert_eq!(
            (n.control, n.treatment, n.total),
            (
                int(&case["control"]),
                int(&case["treatment"]),
                int(&case["total"])
            ),
            "{case}"
        );
    }
    for case in cases(&doc, "mde_means") {
        let design = Design {
            alpha: num(&case["alpha"]),
            power: num(&case["power"]),
            ratio: num(&case["ratio"]),
            ..Design::default()
        };
        let d = mde_means(num(&case["sd"]), int(&case["control_n"]), &design).unwrap();
        close(d, &case["mde"], &format!("mde means {case}"));
    }
    for case in cases(&doc, "power_means") {
        let p = power_means(
            num(&case["sd"]),
            num(&case["delta"]),
            int(&case["control_n"]),
            num(&case["alpha"]),
            num(&case["ratio"]),
        )
        .unwrap();
        close(p, &case["power"], &format!("power means {case}"));
    }
}

#[test]
fn srm_matches_scipy_chisquare() {
    let doc = fixture();
    for case in cases(&doc, "srm") {
        let observed: Vec<u64> = case["observed"]
            .as_array()
            .unwrap()
            .iter()
            .map(int)
            .collect();
        let weights: Vec<f64> = case["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(num)
            .collect();
        let r = srm_test(&observed, &weights, num(&case["threshold"])).unwrap();
        close(r.chi2, &case["chi2"], &format!("srm chi2 {observed:?}"));
        close(r.p_value, &case["p_value"], &format!("srm p {observed:?}"));
        assert_eq!(Some(r.mismatch), case["mismatch"].as_bool(), "{observed:?}");
        for (got, want) in r.expected.iter().zip(case["expected"].as_array().unwrap()) {
            close(*got, want, "srm expected");
        }
    }
}

#[test]
fn adjustments_match_statsmodels_multipletests() {
    let doc = fixture();
    for case in cases(&doc, "adjust") {
        let p: Vec<f64> = case["p_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(num)
            .collect();
        let method = match case["method"].as_str() {
            Some("bonferroni") => Correction::Bonferroni,
            Some("holm") => Correction::Holm,
            Some("bh") => Correction::BenjaminiHochberg,
            other => panic!("unknown method {other:?}"),
        };
        let got = adjust_p_values(&p, method).unwrap();
        let want = case["adjusted"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            close(*g, w, &format!("{method:?}[{i}] of {p:?}"));
        }
    }
}

#[test]
fn non_inferiority_matches_statsmodels_and_scipy() {
    let doc = fixture();
    for case in cases(&doc, "noninferiority_proportions") {
        let r = non_inferiority_proportions(
            &proportion(&case["control"]),
            &proportion(&case["treatment"]),
            num(&case["margin"]),
            direction(&case["direction"]),
            num(&case["alpha"]),
        )
        .unwrap();
        let what = format!("non-inferiority proportions {case}");
        close(r.abs_lift, &case["abs_lift"], &what);
        close(r.statistic, &case["statistic"], &what);
        close(r.p_value, &case["p_value"], &what);
        close(r.bound, &case["bound"], &what);
        assert_eq!(
            Some(r.non_inferior),
            case["non_inferior"].as_bool(),
            "{what}"
        );
    }
    for case in cases(&doc, "noninferiority_means") {
        let r = non_inferiority_means(
            &mean_summary(&case["control"]),
            &mean_summary(&case["treatment"]),
            num(&case["margin"]),
            direction(&case["direction"]),
            num(&case["alpha"]),
        )
        .unwrap();
        let what = format!("non-inferiority means {case}");
        close(r.statistic, &case["statistic"], &what);
        close(r.df.unwrap(), &case["df"], &what);
        close(r.p_value, &case["p_value"], &what);
        close(r.bound, &case["bound"], &what);
        assert_eq!(
            Some(r.non_inferior),
            case["non_inferior"].as_bool(),
            "{what}"
        );
    }
}

fn sequential_config(case: &Value) -> SequentialConfig {
    SequentialConfig {
        alpha: num(&case["alpha"]),
        mixing_variance: case["mixing_variance"]
            .as_f64()
            .unwrap_or(DEFAULT_MIXING_VARIANCE),
        expected_users: case["expected_users"].as_u64(),
    }
}

#[test]
fn sequential_matches_the_mixture_formulas() {
    let doc = fixture();
    for case in cases(&doc, "sequential_proportions") {
        let r = sequential_proportions(
            &proportion(&case["control"]),
            &proportion(&case["treatment"]),
            &sequential_config(case),
        )
        .unwrap();
        let what = format!("sequential proportions {case}");
        close(r.estimate, &case["estimate"], &what);
        close(r.z, &case["z"], &what);
        close(r.p_value, &case["p_value"], &what);
        close_interval(r.ci, &case["ci"], &what);
        assert_eq!(Some(r.significant), case["significant"].as_bool(), "{what}");
    }
    for case in cases(&doc, "sequential_means") {
        let r = sequential_means(
            &mean_summary(&case["control"]),
            &mean_summary(&case["treatment"]),
            &sequential_config(case),
        )
        .unwrap();
        let what = format!("sequential means {case}");
        close(r.z, &case["z"], &what);
        close(r.p_value, &case["p_value"], &what);
        close_interval(r.ci, &case["ci"], &what);
        assert_eq!(Some(r.significant), case["significant"].as_bool(), "{what}");
    }
}

/// Closer than the rest of the file: 1e-9 relative (exact at zero).
#[track_caller]
fn close_1e9(got: f64, want: &Value, what: &str) {
    let want = num(want);
    assert!(got.is_finite(), "{what}: got {got}");
    assert!(
        (got - want).abs() <= 1e-9 * want.abs(),
        "{what}: got {got}, want {want} (rel err {:e})",
        ((got - want) / want).abs()
    );
}

#[test]
fn independence_matches_scipy_chi2_contingency() {
    let doc = fixture();
    for case in cases(&doc, "chi_square_independence") {
        let table: Vec<Vec<u64>> = case["table"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row.as_array().unwrap().iter().map(int).collect())
            .collect();
        let what = |s: &str| format!("independence {table:?} {s}");
        let r = chi_square_independence(&table).unwrap();
        close_1e9(r.chi2, &case["chi2"], &what("chi2"));
        close_1e9(r.p_value, &case["p_value"], &what("p"));
        assert_eq!(r.df, int(&case["df"]), "{}", what("df"));
        let want = case["expected"].as_array().unwrap();
        assert_eq!(r.expected.len(), want.len(), "{}", what("expected rows"));
        for (got_row, want_row) in r.expected.iter().zip(want) {
            let want_row = want_row.as_array().unwrap();
            assert_eq!(
                got_row.len(),
                want_row.len(),
                "{}",
                what("expected columns")
            );
            for (got, want) in got_row.iter().zip(want_row) {
                close_1e9(*got, want, &what("expected"));
            }
        }
    }
}
