//! The `abacus stats` contract, run against the built binary: JSON keys, values matching the
//! reference fixtures of `abacus-stats` (scipy, statsmodels, gbstats) to 1e-6 relative,
//! readable tables, and exit code 2 with a message naming the flag on invalid arguments.
//!
//! Layout: `compare.rs` (proportions, means, ratio, cuped, bayes), `plan.rs` (sample-size,
//! power, mde), `checks.rs` (srm, adjust, sequential), `errors.rs` (tables and invalid input).

mod checks;
mod compare;
mod errors;
mod plan;

use std::process::{Command, Output};

pub use serde_json::Value;

const FIXTURE: &str = include_str!("../../../stats/tests/fixtures/reference.json");

pub fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("reference.json is valid JSON")
}

pub fn abacus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abacus"))
        .arg("stats")
        .args(args)
        // stats must not depend on configuration: point it at a file that does not exist
        .env("ABACUS_CONFIG", "/nonexistent/abacus.toml")
        .output()
        .expect("run abacus")
}

/// Runs with `--json`, expects success and exactly one JSON object on stdout.
pub fn json(args: &[&str]) -> Value {
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

pub fn has_keys(v: &Value, keys: &[&str]) {
    for key in keys {
        assert!(v.get(key).is_some(), "missing key `{key}` in {v}");
    }
}

#[track_caller]
pub fn close(got: &Value, want: &Value, what: &str) {
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

pub fn s(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => panic!("not a number: {other}"),
    }
}

pub fn count_args(case: &Value) -> Vec<String> {
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

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn join(v: &Value) -> String {
    v.as_array()
        .expect("array")
        .iter()
        .map(s)
        .collect::<Vec<_>>()
        .join(",")
}
