//! Crash test of `abacus ingest`: `kill -9` at random moments three times while it consumes
//! 500,000 events, restarting each time; the end state must be exactly the unique valid events
//! (none missing, none doubled) and exactly the malformed messages in quarantine.
//!
//! The broker is librdkafka's mock cluster (`rdkafka::mocking`), hosted in this test process
//! and reached by the `abacus ingest` processes over TCP like any Kafka cluster: the local
//! tansu broker stalls consumer-group rebalances after a member is killed (see issue 5 and
//! `ingest_e2e.rs`), which made this test unreliable against it. ClickHouse is the real server.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abacus_testkit::{unique_name, TestDatabase};
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const UNIQUE: u64 = 500_000;

/// `UNIQUE` valid events over 5,000 users, 2% resends, 0.5% malformed; returns
/// (messages, malformed).
fn corpus() -> (Vec<(String, String)>, u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut messages = Vec::with_capacity(UNIQUE as usize * 103 / 100);
    let mut malformed = 0;
    for i in 0..UNIQUE {
        let user = format!("u{}", rng.random_range(0..5_000));
        let payload = format!(
            r#"{{"event_id":"e{i}","event_type":"conversion","event_name":"purchase","event_value":{},"user_id":"{user}","timestamp":{}}}"#,
            rng.random_range(1..100),
            1_793_000_000_000u64 + i
        );
        if rng.random_bool(0.02) {
            messages.push((user.clone(), payload.clone()));
        }
        messages.push((user, payload));
        if rng.random_bool(0.005) {
            messages.push((format!("bad{i}"), format!("{{\"event_id\":\"bad{i}\",")));
            malformed += 1;
        }
    }
    (messages, malformed)
}

fn publish(brokers: &str, topic: &str, messages: &[(String, String)]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    for (key, payload) in messages {
        let mut record = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(payload.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

fn spawn(
    brokers: &str,
    db: &str,
    topic: &str,
    group: &str,
    once: bool,
) -> (Child, std::path::PathBuf) {
    let log = std::env::temp_dir().join(format!("{}.log", unique_name("ingest_crash")));
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_abacus"));
    cmd.arg("ingest")
        .env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
        .env("ABACUS_CLICKHOUSE_DATABASE", db)
        .env("ABACUS_KAFKA_BROKERS", brokers)
        .env("ABACUS_KAFKA_TOPIC", topic)
        .env("ABACUS_KAFKA_GROUP", group)
        // A killed member's partitions move after its session expires.
        .env("ABACUS_KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000")
        .env("ABACUS_KAFKA_CLIENT_HEARTBEAT_INTERVAL_MS", "1000")
        .env("ABACUS_INGEST_BATCH_ROWS", "5000")
        .env("ABACUS_INGEST_BATCH_INTERVAL_MS", "200")
        .env("ABACUS_INGEST_RETRY_MAX_MS", "1000")
        .env("ABACUS_INGEST_PROGRESS_INTERVAL_SECS", "1")
        .env("RUST_LOG", "info")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null());
    if once {
        cmd.arg("--once");
    }
    (cmd.spawn().unwrap(), log)
}

fn tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_three_times_while_consuming_loses_and_doubles_nothing() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let topic = unique_name("crash");
    // The mock broker keeps at most 5 MB per partition (older messages are deleted, like
    // retention): 32 partitions keep all ~75 MB.
    cluster.create_topic(&topic, 32, 1).unwrap();
    let (messages, malformed) = corpus();
    publish(&brokers, &topic, &messages);

    let db = TestDatabase::create("ingest_crash").await;
    let group = unique_name("crash");
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..3 {
        let (mut child, log) = spawn(&brokers, db.name(), &topic, &group, false);
        let before = db.count("SELECT count() FROM events").await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                child.try_wait().unwrap().is_none(),
                "round {round}: ingest exited; log:\n{}",
                tail(&log)
            );
            if db.count("SELECT count() FROM events").await > before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: nothing written in 120 s; log:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let stored = db.count("SELECT count() FROM events").await;
        eprintln!("round {round}: killed with {stored} events stored");
        assert!(
            stored < UNIQUE,
            "round {round} finished before the kill; use more events"
        );
    }
    let (mut last, log) = spawn(&brokers, db.name(), &topic, &group, true);
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = last.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = last.kill();
            panic!(
                "final --once run did not finish in 300 s; log:\n{}",
                tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        status.success(),
        "final --once run failed; log:\n{}",
        tail(&log)
    );

    assert_eq!(
        db.count("SELECT count() FROM events").await,
        UNIQUE,
        "events (without FINAL)"
    );
    assert_eq!(
        db.count("SELECT uniqExact(event_id) FROM events").await,
        UNIQUE
    );
    assert_eq!(
        db.count("SELECT count() FROM quarantine").await,
        malformed,
        "quarantine"
    );
    db.drop().await;
}
