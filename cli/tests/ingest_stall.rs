//! Issue 14, the stall guard: a partition whose committed offset does not move for
//! `ingest.stall_timeout_secs` while messages wait is reported in an ERROR naming topic and
//! partition, in `/metrics` (`abacus_ingest_partition_stalled`) and in `/readyz` (503); it
//! recovers by itself when the cause goes away; `--once` gives up on it with exit status 1
//! instead of waiting for ever.
//!
//! ClickHouse refuses the inserts transiently, for a real reason: the test database's `events`
//! table is created with `parts_to_throw_insert = 3` and its merges are stopped, so once one of
//! its partitions holds three parts every insert fails with code 252 ("Too many parts", the
//! error a server gives when inserts outrun merges) until merges run again. Startup is not
//! affected: the write check inserts no rows, and reads work. Local stack's Kafka and
//! ClickHouse.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use abacus_testkit::kafka::{create_topic, produce};
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use support::{Ingest, Target};

fn events(from: usize, to: usize) -> Vec<(String, Vec<u8>)> {
    support::purchases(from, to, 31, 1.5)
}

async fn exec(db: &TestDatabase, sql: &str) {
    db.clickhouse()
        .client()
        .query(sql)
        .execute()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Recreates `events` so that inserts fail once a partition holds three parts (18.16 checks
/// `parts_to_throw_insert` only past `parts_to_delay_insert`), and stops its
/// merges.
async fn limit_parts(db: &TestDatabase) {
    let create = db
        .clickhouse()
        .client()
        .query("SHOW CREATE TABLE events")
        .fetch_one::<String>()
        .await
        .unwrap();
    assert!(
        create.contains("SETTINGS index_granularity = 8192"),
        "{create}"
    );
    let create = create.replace(
        "SETTINGS index_granularity = 8192",
        "SETTINGS index_granularity = 8192, parts_to_delay_insert = 2, parts_to_throw_insert = 3",
    );
    exec(db, "DROP TABLE events").await;
    exec(db, &create).await;
    exec(db, "SYSTEM STOP MERGES events").await;
}

/// Adds one-row parts (topic `filler`) to the partition (month) of the test's events until
/// ClickHouse refuses one with "Too many parts" (18.16 counts parts per partition).
async fn fill_to_the_limit(db: &TestDatabase) {
    for i in 0..10 {
        let sql = format!(
            "INSERT INTO events (event_id, event_type, experiment_id, variant, user_id, \
             event_name, event_value, metadata_keys, metadata_values, timestamp_ms, \
             ingested_at, kafka_topic, kafka_partition, kafka_offset) VALUES \
             ('filler-{i}', 'conversion', '', '', 'u', 'x', NULL, [], [], 1793000000000, \
             now(), 'filler', 0, {i})"
        );
        match db.clickhouse().client().query(&sql).execute().await {
            Ok(()) => {}
            Err(e) if e.to_string().contains("Too many parts") => return,
            Err(e) => panic!("{sql}: {e}"),
        }
    }
    panic!("ClickHouse accepted 10 parts with parts_to_throw_insert = 3");
}

/// Lets merges run and merges the events' partition: inserts are accepted again.
async fn heal(db: &TestDatabase) {
    exec(db, "SYSTEM START MERGES events").await;
    // The month of timestamp 1793000000000 (2026-10-26).
    exec(db, "OPTIMIZE TABLE events PARTITION 202610 FINAL").await;
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn wait_for(what: &str, ingest: &mut Ingest, mut done: impl FnMut(&Ingest) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done(ingest) {
        assert!(
            ingest.running(),
            "ingest exited waiting for {what}:\n{}",
            ingest.tail()
        );
        assert!(
            Instant::now() < deadline,
            "no {what} within 90 s:\n{}",
            ingest.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_partition_is_reported_recovers_and_ends_once() {
    let db = TestDatabase::create("ingest_stall").await;
    limit_parts(&db).await;
    fill_to_the_limit(&db).await;
    let topic = create_topic("ingest_stall", 1).await;
    produce(&topic, &events(0, 100));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (url, brokers, group) = (
        abacus_testkit::clickhouse_url(),
        kafka_brokers(),
        unique_name("stall"),
    );
    let target = Target {
        clickhouse_url: &url,
        database: db.name(),
        brokers: &brokers,
        topic: &topic,
        group: &group,
    };
    let settings = [
        ("ABACUS_INGEST_STALL_TIMEOUT_SECS", "3"),
        ("ABACUS_INGEST_RETRY_INITIAL_MS", "100"),
        ("ABACUS_INGEST_RETRY_MAX_MS", "500"),
        ("ABACUS_INGEST_METRICS_ADDR", addr.as_str()),
    ];
    let stalled_metric =
        format!("abacus_ingest_partition_stalled{{topic=\"{topic}\",partition=\"0\"}}");

    // The daemon: ready, then stalled (ERROR, metric, readiness), then moving again.
    let mut ingest = Ingest::spawn(&target, false, &settings);
    wait_for("metrics endpoint", &mut ingest, |_| {
        TcpStream::connect(&addr).is_ok()
    })
    .await;
    assert_eq!(get(&addr, "/healthz").0, 200);
    wait_for("stall report", &mut ingest, |i| {
        i.log().contains("partition stalled")
    })
    .await;
    let log = ingest.log();
    let line = log
        .lines()
        .find(|l| l.contains("partition stalled"))
        .unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&format!("topic={topic}")), "{line}");
    assert!(line.contains("partition=0"), "{line}");
    assert!(log.contains("Too many parts"), "{log}");
    let (_, metrics) = get(&addr, "/metrics");
    assert!(
        metrics.contains(&format!("{stalled_metric} 1")),
        "{metrics}"
    );
    let (status, body) = get(&addr, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(&format!("{topic}/0")), "{body}");
    assert_eq!(get(&addr, "/healthz").0, 200, "liveness: the process works");

    heal(&db).await;
    wait_for("recovery", &mut ingest, |_| get(&addr, "/readyz").0 == 200).await;
    let (_, metrics) = get(&addr, "/metrics");
    assert!(
        metrics.contains(&format!("{stalled_metric} 0")),
        "{metrics}"
    );
    assert!(
        ingest.log().contains("partition no longer stalled"),
        "{}",
        ingest.tail()
    );
    let status = ingest.terminate();
    assert!(status.success(), "{}", ingest.tail());
    let stored = format!("SELECT count() FROM events WHERE kafka_topic = '{topic}'");
    assert_eq!(db.count(&stored).await, 100);

    // --once gives up on a stalled partition (status 1, naming it) instead of waiting.
    exec(&db, "SYSTEM STOP MERGES events").await;
    fill_to_the_limit(&db).await;
    produce(&topic, &events(100, 200));
    let started = Instant::now();
    let mut once = Ingest::spawn(&target, true, &settings[..3]);
    let status = once.wait(Duration::from_secs(90));
    let log = once.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!("partition 0 of topic {topic} is stalled")),
        "{log}"
    );
    assert!(started.elapsed() < Duration::from_secs(60), "{log}");
    assert_eq!(db.count(&stored).await, 100);

    // Once inserts are accepted again, the rest is read; nothing is lost or doubled.
    heal(&db).await;
    let mut once = Ingest::spawn(&target, true, &settings[..3]);
    let status = once.wait(Duration::from_secs(90));
    assert!(status.success(), "{}", once.tail());
    assert_eq!(db.count(&stored).await, 200);
    db.drop().await;
}
