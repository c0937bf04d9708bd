//! `abacus assign` for experiments with a randomization unit: `--attr` gives the unit's value
//! (every user of a company gets the company's variant), `--at` the time of a switchback, and a
//! missing attribute is an error naming it.

use std::process::Command;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");

fn assign(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["assign", "--experiments", EXAMPLE])
        .args(args)
        .output()
        .expect("run abacus")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn users_of_a_company_share_its_variant_and_switchbacks_follow_the_clock() {
    let a = assign(&[
        "--experiment",
        "team-workspace",
        "--user",
        "u1",
        "--attr",
        "company_id=acme",
    ]);
    let b = assign(&[
        "--experiment",
        "team-workspace",
        "--user",
        "u2",
        "--attr",
        "company_id=acme",
    ]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(stdout(&a), stdout(&b));
    let json = assign(&[
        "--experiment",
        "delivery-fee",
        "--user",
        "u1",
        "--attr",
        "city=city-3",
        "--at",
        "2026-11-02T10:30:00Z",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["key"], "city-3");
    assert_eq!(v["window"], 34);
    let missing = assign(&["--experiment", "team-workspace", "--user", "u1"]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("randomized by \"company_id\""), "{err}");
    // an experiment without a unit ignores attributes
    let plain = assign(&[
        "--experiment",
        "aa-baseline",
        "--user",
        "u1",
        "--attr",
        "company_id=x",
    ]);
    assert_eq!(
        stdout(&plain),
        stdout(&assign(&["--experiment", "aa-baseline", "--user", "u1"]))
    );
}
