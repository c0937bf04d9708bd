//! End-to-end tests of `abacus ingest` as a process against the local stack's Apache Kafka and
//! ClickHouse: a ClickHouse outage and two instances in one consumer group. (`kill -9` of ingest
//! is in `ingest_crash.rs`, broker failover in `ingest_failover.rs`, members joining and leaving
//! under load in `ingest_rebalance.rs`.) Each test uses its own topic, consumer group and
//! database; the end state must be exactly the unique valid events in `events` and exactly the
//! malformed messages in `quarantine`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::time::{Duration, Instant};

use abacus_testkit::kafka::{create_topic, delete_topic, produce};
use abacus_testkit::server::PrivateClickHouse;
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use support::{assert_exact, corpus, Ingest, Target};

fn spawn(url: &str, db: &str, topic: &str, group: &str) -> Ingest {
    let brokers = kafka_brokers();
    Ingest::spawn(
        &Target {
            clickhouse_url: url,
            database: db,
            brokers: &brokers,
            topic,
            group,
        },
        false,
        &[],
    )
}

async fn wait_for_count(
    db: &TestDatabase,
    expected: u64,
    limit: Duration,
    procs: &mut [&mut Ingest],
) {
    let deadline = Instant::now() + limit;
    loop {
        let n = db.count("SELECT count() FROM events").await;
        if n >= expected {
            return;
        }
        for p in procs.iter_mut() {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!("ingest exited early ({status}); log:\n{}", p.tail());
            }
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {expected} events after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clickhouse_outage_mid_stream_is_survived_without_loss_or_doubles() {
    let mut server = PrivateClickHouse::start("e2e_outage");
    let db = TestDatabase::create_at(&server.url(), "e2e_outage").await;
    let topic = create_topic("e2e_outage", 2).await;
    let group = unique_name("outage");
    let corpus = corpus(150_000, 11);
    let half = corpus.messages.len() / 2;
    produce(&topic, &corpus.messages[..half]);

    let mut ingest = spawn(&server.url(), db.name(), &topic, &group);
    wait_for_count(&db, 1, Duration::from_secs(120), &mut [&mut ingest]).await;
    server.stop();
    // Keep producing during the outage; ingest must keep running and keep its backlog bounded.
    let rest = corpus.messages[half..].to_vec();
    let topic2 = topic.clone();
    let producer = std::thread::spawn(move || produce(&topic2, &rest));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        ingest.running(),
        "ingest exited during the outage; log:\n{}",
        ingest.tail()
    );
    server.resume();
    producer.join().unwrap();
    wait_for_count(
        &db,
        corpus.unique,
        Duration::from_secs(180),
        &mut [&mut ingest],
    )
    .await;
    // Quarantine rows are written right after their batch's events.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = ingest.terminate();
    assert!(
        status.success(),
        "SIGTERM exit: {status}; log:\n{}",
        ingest.tail()
    );
    assert!(
        ingest.log().contains("will retry"),
        "the outage was not noticed; log:\n{}",
        ingest.tail()
    );
    // A wait longer than `PAUSE_AFTER` (2 s) pauses the partitions, so that the consumer
    // polls (and serves rebalances) during the outage; it resumes when ClickHouse is back.
    let log = ingest.log();
    assert!(
        log.contains("consumption paused") && log.contains("consumption resumed"),
        "consumption should pause during the 10 s outage and resume after; log:\n{}",
        ingest.tail()
    );
    assert_exact(&db, &corpus).await;
    db.drop().await;
    delete_topic(&kafka_brokers(), &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_in_one_group_split_partitions_and_store_everything_once() {
    let db = TestDatabase::create("e2e_scale_out").await;
    let topic = create_topic("e2e_scale_out", 4).await;
    let group = unique_name("scale");
    let url = abacus_testkit::clickhouse_url();
    let mut a = spawn(&url, db.name(), &topic, &group);
    let mut b = spawn(&url, db.name(), &topic, &group);
    // Let the group settle with both members before the data arrives.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(a.log().contains("partition assigned") && b.log().contains("partition assigned")) {
        assert!(
            Instant::now() < deadline,
            "both processes should own partitions; logs:\n{}\n---\n{}",
            a.tail(),
            b.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let corpus = corpus(200_000, 13);
    produce(&topic, &corpus.messages);
    wait_for_count(
        &db,
        corpus.unique,
        Duration::from_secs(180),
        &mut [&mut a, &mut b],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for p in [&mut a, &mut b] {
        let status = p.terminate();
        assert!(
            status.success(),
            "SIGTERM exit: {status}; log:\n{}",
            p.tail()
        );
    }
    let inserted = |log: &str| -> u64 {
        let line = log
            .lines()
            .find(|l| l.starts_with("ingest: consumed"))
            .unwrap_or_default();
        line.split("inserted ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (ia, ib) = (inserted(&a.log()), inserted(&b.log()));
    assert!(
        ia > 0 && ib > 0,
        "each process should insert some events: {ia} and {ib}"
    );
    assert_eq!(ia + ib, corpus.unique);
    assert_exact(&db, &corpus).await;
    db.drop().await;
    delete_topic(&kafka_brokers(), &topic).await;
}
