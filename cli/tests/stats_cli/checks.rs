//! srm, adjust and sequential against the fixtures.

use crate::*;

#[test]
fn srm_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["srm"].as_array().expect("cases") {
        let args = vec![
            "srm".to_string(),
            "--observed".into(),
            join(&case["observed"]),
            "--weights".into(),
            join(&case["weights"]),
            "--threshold".into(),
            s(&case["threshold"]),
        ];
        let out = json(&strs(&args));
        has_keys(&out, &["chi2", "p_value", "mismatch"]);
        close(&out["chi2"], &case["chi2"], &format!("{args:?}"));
        close(&out["p_value"], &case["p_value"], &format!("{args:?}"));
        assert_eq!(out["mismatch"], case["mismatch"], "{args:?}");
    }
}

#[test]
fn adjust_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["adjust"].as_array().expect("cases") {
        let method = case["method"].as_str().expect("method");
        let p = join(&case["p_values"]);
        let out = json(&["adjust", "--p-values", &p, "--method", method]);
        let got = out["adjusted"].as_array().expect("adjusted array");
        let want = case["adjusted"].as_array().expect("adjusted");
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            close(g, w, &format!("adjust {method} {p}"));
        }
    }
}

#[test]
fn sequential_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["sequential_proportions"].as_array().expect("cases") {
        let mut args = vec!["sequential".to_string()];
        args.extend(count_args(case));
        if let Some(m) = case["mixing_variance"].as_f64() {
            args.extend(["--mixing-variance".into(), m.to_string()]);
        }
        if let Some(n) = case["expected_users"].as_u64() {
            args.extend(["--expected-users".into(), n.to_string()]);
        }
        let out = json(&strs(&args));
        has_keys(
            &out,
            &["p_value", "ci_abs_low", "ci_abs_high", "significant"],
        );
        let what = format!("sequential {args:?}");
        close(&out["p_value"], &case["p_value"], &what);
        close(&out["ci_abs_low"], &case["ci"][0], &what);
        close(&out["ci_abs_high"], &case["ci"][1], &what);
        assert_eq!(out["significant"], case["significant"], "{what}");
    }
}
