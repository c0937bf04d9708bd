//! Shared by the tests that run `abacus ingest` as a process (`ingest_e2e.rs`,
//! `ingest_crash.rs`): a corpus of messages with known ground truth, one ingest process with
//! its log file, and the exact end-state check.

#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abacus_testkit::{unique_name, TestDatabase};
use rand::{Rng, SeedableRng};

/// Messages (key, payload) with known ground truth.
pub struct Corpus {
    /// In publishing order, resends included.
    pub messages: Vec<(String, Vec<u8>)>,
    /// Distinct valid events.
    pub unique: u64,
    /// Malformed messages (truncated JSON).
    pub malformed: u64,
}

/// `unique` valid events over 5,000 users (every fourth an exposure, the others purchases),
/// plus 2% producer resends and 0.5% malformed messages, keyed by user like real producers.
pub fn corpus(unique: u64, seed: u64) -> Corpus {
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

/// The end state must be exactly the corpus: every unique event once (without `FINAL`), every
/// malformed message in quarantine with its reason.
pub async fn assert_exact(db: &TestDatabase, corpus: &Corpus) {
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

/// Where an ingest process reads and writes.
pub struct Target<'a> {
    /// ClickHouse HTTP URL.
    pub clickhouse_url: &'a str,
    /// Database.
    pub database: &'a str,
    /// Kafka bootstrap servers.
    pub brokers: &'a str,
    /// Topic.
    pub topic: &'a str,
    /// Consumer group.
    pub group: &'a str,
}

/// One `abacus ingest` process with its log file; killed when dropped, so that a failed
/// assertion does not leave a consumer running (the log file is deleted unless the test failed).
pub struct Ingest {
    /// The process.
    pub child: Child,
    log: PathBuf,
}

impl Ingest {
    /// Starts `abacus ingest` (`--once` if `once`) with small batches, fast retries and a
    /// progress line every second; `env` adds or overrides settings (session timeouts).
    pub fn spawn(target: &Target<'_>, once: bool, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("{}.log", unique_name("ingest")));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_abacus"));
        cmd.arg("ingest")
            .env("ABACUS_CLICKHOUSE_URL", target.clickhouse_url)
            .env("ABACUS_CLICKHOUSE_DATABASE", target.database)
            .env("ABACUS_KAFKA_BROKERS", target.brokers)
            .env("ABACUS_KAFKA_TOPIC", target.topic)
            .env("ABACUS_KAFKA_GROUP", target.group)
            .env("ABACUS_INGEST_BATCH_ROWS", "5000")
            .env("ABACUS_INGEST_BATCH_INTERVAL_MS", "200")
            .env("ABACUS_INGEST_RETRY_MAX_MS", "1000")
            .env("ABACUS_INGEST_PROGRESS_INTERVAL_SECS", "1")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
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

    /// Everything logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 40 lines of the log (for failure messages).
    pub fn tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits up to a minute for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait(Duration::from_secs(60))
    }

    /// Waits up to `limit` for the exit; kills the process and fails after that.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!(
                    "ingest did not exit within {limit:?}; log:\n{}",
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log stays for a failed test (its path is in the temp folder), not for a passing one.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Conversion events `ev-{from}` … `ev-{to - 1}` (`purchase` worth `value`) spread over `users`
/// users, keyed by user, one millisecond apart from 2026-10-26.
pub fn purchases(from: usize, to: usize, users: usize, value: f64) -> Vec<(String, Vec<u8>)> {
    (from..to)
        .map(|i| {
            let user = format!("u{}", i % users);
            let payload = format!(
                r#"{{"event_id":"ev-{i}","event_type":"conversion","event_name":"purchase","event_value":{value:?},"user_id":"{user}","timestamp":{}}}"#,
                1_793_000_000_000u64 + i as u64
            );
            (user, payload.into_bytes())
        })
        .collect()
}
