//! `abacus stats srm-sequential` against the built binary: the JSON keys of the issue
//! (`p_value`, `mismatch`), values matching `stats/tests/fixtures/network.json` (mpmath and
//! Optimizely's `ssrm-test`), a readable table and exit code 2 naming the flag on bad input.

use std::process::{Command, Output};

use serde_json::Value;

const FIXTURE: &str = include_str!("../../stats/tests/fixtures/network.json");

fn abacus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["stats", "srm-sequential"])
        .args(args)
        .env("ABACUS_CONFIG", "/nonexistent/abacus.toml")
        .output()
        .expect("run abacus")
}

fn join(v: &Value) -> String {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn json_matches_fixtures() {
    let doc: Value = serde_json::from_str(FIXTURE).expect("fixture");
    for case in doc["srm_sequential"].as_array().expect("cases") {
        let (observed, weights) = (join(&case["observed"]), join(&case["weights"]));
        let (threshold, concentration) = (
            case["threshold"].to_string(),
            case["concentration"].to_string(),
        );
        let out = abacus(&[
            "--observed",
            &observed,
            "--weights",
            &weights,
            "--threshold",
            &threshold,
            "--concentration",
            &concentration,
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{observed}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        for key in ["p_value", "mismatch", "log_bayes_factor", "expected"] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        let (got, want) = (
            v["p_value"].as_f64().unwrap(),
            case["p_value"].as_f64().unwrap(),
        );
        assert!(
            (got - want).abs() <= 1e-6 * want.max(1e-6),
            "{observed}: p {got} vs {want}"
        );
        assert_eq!(v["mismatch"], case["mismatch"], "{observed}");
    }
}

#[test]
fn issue_example_and_table() {
    let out = abacus(&["--observed", "5000,5200", "--weights", "50,50", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["mismatch"], false);
    assert_eq!(v["threshold"], 0.001);
    let p = v["p_value"].as_f64().unwrap();
    assert!((p - 0.528_029_658).abs() < 1e-8, "{p}");
    let out = abacus(&["--observed", "505000,495000", "--weights", "50,50"]);
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(table.contains("always-valid p"), "{table}");
    assert!(
        table.contains("mismatch") && table.contains("yes"),
        "{table}"
    );
}

#[test]
fn bad_input_names_the_flag() {
    for (args, flag) in [
        (vec!["--observed", "1,2", "--weights", "1"], "--weights"),
        (vec!["--observed", "1", "--weights", "1"], "--observed"),
        (vec!["--observed", "1,x", "--weights", "1,1"], "--observed"),
        (
            vec!["--observed", "1,2", "--weights", "1,1", "--threshold", "1"],
            "--threshold",
        ),
        (
            vec![
                "--observed",
                "1,2",
                "--weights",
                "1,1",
                "--concentration",
                "-3",
            ],
            "--concentration",
        ),
    ] {
        let out = abacus(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
