//! Broker failover under `abacus ingest`: a private three-node Apache Kafka cluster (started
//! with the local stack's own script, `deploy/local/stack up kafka --kafka-nodes 3`), a topic
//! with replication factor 3 and `min.insync.replicas` 2. While ingest consumes 200,000 events
//! the leader of a partition it reads is `kill -9`ed (node id from the cluster's metadata, pid
//! from the stack's pid file); more events arrive while the node is down, then the node is
//! restarted (`deploy/local/stack up kafka`) and the last events arrive. Ingest must never
//! exit, and the end state must be exactly the unique valid events and the malformed messages.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::time::{Duration, Instant};

use abacus_testkit::cluster::KafkaCluster;
use abacus_testkit::kafka::{create_topic_on, partition_leader, TestProducer};
use abacus_testkit::{unique_name, TestDatabase};
use support::{assert_exact, corpus, Ingest, Target};

/// Polls `check` every 200 ms until it returns `Some`, failing after `limit` or as soon as
/// ingest exits.
async fn until<T>(
    what: &str,
    limit: Duration,
    ingest: &mut Ingest,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        assert!(
            ingest.running(),
            "ingest exited while waiting for {what}; log:\n{}",
            ingest.tail()
        );
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {limit:?}; ingest log:\n{}",
            ingest.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_partition_leader_mid_stream_loses_and_doubles_nothing() {
    let cluster = KafkaCluster::start("failover", 3);
    let brokers = cluster.brokers();
    let topic = create_topic_on(&brokers, "failover", 3, 3, &[("min.insync.replicas", "2")]).await;
    let db = TestDatabase::create("ingest_failover").await;
    let corpus = corpus(200_000, 17);
    let n = corpus.messages.len();
    let (before, during, after) = (
        &corpus.messages[..n / 2],
        corpus.messages[n / 2..3 * n / 4].to_vec(),
        &corpus.messages[3 * n / 4..],
    );
    let producer = TestProducer::new(&brokers);
    producer.send_all(&topic, before);

    let group = unique_name("failover");
    let url = abacus_testkit::clickhouse_url();
    let mut ingest = Ingest::spawn(
        &Target {
            clickhouse_url: &url,
            database: db.name(),
            brokers: &brokers,
            topic: &topic,
            group: &group,
        },
        false,
        &[],
    );
    let stored = until(
        "first insert",
        Duration::from_secs(120),
        &mut ingest,
        async || {
            let n = db.count("SELECT count() FROM events").await;
            (n > 0).then_some(n)
        },
    )
    .await;
    assert!(
        ingest.log().contains("partition=0"),
        "ingest should own partition 0; log:\n{}",
        ingest.tail()
    );
    let leader = partition_leader(&brokers, &topic, 0).expect("partition 0 has a leader");
    cluster.kill(leader);
    let killed = Instant::now();
    eprintln!("killed node {leader}, the leader of partition 0, with {stored} events stored");
    assert!(stored < corpus.unique, "ingest finished before the kill");

    // Events keep arriving while the node is down (acks from the two remaining replicas).
    let (b, t) = (brokers.clone(), topic.clone());
    let during_the_outage = std::thread::spawn(move || TestProducer::new(&b).send_all(&t, &during));
    let new_leader = until(
        "new leader",
        Duration::from_secs(60),
        &mut ingest,
        async || partition_leader(&brokers, &topic, 0).filter(|l| *l != leader),
    )
    .await;
    eprintln!(
        "partition 0 is led by node {new_leader} after {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    during_the_outage.join().unwrap();
    let midway = corpus.unique / 2;
    let reached = until(
        "progress past half the events with the node down",
        Duration::from_secs(120),
        &mut ingest,
        async || {
            let n = db.count("SELECT count() FROM events").await;
            (n > midway).then_some(n)
        },
    )
    .await;
    eprintln!(
        "{reached} events stored {:.1} s after the kill, with node {leader} down; restarting it",
        killed.elapsed().as_secs_f64()
    );

    cluster.restart();
    producer.send_all(&topic, after);
    until(
        "every unique event",
        Duration::from_secs(180),
        &mut ingest,
        async || (db.count("SELECT count() FROM events").await >= corpus.unique).then_some(()),
    )
    .await;
    // Quarantine rows are written right after their batch's events.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(ingest.running(), "ingest exited; log:\n{}", ingest.tail());
    let status = ingest.terminate();
    assert!(
        status.success(),
        "SIGTERM exit: {status}; log:\n{}",
        ingest.tail()
    );
    assert_exact(&db, &corpus).await;
    db.drop().await;
}
