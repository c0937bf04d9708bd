//! The `abacus stats` contract, run against the built binary: JSON keys, values matching the
//! scipy/statsmodels fixtures of `abacus-stats` to 1e-6 relative, readable tables, and exit
//! code 2 with a message naming the flag on invalid arguments.

use std::process::{Command, Output};

use serde_json::Value;

const FIXTURE: &str = include_str!("../../stats/tests/fixtures/reference.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("reference.json is valid JSON")
}

fn abacus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abacus"))
        .arg("stats")
        .args(args)
        // stats must not depend on configuration: point it at a file that does not exist
        .env("ABACUS_CONFIG", "/nonexistent/abacus.toml")
        .output()
        .expect("run abacus")
}

/// Runs with `--json`, expects success and exactly one JSON object on stdout.
fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = abacus(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "abacus stats {args:?} failed: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let value: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout of {args:?} is not one JSON value ({e}): {stdout}"));
    assert!(value.is_object(), "{stdout}");
    value
}

fn has_keys(v: &Value, keys: &[&str]) {
    for key in keys {
        assert!(v.get(key).is_some(), "missing key `{key}` in {v}");
    }
}

#[track_caller]
fn close(got: &Value, want: &Value, what: &str) {
    if want.is_null() {
        assert!(got.is_null(), "{what}: got {got}, want null");
        return;
    }
    let (g, w) = (got.as_f64(), want.as_f64());
    let (Some(g), Some(w)) = (g, w) else {
        panic!("{what}: got {got}, want {want}");
    };
    assert!(
        (g - w).abs() <= 1e-6 * w.abs().max(1e-6),
        "{what}: got {g}, want {w}"
    );
}

fn s(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => panic!("not a number: {other}"),
    }
}

fn count_args(case: &Value) -> Vec<String> {
    vec![
        "--control-users".into(),
        s(&case["control"]["users"]),
        "--control-conversions".into(),
        s(&case["control"]["conversions"]),
        "--treatment-users".into(),
        s(&case["treatment"]["users"]),
        "--treatment-conversions".into(),
        s(&case["treatment"]["conversions"]),
        "--alpha".into(),
        s(&case["alpha"]),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn proportions_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["proportions"].as_array().expect("cases") {
        let mut args = vec!["proportions".to_string()];
        args.extend(count_args(case));
        let out = json(&strs(&args));
        has_keys(
            &out,
            &[
                "control_rate",
                "treatment_rate",
                "abs_lift",
                "rel_lift",
                "z",
                "p_value",
                "ci_abs_low",
                "ci_abs_high",
                "ci_rel_low",
                "ci_rel_high",
                "significant",
                "method",
            ],
        );
        let what = format!("proportions {args:?}");
        for key in [
            "control_rate",
            "treatment_rate",
            "abs_lift",
            "rel_lift",
            "z",
            "p_value",
        ] {
            close(&out[key], &case[key], &format!("{what} {key}"));
        }
        close(&out["ci_abs_low"], &case["ci_abs"][0], &what);
        close(&out["ci_abs_high"], &case["ci_abs"][1], &what);
        close(&out["ci_rel_low"], &case["ci_rel"][0], &what);
        close(&out["ci_rel_high"], &case["ci_rel"][1], &what);
        assert_eq!(out["significant"], case["significant"], "{what}");
        assert_eq!(out["method"], case["method"], "{what}");
    }
}

#[test]
fn means_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["means"].as_array().expect("cases") {
        let (c, t) = (&case["control"], &case["treatment"]);
        let args = vec![
            "means".to_string(),
            "--control-n".into(),
            s(&c["n"]),
            "--control-mean".into(),
            s(&c["mean"]),
            "--control-sd".into(),
            s(&c["sd"]),
            "--treatment-n".into(),
            s(&t["n"]),
            "--treatment-mean".into(),
            s(&t["mean"]),
            "--treatment-sd".into(),
            s(&t["sd"]),
            "--alpha".into(),
            s(&case["alpha"]),
        ];
        let out = json(&strs(&args));
        has_keys(
            &out,
            &[
                "abs_lift",
                "rel_lift",
                "t",
                "df",
                "p_value",
                "ci_abs_low",
                "ci_abs_high",
                "ci_rel_low",
                "ci_rel_high",
                "significant",
            ],
        );
        let what = format!("means {}", case["name"]);
        for key in ["abs_lift", "rel_lift", "t", "df", "p_value"] {
            close(&out[key], &case[key], &format!("{what} {key}"));
        }
        close(&out["ci_abs_low"], &case["ci_abs"][0], &what);
        close(&out["ci_abs_high"], &case["ci_abs"][1], &what);
        close(&out["ci_rel_low"], &case["ci_rel"][0], &what);
        close(&out["ci_rel_high"], &case["ci_rel"][1], &what);
        assert_eq!(out["significant"], case["significant"], "{what}");
    }
}

#[test]
fn sample_size_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["sample_size_proportions"].as_array().expect("cases") {
        let mut args = vec![
            "sample-size".to_string(),
            "--baseline".into(),
            s(&case["baseline"]),
            "--mde".into(),
            s(&case["mde"]),
            "--alpha".into(),
            s(&case["alpha"]),
            "--power".into(),
            s(&case["power"]),
            "--ratio".into(),
            s(&case["ratio"]),
        ];
        if case["mde_absolute"].as_bool() == Some(true) {
            args.push("--mde-absolute".into());
        }
        if !case["daily_users"].is_null() {
            args.extend(["--daily-users".into(), s(&case["daily_users"])]);
        }
        let out = json(&strs(&args));
        has_keys(&out, &["per_variant", "total"]);
        assert_eq!(out["per_variant"], case["control"], "{args:?}");
        assert_eq!(out["total"], case["total"], "{args:?}");
        assert_eq!(out["treatment"], case["treatment"], "{args:?}");
        if case["days"].is_null() {
            assert!(out.get("days").is_none(), "{out}");
        } else {
            assert_eq!(out["days"], case["days"], "{args:?}");
        }
    }
    // The example of the issue.
    let out = json(&["sample-size", "--baseline", "0.05", "--mde", "0.1"]);
    assert_eq!(out["per_variant"], 31_231);
    assert_eq!(out["total"], 62_462);
}

fn join(v: &Value) -> String {
    v.as_array()
        .expect("array")
        .iter()
        .map(s)
        .collect::<Vec<_>>()
        .join(",")
}

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

#[test]
fn default_output_is_a_table() {
    let out = abacus(&[
        "proportions",
        "--control-users",
        "10000",
        "--control-conversions",
        "1000",
        "--treatment-users",
        "10000",
        "--treatment-conversions",
        "1100",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for label in [
        "control",
        "treatment",
        "absolute lift",
        "relative lift",
        "p-value",
        "significant",
    ] {
        assert!(text.contains(label), "missing {label}:\n{text}");
    }
    assert!(!text.trim_start().starts_with('{'), "{text}");
    let out = abacus(&[
        "sample-size",
        "--baseline",
        "0.05",
        "--mde",
        "0.1",
        "--daily-users",
        "10000",
    ]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("31231") && text.contains("days"), "{text}");
}

/// Invalid arguments: exit code 2, and the first line of stderr names the flag.
#[test]
fn invalid_arguments_exit_2_naming_the_flag() {
    let props = |cu: &str, cc: &str, tu: &str, tc: &str| {
        vec![
            "proportions",
            "--control-users",
            cu,
            "--control-conversions",
            cc,
            "--treatment-users",
            tu,
            "--treatment-conversions",
            tc,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let with = |mut v: Vec<String>, extra: &[&str]| {
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        // found by the library, reported on one line
        (props("10", "12", "10", "1"), "--control-conversions"),
        (props("10", "1", "10", "11"), "--treatment-conversions"),
        (props("0", "0", "10", "1"), "--control-users"),
        (
            with(
                vec!["srm".into()],
                &["--observed", "1,2,3", "--weights", "1,1"],
            ),
            "--weights",
        ),
        (
            with(
                vec!["srm".into()],
                &["--observed", "0,0", "--weights", "1,1"],
            ),
            "--observed",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "0.5", "--mde", "1.5"],
            ),
            "--mde",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "0.5", "--mde", "0"],
            ),
            "--mde",
        ),
        (
            with(
                vec!["means".into()],
                &[
                    "--control-n",
                    "1",
                    "--control-mean",
                    "1",
                    "--control-sd",
                    "1",
                    "--treatment-n",
                    "5",
                    "--treatment-mean",
                    "1",
                    "--treatment-sd",
                    "1",
                ],
            ),
            "--control-n",
        ),
        (
            with(
                vec!["sequential".into()],
                &[
                    "--control-users",
                    "10",
                    "--control-conversions",
                    "1",
                    "--treatment-users",
                    "10",
                    "--treatment-conversions",
                    "20",
                ],
            ),
            "--treatment-conversions",
        ),
        (
            with(props("10", "1", "10", "1"), &["--mixing-variance", "0"])
                .into_iter()
                .map(|a| {
                    if a == "proportions" {
                        "sequential".into()
                    } else {
                        a
                    }
                })
                .collect(),
            "--mixing-variance",
        ),
        // found by clap's value parsers
        (props("-5", "1", "10", "1"), "--control-users"),
        (props("ten", "1", "10", "1"), "--control-users"),
        (
            with(props("10", "1", "10", "1"), &["--alpha", "1.5"]),
            "--alpha",
        ),
        (
            with(props("10", "1", "10", "1"), &["--alpha", "0"]),
            "--alpha",
        ),
        (
            with(
                vec!["adjust".into()],
                &["--p-values", "0.1,1.5", "--method", "holm"],
            ),
            "--p-values",
        ),
        (
            with(
                vec!["adjust".into()],
                &["--p-values", "0.1", "--method", "sidak"],
            ),
            "--method",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "1.2", "--mde", "0.1"],
            ),
            "--baseline",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "0.1", "--mde", "0.1", "--power", "1"],
            ),
            "--power",
        ),
        (
            with(
                vec!["srm".into()],
                &["--observed", "10,10", "--weights", "1,-1"],
            ),
            "--weights",
        ),
        (
            with(
                vec!["means".into()],
                &[
                    "--control-n",
                    "10",
                    "--control-mean",
                    "1",
                    "--control-sd",
                    "-1",
                    "--treatment-n",
                    "5",
                    "--treatment-mean",
                    "1",
                    "--treatment-sd",
                    "1",
                ],
            ),
            "--control-sd",
        ),
        (
            with(vec!["sequential".into()], &["--control-users", "10"]),
            "--control-conversions",
        ),
    ];
    for (args, flag) in cases {
        let out = abacus(&strs(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?}: message does not name {flag}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}

/// Errors the library finds are exactly one line on stderr.
#[test]
fn library_validation_errors_are_one_line() {
    let out = abacus(&[
        "proportions",
        "--control-users",
        "10",
        "--control-conversions",
        "12",
        "--treatment-users",
        "10",
        "--treatment-conversions",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "error: invalid value for '--control-conversions': conversions (12) exceed users (10) in control\n"
    );
}
