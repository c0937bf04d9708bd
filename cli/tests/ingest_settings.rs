//! Issue 14, defect 6: settings are checked at load, and no panic leaves a process running.
//!
//! `--shutdown-timeout-secs 9223372036854775807` used to panic in the consumer thread (an
//! `Instant` overflow) and the process hung until `kill -9`; `--batch-rows 0` and
//! `--max-message-bytes 0` were accepted. Real Kafka and ClickHouse of the local stack.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::process::Command;
use std::time::Duration;

use abacus_testkit::kafka::create_topic;
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use support::{Ingest, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_settings_fail_at_once_naming_the_setting() {
    let db = TestDatabase::create("ingest_settings").await;
    let topic = create_topic("ingest_settings", 1).await;
    let (url, brokers, group) = (
        abacus_testkit::clickhouse_url(),
        kafka_brokers(),
        unique_name("settings"),
    );
    let target = Target {
        clickhouse_url: &url,
        database: db.name(),
        brokers: &brokers,
        topic: &topic,
        group: &group,
    };
    // The reported case: an empty topic read with --once, then a shutdown deadline that
    // overflowed. Now it never starts.
    let mut ingest = Ingest::spawn(
        &target,
        true,
        &[("ABACUS_INGEST_SHUTDOWN_TIMEOUT_SECS", "9223372036854775807")],
    );
    let status = ingest.wait(Duration::from_secs(60));
    let log = ingest.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains(
            "ingest.shutdown_timeout_secs must be between 1 and 3600 (got 9223372036854775807)"
        ),
        "{log}"
    );

    for (flag, setting) in [
        ("--batch-rows", "ingest.batch_rows"),
        ("--max-message-bytes", "ingest.max_message_bytes"),
        ("--shutdown-timeout-secs", "ingest.shutdown_timeout_secs"),
    ] {
        let value = if flag == "--shutdown-timeout-secs" {
            "9223372036854775807"
        } else {
            "0"
        };
        let out = Command::new(env!("CARGO_BIN_EXE_abacus"))
            .args(["ingest", "--once", flag, value])
            .env("ABACUS_CLICKHOUSE_DATABASE", db.name())
            .env("ABACUS_KAFKA_TOPIC", &topic)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag} {value}: {stderr}");
        assert!(stderr.contains(setting), "{flag} {value}: {stderr}");
        assert!(
            !stderr.contains("ingest started"),
            "{flag} {value} started consuming: {stderr}"
        );
    }
    db.drop().await;
}

/// A panic in any thread ends the process with a non-zero status instead of leaving it
/// half-alive (the consumer thread's panic used to leave `abacus ingest` hanging).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_any_thread_ends_the_process() {
    let db = TestDatabase::create("ingest_panic").await;
    let topic = create_topic("ingest_panic", 1).await;
    let (url, brokers, group) = (
        abacus_testkit::clickhouse_url(),
        kafka_brokers(),
        unique_name("panic"),
    );
    let target = Target {
        clickhouse_url: &url,
        database: db.name(),
        brokers: &brokers,
        topic: &topic,
        group: &group,
    };
    // A daemon (no --once): it would run until stopped.
    let mut ingest = Ingest::spawn(&target, false, &[("ABACUS_DEBUG_PANIC_AFTER_SECS", "3")]);
    let status = ingest.wait(Duration::from_secs(60));
    let log = ingest.log();
    assert!(!status.success(), "{status:?}\n{log}");
    assert!(log.contains("ingest started"), "{log}");
    assert!(log.contains("a panic on purpose after 3 s"), "{log}");
    assert!(log.contains("internal error: a thread panicked"), "{log}");
    db.drop().await;
}
