//! Unit tests of the decision rules over hand-built runs.

use abacus_aggregator::model::{BalanceRow, ResultRow, RunRow};
use chrono::{TimeZone, Utc};

use super::*;

fn run(srm: bool, multiple: u64) -> RunRow {
    RunRow {
        run_id: 7,
        experiment_id: "exp".into(),
        definition_version: 1,
        computed_at: 1_700_000_000,
        as_of_ms: 1_700_000_000_000,
        mode: "full".into(),
        recomputed_users: 1000,
        users: 1000,
        multiple_exposure_users: multiple,
        variants: vec!["control".into(), "treatment".into()],
        variant_users: vec![500, 500],
        variant_weights: vec![1.0, 1.0],
        srm_chi2: if srm { 30.0 } else { 0.1 },
        srm_p_value: if srm { 1e-8 } else { 0.7 },
        srm_mismatch: u8::from(srm),
        elapsed_ms: 1,
        warnings: vec![],
        design: "user".into(),
        srm_unit: "users".into(),
        srm_sequential_p_value: if srm { 1e-6 } else { 1.0 },
        srm_sequential_log_bf: if srm { 13.8 } else { -2.0 },
        srm_sequential_mismatch: u8::from(srm),
        ..RunRow::default()
    }
}

fn row(metric: &str, primary: bool, guardrail: &str, lift: f64, significant: bool) -> ResultRow {
    ResultRow {
        run_id: 7,
        experiment_id: "exp".into(),
        computed_at: 1_700_000_000,
        as_of_ms: 1_700_000_000_000,
        metric: metric.into(),
        kind: "conversion".into(),
        is_primary: u8::from(primary),
        is_guardrail: u8::from(!guardrail.is_empty()),
        direction: "increase".into(),
        control: "control".into(),
        variant: "treatment".into(),
        control_users: 500,
        treatment_users: 500,
        control_value: 0.1,
        treatment_value: 0.1 * (1.0 + lift),
        control_conversions: 50,
        treatment_conversions: 55,
        abs_lift: 0.1 * lift,
        rel_lift: Some(lift),
        ci_abs_low: 0.1 * lift - 0.01,
        ci_abs_high: 0.1 * lift + 0.01,
        ci_rel_low: Some(lift - 0.1),
        ci_rel_high: Some(lift + 0.1),
        method: "z_test".into(),
        p_value: if significant { 0.001 } else { 0.4 },
        p_value_sequential: None,
        p_value_adjusted: if significant { 0.002 } else { 0.5 },
        significant: u8::from(significant),
        alpha: 0.05,
        winsorize_cap: None,
        guardrail_verdict: guardrail.into(),
        guardrail_p_value: None,
        guardrail_bound: None,
        simpson: 0,
        simpson_key: String::new(),
        srm_p_value: 0.7,
        srm_mismatch: 0,
        error: String::new(),
        ..ResultRow::default()
    }
}

fn report(run: RunRow, results: Vec<ResultRow>) -> Report {
    let mut def = abacus_assign::parse(
        r#"
[[experiment]]
id = "exp"
name = "Exp"
control = "control"
start = "2023-11-01T00:00:00Z"
end = "2023-11-29T00:00:00Z"
  [[experiment.variant]]
  name = "control"
  weight = 1
  [[experiment.variant]]
  name = "treatment"
  weight = 1
  [[experiment.metric]]
  name = "m"
  kind = "conversion"
  event = "e"
  primary = true
"#,
    )
    .unwrap()
    .experiments
    .remove(0);
    def.id = "exp".into();
    Report {
        name: "Exp".into(),
        hypothesis: String::new(),
        control: "control".into(),
        baseline: "control".into(),
        definition: Some(def),
        sequential: false,
        run,
        results,
        series: vec![],
        segments: vec![],
        balance: vec![],
        interactions: vec![],
    }
}

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_600, 0).unwrap()
}

fn decision_of(r: &Report) -> Decision {
    decide(r, &health(r, now()))
}

#[test]
fn a_significant_winner_without_failing_guardrail_ships() {
    let r = report(
        run(false, 0),
        vec![
            row("m", true, "", 0.08, true),
            row("g", false, "pass", 0.0, false),
        ],
    );
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::Ship("treatment".into()));
    assert_eq!(d.headline, "ship treatment");
    assert!(d.reasons[0].starts_with("primary metric better"), "{d:?}");
    assert_eq!(d.reasons[1], "no guardrail failing");
}

#[test]
fn a_health_failure_suppresses_ship_advice() {
    let r = report(run(true, 0), vec![row("m", true, "", 0.08, true)]);
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::DoNotDecide);
    assert!(d.reasons[0].starts_with("sample ratio: mismatch"), "{d:?}");

    let r = report(run(false, 200), vec![row("m", true, "", 0.08, true)]);
    assert_eq!(decision_of(&r).verdict, Verdict::DoNotDecide);

    let mut r = report(run(false, 0), vec![row("m", true, "", 0.08, true)]);
    r.balance.push(BalanceRow {
        run_id: 7,
        experiment_id: "exp".into(),
        segment_key: "region".into(),
        segment_value: "eu".into(),
        variant: "control".into(),
        users: 10,
        chi2: 40.0,
        df: 1,
        p_value: 1e-6,
    });
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::DoNotDecide);
    assert!(d.reasons[0].contains("region"), "{d:?}");
}

#[test]
fn a_failing_guardrail_blocks_the_winner() {
    let r = report(
        run(false, 0),
        vec![
            row("m", true, "", 0.08, true),
            row("g", false, "fail", -0.2, false),
        ],
    );
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::DoNotShip);
    assert!(d.reasons[0].starts_with("guardrail g failing"), "{d:?}");
}

#[test]
fn an_inconclusive_guardrail_keeps_it_running() {
    let r = report(
        run(false, 0),
        vec![
            row("m", true, "", 0.08, true),
            row("g", false, "inconclusive", 0.0, false),
        ],
    );
    assert_eq!(decision_of(&r).verdict, Verdict::KeepRunning);
}

#[test]
fn not_significant_keeps_running_with_progress_then_no_difference() {
    let mut r = report(run(false, 0), vec![row("m", true, "", 0.01, false)]);
    // as of 2023-11-14 22:13 (13.9 days of 28)
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::KeepRunning);
    assert_eq!(
        d.reasons,
        vec!["not significant yet, 50% of the planned duration"]
    );
    r.run.as_of_ms = Utc
        .with_ymd_and_hms(2023, 12, 1, 0, 0, 0)
        .unwrap()
        .timestamp_millis();
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::NoDifference);
    if let Some(def) = r.definition.as_mut() {
        def.end = None;
    }
    assert_eq!(decision_of(&r).verdict, Verdict::KeepRunning);
}

#[test]
fn a_worse_primary_says_do_not_ship() {
    let r = report(run(false, 0), vec![row("m", true, "", -0.08, true)]);
    assert_eq!(decision_of(&r).verdict, Verdict::DoNotShip);
}

#[test]
fn stale_data_warns_but_does_not_block() {
    let r = report(run(false, 0), vec![row("m", true, "", 0.08, true)]);
    let later = now() + chrono::TimeDelta::days(3);
    let checks = health(&r, later);
    let fresh = checks.iter().find(|c| c.name == "freshness").unwrap();
    assert_eq!(fresh.level, Level::Warn);
    assert_eq!(fresh.detail, "computed 3 days ago");
    assert_eq!(
        decide(&r, &checks).verdict,
        Verdict::Ship("treatment".into())
    );
}

#[test]
fn a_bayesian_winner_is_shipped_by_chance_to_win_and_risk() {
    let mut r = crate::fixtures::bayesian();
    r.results.truncate(1);
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::Ship("treatment".into()));
    assert_eq!(
        d.reasons[0],
        "primary metric better by the Bayesian engine: chance to win ≥ 95% with risk ≤ 0.250% \
         (purchase_rate +10.00%, chance to win 97.3%, risk 0.040%)"
    );
    // Not decided yet: the best chance to win is quoted, with the planned sample.
    r.results[0].significant = 0;
    r.results[0].chance_to_win = Some(0.801);
    r.definition = Some(
        abacus_assign::parse(
            "[[experiment]]\nid = \"exp\"\nname = \"E\"\ncontrol = \"control\"\nstart = \"2026-11-01T00:00:00Z\"\n\
             engine = \"bayesian\"\nchance_to_win = 0.9\nplan = { users = 4000 }\n\
             [[experiment.variant]]\nname = \"control\"\nweight = 1\n[[experiment.variant]]\nname = \"treatment\"\nweight = 1\n\
             [[experiment.metric]]\nname = \"purchase_rate\"\nkind = \"conversion\"\nevent = \"purchase\"\nprimary = true\n",
        )
        .unwrap()
        .experiments
        .remove(0),
    );
    let d = decision_of(&r);
    assert_eq!(d.verdict, Verdict::KeepRunning);
    assert_eq!(
        d.reasons,
        vec!["no treatment has a chance to win ≥ 90% with risk ≤ 0.250% yet (best: treatment, 80.1%), \
              25% of the planned sample (1,000 of 4,000 users)"]
    );
}
