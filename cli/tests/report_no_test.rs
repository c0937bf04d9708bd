//! A revenue metric whose sums overflow (#14 "absurd values": one `event_value` of 1.7e308,
//! stored before ingest quarantined such values, or by another writer) has no test, and every
//! output says so instead of showing numbers that look real: the JSON has `tested: false`, a
//! reason and `null` statistics, the table and the HTML show `–` and the reason. Events are
//! written straight to the event store (ingest now refuses such values); then `abacus
//! aggregate` and `abacus report` run as a user runs them.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::Command;

use abacus_testkit::TestDatabase;

const DEFINITIONS: &str = r#"
[[experiment]]
id = "big-spenders"
name = "Big spenders"
hypothesis = "A bolder price raises revenue"
control = "control"
start = "2026-11-01T00:00:00Z"

  [[experiment.variant]]
  name = "control"
  weight = 1
  [[experiment.variant]]
  name = "treatment"
  weight = 1

  [[experiment.metric]]
  name = "purchase_rate"
  kind = "conversion"
  event = "purchase"
  primary = true
  [[experiment.metric]]
  name = "revenue_per_user"
  kind = "revenue"
  event = "purchase"
"#;

fn abacus(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(args)
        .env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
        .env("ABACUS_CLICKHOUSE_DATABASE", db)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "abacus {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_sums_give_no_test_in_every_format() {
    let db = TestDatabase::create("report_no_test").await;
    let file = std::env::temp_dir().join(format!("{}.toml", db.name()));
    std::fs::write(&file, DEFINITIONS).unwrap();
    abacus(db.name(), &["experiments", "apply", file.to_str().unwrap()]);

    // 400 users per arm exposed on 2026-11-02; a fifth of them buy for 10 to 50; two users of
    // control spend 1.7e308 each, so the sums of control's revenue overflow to infinity.
    let t0: i64 = 1_793_577_600_000; // 2026-11-02T00:00:00Z
    let mut rows = Vec::new();
    for i in 0..800 {
        let variant = if i % 2 == 0 { "control" } else { "treatment" };
        rows.push(format!(
            "('x{i}', 'exposure', 'big-spenders', '{variant}', 'u{i}', 'exposure', NULL, [], [], {t0}, now(), 't', 0, {i})"
        ));
        if i % 5 == 0 || i < 4 {
            let value = if i < 4 && i % 2 == 0 {
                "1.7e308".to_owned()
            } else {
                format!("{}", 10 + i % 40)
            };
            rows.push(format!(
                "('p{i}', 'conversion', '', '', 'u{i}', 'purchase', {value}, [], [], {}, now(), 't', 0, {})",
                t0 + 3_600_000,
                1000 + i
            ));
        }
    }
    db.clickhouse()
        .client()
        .query(&format!(
            "INSERT INTO events (event_id, event_type, experiment_id, variant, user_id, event_name, \
             event_value, metadata_keys, metadata_values, timestamp_ms, ingested_at, kafka_topic, \
             kafka_partition, kafka_offset) VALUES {}",
            rows.join(", ")
        ))
        .execute()
        .await
        .unwrap();
    abacus(db.name(), &["aggregate", "--once", "--as-of", "2026-11-20"]);

    let json: serde_json::Value = serde_json::from_str(&abacus(
        db.name(),
        &["report", "--format", "json", "--experiment", "big-spenders"],
    ))
    .unwrap();
    let metric = |name: &str| {
        json["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap()
            .clone()
    };
    let revenue = metric("revenue_per_user");
    assert_eq!(revenue["tested"], false, "{revenue:#}");
    assert_eq!(revenue["verdict"], "no test");
    let reason = revenue["no_test_reason"].as_str().unwrap();
    assert!(!reason.is_empty(), "{revenue:#}");
    for key in [
        "control_value",
        "treatment_value",
        "abs_lift",
        "rel_lift",
        "ci_abs_low",
        "ci_abs_high",
        "p_value",
        "p_value_adjusted",
        "significant",
    ] {
        assert!(revenue[key].is_null(), "{key} must be null: {revenue:#}");
    }
    assert_eq!(revenue["control_users"], 400);
    // The conversion metric over the same users is tested.
    let rate = metric("purchase_rate");
    assert_eq!(rate["tested"], true, "{rate:#}");
    assert!(rate["p_value"].is_f64());

    let table = abacus(db.name(), &["report", "--experiment", "big-spenders"]);
    let line = table
        .lines()
        .find(|l| l.starts_with("revenue_per_user"))
        .unwrap();
    assert!(line.ends_with("no test"), "{table}");
    assert!(
        !line.contains("1.0000"),
        "no p-value of 1 for a test that was not run: {table}"
    );
    assert!(table.contains(&format!("no test: {reason}")), "{table}");

    let html = std::env::temp_dir().join(format!("{}.html", db.name()));
    abacus(
        db.name(),
        &[
            "report",
            "--format",
            "html",
            "--out",
            html.to_str().unwrap(),
        ],
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("no test: "),
        "the HTML report gives the reason"
    );
    let _ = std::fs::remove_file(&html);
    let _ = std::fs::remove_file(&file);
    db.drop().await;
}
