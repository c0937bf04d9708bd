//! Exposures end to end: two `abacus serve` processes evaluate 20,000 users three times each
//! (spread across both), publishing exposures to a fresh topic; `abacus ingest --once` then
//! stores exactly 20,000 exposure rows per experiment (the deterministic event id makes the
//! replicas' and the repeats' exposures duplicates that ingest drops), and `abacus aggregate`
//! counts those 20,000 users per experiment.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod serve_support;

use std::process::Command;
use std::time::{Duration, Instant};

use abacus_testkit::kafka::create_topic;
use abacus_testkit::{clickhouse_url, kafka_brokers, unique_name, TestDatabase};
use serde_json::json;
use serve_support::{path_str, temp_file, Serve};

const USERS: usize = 20_000;
const ROUNDS: usize = 3;

const EXPERIMENTS: &str = r#"
[[experiment]]
id = "serve-e2e-a"
name = "Serve e2e A"
control = "control"
start = "2026-01-01"
segments = ["region"]
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

[[experiment]]
id = "serve-e2e-b"
name = "Serve e2e B"
namespace = "other"
control = "x"
start = "2026-01-01"
  [[experiment.variant]]
  name = "x"
  weight = 2
  [[experiment.variant]]
  name = "y"
  weight = 1
  [[experiment.metric]]
  name = "purchase_rate"
  kind = "conversion"
  event = "purchase"
"#;

fn abacus(db: &str, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(args)
        .env_remove("ABACUS_CONFIG")
        .env("ABACUS_CLICKHOUSE_URL", clickhouse_url())
        .env("ABACUS_CLICKHOUSE_DATABASE", db)
        .env("ABACUS_KAFKA_BROKERS", kafka_brokers())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "abacus {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_three_rounds_give_one_exposure_per_user_and_experiment() {
    let db = TestDatabase::create("serve_exposures").await;
    let topic = create_topic("serve_exposures", 4).await;
    let file = temp_file("serve_exposures", "toml", EXPERIMENTS);
    abacus(db.name(), &["experiments", "apply", path_str(&file)]);

    let env = [("ABACUS_KAFKA_BROKERS", kafka_brokers())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--experiments", path_str(&file), "--topic", &topic];
    let mut replicas = [
        Serve::start("serve_exposures_1", &args, &env).await,
        Serve::start("serve_exposures_2", &args, &env).await,
    ];
    let addrs = [replicas[0].addr, replicas[1].addr];

    // Round r of user i goes to replica (i + r) % 2; 4 connections per replica.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..8usize {
        tasks.push(tokio::spawn(async move {
            let mut clients = [
                serve_support::Client::connect(addrs[0]).await,
                serve_support::Client::connect(addrs[1]).await,
            ];
            for round in 0..ROUNDS {
                for i in (worker..USERS).step_by(8) {
                    let body = json!({
                        "user_id": format!("user-{i}"),
                        "experiments": ["serve-e2e-a", "serve-e2e-b"],
                        "attributes": {"region": if i % 2 == 0 { "eu" } else { "us" }},
                    });
                    let r = clients[(i + round) % 2]
                        .post_json("/v1/assign", &body.to_string())
                        .await;
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!("{} evaluations in {:?}", USERS * ROUNDS, started.elapsed());
    let mut queued = 0.0;
    let mut deduplicated = 0.0;
    for r in &replicas {
        queued += r.metric("abacus_serve_exposures_queued_total").await;
        deduplicated += r.metric("abacus_serve_exposures_deduplicated_total").await;
        assert_eq!(
            r.metric("abacus_serve_exposures_dropped_total{cause=\"queue_full\"}")
                .await,
            0.0
        );
    }
    // Each replica publishes each (user, experiment) once: its repeat is served from the
    // recently-published cache; the other replica's copy is the same event id.
    assert_eq!(queued, (2 * 2 * USERS) as f64);
    assert_eq!(deduplicated, (2 * USERS) as f64);
    for r in &mut replicas {
        assert!(r.terminate().success(), "log:\n{}", r.log_text());
        assert!(
            r.log_text().contains("every queued exposure was delivered"),
            "{}",
            r.log_text()
        );
    }

    let group = unique_name("serve_exposures_group");
    let deadline = Instant::now() + Duration::from_secs(120);
    abacus(
        db.name(),
        &["ingest", "--once", "--topic", &topic, "--group", &group],
    );
    for exp in ["serve-e2e-a", "serve-e2e-b"] {
        let rows = db
            .count(&format!(
                "SELECT count() FROM events WHERE event_type = 'exposure' AND experiment_id = '{exp}'"
            ))
            .await;
        assert_eq!(rows, USERS as u64, "{exp}: exposure rows (without FINAL)");
    }
    let with_region = db
        .count("SELECT count() FROM events WHERE experiment_id = 'serve-e2e-a' AND has(metadata_keys, 'region')")
        .await;
    assert_eq!(
        with_region, USERS as u64,
        "segment attributes are in the metadata"
    );
    let leaked = db
        .count("SELECT count() FROM events WHERE experiment_id = 'serve-e2e-b' AND length(metadata_keys) > 0")
        .await;
    assert_eq!(
        leaked, 0,
        "attributes an experiment does not segment by stay out"
    );
    assert!(Instant::now() < deadline);

    abacus(db.name(), &["aggregate", "--once"]);
    for exp in ["serve-e2e-a", "serve-e2e-b"] {
        let users = db
            .count(&format!(
                "SELECT count() FROM experiment_users FINAL WHERE experiment_id = '{exp}'"
            ))
            .await;
        assert_eq!(users, USERS as u64, "{exp}: users counted by aggregate");
    }
    db.drop().await;
}
