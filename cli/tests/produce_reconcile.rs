//! `abacus produce` followed by `abacus ingest --once` reconciles exactly with the ground
//! truth that produce prints (real broker, real ClickHouse, fresh topic and database).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::Command;

use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};

fn abacus(db: &str, topic: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_abacus"));
    cmd.env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
        .env("ABACUS_CLICKHOUSE_DATABASE", db)
        .env("ABACUS_KAFKA_BROKERS", kafka_brokers())
        .env("ABACUS_KAFKA_TOPIC", topic)
        .env("ABACUS_KAFKA_GROUP", unique_name("recon"))
        .env("RUST_LOG", "warn");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_ingest_once_reconciles_exactly() {
    let db = TestDatabase::create("produce_reconcile").await;
    let topic = unique_name("produce_reconcile");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");
    let out = abacus(db.name(), &topic)
        .args([
            "produce",
            "--experiments",
            examples,
            "--users",
            "15000",
            "--seed",
            "5",
            "--json",
            "--quiet",
        ])
        .args([
            "--duplicates",
            "0.03",
            "--malformed",
            "0.01",
            "--late",
            "0.02",
        ])
        .args(["--effect", "checkout-redesign:treatment:purchase=+8%"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "produce failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let get = |k: &str| truth[k].as_u64().unwrap();
    assert!(get("unique_events") > 10_000, "{truth}");
    assert!(
        get("duplicates") > 0 && get("malformed") > 0 && get("late") > 0,
        "{truth}"
    );
    assert_eq!(
        get("messages"),
        get("unique_events") + get("duplicates") + get("malformed")
    );

    let out = abacus(db.name(), &topic)
        .args(["ingest", "--once"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ingest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(&format!(
            "consumed {}, inserted {}, duplicates dropped {}, redelivered skipped 0, quarantined {}",
            get("messages"),
            get("unique_events"),
            get("duplicates"),
            get("malformed")
        )),
        "{summary}\n{truth}"
    );
    assert_eq!(
        db.count("SELECT count() FROM events").await,
        get("unique_events")
    );
    assert_eq!(
        db.count("SELECT count() FROM quarantine").await,
        get("malformed")
    );
    // Exposed users per variant, as the producer assigned them.
    for (exp, variants) in truth["exposed_users"].as_object().unwrap() {
        for (variant, users) in variants.as_object().unwrap() {
            let sql = format!(
                "SELECT uniqExact(user_id) FROM events WHERE event_type = 'exposure' AND experiment_id = '{exp}' AND variant = '{variant}'"
            );
            assert_eq!(
                db.count(&sql).await,
                users.as_u64().unwrap(),
                "{exp}/{variant}"
            );
        }
    }
    db.drop().await;
}
