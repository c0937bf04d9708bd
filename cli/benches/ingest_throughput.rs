//! End-to-end ingest throughput on the local stack, beside two baselines measured in the same
//! run: ClickHouse's own bulk load of the same events from a JSONEachRow file over HTTP (the
//! local upper bound of what ClickHouse accepts) and a bare Kafka read of the same messages
//! (what the broker can deliver). Ingest's CPU time is reported for the whole process and for
//! its steady state (from `/metrics` samples, see [`measure::steady_cpu`]);
//! `ABACUS_BENCH_INGEST_ROUNDS=N` repeats the ingest step, each followed by its own bulk load of
//! the same rows, and prints every round's CPU per event, end-to-end ratio and the medians.
//!
//! Run: `deploy/local/stack up && eval "$(deploy/local/stack env)" &&
//!       cargo bench -p abacus --bench ingest_throughput` (ABACUS_BENCH_EVENTS sets the size,
//! default 1,000,000).

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

#[path = "ingest/measure.rs"]
mod measure;
#[path = "ingest/stack.rs"]
mod stack;
use measure::{
    consumed_so_far, cpu_line, cpu_secs, free_local_addr, peak_rss_kib, server_cpu, steady_cpu,
};
use stack::{abacus, delete_topic, env_or, produce};

/// What one `abacus ingest --once` over the bench's topic took.
struct IngestRun {
    wall: Duration,
    /// Until the last partition was assigned (the group join).
    joined: Duration,
    /// CPU seconds of the whole process (as it reported them, or sampled).
    cpu: f64,
    reported: bool,
    peak: u64,
    /// See [`steady_cpu`].
    steady: Option<(u64, u64, f64)>,
    servers: Vec<(&'static str, f64)>,
}

impl IngestRun {
    /// CPU seconds per event in the steady state, if measured.
    fn steady_per_event(&self) -> Option<f64> {
        self.steady
            .map(|(from, to, secs)| secs / (to - from) as f64)
    }
}

/// Runs `abacus ingest --once` over `topic` into `db` (a new consumer group) and checks that
/// every one of the `messages` events was stored.
async fn ingest_once(db: &TestDatabase, topic: &str, messages: u64) -> IngestRun {
    settle(db).await;
    let started = Instant::now();
    let metrics_addr = free_local_addr();
    let mut child = abacus(db.name(), topic, &unique_name("bench"))
        .args(["ingest", "--once"])
        .env("ABACUS_INGEST_METRICS_ADDR", &metrics_addr)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // When the last partition was assigned (the group join, which every consumer pays once
    // at start, is over), from ingest's log.
    let stderr = child.stderr.take().unwrap();
    // … and the CPU time the process reports for itself when it stops (exact, unlike sampling).
    let assigned = std::thread::spawn(move || {
        use std::io::BufRead;
        let (mut last, mut cpu) = (None, None);
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("partition assigned") {
                last = Some(Instant::now());
            }
            if line.contains("ingest stopped") {
                // Without colour codes (NO_COLOR), fields read `cpu_seconds=1.23`.
                let line: String = line.chars().filter(|c| !c.is_control()).collect();
                cpu = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("cpu_seconds="))
                    .and_then(|v| v.parse::<f64>().ok());
            }
        }
        (last, cpu)
    });
    let mut peak = 0;
    let mut ingest_cpu = 0.0f64;
    // (events consumed, CPU seconds so far), every 20 ms: for the steady-state rate.
    let mut samples: Vec<(u64, f64)> = Vec::new();
    let ((), servers) = server_cpu(|| {
        while child.try_wait().unwrap().is_none() {
            peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
            ingest_cpu = ingest_cpu.max(cpu_secs(child.id()).unwrap_or(0.0));
            if let Some(consumed) = consumed_so_far(&metrics_addr) {
                samples.push((consumed, ingest_cpu));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let wall = started.elapsed();
    let (assigned_at, reported) = assigned.join().unwrap();
    assert_eq!(
        db.count("SELECT count() FROM events").await,
        messages,
        "ingest stored every event"
    );
    IngestRun {
        wall,
        joined: assigned_at.map_or(Duration::ZERO, |t| t - started),
        cpu: reported.unwrap_or(ingest_cpu),
        reported: reported.is_some(),
        peak,
        steady: steady_cpu(&samples, messages),
        servers,
    }
}

/// Waits (up to two minutes) until ClickHouse merges no parts, so that neither side of the
/// comparison pays for background merges (of the other side's parts, or of anything else).
async fn settle(db: &TestDatabase) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if db.count("SELECT count() FROM system.merges").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let waited = started.elapsed();
    if waited > Duration::from_millis(500) {
        eprintln!(
            "waited {:.1} s for ClickHouse's merges to finish",
            waited.as_secs_f64()
        );
    }
}

/// ClickHouse's bulk load of `file` (JSONEachRow) into a new table `events_bulk` of `db`, from
/// a quiet ClickHouse (see [`settle`]); checks every row arrived and returns the time taken.
async fn bulk_load(db: &TestDatabase, file: &std::path::Path, messages: u64) -> Duration {
    db.clickhouse()
        .client()
        .query("CREATE TABLE events_bulk AS events")
        .execute()
        .await
        .unwrap();
    settle(db).await;
    let started = Instant::now();
    let status = Command::new("curl")
        .args(["-sSf", "-o", "/dev/null", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .arg(format!(
            "{}/?query=INSERT%20INTO%20%60{}%60.events_bulk%20FORMAT%20JSONEachRow",
            abacus_testkit::clickhouse_url(),
            db.name()
        ))
        .status()
        .unwrap();
    let bulk = started.elapsed();
    assert!(status.success());
    assert_eq!(db.count("SELECT count() FROM events_bulk").await, messages);
    bulk
}

/// Reads every message of `topic` once, doing nothing with them, with ingest's fetch settings.
/// Returns the time taken in all and the time until the first message arrived.
fn kafka_read_only(topic: &str, expected: u64) -> (Duration, Duration) {
    // The same fetch settings as ingest's consumer, so that the two compare.
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", kafka_brokers())
        .set("group.id", unique_name("bench-read"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    for (key, value) in abacus_ingest::pipeline::FETCH_DEFAULTS {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    let mut first = None;
    while n < expected {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(_)) => {
                first.get_or_insert_with(|| started.elapsed());
                n += 1;
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => panic!("{e}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "read only {n} of {expected}"
        );
    }
    (started.elapsed(), first.unwrap_or_default())
}

#[tokio::main]
async fn main() {
    let events: u64 = env_or("ABACUS_BENCH_EVENTS", 1_000_000);
    let db = TestDatabase::create("bench_ingest").await;
    let topic = unique_name("bench_ingest");
    eprintln!("producing {events} events to {topic} ...");
    let started = Instant::now();
    let messages = produce(db.name(), &topic, events);
    let produce_secs = started.elapsed().as_secs_f64();

    // 1. Abacus end to end: Kafka -> validate -> dedupe -> ClickHouse, commit.
    eprintln!("ingesting ...");
    let run = ingest_once(&db, &topic, messages).await;
    let mut per_event = vec![(run.cpu, run.steady_per_event())];
    let IngestRun {
        wall: ingest,
        joined: ingest_joined,
        cpu: ingest_cpu,
        reported: reported_cpu,
        peak,
        steady: ingest_steady,
        servers: ingest_servers,
    } = run;
    // 2. ClickHouse's own bulk load of the same rows from a JSONEachRow file over HTTP.
    let file = std::env::temp_dir().join(format!("{}.jsonl", unique_name("bench")));
    let url = abacus_testkit::clickhouse_url();
    let status = Command::new("curl")
        .args(["-sSf", "-o", file.to_str().unwrap(), &url, "--data-binary"])
        .arg(format!(
            "SELECT * FROM `{}`.events FORMAT JSONEachRow",
            db.name()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::metadata(&file).unwrap().len();
    let bulk = bulk_load(&db, &file, messages).await;
    let mut ratios = vec![bulk.as_secs_f64() / ingest.as_secs_f64()];
    // More rounds over the same topic (fresh database and group each), each followed by its
    // own bulk load: the spread of CPU time and of the end-to-end ratio on a machine whose
    // speed drifts.
    let rounds: usize = env_or("ABACUS_BENCH_INGEST_ROUNDS", 1);
    for round in 2..=rounds {
        eprintln!("ingest round {round} of {rounds} ...");
        let db = TestDatabase::create("bench_ingest_round").await;
        let run = ingest_once(&db, &topic, messages).await;
        per_event.push((run.cpu, run.steady_per_event()));
        let bulk = bulk_load(&db, &file, messages).await;
        ratios.push(bulk.as_secs_f64() / run.wall.as_secs_f64());
        db.drop().await;
    }
    let _ = std::fs::remove_file(&file);

    // 3. The broker alone: read every message once.
    let own = std::process::id();
    let read_cpu_before = cpu_secs(own).unwrap_or(0.0);
    let ((read, read_joined), read_servers) = server_cpu(|| kafka_read_only(&topic, messages));
    let read_cpu = cpu_secs(own).unwrap_or(0.0) - read_cpu_before;

    let rate = |d: Duration| messages as f64 / d.as_secs_f64();
    println!(
        "\n## ingest throughput ({messages} events, {} MiB as JSONEachRow)\n",
        bytes >> 20
    );
    println!("| what | seconds | events/s | vs. ClickHouse bulk load |");
    println!("|---|---:|---:|---:|");
    println!(
        "| ClickHouse bulk load, JSONEachRow over HTTP (baseline) | {:.2} | {:.0} | 1.00 |",
        bulk.as_secs_f64(),
        rate(bulk)
    );
    println!(
        "| Kafka read only (rdkafka consumer, no processing) | {:.2} | {:.0} | {:.2} |",
        read.as_secs_f64(),
        rate(read),
        rate(read) / rate(bulk)
    );
    println!(
        "| **abacus ingest --once** end to end (dedupe on) | {:.2} | {:.0} | {:.2} |",
        ingest.as_secs_f64(),
        rate(ingest),
        rate(ingest) / rate(bulk)
    );
    println!(
        "\npeak RSS of the ingest process: {:.1} MiB; producing took {produce_secs:.1} s",
        peak as f64 / 1024.0
    );
    let steady = |d: Duration, joined: Duration| messages as f64 / (d - joined).as_secs_f64();
    println!(
        "after joining the group (ingest: partitions assigned after {:.2} s; read-only: first \
         message after {:.2} s): ingest {:.0} events/s, read-only {:.0} events/s",
        ingest_joined.as_secs_f64(),
        read_joined.as_secs_f64(),
        steady(ingest, ingest_joined),
        steady(read, read_joined)
    );
    println!(
        "CPU used during ingest: abacus ingest {ingest_cpu:.2} s ({:.2} µs per event{}), {}",
        ingest_cpu * 1e6 / messages as f64,
        if reported_cpu {
            ""
        } else {
            "; at least, sampled"
        },
        cpu_line(&ingest_servers)
    );
    match ingest_steady {
        Some((from, to, secs)) => println!(
            "steady state (from {from} to {to} events consumed, after start-up, the group join \
             and the first batches): abacus ingest {secs:.2} s of CPU for {} events ({:.2} µs per event)",
            to - from,
            secs * 1e6 / (to - from) as f64
        ),
        None => println!("steady state: too few samples of /metrics (run more events)"),
    }
    if rounds > 1 {
        // The middle value, or the mean of the two middle ones.
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            match v.len() {
                0 => f64::NAN,
                n if n % 2 == 1 => v[n / 2],
                n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
            }
        };
        let whole: Vec<f64> = per_event
            .iter()
            .map(|(c, _)| c * 1e6 / messages as f64)
            .collect();
        let steady: Vec<f64> = per_event
            .iter()
            .filter_map(|(_, s)| s.map(|s| s * 1e6))
            .collect();
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "ingest CPU per event over {rounds} rounds: whole run {} µs (median {:.2}); steady state {} µs (median {:.2})",
            list(&whole),
            median(whole.clone()),
            list(&steady),
            median(steady.clone())
        );
        println!(
            "end to end vs ClickHouse's bulk load over {rounds} rounds (each round's ingest against \
             the bulk load that followed it): {} (median {:.2}×)",
            list(&ratios),
            median(ratios.clone())
        );
    }
    println!(
        "load while measuring: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "CPU used during the read-only pass: reader {read_cpu:.2} s ({:.2} µs per event), {}",
        read_cpu * 1e6 / messages as f64,
        cpu_line(&read_servers)
    );
    db.drop().await;
    delete_topic(&topic).await;
}
