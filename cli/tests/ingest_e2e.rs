//! End-to-end tests of `abacus ingest` as a process against the real broker and ClickHouse:
//! a ClickHouse outage and two instances in one consumer group. (The `kill -9` test is in
//! `ingest_crash.rs`: it uses librdkafka's mock cluster, because the local tansu broker stalls
//! group rebalances after a member is killed.) Each test
//! uses its own topic, consumer group and database; the end state must be exactly the unique
//! valid events in `events` and exactly the malformed messages in `quarantine`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abacus_testkit::kafka::{create_topic, produce};
use abacus_testkit::server::PrivateClickHouse;
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use rand::{Rng, SeedableRng};

/// Messages with known ground truth.
struct Corpus {
    messages: Vec<(String, Vec<u8>)>,
    unique: u64,
    malformed: u64,
}

/// `unique` valid events over 5,000 users, plus 2% producer resends and 0.5% malformed
/// messages, keyed by user like real producers.
fn corpus(unique: u64, seed: u64) -> Corpus {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut messages = Vec::with_capacity(unique as usize * 103 / 100);
    let mut malformed = 0;
    for i in 0..unique {
        let user = format!("u{}", rng.random_range(0..5_000));
        let payload = if i % 4 == 0 {
            format!(
                r#"{{"event_id":"e{seed}-{i}","event_type":"exposure","experiment_id":"exp","variant":"v{}","user_id":"{user}","timestamp":{}}}"#,
                i % 2,
                1_793_000_000_000u64 + i
            )
        } else {
            format!(
                r#"{{"event_id":"e{seed}-{i}","event_type":"conversion","event_name":"purchase","event_value":{},"user_id":"{user}","timestamp":{}}}"#,
                rng.random_range(1..100),
                1_793_000_000_000u64 + i
            )
        }
        .into_bytes();
        if rng.random_bool(0.02) {
            messages.push((user.clone(), payload.clone()));
        }
        messages.push((user, payload));
        if rng.random_bool(0.005) {
            messages.push((
                format!("bad{i}"),
                format!("{{\"event_id\":\"bad{i}\",").into_bytes(),
            ));
            malformed += 1;
        }
    }
    Corpus {
        messages,
        unique,
        malformed,
    }
}

/// One `abacus ingest` process with its log file.
struct Ingest {
    child: Child,
    log: PathBuf,
}

impl Ingest {
    fn spawn(url: &str, db: &str, topic: &str, group: &str, once: bool) -> Self {
        Self::spawn_with(url, db, topic, group, once, &[])
    }

    fn spawn_with(
        url: &str,
        db: &str,
        topic: &str,
        group: &str,
        once: bool,
        env: &[(&str, &str)],
    ) -> Self {
        let log = std::env::temp_dir().join(format!("{}.log", unique_name("ingest")));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_abacus"));
        cmd.arg("ingest")
            .env("ABACUS_CLICKHOUSE_URL", url)
            .env("ABACUS_CLICKHOUSE_DATABASE", db)
            .env("ABACUS_KAFKA_BROKERS", kafka_brokers())
            .env("ABACUS_KAFKA_TOPIC", topic)
            .env("ABACUS_KAFKA_GROUP", group)
            // Generous: the local broker (tansu, sqlite storage) sometimes answers a heartbeat
            // only after a slow offset commit; an expired session makes it rebalance, and its
            // rebalances can stall for minutes.
            .env("ABACUS_KAFKA_CLIENT_SESSION_TIMEOUT_MS", "45000")
            .env("ABACUS_KAFKA_CLIENT_HEARTBEAT_INTERVAL_MS", "3000")
            .env("ABACUS_KAFKA_CLIENT_MAX_POLL_INTERVAL_MS", "60000")
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
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait(Duration::from_secs(60))
    }

    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!(
                    "ingest did not exit within {limit:?}; log:\n{}",
                    tail(&self.log())
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // A failed assertion must not leave a consumer running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
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
                panic!("ingest exited early ({status}); log:\n{}", tail(&p.log()));
            }
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {expected} events after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn assert_exact(db: &TestDatabase, corpus: &Corpus) {
    assert_eq!(
        db.count("SELECT count() FROM events").await,
        corpus.unique,
        "events (without FINAL)"
    );
    assert_eq!(
        db.count("SELECT uniqExact(event_id) FROM events").await,
        corpus.unique
    );
    assert_eq!(
        db.count("SELECT count() FROM quarantine").await,
        corpus.malformed,
        "quarantine"
    );
    assert_eq!(
        db.count("SELECT count() FROM quarantine WHERE reason = 'invalid_json'")
            .await,
        corpus.malformed
    );
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

    let mut ingest = Ingest::spawn(&server.url(), db.name(), &topic, &group, false);
    wait_for_count(&db, 1, Duration::from_secs(120), &mut [&mut ingest]).await;
    server.stop();
    // Keep producing during the outage; ingest must keep running and keep its backlog bounded.
    let rest = corpus.messages[half..].to_vec();
    let topic2 = topic.clone();
    let producer = std::thread::spawn(move || produce(&topic2, &rest));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        ingest.child.try_wait().unwrap().is_none(),
        "ingest exited during the outage; log:\n{}",
        tail(&ingest.log())
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
        tail(&ingest.log())
    );
    let log = ingest.log();
    assert!(
        log.contains("will retry"),
        "the outage was not noticed; log:\n{}",
        tail(&log)
    );
    assert_exact(&db, &corpus).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_in_one_group_split_partitions_and_store_everything_once() {
    let db = TestDatabase::create("e2e_scale_out").await;
    let topic = create_topic("e2e_scale_out", 4).await;
    let group = unique_name("scale");
    let url = abacus_testkit::clickhouse_url();
    let mut a = Ingest::spawn(&url, db.name(), &topic, &group, false);
    let mut b = Ingest::spawn(&url, db.name(), &topic, &group, false);
    // Let the group settle with both members before the data arrives.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(a.log().contains("partition assigned") && b.log().contains("partition assigned")) {
        assert!(
            Instant::now() < deadline,
            "both processes should own partitions; logs:\n{}\n---\n{}",
            tail(&a.log()),
            tail(&b.log())
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
            tail(&p.log())
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
}
