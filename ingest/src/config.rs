//! The `[kafka]` section of `abacus.toml`: which cluster, topics and consumer group, and
//! librdkafka settings passed through unchanged (security protocol, SASL, TLS, …).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Kafka connection settings shared by `abacus ingest` and `abacus produce`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port` (librdkafka `bootstrap.servers`).
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// Topic that carries experiment events; several topics may be given comma-separated.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Consumer group of the ingest processes (all instances of one deployment share it).
    #[serde(default = "default_group")]
    pub group: String,
    /// librdkafka properties passed through as-is, e.g.
    /// `"security.protocol" = "SASL_SSL"`, `"sasl.mechanisms" = "SCRAM-SHA-512"`.
    #[serde(default)]
    pub client: BTreeMap<String, String>,
}

fn default_brokers() -> String {
    "127.0.0.1:9092".to_owned()
}

fn default_topic() -> String {
    "abacus-events".to_owned()
}

fn default_group() -> String {
    "abacus-ingest".to_owned()
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: default_brokers(),
            topic: default_topic(),
            group: default_group(),
            client: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The configured topics (the `topic` setting split at commas, blanks removed).
    pub fn topics(&self) -> Vec<String> {
        self.topic
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_split_at_commas() {
        let config = KafkaConfig {
            topic: " a, b ,,c".into(),
            ..KafkaConfig::default()
        };
        assert_eq!(config.topics(), ["a", "b", "c"]);
    }
}

/// The `[ingest]` section: batching, limits, dedupe and failure handling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Insert a batch once it holds this many events (ClickHouse prefers tens of thousands).
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// … or once its messages add up to this many bytes.
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// … or once its oldest message waited this long (milliseconds).
    #[serde(default = "default_batch_interval_ms")]
    pub batch_interval_ms: u64,
    /// Batches handed to the writer but not yet acknowledged by ClickHouse; when full,
    /// consumption pauses (bounded memory during outages).
    #[serde(default = "default_max_inflight_batches")]
    pub max_inflight_batches: usize,
    /// Messages larger than this go to quarantine (bytes).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Quarantined payloads are cut to this many bytes (the original length is kept).
    #[serde(default = "default_quarantine_raw_bytes")]
    pub quarantine_raw_bytes: usize,
    /// Events whose `event_value` has a larger magnitude are quarantined (one absurd value
    /// would swamp a metric's sums and variances).
    #[serde(default = "default_max_abs_event_value")]
    pub max_abs_event_value: f64,
    /// Events timed before this (epoch milliseconds; default 2000-01-01T00:00:00Z) are
    /// quarantined: epoch seconds sent as milliseconds land in January 1970.
    #[serde(default = "default_min_timestamp_ms")]
    pub min_timestamp_ms: i64,
    /// An `event_id` seen within this many seconds (ingest time) is a duplicate.
    #[serde(default = "default_dedupe_window_secs")]
    pub dedupe_window_secs: u64,
    /// Most ids remembered per partition; beyond it the oldest are forgotten early (counted
    /// and logged). Each costs at most 55 bytes, about 43 at the default (216 MB per partition;
    /// `abacus_ingest::dedupe::max_heap_bytes`).
    #[serde(default = "default_dedupe_max_ids")]
    pub dedupe_max_ids: usize,
    /// Bound on the dedupe memory of the whole process (bytes): the per-partition cap is
    /// lowered so that all owned partitions together stay within it.
    #[serde(default = "default_dedupe_max_bytes")]
    pub dedupe_max_bytes: usize,
    /// First retry delay after a failed insert (milliseconds); doubles up to `retry_max_ms`.
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// Longest delay between retries (milliseconds).
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// On SIGINT/SIGTERM, flush and commit within this many seconds, then exit.
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Seconds between progress log lines.
    #[serde(default = "default_progress_interval_secs")]
    pub progress_interval_secs: u64,
    /// A partition whose committed offset has not moved for this many seconds while messages
    /// are waiting is stalled: an ERROR names it, `/metrics` and `/readyz` show it, and
    /// `--once` gives up with an error instead of waiting for ever.
    #[serde(default = "default_stall_timeout_secs")]
    pub stall_timeout_secs: u64,
    /// Address for the Prometheus text endpoint (`host:port`); empty disables it.
    #[serde(default)]
    pub metrics_addr: String,
    /// How inserts travel to ClickHouse: `"lz4"`, `"none"`, or `"auto"` (the default): LZ4
    /// unless the ClickHouse URL names this host (`localhost`, `127.0.0.0/8`, `::1`), where
    /// compressing costs CPU on both sides and saves nothing. Set `"lz4"` when a loopback URL
    /// is a tunnel to another machine.
    #[serde(default)]
    pub insert_compression: InsertCompression,
}

/// See [`IngestConfig::insert_compression`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InsertCompression {
    /// LZ4 unless the URL is a loopback address.
    #[default]
    Auto,
    /// Always LZ4.
    Lz4,
    /// Never.
    None,
}

impl InsertCompression {
    /// Whether inserts to the ClickHouse at `url` are compressed.
    pub fn compresses(self, url: &str) -> bool {
        match self {
            Self::Lz4 => true,
            Self::None => false,
            Self::Auto => !url::Url::parse(url.trim())
                .ok()
                .and_then(|u| {
                    Some(match u.host()? {
                        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
                        url::Host::Ipv4(ip) => ip.is_loopback(),
                        url::Host::Ipv6(ip) => ip.is_loopback(),
                    })
                })
                .unwrap_or(false),
        }
    }
}

// 100,000 rows / 64 MiB: on ClickHouse 18.16 with a 2-core server, ingest of 1 M events went
// from 0.66× to 1.11× ClickHouse's own bulk load of the same rows when batches went from 50,000
// to 100,000 rows (BENCHMARKS.md, "Ingest"); fewer, larger inserts make fewer parts to merge.
fn default_batch_rows() -> usize {
    100_000
}
fn default_batch_bytes() -> usize {
    64 << 20
}
fn default_batch_interval_ms() -> u64 {
    1_000
}
fn default_max_inflight_batches() -> usize {
    2
}
fn default_max_message_bytes() -> usize {
    1 << 20
}
fn default_quarantine_raw_bytes() -> usize {
    64 << 10
}
fn default_max_abs_event_value() -> f64 {
    crate::event::DEFAULT_MAX_ABS_EVENT_VALUE
}
fn default_min_timestamp_ms() -> i64 {
    crate::event::DEFAULT_MIN_TIMESTAMP_MS
}
fn default_dedupe_window_secs() -> u64 {
    6 * 3600
}
fn default_dedupe_max_ids() -> usize {
    5_000_000
}
fn default_dedupe_max_bytes() -> usize {
    1 << 30
}
fn default_retry_initial_ms() -> u64 {
    200
}
fn default_retry_max_ms() -> u64 {
    10_000
}
fn default_shutdown_timeout_secs() -> u64 {
    30
}
fn default_progress_interval_secs() -> u64 {
    5
}
fn default_stall_timeout_secs() -> u64 {
    300
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            batch_rows: default_batch_rows(),
            batch_bytes: default_batch_bytes(),
            batch_interval_ms: default_batch_interval_ms(),
            max_inflight_batches: default_max_inflight_batches(),
            max_message_bytes: default_max_message_bytes(),
            quarantine_raw_bytes: default_quarantine_raw_bytes(),
            max_abs_event_value: default_max_abs_event_value(),
            min_timestamp_ms: default_min_timestamp_ms(),
            dedupe_window_secs: default_dedupe_window_secs(),
            dedupe_max_ids: default_dedupe_max_ids(),
            dedupe_max_bytes: default_dedupe_max_bytes(),
            retry_initial_ms: default_retry_initial_ms(),
            retry_max_ms: default_retry_max_ms(),
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
            progress_interval_secs: default_progress_interval_secs(),
            stall_timeout_secs: default_stall_timeout_secs(),
            metrics_addr: String::new(),
            insert_compression: InsertCompression::default(),
        }
    }
}

/// Upper bound of the timestamp floor (`min_timestamp_ms`): 2100-01-01T00:00:00Z.
const MAX_MIN_TIMESTAMP_MS: i64 = 4_102_444_800_000;

impl IngestConfig {
    /// Checks every setting's range; the error names the setting, its allowed range and the
    /// value given. `run` calls it, and so does the CLI when it loads the configuration.
    pub fn validate(&self) -> Result<(), crate::IngestError> {
        const GIB: u64 = 1 << 30;
        let ranges: [(&str, u64, u64, u64); 14] = [
            ("ingest.batch_rows", self.batch_rows as u64, 1, 10_000_000),
            ("ingest.batch_bytes", self.batch_bytes as u64, 1024, GIB),
            (
                "ingest.batch_interval_ms",
                self.batch_interval_ms,
                1,
                3_600_000,
            ),
            (
                "ingest.max_inflight_batches",
                self.max_inflight_batches as u64,
                1,
                64,
            ),
            (
                "ingest.max_message_bytes",
                self.max_message_bytes as u64,
                1024,
                GIB,
            ),
            (
                "ingest.quarantine_raw_bytes",
                self.quarantine_raw_bytes as u64,
                0,
                64 << 20,
            ),
            (
                "ingest.dedupe_window_secs",
                self.dedupe_window_secs,
                1,
                30 * 86_400,
            ),
            (
                "ingest.dedupe_max_ids",
                self.dedupe_max_ids as u64,
                1,
                1 << 32,
            ),
            (
                "ingest.dedupe_max_bytes",
                self.dedupe_max_bytes as u64,
                1 << 20,
                1 << 40,
            ),
            ("ingest.retry_initial_ms", self.retry_initial_ms, 1, 60_000),
            (
                "ingest.retry_max_ms",
                self.retry_max_ms,
                self.retry_initial_ms.max(1),
                3_600_000,
            ),
            (
                "ingest.shutdown_timeout_secs",
                self.shutdown_timeout_secs,
                1,
                3_600,
            ),
            (
                "ingest.progress_interval_secs",
                self.progress_interval_secs,
                1,
                86_400,
            ),
            (
                "ingest.stall_timeout_secs",
                self.stall_timeout_secs,
                1,
                7 * 86_400,
            ),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(crate::IngestError::Config(format!(
                    "{name} must be between {min} and {max} (got {value})"
                )));
            }
        }
        if !(self.max_abs_event_value.is_finite() && self.max_abs_event_value > 0.0) {
            return Err(crate::IngestError::Config(format!(
                "ingest.max_abs_event_value must be a positive finite number (got {})",
                self.max_abs_event_value
            )));
        }
        if !(0..=MAX_MIN_TIMESTAMP_MS).contains(&self.min_timestamp_ms) {
            return Err(crate::IngestError::Config(format!(
                "ingest.min_timestamp_ms must be between 0 and {MAX_MIN_TIMESTAMP_MS} (epoch \
                 milliseconds up to 2100-01-01; got {})",
                self.min_timestamp_ms
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    type Spoil = fn(&mut IngestConfig);

    #[test]
    fn defaults_are_valid_and_each_bad_value_is_named() {
        IngestConfig::default().validate().unwrap();
        let bad: [(&str, Spoil); 8] = [
            ("ingest.batch_rows", |c| c.batch_rows = 0),
            ("ingest.max_message_bytes", |c| c.max_message_bytes = 0),
            ("ingest.shutdown_timeout_secs", |c| {
                c.shutdown_timeout_secs = 9_223_372_036_854_775_807
            }),
            ("ingest.retry_max_ms", |c| {
                c.retry_initial_ms = 500;
                c.retry_max_ms = 100;
            }),
            ("ingest.max_abs_event_value", |c| {
                c.max_abs_event_value = f64::NAN
            }),
            ("ingest.min_timestamp_ms", |c| c.min_timestamp_ms = -1),
            ("ingest.stall_timeout_secs", |c| c.stall_timeout_secs = 0),
            ("ingest.max_inflight_batches", |c| {
                c.max_inflight_batches = 1000
            }),
        ];
        for (name, spoil) in bad {
            let mut config = IngestConfig::default();
            spoil(&mut config);
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn inserts_to_this_host_are_not_compressed_by_default() {
        use InsertCompression::{Auto, Lz4, None};
        for url in [
            "http://127.0.0.1:8123",
            "http://localhost:8123/",
            "HTTP://LOCALHOST:8123",
            "http://[::1]:8123",
            "https://user:secret@127.0.0.2:8443",
        ] {
            assert!(!Auto.compresses(url), "{url}");
            assert!(Lz4.compresses(url), "{url}");
        }
        for url in [
            "http://clickhouse:8123",
            "https://10.0.0.5:8443",
            "not a url",
        ] {
            assert!(Auto.compresses(url), "{url}");
            assert!(!None.compresses(url), "{url}");
        }
    }
}
