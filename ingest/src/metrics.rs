//! Ingest counters and histograms in the Prometheus text format (served by [`crate::http`]):
//! consumed, inserted, duplicate, redelivered, rejected by reason, batch size and insert
//! latency histograms, consumer lag and stall state per partition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::event::Rejection;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram with fixed upper bounds (Prometheus `le` buckets).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
    scale: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64], scale: f64) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
            scale,
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if value <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * self.scale) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / self.scale;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

const BATCH_ROWS: &[f64] = &[
    100.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0, 250_000.0,
];
const LATENCY_SECS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Everything ingest counts.
#[derive(Debug)]
pub struct Metrics {
    /// Messages read from Kafka.
    pub consumed: Counter,
    /// Events inserted into ClickHouse.
    pub inserted: Counter,
    /// Events dropped because their `event_id` was already accepted.
    pub duplicates: Counter,
    /// Redelivered messages skipped because their offset is already stored.
    pub redelivered: Counter,
    /// Ids the dedupe cap forced out before their window ended.
    pub dedupe_evicted_early: Counter,
    /// Events accepted whose id was probably forgotten early because of the dedupe cap.
    pub possible_duplicates: Counter,
    /// Failed insert attempts (each is retried).
    pub insert_failures: Counter,
    /// Offset commits that failed.
    pub commit_failures: Counter,
    rejected: Vec<(&'static str, Counter)>,
    /// Rows per insert.
    pub batch_rows: Histogram,
    /// Seconds per insert.
    pub insert_seconds: Histogram,
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    stalled: Mutex<BTreeMap<(String, i32), bool>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            consumed: Counter::default(),
            inserted: Counter::default(),
            duplicates: Counter::default(),
            redelivered: Counter::default(),
            dedupe_evicted_early: Counter::default(),
            possible_duplicates: Counter::default(),
            insert_failures: Counter::default(),
            commit_failures: Counter::default(),
            rejected: Rejection::CODES
                .iter()
                .map(|c| (*c, Counter::default()))
                .collect(),
            batch_rows: Histogram::new(BATCH_ROWS, 1.0),
            insert_seconds: Histogram::new(LATENCY_SECS, 1e6),
            lag: Mutex::new(BTreeMap::new()),
            stalled: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    /// Counts a quarantined message under its reason.
    pub fn reject(&self, code: &str) {
        if let Some((_, c)) = self.rejected.iter().find(|(c, _)| *c == code) {
            c.inc();
        }
    }

    /// Quarantined messages for one reason.
    pub fn rejected(&self, code: &str) -> u64 {
        self.rejected
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| n.get())
    }

    /// Quarantined messages, all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n.get()).sum()
    }

    /// Records one successful insert.
    pub fn observe_insert(&self, rows: usize, took: Duration) {
        self.batch_rows.observe(rows as f64);
        self.insert_seconds.observe(took.as_secs_f64());
    }

    /// Sets the lag (high watermark minus next offset) of a partition.
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        if let Ok(mut map) = self.lag.lock() {
            map.insert((topic.to_owned(), partition), lag.max(0));
        }
    }

    /// Forgets the lag and stall state of a partition this process no longer owns.
    pub fn forget_partition(&self, topic: &str, partition: i32) {
        let key = (topic.to_owned(), partition);
        if let Ok(mut map) = self.lag.lock() {
            map.remove(&key);
        }
        if let Ok(mut map) = self.stalled.lock() {
            map.remove(&key);
        }
    }

    /// Records whether an owned partition is stalled (see `ingest.stall_timeout_secs`).
    pub fn set_stalled(&self, topic: &str, partition: i32, stalled: bool) {
        if let Ok(mut map) = self.stalled.lock() {
            map.insert((topic.to_owned(), partition), stalled);
        }
    }

    /// The partitions stalled now, as `(topic, partition)`.
    pub fn stalled_partitions(&self) -> Vec<(String, i32)> {
        self.stalled
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(_, stalled)| **stalled)
                    .map(|(key, _)| key.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Total lag over owned partitions.
    pub fn total_lag(&self) -> i64 {
        self.lag.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "abacus_ingest_consumed_total",
                "Messages read from Kafka.",
                &self.consumed,
            ),
            (
                "abacus_ingest_inserted_total",
                "Events inserted into ClickHouse.",
                &self.inserted,
            ),
            (
                "abacus_ingest_duplicates_total",
                "Events dropped as duplicates of an accepted event_id.",
                &self.duplicates,
            ),
            (
                "abacus_ingest_redelivered_total",
                "Redelivered messages skipped because they were already stored.",
                &self.redelivered,
            ),
            (
                "abacus_ingest_dedupe_evicted_early_total",
                "Event ids forgotten before the dedupe window ended because of dedupe_max_ids or dedupe_max_bytes.",
                &self.dedupe_evicted_early,
            ),
            (
                "abacus_ingest_possible_duplicates_total",
                "Events accepted although their id was probably seen before and forgotten early because of the dedupe cap (about 0.3% false positives while the cap is evicting).",
                &self.possible_duplicates,
            ),
            (
                "abacus_ingest_insert_failures_total",
                "Failed insert attempts (retried).",
                &self.insert_failures,
            ),
            (
                "abacus_ingest_commit_failures_total",
                "Failed Kafka offset commits.",
                &self.commit_failures,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.get()
            );
        }
        let name = "abacus_ingest_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} Messages sent to quarantine, by reason.\n# TYPE {name} counter"
        );
        for (reason, counter) in &self.rejected {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", counter.get());
        }
        self.batch_rows.render(
            &mut out,
            "abacus_ingest_batch_rows",
            "Rows per ClickHouse insert.",
        );
        self.insert_seconds.render(
            &mut out,
            "abacus_ingest_insert_seconds",
            "Duration of ClickHouse inserts.",
        );
        if let Some(cpu) = process_cpu_seconds() {
            let name = "process_cpu_seconds_total";
            let _ = writeln!(
                out,
                "# HELP {name} Total user and system CPU time spent in seconds.\n# TYPE {name} counter\n{name} {cpu}"
            );
        }
        let name = "abacus_ingest_consumer_lag";
        let _ = writeln!(
            out,
            "# HELP {name} Messages behind the high watermark, per partition.\n# TYPE {name} gauge"
        );
        if let Ok(map) = self.lag.lock() {
            for ((topic, partition), lag) in map.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\",partition=\"{partition}\"}} {lag}",
                    escape_label(topic)
                );
            }
        }
        let name = "abacus_ingest_partition_stalled";
        let _ = writeln!(
            out,
            "# HELP {name} 1 while an owned partition's committed offset has not moved for ingest.stall_timeout_secs with messages waiting.\n# TYPE {name} gauge"
        );
        if let Ok(map) = self.stalled.lock() {
            for ((topic, partition), stalled) in map.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\",partition=\"{partition}\"}} {}",
                    escape_label(topic),
                    u8::from(*stalled)
                );
            }
        }
        out
    }
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat` (Linux;
/// `None` elsewhere). Clock ticks are taken as 1/100 s, the value on every Linux platform Rust
/// supports.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (in parentheses, which may hold spaces): utime, stime are
    // the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.consumed.add(10);
        m.reject("invalid_json");
        m.observe_insert(5_000, Duration::from_millis(30));
        m.set_lag("events", 2, 17);
        m.set_stalled("events", 2, true);
        m.set_stalled("events", 3, false);
        let text = m.render();
        assert!(text.contains("abacus_ingest_consumed_total 10"), "{text}");
        assert!(
            text.contains("abacus_ingest_rejected_total{reason=\"invalid_json\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("abacus_ingest_batch_rows_bucket{le=\"5000\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("abacus_ingest_batch_rows_bucket{le=\"1000\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("abacus_ingest_insert_seconds_bucket{le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("abacus_ingest_consumer_lag{topic=\"events\",partition=\"2\"} 17"),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(
            text.contains("abacus_ingest_partition_stalled{topic=\"events\",partition=\"2\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("abacus_ingest_partition_stalled{topic=\"events\",partition=\"3\"} 0"),
            "{text}"
        );
        assert_eq!(m.stalled_partitions(), [("events".to_owned(), 2)]);
        assert_eq!(m.total_lag(), 17);
        m.forget_partition("events", 2);
        assert!(m.stalled_partitions().is_empty());
        assert!(process_cpu_seconds().is_some_and(|s| s >= 0.0));
        assert_eq!(m.rejected_total(), 1);
        assert_eq!(m.total_lag(), 0, "the forgotten partition's lag goes too");
    }
}
