//! The analysis settings of an experiment (engine, prior, CUPED, plan): accepted, stored
//! without changing the checksum of definitions that do not use them, and refused with a
//! message naming the experiment and the field.

use abacus_assign::{parse, Engine, Experiment, Plan, Prior};

const BASE: &str = r#"
[[experiment]]
id = "e"
name = "E"
control = "a"
start = "2026-11-01"
EXTRA
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "b"
  weight = 1
  [[experiment.metric]]
  name = "buy"
  kind = "conversion"
  event = "purchase"
  primary = true
  METRIC
  [[experiment.metric]]
  name = "spend"
  kind = "revenue"
  event = "purchase"
  [[experiment.metric]]
  name = "per_session"
  kind = "ratio"
  event = "page_view"
  denominator = "session_start"
"#;

fn file(extra: &str, metric: &str) -> String {
    BASE.replace("EXTRA", extra).replace("METRIC", metric)
}

fn one(extra: &str, metric: &str) -> Experiment {
    parse(&file(extra, metric))
        .unwrap_or_else(|e| panic!("{e}"))
        .experiments
        .remove(0)
}

fn refused(extra: &str, metric: &str, fragments: &[&str]) {
    let err = parse(&file(extra, metric))
        .expect_err("the file must be refused")
        .to_string();
    for f in fragments {
        assert!(err.contains(f), "{f:?} missing from: {err}");
    }
}

#[test]
fn defaults_leave_the_stored_json_unchanged() {
    let e = one("", "");
    assert_eq!(e.engine, Engine::Frequentist);
    assert!(!e.cuped && e.prior.is_none() && e.plan.is_none());
    assert_eq!(e.pre_period().seconds(), 14 * 86_400);
    let json = serde_json::to_string(&e).unwrap();
    for key in [
        "cuped",
        "engine",
        "prior",
        "plan",
        "pre_period",
        "chance_to_win",
        "max_risk",
    ] {
        assert!(!json.contains(&format!("\"{key}\"")), "{key} in {json}");
    }
}

#[test]
fn cuped_applies_to_conversion_revenue_and_count_metrics() {
    let e = one("cuped = true\npre_period = \"28d\"", "");
    let uses: Vec<bool> = e.metrics.iter().map(|m| e.uses_cuped(m)).collect();
    assert_eq!(
        uses,
        [true, true, false],
        "the ratio metric is not adjusted"
    );
    assert_eq!(e.pre_period().to_string(), "28d");
    // A metric can opt out, or opt in alone.
    let e = one("cuped = true", "cuped = false");
    assert!(!e.uses_cuped(&e.metrics[0]) && e.uses_cuped(&e.metrics[1]));
    let e = one("", "cuped = true");
    assert!(e.uses_cuped(&e.metrics[0]) && !e.uses_cuped(&e.metrics[1]));
    // Stored and read back.
    let json = serde_json::to_string(&e).unwrap();
    let back: Experiment = serde_json::from_str(&json).unwrap();
    assert_eq!(back.checked().unwrap(), e);
}

#[test]
fn bayesian_settings_round_trip() {
    let e = one(
        "engine = \"bayesian\"\nprior = { mean = 0.0, sd = 0.1 }\nchance_to_win = 0.9\nmax_risk = 0.001",
        "",
    );
    assert_eq!(e.engine, Engine::Bayesian);
    assert_eq!(e.prior, Some(Prior { mean: 0.0, sd: 0.1 }));
    assert_eq!((e.chance_to_win, e.max_risk), (Some(0.9), Some(0.001)));
    let back: Experiment = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back.checked().unwrap(), e);
}

#[test]
fn plans_round_trip() {
    let e = one("sequential = true\nplan = { users = 400000 }", "");
    assert_eq!(e.plan.unwrap().users, Some(400_000));
    let e = one(
        "sequential = true\nplan = { baseline = 0.05, mde = 0.05, power = 0.9 }",
        "",
    );
    assert_eq!(
        e.plan,
        Some(Plan {
            users: None,
            baseline: Some(0.05),
            mde: Some(0.05),
            power: Some(0.9)
        })
    );
    let back: Experiment = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back.checked().unwrap(), e);
}

#[test]
fn invalid_settings_are_refused_naming_the_field() {
    refused(
        "engine = \"bayes\"",
        "",
        &["experiment \"e\"", "engine", "frequentist or bayesian"],
    );
    refused(
        "prior = { mean = 0.0, sd = 0.1 }",
        "",
        &["prior", "engine = \"bayesian\""],
    );
    refused(
        "engine = \"bayesian\"\nprior = { mean = 0.0, sd = 0.0 }",
        "",
        &["prior", "sd must be positive"],
    );
    refused(
        "engine = \"bayesian\"\nchance_to_win = 0.4",
        "",
        &["chance_to_win", "(0.5, 1)"],
    );
    refused("engine = \"bayesian\"\nmax_risk = -1.0", "", &["max_risk"]);
    refused(
        "engine = \"bayesian\"\nsequential = true",
        "",
        &["sequential", "frequentist engine"],
    );
    refused("pre_period = \"14d\"", "", &["pre_period", "cuped = true"]);
    refused(
        "cuped = true\npre_period = \"two weeks\"",
        "",
        &["pre_period", "7d"],
    );
    refused("plan = { users = 0 }", "", &["plan.users", "at least 1"]);
    refused(
        "plan = { users = 10, mde = 0.1 }",
        "",
        &["plan", "not both"],
    );
    refused(
        "plan = { baseline = 0.05 }",
        "",
        &["plan", "baseline and mde"],
    );
    refused(
        "plan = { baseline = 1.5, mde = 0.1 }",
        "",
        &["plan.baseline"],
    );
    refused("plan = { baseline = 0.5, mde = 1.5 }", "", &["plan.mde"]);
    refused(
        "plan = { baseline = 0.5, mde = 0.1, power = 1.0 }",
        "",
        &["plan.power"],
    );
    refused("plan = { users = 10, bogus = 1 }", "", &["bogus"]);
}

#[test]
fn cuped_on_a_ratio_metric_is_refused() {
    let text = file("", "").replace(
        "denominator = \"session_start\"",
        "denominator = \"session_start\"\n  cuped = true",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("metric \"per_session\"")
            && err.contains("cuped")
            && err.contains("conversion, revenue and count"),
        "{err}"
    );
}
