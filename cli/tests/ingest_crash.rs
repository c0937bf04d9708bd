//! Crash test of `abacus ingest`: `kill -9` at random moments three times while it consumes
//! 500,000 events, restarting each time; the end state must be exactly the unique valid events
//! (none missing, none doubled) and exactly the malformed messages in quarantine.
//!
//! Broker and database are the local stack's Apache Kafka and ClickHouse (own topic, group and
//! database). A killed member stays in the consumer group until its session expires, so the
//! next process gets the partitions about one session timeout (6 s here) after it joins.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::time::{Duration, Instant};

use abacus_testkit::kafka::{create_topic, delete_topic, produce};
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use rand::{Rng, SeedableRng};
use support::{assert_exact, corpus, Ingest, Target};

/// A killed member's partitions move after its session expires (6 s is the broker's
/// `group.min.session.timeout.ms`).
const SESSION: &[(&str, &str)] = &[
    ("ABACUS_KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000"),
    ("ABACUS_KAFKA_CLIENT_HEARTBEAT_INTERVAL_MS", "1000"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_three_times_while_consuming_loses_and_doubles_nothing() {
    let brokers = kafka_brokers();
    let topic = create_topic("crash", 4).await;
    let corpus = corpus(500_000, 7);
    produce(&topic, &corpus.messages);

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
        // Kill at a random point of the rest of the stream (within its first third, so that
        // every round stops mid-stream however fast the machine), then a random moment later
        // (right after an insert, or between an insert and its commit, or mid-batch).
        let target_count = before + rng.random_range(1..=((corpus.unique - before) / 3).max(1));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                ingest.running(),
                "round {round}: ingest exited; log:\n{}",
                ingest.tail()
            );
            if db.count("SELECT count() FROM events").await >= target_count {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: fewer than {target_count} events written in 120 s; log:\n{}",
                ingest.tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
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
    delete_topic(&brokers, &topic).await;
}
