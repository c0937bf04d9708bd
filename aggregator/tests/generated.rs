//! Generated data with known true effects (the `abacus produce` generator, loaded straight
//! into ClickHouse): across many independent experiments the reported relative lifts are
//! inside their 95% intervals at about the nominal rate, the A/A experiments are not
//! significant, and an injected 45/55 split on a 50/50 design raises the SRM flag (and only
//! there).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::collections::BTreeMap;

use abacus_aggregator::model::{ResultRow, RunRow};
use abacus_aggregator::{pass, AggregateConfig, PassOptions};
use abacus_loadgen::generate::Plan;
use abacus_testkit::TestDatabase;

/// True relative effect on purchases of each experiment's treatment (0 = A/A).
const EFFECTS: [f64; 12] = [
    0.0, 0.05, 0.10, -0.05, 0.0, 0.08, 0.15, -0.10, 0.0, 0.03, 0.12, 0.0,
];
/// The experiment whose producer splits 45/55 instead of 50/50.
const BUGGED: usize = 11;

fn definitions() -> String {
    let mut text = String::new();
    for (i, effect) in EFFECTS.iter().enumerate() {
        text.push_str(&format!(
            r#"
[[experiment]]
id = "e{i:02}"
name = "generated {i}"
hypothesis = "effect {effect}"
namespace = "ns{i}"
traffic = 1.0
control = "control"
start = "2026-01-01T00:00:00Z"
end = "2026-01-15T00:00:00Z"
  [[experiment.variant]]
  name = "control"
  weight = 50
  [[experiment.variant]]
  name = "treatment"
  weight = 50
  [[experiment.metric]]
  name = "purchase_rate"
  kind = "conversion"
  event = "purchase"
  primary = true
  [[experiment.metric]]
  name = "revenue"
  kind = "revenue"
  event = "purchase"
"#
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_effects_are_covered_aa_is_quiet_and_srm_fires_on_the_bugged_split() {
    let db = TestDatabase::create("generated").await;
    let defs = abacus_assign::parse(&definitions()).unwrap();
    let plan = abacus_registry::plan(db.clickhouse(), &defs).await.unwrap();
    abacus_registry::apply(db.clickhouse(), &plan)
        .await
        .unwrap();

    let mut effects = BTreeMap::new();
    for (i, e) in EFFECTS.iter().enumerate() {
        if *e != 0.0 {
            effects.insert(
                (
                    format!("e{i:02}"),
                    "treatment".to_owned(),
                    "purchase".to_owned(),
                ),
                *e,
            );
        }
    }
    let generated = Plan {
        seed: 20261124,
        users: 20_000,
        base_rates: [("purchase".to_owned(), 0.2)].into_iter().collect(),
        effects,
        assignment_bugs: [(format!("e{BUGGED:02}"), vec![45, 55])]
            .into_iter()
            .collect(),
        duplicates: 0.02,
        malformed: 0.0,
        late: 0.01,
        ..Plan::default()
    };
    let (truth, inserted) = support::load(db.clickhouse(), &defs, generated).await;
    assert!(inserted > 200_000, "{truth:?}");

    let options = PassOptions {
        as_of: Some("2026-03-01T00:00:00Z".parse().unwrap()),
        ..PassOptions::default()
    };
    let config = AggregateConfig {
        progress_secs: 0,
        ..AggregateConfig::default()
    };
    pass(db.clickhouse(), &config, &options).await.unwrap();

    let runs: Vec<RunRow> = db
        .clickhouse()
        .client()
        .query("SELECT ?fields FROM experiment_runs ORDER BY experiment_id")
        .fetch_all::<RunRow>()
        .await
        .unwrap();
    let rows: Vec<ResultRow> = db
        .clickhouse()
        .client()
        .query("SELECT ?fields FROM results_latest ORDER BY experiment_id, metric")
        .fetch_all::<ResultRow>()
        .await
        .unwrap();
    assert_eq!(runs.len(), EFFECTS.len());
    assert_eq!(rows.len(), 2 * EFFECTS.len());

    // Users per variant equal what the generator exposed (the store is deduplicated by the
    // aggregator even though duplicates were inserted).
    for run in &runs {
        let exposed = &truth.exposed_users[&run.experiment_id];
        let expected: Vec<u64> = run.variants.iter().map(|v| exposed[v]).collect();
        assert_eq!(run.variant_users, expected, "{}", run.experiment_id);
    }

    // SRM: only the bugged experiment.
    for run in &runs {
        let bugged = run.experiment_id == format!("e{BUGGED:02}");
        assert_eq!(
            run.srm_mismatch == 1,
            bugged,
            "{}: srm p = {}",
            run.experiment_id,
            run.srm_p_value
        );
    }

    // Coverage of the true relative lift by the 95% intervals.
    let mut covered = 0;
    let mut total = 0;
    let (mut aa_total, mut aa_significant) = (0usize, 0usize);
    for r in &rows {
        let i: usize = r.experiment_id[1..].parse().unwrap();
        let truth = EFFECTS[i];
        let (lo, hi) = (r.ci_rel_low.unwrap(), r.ci_rel_high.unwrap());
        total += 1;
        if lo <= truth && truth <= hi {
            covered += 1;
        } else {
            eprintln!(
                "not covered: {} {} true {truth} CI [{lo:.4}, {hi:.4}]",
                r.experiment_id, r.metric
            );
        }
        // A/A experiments (without the SRM bug): the primary metric is not significant, and
        // false positives over all their metrics stay at the nominal rate (for this seed one
        // of 6: e00's heavy-tailed revenue, p = 0.008).
        if truth == 0.0 && i != BUGGED {
            aa_total += 1;
            aa_significant += usize::from(r.significant == 1);
            if r.is_primary == 1 {
                assert_eq!(
                    r.significant, 0,
                    "A/A {} significant: {r:?}",
                    r.experiment_id
                );
            }
        }
    }
    eprintln!("A/A significant {aa_significant}/{aa_total}");
    assert!(
        aa_significant <= 1,
        "A/A significant {aa_significant}/{aa_total}"
    );
    eprintln!("coverage {covered}/{total}");
    // 24 intervals at 95%: about 1 miss expected; 5 or more has probability below 1%.
    assert!(total - covered <= 4, "coverage {covered}/{total}");
    // The large effects are detected.
    for r in rows.iter().filter(|r| r.metric == "purchase_rate") {
        let i: usize = r.experiment_id[1..].parse().unwrap();
        if EFFECTS[i].abs() >= 0.12 {
            assert_eq!(
                r.significant, 1,
                "{} effect {} not detected: {r:?}",
                r.experiment_id, EFFECTS[i]
            );
        }
    }
    db.drop().await;
}
