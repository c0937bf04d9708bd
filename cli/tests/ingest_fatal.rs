//! Issue 14, defect 3: a permanent insert error used to be retried for ever (WARN lines, no
//! exit, `--once` never finished, liveness stayed green). Permission, credential and
//! missing-table errors now stop ingest with an ERROR naming the cause and exit status 1,
//! after committing what is durable; write access is checked at startup.
//!
//! The read-only user is real: a private ClickHouse server (`PrivateClickHouse`) with its own
//! `users.xml`, edited while ingest runs as an operator would. Kafka is the local stack's.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::time::{Duration, Instant};

use abacus_testkit::kafka::{create_topic, produce};
use abacus_testkit::server::{PrivateClickHouse, USERS_WITH_READONLY};
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use support::{Ingest, Target};

fn events(from: usize, to: usize) -> Vec<(String, Vec<u8>)> {
    support::purchases(from, to, 97, 2.5)
}

/// `writer` may write while its profile is `default`; `reader` never may.
fn users(writer_profile: &str) -> String {
    USERS_WITH_READONLY.replace(
        "</users>",
        &format!(
            "    <writer>\n            <password>writer-password</password>\n            \
             <networks><ip>::/0</ip></networks>\n            <profile>{writer_profile}</profile>\n            \
             <quota>default</quota>\n        </writer>\n    </users>"
        ),
    )
}

fn as_user<'a>(user: &'a str, password: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("ABACUS_CLICKHOUSE_USER", user),
        ("ABACUS_CLICKHOUSE_PASSWORD", password),
        ("ABACUS_INGEST_RETRY_MAX_MS", "500"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_stops_ingest_with_the_cause_at_startup_and_mid_run() {
    let mut server = PrivateClickHouse::start_with_users("ingest_fatal", Some(&users("default")));
    let url = server.url();
    let db = TestDatabase::create_at(&url, "ingest_fatal").await;
    let topic = create_topic("ingest_fatal", 2).await;
    produce(&topic, &events(0, 2_000));
    let (brokers, group) = (kafka_brokers(), unique_name("fatal"));
    let target = Target {
        clickhouse_url: &url,
        database: db.name(),
        brokers: &brokers,
        topic: &topic,
        group: &group,
    };

    // 1. A read-only user (code 164 on 18.16): refused at startup, nothing read.
    let mut ingest = Ingest::spawn(&target, true, &as_user("reader", "reader-password"));
    let status = ingest.wait(Duration::from_secs(60));
    let log = ingest.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("may not write (read-only mode"), "{log}");
    assert!(log.contains("Code: 164"), "{log}");
    assert!(!log.contains("will retry"), "{log}");
    assert!(!log.contains("ingest started"), "{log}");

    // 2. Write rights lost while running: the daemon stops with an ERROR and status 1, after
    //    committing what it had written.
    let mut ingest = Ingest::spawn(&target, false, &as_user("writer", "writer-password"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while db.count("SELECT count() FROM events").await < 2_000 {
        assert!(ingest.running(), "{}", ingest.tail());
        assert!(Instant::now() < deadline, "{}", ingest.tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // the commit follows the insert
    server.set_users(&users("readonly"));
    let writer = clickhouse::Client::default()
        .with_url(&url)
        .with_user("writer")
        .with_password("writer-password")
        .with_validation(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let readonly = writer
            .query("SELECT value FROM system.settings WHERE name = 'readonly'")
            .fetch_one::<String>()
            .await
            .unwrap();
        if readonly != "0" {
            break;
        }
        assert!(Instant::now() < deadline, "users.xml was not reloaded");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    produce(&topic, &events(2_000, 3_000));
    let status = ingest.wait(Duration::from_secs(60));
    let log = ingest.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("may not write (read-only mode"), "{log}");
    assert!(log.contains("retrying cannot fix this"), "{log}");
    assert!(log.contains("refused to insert into events"), "{log}");
    let retries = log.matches("will retry").count();
    assert_eq!(retries, 0, "permanent error retried:\n{log}");

    // 3. The cause fixed, the same group reads only what was not written.
    server.set_users(&users("default"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ingest = Ingest::spawn(&target, true, &[]);
    let status = ingest.wait(Duration::from_secs(120));
    let log = ingest.log();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("ingest: consumed 1000, inserted 1000"),
        "the offsets of the first 2,000 events were not committed:\n{log}"
    );
    assert_eq!(db.count("SELECT count() FROM events").await, 3_000);
    assert_eq!(
        db.count("SELECT uniqExact(event_id) FROM events").await,
        3_000
    );
    db.drop().await;
    server.stop();
}

/// A database that was never migrated (code 81) used to be retried for ever at assignment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_database_stops_ingest_at_startup() {
    let db = TestDatabase::create_empty("ingest_unmigrated").await;
    let topic = create_topic("ingest_unmigrated", 1).await;
    produce(&topic, &events(0, 10));
    let (url, brokers, group) = (
        abacus_testkit::clickhouse_url(),
        kafka_brokers(),
        unique_name("unmigrated"),
    );
    let target = Target {
        clickhouse_url: &url,
        database: db.name(),
        brokers: &brokers,
        topic: &topic,
        group: &group,
    };
    let mut ingest = Ingest::spawn(&target, true, &[]);
    let status = ingest.wait(Duration::from_secs(60));
    let log = ingest.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("run `abacus schema migrate`"), "{log}");
    assert!(log.contains("Code: 81"), "{log}");
}
