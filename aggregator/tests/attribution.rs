//! A hand-computed scenario covering every attribution rule, against the real ClickHouse:
//! pre-exposure conversions, users exposed to two variants, exposures outside the experiment's
//! time range, untagged and foreign-tagged conversions, a duplicate stored twice, conversion
//! windows, retention eligibility, a conversion after the analysis time, ratio metrics and
//! segments. Then late events, and an incremental pass that must equal a full recompute.
//! The expected numbers are worked out by hand in the comments.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use abacus_aggregator::model::ResultRow;
use abacus_aggregator::{pass, AggregateConfig, PassOptions};
use abacus_testkit::TestDatabase;
use chrono::{DateTime, Duration, Utc};
use clickhouse::Row;
use serde::Serialize;

const DEFINITION: &str = r#"
[[experiment]]
id = "exp"
name = "Scenario"
hypothesis = "hand-computed"
control = "control"
start = "2026-01-01T00:00:00Z"
end = "2026-02-28T00:00:00Z"
segments = ["region"]
  [[experiment.variant]]
  name = "control"
  weight = 1
  [[experiment.variant]]
  name = "treatment"
  weight = 1
  [[experiment.metric]]
  name = "conv"
  kind = "conversion"
  event = "purchase"
  window = "7d"
  primary = true
  [[experiment.metric]]
  name = "rev"
  kind = "revenue"
  event = "purchase"
  [[experiment.metric]]
  name = "cnt"
  kind = "count"
  event = "click"
  [[experiment.metric]]
  name = "ret"
  kind = "retention"
  event = "visit"
  from_day = 1
  to_day = 1
  [[experiment.metric]]
  name = "ratio"
  kind = "ratio"
  event = "click"
  denominator = "visit"
"#;

#[derive(Row, Serialize)]
struct Event {
    event_id: String,
    event_type: i8,
    experiment_id: String,
    variant: String,
    user_id: String,
    event_name: String,
    event_value: Option<f64>,
    metadata_keys: Vec<String>,
    metadata_values: Vec<String>,
    timestamp_ms: i64,
    kafka_topic: String,
    kafka_partition: i32,
    kafka_offset: i64,
}

fn t() -> DateTime<Utc> {
    "2026-01-10T00:00:00Z".parse().unwrap()
}

fn h(hours: i64) -> DateTime<Utc> {
    t() + Duration::hours(hours)
}

fn exposure(id: &str, user: &str, variant: &str, at: DateTime<Utc>, region: &str) -> Event {
    Event {
        event_id: id.into(),
        event_type: 1,
        experiment_id: "exp".into(),
        variant: variant.into(),
        user_id: user.into(),
        event_name: "exposure".into(),
        event_value: None,
        metadata_keys: vec!["region".into()],
        metadata_values: vec![region.into()],
        timestamp_ms: at.timestamp_millis(),
        kafka_topic: "t".into(),
        kafka_partition: 0,
        kafka_offset: 0,
    }
}

fn conversion(
    id: &str,
    user: &str,
    name: &str,
    at: DateTime<Utc>,
    value: Option<f64>,
    tag: &str,
) -> Event {
    Event {
        event_id: id.into(),
        event_type: 2,
        experiment_id: tag.into(),
        variant: if tag.is_empty() {
            String::new()
        } else {
            "treatment".into() // a variant on a conversion is never used
        },
        user_id: user.into(),
        event_name: name.into(),
        event_value: value,
        metadata_keys: vec![],
        metadata_values: vec![],
        timestamp_ms: at.timestamp_millis(),
        kafka_topic: "t".into(),
        kafka_partition: 0,
        kafka_offset: 0,
    }
}

async fn insert(db: &TestDatabase, events: Vec<Event>) {
    let mut insert = db
        .clickhouse()
        .client()
        .insert::<Event>("events")
        .await
        .unwrap();
    for e in &events {
        insert.write(e).await.unwrap();
    }
    insert.end().await.unwrap();
}

fn scenario() -> Vec<Event> {
    let d = |days: i64| Duration::days(days);
    vec![
        // u1 control (eu): purchase 1h after t0 (counts, 10), stored twice; a purchase after
        // the analysis time (ignored).
        exposure("e1", "u1", "control", t(), "eu"),
        conversion("c1", "u1", "purchase", h(1), Some(10.0), ""),
        conversion("c1", "u1", "purchase", h(1), Some(10.0), ""),
        conversion(
            "c1late",
            "u1",
            "purchase",
            "2026-02-20T00:00:00Z".parse().unwrap(),
            Some(1000.0),
            "",
        ),
        // u2 control (us): purchase before t0 (ignored), purchase 8 days later (outside the 7d
        // window of conv, but counts for rev: 7).
        exposure("e2", "u2", "control", t(), "us"),
        conversion("c2a", "u2", "purchase", h(-1), Some(5.0), ""),
        conversion("c2b", "u2", "purchase", t() + d(8), Some(7.0), ""),
        // u3 treatment (eu), exposed twice to the same variant; a purchase tagged with exp
        // (counts, 20) and one tagged with another experiment (ignored).
        exposure("e3a", "u3", "treatment", t(), "eu"),
        exposure("e3b", "u3", "treatment", h(1), "us"),
        conversion("c3a", "u3", "purchase", h(2), Some(20.0), "exp"),
        conversion("c3b", "u3", "purchase", h(3), Some(100.0), "other"),
        // u4 sees both variants: excluded (multiple_exposure_users = 1).
        exposure("e4a", "u4", "control", t(), "eu"),
        exposure("e4b", "u4", "treatment", h(1), "eu"),
        conversion("c4", "u4", "purchase", h(2), Some(50.0), ""),
        // u5 treatment: an exposure before the start (ignored, so t0 = t + 1d and the region
        // is us), a purchase before t0 (ignored), a visit on day 1 after t0 (retention).
        exposure(
            "e5a",
            "u5",
            "treatment",
            "2025-12-31T12:00:00Z".parse().unwrap(),
            "apac",
        ),
        exposure("e5b", "u5", "treatment", t() + d(1), "us"),
        conversion("c5a", "u5", "purchase", h(12), Some(30.0), ""),
        conversion(
            "c5b",
            "u5",
            "visit",
            t() + d(2) + Duration::hours(1),
            None,
            "",
        ),
        // u6: only an exposure before the start: not in the experiment.
        exposure(
            "e6",
            "u6",
            "control",
            "2025-12-20T00:00:00Z".parse().unwrap(),
            "eu",
        ),
        // u7 treatment (us), exposed the day before the analysis time: not yet eligible for
        // the day-1 retention; its visit falls after the analysis time anyway.
        exposure(
            "e7",
            "u7",
            "treatment",
            "2026-02-14T00:00:00Z".parse().unwrap(),
            "us",
        ),
        conversion(
            "c7",
            "u7",
            "visit",
            "2026-02-15T01:00:00Z".parse().unwrap(),
            None,
            "",
        ),
        // u8 control (eu): 3 clicks, 2 visits (one on day 1); the variant written on the
        // tagged click is ignored.
        exposure("e8", "u8", "control", t(), "eu"),
        conversion("c8a", "u8", "click", h(1), None, "exp"),
        conversion("c8b", "u8", "click", h(2), None, ""),
        conversion("c8c", "u8", "click", h(3), None, ""),
        conversion("c8d", "u8", "visit", h(5), None, ""),
        conversion("c8e", "u8", "visit", h(25), None, ""),
        // u9 treatment (eu): a click tagged with another experiment (ignored), an untagged
        // click, a visit 30h after t0 (day 1: retention).
        exposure("e9", "u9", "treatment", t(), "eu"),
        conversion("c9a", "u9", "click", h(1), None, "other"),
        conversion("c9b", "u9", "click", h(2), None, ""),
        conversion("c9c", "u9", "visit", h(30), None, ""),
    ]
}

fn as_of() -> DateTime<Utc> {
    "2026-02-15T00:00:00Z".parse().unwrap()
}

fn config() -> AggregateConfig {
    AggregateConfig {
        overlap_secs: 0,
        progress_secs: 0,
        ..AggregateConfig::default()
    }
}

async fn latest(db: &TestDatabase) -> Vec<ResultRow> {
    db.clickhouse()
        .client()
        .query("SELECT ?fields FROM results_latest ORDER BY metric, variant")
        .fetch_all::<ResultRow>()
        .await
        .unwrap()
}

fn metric<'a>(rows: &'a [ResultRow], name: &str) -> &'a ResultRow {
    rows.iter().find(|r| r.metric == name).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

async fn setup() -> TestDatabase {
    let db = TestDatabase::create("attribution").await;
    let defs = abacus_assign::parse(DEFINITION).unwrap();
    let plan = abacus_registry::plan(db.clickhouse(), &defs).await.unwrap();
    abacus_registry::apply(db.clickhouse(), &plan)
        .await
        .unwrap();
    insert(&db, scenario()).await;
    db
}

#[tokio::test]
async fn hand_computed_scenario_gives_exactly_the_expected_numbers() {
    let db = setup().await;
    let options = PassOptions {
        as_of: Some(as_of()),
        ..PassOptions::default()
    };
    let passes = pass(db.clickhouse(), &config(), &options).await.unwrap();
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].mode, "full");
    // control: u1, u2, u8; treatment: u3, u5, u7, u9; u4 excluded, u6 not in the experiment
    assert_eq!(passes[0].users, 7);
    assert_eq!(
        db.count("SELECT multiple_exposure_users FROM experiment_runs")
            .await,
        1
    );
    assert_eq!(
        db.count("SELECT sum(arraySum(variant_users)) FROM experiment_runs")
            .await,
        7
    );
    let rows = latest(&db).await;
    assert_eq!(rows.len(), 5, "one row per metric: {rows:#?}");

    // conv: control u1 only (1/3); treatment u3 only (1/4)
    let conv = metric(&rows, "conv");
    assert_eq!((conv.control_users, conv.treatment_users), (3, 4));
    assert_eq!(
        (conv.control_conversions, conv.treatment_conversions),
        (1, 1)
    );
    assert!(close(conv.control_value, 1.0 / 3.0) && close(conv.treatment_value, 0.25));
    assert_eq!(conv.method, "fisher_exact");

    // rev: control 10 + 7 + 0 over 3; treatment 20 + 0 + 0 + 0 over 4
    let rev = metric(&rows, "rev");
    assert!(close(rev.control_value, 17.0 / 3.0), "{rev:?}");
    assert!(close(rev.treatment_value, 5.0), "{rev:?}");
    assert!(close(rev.abs_lift, 5.0 - 17.0 / 3.0));

    // cnt: control 3 clicks (u8) over 3; treatment 1 click (u9) over 4
    let cnt = metric(&rows, "cnt");
    assert!(
        close(cnt.control_value, 1.0) && close(cnt.treatment_value, 0.25),
        "{cnt:?}"
    );

    // ret (day 1): control u8 of 3 eligible; treatment u5 and u9 of 3 eligible (u7 too recent)
    let ret = metric(&rows, "ret");
    assert_eq!((ret.control_users, ret.treatment_users), (3, 3), "{ret:?}");
    assert_eq!((ret.control_conversions, ret.treatment_conversions), (1, 2));

    // ratio clicks/visits: control 3/2; treatment 1 click / 2 visits (u5, u9)
    let ratio = metric(&rows, "ratio");
    assert!(
        close(ratio.control_value, 1.5) && close(ratio.treatment_value, 0.5),
        "{ratio:?}"
    );
    assert_eq!(ratio.method, "delta_ratio");

    // segments (region of the first counted exposure): control eu u1, u8 / us u2;
    // treatment eu u3, u9 / us u5, u7 (u5's apac exposure was before the start)
    let balance: Vec<(String, String, u64)> = db
        .clickhouse()
        .client()
        .query("SELECT segment_value, variant, users FROM results_balance ORDER BY segment_value, variant")
        .fetch_all::<(String, String, u64)>()
        .await
        .unwrap();
    assert_eq!(
        balance,
        [
            ("eu".into(), "control".into(), 2),
            ("eu".into(), "treatment".into(), 2),
            ("us".into(), "control".into(), 1),
            ("us".into(), "treatment".into(), 2),
        ]
    );
    db.drop().await;
}

/// Compares every number of two runs (ignoring run ids and times).
fn same_numbers(a: &[ResultRow], b: &[ResultRow]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        let strip = |r: &ResultRow| ResultRow {
            run_id: 0,
            computed_at: 0,
            ..r.clone()
        };
        assert_eq!(strip(x), strip(y), "incremental and full differ");
    }
}

#[tokio::test]
async fn late_events_incremental_pass_equals_full_recompute() {
    let db = setup().await;
    // ingested_at has whole seconds: let the first pass's watermark pass the scenario's rows.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let options = PassOptions {
        as_of: Some(as_of()),
        ..PassOptions::default()
    };
    pass(db.clickhouse(), &config(), &options).await.unwrap();

    // Late events: u2 turns out to have seen treatment first (now excluded); u9 was exposed two
    // days earlier (t0 moves, its day-1 visit no longer counts); a duplicate of u3's purchase
    // reaches ClickHouse; a new user u10 in control buys once.
    insert(
        &db,
        vec![
            exposure("late1", "u2", "treatment", h(-2), "us"),
            exposure("late2", "u9", "treatment", t() - Duration::days(2), "us"),
            conversion("c3a", "u3", "purchase", h(2), Some(20.0), "exp"),
            exposure("late3", "u10", "control", h(4), "eu"),
            conversion("late4", "u10", "purchase", h(5), Some(4.0), ""),
        ],
    )
    .await;
    let incremental = pass(db.clickhouse(), &config(), &options).await.unwrap();
    assert_eq!(incremental[0].mode, "incremental");
    assert_eq!(
        incremental[0].recomputed_users, 4,
        "u2, u3, u9 and u10 are recomputed, nobody else"
    );
    let after_incremental = latest(&db).await;

    // by hand: control u1, u8, u10; treatment u3, u5, u7, u9; u2 and u4 excluded
    let conv = metric(&after_incremental, "conv");
    assert_eq!((conv.control_users, conv.control_conversions), (3, 2));
    let rev = metric(&after_incremental, "rev");
    assert!(close(rev.control_value, 14.0 / 3.0) && close(rev.treatment_value, 5.0));
    let ret = metric(&after_incremental, "ret");
    assert_eq!((ret.treatment_users, ret.treatment_conversions), (3, 1));
    assert_eq!(
        db.count(
            "SELECT multiple_exposure_users FROM experiment_runs ORDER BY run_id DESC LIMIT 1"
        )
        .await,
        2
    );

    // The same again without new data changes no number.
    pass(db.clickhouse(), &config(), &options).await.unwrap();
    same_numbers(&after_incremental, &latest(&db).await);

    // A full recompute gives exactly the same results.
    let full = PassOptions {
        full: true,
        ..options
    };
    let passes = pass(db.clickhouse(), &config(), &full).await.unwrap();
    assert_eq!(passes[0].mode, "full");
    same_numbers(&after_incremental, &latest(&db).await);
    db.drop().await;
}
