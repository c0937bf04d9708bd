//! Crash test of `abacus ingest`: `kill -9` at random moments three times while it consumes
//! 500,000 events, restarting each time; the end state must be exactly the unique valid events
//! (none missing, none doubled) and exactly the malformed messages in quarantine.
//!
//! The broker is librdkafka's mock cluster (`rdkafka::mocking`), hosted in this test process
//! and reached by the `abacus ingest` processes over TCP like any Kafka cluster: the local
//! tansu broker stalls consumer-group rebalances after a member is killed (see issue 5 and
//! `ingest_e2e.rs`), which made this test unreliable against it. ClickHouse is the real server.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::time::{Duration, Instant};

use abacus_testkit::kafka::produce_to;
use abacus_testkit::{unique_name, TestDatabase};
use rand::{Rng, SeedableRng};
use rdkafka::mocking::MockCluster;
use support::{assert_exact, corpus, Ingest, Target};

/// A killed member's partitions move after its session expires.
const SESSION: &[(&str, &str)] = &[
    ("ABACUS_KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000"),
    ("ABACUS_KAFKA_CLIENT_HEARTBEAT_INTERVAL_MS", "1000"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_three_times_while_consuming_loses_and_doubles_nothing() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let topic = unique_name("crash");
    // The mock broker keeps at most 5 MB per partition (older messages are deleted, like
    // retention): 32 partitions keep all ~75 MB.
    cluster.create_topic(&topic, 32, 1).unwrap();
    let corpus = corpus(500_000, 7);
    produce_to(&brokers, &topic, &corpus.messages);

    let db = TestDatabase::create("ingest_crash").await;
    let group = unique_name("crash");
    let url = abacus_testkit::clickhouse_url();
    let target = Target {
        clickhouse_url: &url,
        database: db.name(),
        brokers: &brokers,
        topic: &topic,
        group: &group,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..3 {
        let mut ingest = Ingest::spawn(&target, false, SESSION);
        let before = db.count("SELECT count() FROM events").await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                ingest.running(),
                "round {round}: ingest exited; log:\n{}",
                ingest.tail()
            );
            if db.count("SELECT count() FROM events").await > before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: nothing written in 120 s; log:\n{}",
                ingest.tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
        ingest.kill();
        let stored = db.count("SELECT count() FROM events").await;
        eprintln!("round {round}: killed with {stored} events stored");
        assert!(
            stored < corpus.unique,
            "round {round} finished before the kill; use more events"
        );
    }
    let mut last = Ingest::spawn(&target, true, SESSION);
    let status = last.wait(Duration::from_secs(300));
    assert!(
        status.success(),
        "final --once run failed; log:\n{}",
        last.tail()
    );
    assert_exact(&db, &corpus).await;
    db.drop().await;
}
