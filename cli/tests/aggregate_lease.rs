//! Two `abacus aggregate --every 1s` daemons on one database (#14 "concurrent aggregators"):
//! their passes never overlap (each runs under the aggregation lease, epochs taken one after
//! another), the one that finds the lease taken skips its tick with a log line naming the
//! holder, run ids never collide, and when the holder is killed with SIGKILL while it holds the
//! lease, the other takes over once the lease expires, saying so.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abacus_testkit::{unique_name, TestDatabase};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// One lease: epoch, taken at, released at, by daemon A or B.
type Span = (u64, DateTime<Utc>, Option<DateTime<Utc>>, char);

/// Lease time of the daemons: short, so that the crash test waits little.
const LEASE_SECS: u64 = 4;

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(db: &str) -> Self {
        let log = std::env::temp_dir().join(format!("{}.log", unique_name("aggregate_lease")));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_abacus"))
            .args(["aggregate", "--every", "1s", "--log-format", "json"])
            .env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
            .env("ABACUS_CLICKHOUSE_DATABASE", db)
            .env("ABACUS_AGGREGATE_LEASE_SECS", LEASE_SECS.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line as JSON (lines being written are skipped).
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `(time, epoch)` of the log lines with `message`.
    fn lease_events(&self, message: &str) -> Vec<(DateTime<Utc>, u64)> {
        self.events()
            .iter()
            .filter(|e| e["fields"]["message"] == message)
            .map(|e| {
                (
                    e["timestamp"].as_str().unwrap().parse().unwrap(),
                    e["fields"]["epoch"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    fn messages(&self, message: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["fields"]["message"] == message)
            .collect()
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// The holder and `released` of the newest lease epoch, from the lease tables.
async fn newest_lease(db: &TestDatabase) -> Option<(u64, String, u8)> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Epoch {
        epoch: u64,
        #[allow(dead_code)]
        created: u32,
    }
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct State {
        last_holder: String,
        is_released: u8,
    }
    let client = db.clickhouse().client();
    let epochs = client
        .query(abacus_aggregator::lease::LIST_EPOCHS)
        .fetch_all::<Epoch>()
        .await
        .unwrap();
    let newest = epochs.last()?.epoch;
    let state = client
        .query(&format!(
            "SELECT argMax(holder, expires_at) AS last_holder, max(released) AS is_released FROM aggregation_lease_{newest}"
        ))
        .fetch_one::<State>()
        .await
        .ok()?;
    Some((newest, state.last_holder, state.is_released))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_take_turns_and_a_crashed_holder_expires() {
    let db = TestDatabase::create("aggregate_lease").await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");
    let applied = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["experiments", "apply", examples])
        .env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
        .env("ABACUS_CLICKHOUSE_DATABASE", db.name())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");

    let mut a = Daemon::spawn(db.name());
    let mut b = Daemon::spawn(db.name());
    // Until each daemon has run passes and one of them has had to skip a tick.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let taken = (
            a.lease_events("aggregation lease taken").len(),
            b.lease_events("aggregation lease taken").len(),
        );
        let skipped = a
            .messages("pass skipped: another aggregator holds the aggregation lease")
            .len()
            + b.messages("pass skipped: another aggregator holds the aggregation lease")
                .len();
        if taken.0 >= 2 && taken.1 >= 2 && taken.0 + taken.1 >= 6 && skipped >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "within 120 s: taken {taken:?}, skipped {skipped}\nA:\n{}\nB:\n{}",
            a.tail(),
            b.tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Passes never overlap: every epoch is taken by one daemon, and released before the next
    // epoch is taken.
    let mut spans: Vec<Span> = Vec::new();
    for (name, d) in [('A', &a), ('B', &b)] {
        let released = d.lease_events("aggregation lease released");
        for (t, epoch) in d.lease_events("aggregation lease taken") {
            let end = released.iter().find(|(_, e)| *e == epoch).map(|(t, _)| *t);
            spans.push((epoch, t, end, name));
        }
    }
    spans.sort_by_key(|s| s.0);
    for pair in spans.windows(2) {
        let (e1, _, end1, who1) = pair[0];
        let (e2, start2, _, who2) = pair[1];
        assert!(e1 < e2, "epoch {e1} taken twice ({who1}, {who2})");
        let end1 =
            end1.unwrap_or_else(|| panic!("epoch {e1} of {who1} taken again before its release"));
        assert!(
            end1 <= start2,
            "epoch {e2} ({who2}) taken at {start2} before epoch {e1} ({who1}) was released at {end1}"
        );
    }
    // A skip names the holder, or says the other aggregator is taking the lease right now (it
    // created the epoch's table and has not written its row yet).
    let skips: Vec<_> = a
        .messages("pass skipped: another aggregator holds the aggregation lease")
        .into_iter()
        .chain(b.messages("pass skipped: another aggregator holds the aggregation lease"))
        .collect();
    assert!(!skips.is_empty());
    for skip in &skips {
        let holder = skip["fields"]["holder"].as_str().unwrap();
        assert!(
            holder.contains(" pid ") || holder == "another aggregator (taking it now)",
            "the skip names the holder: {skip}"
        );
    }
    // Run ids never collide (one statement: the daemons keep writing).
    let duplicates = db
        .count("SELECT count() - uniqExact(experiment_id, run_id) FROM experiment_runs")
        .await;
    assert_eq!(duplicates, 0, "run ids collided");
    let runs = db.count("SELECT count() FROM experiment_runs").await;
    assert!(runs >= 4 * 5, "{runs} runs");

    // Crash: SIGKILL A while it holds the lease (retrying until the kill lands inside a pass).
    let mut crashed = None;
    for _ in 0..20 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((epoch, holder, 0)) = newest_lease(&db).await {
                if holder.contains(&format!(" pid {} ", a.pid())) {
                    a.kill();
                    // Whether it still held the lease when it died.
                    if let Some((e, _, 0)) = newest_lease(&db).await {
                        if e == epoch {
                            crashed = Some((epoch, a.pid()));
                        }
                    }
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if crashed.is_some() {
            break;
        }
        a.kill();
        a = Daemon::spawn(db.name());
    }
    let (epoch, pid) = crashed.expect("A was never killed while holding the lease");
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(LEASE_SECS + 60);
    let takeover = loop {
        let warned = b
            .messages("the previous aggregation lease expired without release (its holder crashed or hung); taking over")
            .into_iter()
            .find(|w| w["fields"]["epoch"].as_u64().unwrap() > epoch);
        if let Some(w) = warned {
            break w;
        }
        assert!(
            Instant::now() < deadline,
            "B did not take over the lease of the killed A (epoch {epoch}):\n{}",
            b.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        takeover["fields"]["previous"]
            .as_str()
            .unwrap()
            .contains(&format!(" pid {pid} ")),
        "{takeover}"
    );
    assert!(
        killed_at.elapsed() >= Duration::from_secs(LEASE_SECS - 2),
        "the lease was taken over before it could have expired"
    );
    // While A's lease ran, B skipped its ticks naming A.
    assert!(
        b.messages("pass skipped: another aggregator holds the aggregation lease")
            .iter()
            .any(|s| s["fields"]["holder"]
                .as_str()
                .unwrap()
                .contains(&format!(" pid {pid} "))),
        "{}",
        b.tail()
    );
    // B goes on with passes after the takeover.
    let taken_after = |b: &Daemon| {
        b.lease_events("aggregation lease released")
            .iter()
            .filter(|(_, e)| *e > epoch)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while taken_after(&b) < 2 {
        assert!(Instant::now() < deadline, "{}", b.tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.kill();
    db.drop().await;
}

/// `abacus aggregate --once` waits for a lease held by another aggregator, saying whose, and
/// takes it when it expires (here a holder that never renews, as after a crash).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_waits_for_the_lease_then_takes_over_an_expired_one() {
    let db = TestDatabase::create("aggregate_lease_once").await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_abacus"))
            .args(args)
            .env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
            .env("ABACUS_CLICKHOUSE_DATABASE", db.name())
            .env("ABACUS_AGGREGATE_LEASE_SECS", LEASE_SECS.to_string())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    assert!(run(&["experiments", "apply", examples]).status.success());
    // A lease of epoch 7 held by a ghost until 5 s from now.
    let client = db.clickhouse().client();
    client
        .query(&abacus_aggregator::lease::create_sql(7))
        .execute()
        .await
        .unwrap();
    client
        .query("INSERT INTO aggregation_lease_7 SELECT 'ghost pid 1 since 0', now(), now() + 5, 0")
        .execute()
        .await
        .unwrap();
    let started = Instant::now();
    let out = run(&["aggregate", "--once", "--as-of", "2026-11-20"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the pass did not wait for the lease"
    );
    let waiting = log
        .lines()
        .find(|l| l.contains("waiting for the aggregation lease"))
        .unwrap_or_else(|| panic!("no waiting line:\n{log}"));
    assert!(
        waiting.contains("holder=ghost pid 1 since 0") && waiting.contains("epoch=7"),
        "{waiting}"
    );
    assert!(
        log.contains("the previous aggregation lease expired without release")
            && log.contains("previous=ghost pid 1 since 0"),
        "{log}"
    );
    assert!(log.contains("aggregation lease released epoch=8"), "{log}");
    let experiments = abacus_assign::parse(&std::fs::read_to_string(examples).unwrap())
        .unwrap()
        .experiments
        .len() as u64;
    assert_eq!(
        db.count("SELECT count() FROM experiment_runs").await,
        experiments
    );
    // The old epoch is dropped; the new one says it was released.
    assert_eq!(
        db.count("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'aggregation_lease_7'")
            .await,
        0
    );
    db.drop().await;
}
