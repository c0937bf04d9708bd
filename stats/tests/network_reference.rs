//! Cluster-randomized and switchback comparisons, the interaction test and the always-valid
//! SRM test against `fixtures/network.json`, written by `scripts/stats-reference/network.py`
//! (statsmodels' cluster-robust WLS and HC2 OLS fits, mpmath and Optimizely's `ssrm-test`).
//! Agreement is required to 1e-6 relative (1e-12 absolute floor).

mod fixture;

use abacus_stats::*;
use fixture::{cases, close, close_interval, int, num};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/network.json");

fn fixture() -> Value {
    fixture::load(FIXTURE, "network.json")
}

fn cluster_summary(v: &Value) -> ClusterSummary {
    ClusterSummary {
        clusters: int(&v["clusters"]),
        sum_num: num(&v["sum_num"]),
        sum_den: num(&v["sum_den"]),
        sum_num_sq: num(&v["sum_num_sq"]),
        sum_den_sq: num(&v["sum_den_sq"]),
        sum_num_den: num(&v["sum_num_den"]),
    }
}

#[track_caller]
fn check_clustered(r: &ClusteredResult, case: &Value, name: &str) {
    close(
        r.control_ratio,
        &case["control_ratio"],
        &format!("{name} control"),
    );
    close(
        r.treatment_ratio,
        &case["treatment_ratio"],
        &format!("{name} treatment"),
    );
    close(r.abs_lift, &case["abs_lift"], &format!("{name} abs_lift"));
    close(r.se, &case["se"], &format!("{name} se"));
    close(r.t, &case["t"], &format!("{name} t"));
    close(r.p_value, &case["p_value"], &format!("{name} p"));
    assert_eq!(r.df, int(&case["df"]), "{name} df");
    close_interval(r.ci_abs, &case["ci_abs"], &format!("{name} ci_abs"));
    close(
        r.rel_lift.expect("rel"),
        &case["rel_lift"],
        &format!("{name} rel"),
    );
    close_interval(
        r.ci_rel.expect("ci_rel"),
        &case["ci_rel"],
        &format!("{name} ci_rel"),
    );
}

#[test]
fn clustered_matches_statsmodels_cluster_robust_wls() {
    let doc = fixture();
    for case in cases(&doc, "clustered") {
        let name = case["name"].as_str().unwrap_or("?");
        let c = cluster_summary(&case["control"]);
        let t = cluster_summary(&case["treatment"]);
        let r = compare_clustered(&c, &t, num(&case["alpha"])).unwrap();
        check_clustered(&r, case, name);
        assert_eq!(r.clusters, c.clusters + t.clusters);
    }
}

#[test]
fn switchback_matches_statsmodels_clustered_by_unit() {
    let doc = fixture();
    for case in cases(&doc, "switchback") {
        let name = case["name"].as_str().unwrap_or("?");
        let units: Vec<UnitTotals> = case["units"]
            .as_array()
            .expect("units")
            .iter()
            .map(|u| UnitTotals {
                treatment_num: num(&u["treatment_num"]),
                treatment_den: num(&u["treatment_den"]),
                treatment_cells: int(&u["treatment_cells"]),
                control_num: num(&u["control_num"]),
                control_den: num(&u["control_den"]),
                control_cells: int(&u["control_cells"]),
            })
            .collect();
        let r = compare_switchback(&units, num(&case["alpha"])).unwrap();
        check_clustered(&r, case, name);
    }
}

#[test]
fn interaction_matches_statsmodels_hc2_ols() {
    let doc = fixture();
    for case in cases(&doc, "interaction") {
        let name = case["name"].as_str().unwrap_or("?");
        let alpha = num(&case["alpha"]);
        let from_means: Vec<Vec<CellEstimate>> = case["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .map(|row| {
                row.as_array()
                    .expect("row")
                    .iter()
                    .map(|c| {
                        let s = MeanSummary::new(int(&c["n"]), num(&c["mean"]), num(&c["sd"]));
                        CellEstimate::from_mean(&s).unwrap()
                    })
                    .collect()
            })
            .collect();
        let mut tables = vec![from_means];
        let binary = case["cells"][0][0].get("users").is_some();
        if binary {
            let from_counts = case["cells"]
                .as_array()
                .expect("cells")
                .iter()
                .map(|row| {
                    row.as_array()
                        .expect("row")
                        .iter()
                        .map(|c| {
                            let s =
                                ProportionSummary::new(int(&c["users"]), int(&c["conversions"]));
                            CellEstimate::from_proportion(&s).unwrap()
                        })
                        .collect()
                })
                .collect();
            tables.push(from_counts);
        }
        for table in &tables {
            let r = interaction_test(table, alpha).unwrap();
            close(r.chi2, &case["chi2"], &format!("{name} chi2"));
            close(r.p_value, &case["p_value"], &format!("{name} p"));
            assert_eq!(r.df, int(&case["df"]), "{name} df");
            if let Some(d) = case.get("difference") {
                close(r.difference.unwrap(), d, &format!("{name} difference"));
                close(r.se.unwrap(), &case["se"], &format!("{name} se"));
                close(r.z.unwrap(), &case["z"], &format!("{name} z"));
                close_interval(r.ci.unwrap(), &case["ci"], &format!("{name} ci"));
            }
        }
    }
}

#[test]
fn srm_sequential_matches_the_definition_and_ssrm_test() {
    let doc = fixture();
    for case in cases(&doc, "srm_sequential") {
        let observed: Vec<u64> = case["observed"]
            .as_array()
            .expect("observed")
            .iter()
            .map(int)
            .collect();
        let weights: Vec<f64> = case["weights"]
            .as_array()
            .expect("weights")
            .iter()
            .map(num)
            .collect();
        let what = format!("{observed:?}");
        let r = srm_sequential(
            &observed,
            &weights,
            num(&case["threshold"]),
            num(&case["concentration"]),
        )
        .unwrap();
        // ln BF to 1e-9 absolute against the 50-digit value (our Stirling form keeps the
        // precision that direct ln Γ differences lose at a billion users)
        let want = num(&case["log_bayes_factor"]);
        assert!(
            (r.log_bayes_factor - want).abs() < 1e-9,
            "{what}: ln BF {} vs {want}",
            r.log_bayes_factor
        );
        close(r.p_value, &case["p_value"], &format!("{what} p"));
        assert_eq!(r.mismatch, case["mismatch"].as_bool().unwrap(), "{what}");
        // ssrm-test (doubles): agreement to its own rounding
        let ssrm = num(&case["ssrm_log_bayes_factor"]);
        assert!(
            (r.log_bayes_factor - ssrm).abs() < 1e-5,
            "{what}: ssrm {ssrm}"
        );
    }
}
