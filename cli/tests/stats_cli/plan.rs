//! sample-size, power and mde against the statsmodels fixtures.

use crate::*;

fn plan_args(command: &str, case: &Value) -> Vec<String> {
    let mut args = vec![command.to_string()];
    for key in ["alpha", "ratio", "formula"] {
        if let Some(v) = case.get(key) {
            let text = v.as_str().map_or_else(|| s(v), str::to_string);
            args.extend([format!("--{key}"), text]);
        }
    }
    args
}

#[test]
fn sample_size_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["sample_size_proportions"].as_array().expect("cases") {
        let mut args = plan_args("sample-size", case);
        args.extend([
            "--baseline".into(),
            s(&case["baseline"]),
            "--mde".into(),
            s(&case["mde"]),
            "--power".into(),
            s(&case["power"]),
        ]);
        if case["mde_absolute"].as_bool() == Some(true) {
            args.push("--mde-absolute".into());
        }
        if !case["daily_users"].is_null() {
            args.extend(["--daily-users".into(), s(&case["daily_users"])]);
        }
        let out = json(&strs(&args));
        has_keys(&out, &["per_variant", "total", "formula"]);
        assert_eq!(out["per_variant"], case["control"], "{args:?}");
        assert_eq!(out["total"], case["total"], "{args:?}");
        assert_eq!(out["treatment"], case["treatment"], "{args:?}");
        assert_eq!(out["formula"], case["formula"], "{args:?}");
        if case["days"].is_null() {
            assert!(out.get("days").is_none(), "{out}");
        } else {
            assert_eq!(out["days"], case["days"], "{args:?}");
        }
    }
    // The examples of the issue: pooled by default, the textbook formula on request.
    let out = json(&["sample-size", "--baseline", "0.05", "--mde", "0.1"]);
    assert_eq!(out["per_variant"], 31_234);
    assert_eq!(out["total"], 62_468);
    let out = json(&[
        "sample-size",
        "--baseline",
        "0.05",
        "--mde",
        "0.1",
        "--formula",
        "textbook",
    ]);
    assert_eq!(out["per_variant"], 31_231);
    let out = json(&[
        "sample-size",
        "--baseline",
        "0.02",
        "--mde",
        "0.5",
        "--ratio",
        "4",
    ]);
    assert_eq!(out["control"], 2_495);
}

#[test]
fn power_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["power_proportions"].as_array().expect("cases") {
        let mut args = plan_args("power", case);
        args.extend([
            "--baseline".into(),
            s(&case["baseline"]),
            "--mde".into(),
            s(&(case["target"].as_f64().expect("target")
                - case["baseline"].as_f64().expect("baseline"))
            .into()),
            "--mde-absolute".into(),
            "--control-users".into(),
            s(&case["control_users"]),
        ]);
        let out = json(&strs(&args));
        has_keys(
            &out,
            &["power", "control_users", "treatment_users", "formula"],
        );
        close(&out["power"], &case["power"], &format!("{args:?}"));
    }
    for case in doc["power_means"].as_array().expect("cases") {
        let mut args = plan_args("power", case);
        args.extend([
            "--sd".into(),
            s(&case["sd"]),
            "--delta".into(),
            s(&case["delta"]),
            "--control-users".into(),
            s(&case["control_n"]),
        ]);
        let out = json(&strs(&args));
        close(&out["power"], &case["power"], &format!("{args:?}"));
    }
}

#[test]
fn mde_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["mde_proportions"].as_array().expect("cases") {
        let mut args = plan_args("mde", case);
        args.extend([
            "--baseline".into(),
            s(&case["baseline"]),
            "--power".into(),
            s(&case["power"]),
            "--control-users".into(),
            s(&case["control_users"]),
        ]);
        let out = json(&strs(&args));
        has_keys(&out, &["mde_absolute", "mde_relative", "target"]);
        close(&out["mde_absolute"], &case["mde"], &format!("{args:?}"));
    }
    for case in doc["mde_means"].as_array().expect("cases") {
        let mut args = plan_args("mde", case);
        args.extend([
            "--sd".into(),
            s(&case["sd"]),
            "--power".into(),
            s(&case["power"]),
            "--control-users".into(),
            s(&case["control_n"]),
        ]);
        let out = json(&strs(&args));
        close(&out["mde_absolute"], &case["mde"], &format!("{args:?}"));
    }
}
