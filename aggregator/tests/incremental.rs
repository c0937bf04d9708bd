//! Incremental equals full at scale: generated traffic of thousands of users with history
//! before their first exposure (float revenue with winsorization, counts, a ratio, retention,
//! segments, CUPED on every metric that supports it, a sequential test tuned to a plan, a
//! Bayesian experiment), a full pass, then late events for existing users (earlier exposures
//! move `t0` and with it the pre-period, duplicates reach ClickHouse) and new users; the
//! incremental pass must recompute only the touched users and give, to the last bit, the
//! numbers of a full recompute — results, daily series and segments.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use abacus_aggregator::model::{ResultRow, SegmentRow, SeriesRow};
use abacus_aggregator::{pass, AggregateConfig, PassOptions};
use abacus_loadgen::generate::Plan;
use abacus_testkit::TestDatabase;
use clickhouse::{RowOwned, RowRead};

const DEFINITIONS: &str = r#"
[[experiment]]
id = "inc"
name = "incremental"
hypothesis = "incremental equals full"
namespace = "inc"
traffic = 1.0
control = "control"
start = "2026-01-01T00:00:00Z"
end = "2026-01-15T00:00:00Z"
segments = ["region", "device"]
sequential = true
cuped = true
pre_period = "10d"
plan = { users = 8000 }
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
  window = "7d"
  primary = true
  [[experiment.metric]]
  name = "revenue"
  kind = "revenue"
  event = "purchase"
  winsorize = 0.99
  [[experiment.metric]]
  name = "revenue_raw"
  kind = "revenue"
  event = "purchase"
  [[experiment.metric]]
  name = "carts"
  kind = "count"
  event = "add_to_cart"
  winsorize = 0.95
  [[experiment.metric]]
  name = "views_per_session"
  kind = "ratio"
  event = "page_view"
  denominator = "session_start"
  [[experiment.metric]]
  name = "d7"
  kind = "retention"
  event = "session_start"
  from_day = 7
  to_day = 7

# Only integer-valued metrics: every sum comes from the server.
[[experiment]]
id = "ints"
name = "integer metrics"
hypothesis = "incremental equals full"
namespace = "ints"
traffic = 1.0
control = "a"
start = "2026-01-01T00:00:00Z"
cuped = true
engine = "bayesian"
prior = { mean = 0.0, sd = 0.2 }
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "b"
  weight = 1
  [[experiment.variant]]
  name = "c"
  weight = 1
  [[experiment.metric]]
  name = "buyers"
  kind = "conversion"
  event = "purchase"
  primary = true
  [[experiment.metric]]
  name = "views"
  kind = "count"
  event = "page_view"
"#;

fn plan(seed: u64, first_user: u64, users: u64) -> Plan {
    Plan {
        seed,
        users,
        first_user,
        base_rates: ["purchase", "add_to_cart", "page_view", "session_start"]
            .into_iter()
            .map(|e| (e.to_owned(), 0.5))
            .collect(),
        duplicates: 0.03,
        malformed: 0.0,
        late: 0.02,
        history: 0.8,
        ..Plan::default()
    }
}

async fn rows<R: RowOwned + RowRead>(db: &TestDatabase, table: &str, order: &str) -> Vec<R> {
    db.clickhouse()
        .client()
        .query(&format!(
            "SELECT ?fields FROM {table} WHERE (experiment_id, run_id) IN \
             (SELECT experiment_id, max(run_id) FROM experiment_runs GROUP BY experiment_id) \
             ORDER BY experiment_id, {order}"
        ))
        .fetch_all::<R>()
        .await
        .unwrap()
}

/// Every number of the newest run of each experiment: (results, series, segments) with run ids and times zeroed.
async fn numbers(db: &TestDatabase) -> (Vec<ResultRow>, Vec<SeriesRow>, Vec<SegmentRow>) {
    let mut results: Vec<ResultRow> = rows(db, "results", "metric, variant").await;
    for r in &mut results {
        r.run_id = 0;
        r.computed_at = 0;
    }
    let mut series: Vec<SeriesRow> = rows(db, "results_series", "metric, variant, day").await;
    for r in &mut series {
        r.run_id = 0;
    }
    let mut segments: Vec<SegmentRow> = rows(
        db,
        "results_segments",
        "metric, segment_key, segment_value, variant",
    )
    .await;
    for r in &mut segments {
        r.run_id = 0;
    }
    (results, series, segments)
}

/// Rows as text, so that floats compare by value exactly (`==` would let `0.0` equal `-0.0`
/// and `NaN` differ from itself).
fn bits<R: std::fmt::Debug>(rows: &[R]) -> Vec<String> {
    rows.iter().map(|r| format!("{r:?}")).collect()
}

/// Asserts that two lists of rows are the same, naming the first difference.
fn same<R: std::fmt::Debug>(a: &[R], b: &[R], what: &str) {
    let (a, b) = (bits(a), bits(b));
    assert_eq!(a.len(), b.len(), "{what}: row counts differ");
    if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
        panic!("{what} differ:\nincremental {x}\nfull        {y}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_pass_after_late_and_duplicate_events_equals_full_to_the_bit() {
    let db = TestDatabase::create("incremental").await;
    let ch = db.clickhouse();
    let defs = abacus_assign::parse(DEFINITIONS).unwrap();
    let applied = abacus_registry::plan(ch, &defs).await.unwrap();
    abacus_registry::apply(ch, &applied).await.unwrap();
    let config = AggregateConfig {
        progress_secs: 0,
        overlap_secs: 0,
        ..AggregateConfig::default()
    };
    let as_of = "2026-02-01T00:00:00Z".parse().unwrap();

    support::load(ch, &defs, plan(1, 0, 6_000)).await;
    // ingested_at has whole seconds: let the first pass's watermark pass the first load.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let first = pass(
        ch,
        &config,
        &PassOptions {
            as_of: Some(as_of),
            ..PassOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(first.iter().all(|p| p.mode == "full"));
    let before = numbers(&db).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Late traffic for a third of the existing users (other event ids, earlier and later
    // times, duplicates inserted twice) and 500 new users; the analysis time moves an hour on,
    // as a daemon's would.
    support::load(ch, &defs, plan(2, 0, 2_000)).await;
    support::load(ch, &defs, plan(3, 6_000, 500)).await;
    let later = PassOptions {
        as_of: Some(as_of + chrono::Duration::hours(1)),
        ..PassOptions::default()
    };
    let incremental = pass(ch, &config, &later).await.unwrap();
    for p in &incremental {
        assert_eq!(p.mode, "incremental");
        let touched = p.recomputed_users;
        assert!(
            (1_000..4_000).contains(&touched),
            "{}: only the touched users are recomputed: {touched}",
            p.experiment_id
        );
    }
    let after_incremental = numbers(&db).await;
    assert_ne!(
        bits(&before.0),
        bits(&after_incremental.0),
        "the late data changed the results"
    );

    let full = pass(
        ch,
        &config,
        &PassOptions {
            full: true,
            ..later.clone()
        },
    )
    .await
    .unwrap();
    assert!(full
        .iter()
        .all(|p| p.mode == "full" && p.recomputed_users > 6_000));
    let after_full = numbers(&db).await;
    same(&after_incremental.0, &after_full.0, "results");
    same(&after_incremental.1, &after_full.1, "daily series");
    same(&after_incremental.2, &after_full.2, "segments");
    assert!(!after_full.1.is_empty() && !after_full.2.is_empty());

    // The winsorized metrics were capped (the cap is below the largest value).
    let capped = after_full.0.iter().find(|r| r.metric == "revenue").unwrap();
    let raw = after_full
        .0
        .iter()
        .find(|r| r.metric == "revenue_raw")
        .unwrap();
    assert!(capped.treatment_value < raw.treatment_value, "{capped:?}");

    // CUPED: every conversion, revenue and count metric is adjusted (the users' history
    // predicts their outcome), with the unadjusted estimate beside it; ratio and retention
    // metrics are not.
    for r in &after_full.0 {
        let adjustable = matches!(r.kind.as_str(), "conversion" | "revenue" | "count");
        assert_eq!(r.cuped, u8::from(adjustable), "{r:?}");
        if adjustable {
            let reduction = r.variance_reduction.unwrap();
            println!(
                "{} {} {}: theta {:.3}, variance reduction {:.3}",
                r.experiment_id,
                r.metric,
                r.variant,
                r.cuped_theta.unwrap(),
                reduction
            );
            assert!(reduction > 0.02, "{r:?}");
            assert!(r.p_value_unadjusted.is_some() && r.abs_lift_unadjusted.is_some());
            let (w, w0) = (
                r.ci_abs_high - r.ci_abs_low,
                r.ci_abs_high_unadjusted.unwrap() - r.ci_abs_low_unadjusted.unwrap(),
            );
            if r.engine == "frequentist" {
                assert!(w < w0, "the adjusted interval is narrower: {r:?}");
            }
        } else {
            assert!(r.variance_reduction.is_none() && r.p_value_unadjusted.is_none());
        }
        match r.experiment_id.as_str() {
            "inc" => {
                assert_eq!(
                    (r.engine.as_str(), r.planned_users),
                    ("frequentist", Some(8000))
                );
                assert!(r.p_value_sequential.is_some() && r.chance_to_win.is_none());
            }
            _ => {
                assert_eq!(r.engine, "bayesian");
                let chance = r.chance_to_win.unwrap();
                assert!((0.0..=1.0).contains(&chance) && r.risk_control.unwrap() >= 0.0);
                assert_eq!(
                    r.p_value_adjusted, r.p_value,
                    "no Holm under the Bayesian engine"
                );
            }
        }
    }
    db.drop().await;
}
