//! `abacus ingest`: runs the Kafka → ClickHouse ingest until SIGINT/SIGTERM (or, with
//! `--once`, until every assigned partition is read to its end).

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use abacus_ingest::{Metrics, RunOptions};

use crate::commands::schema::connect;
use crate::config::Config;

/// The long description of `abacus ingest --help`.
pub const LONG_ABOUT: &str =
    "Consume experiment events from Kafka, validate them, drop duplicate event_ids and \
bulk-insert them into ClickHouse. Offsets are committed only after ClickHouse acknowledged the \
rows; rejected messages go to the quarantine table with the reason. Run several instances with \
the same --group to scale out (one partition is owned by one instance at a time). \
SIGINT/SIGTERM flush, commit and exit 0. ClickHouse outages are retried; errors retrying cannot \
fix (a read-only user, a missing grant, refused credentials, a missing table: run `abacus schema \
migrate`) end ingest with exit status 1 and an ERROR naming the cause, after committing what is \
stored. A partition that makes no progress for --stall-timeout-secs while messages wait is \
reported (ERROR, /metrics, /readyz 503); --once gives up on it with exit status 1. librdkafka settings (SASL, TLS, fetch tuning) go in \
[kafka.client] of the config file; ingest defaults fetch.queue.backoff.ms=10 and \
fetch.wait.max.ms=100 there (librdkafka's 1 s backoff would hold it far below what the broker \
delivers). The consumer group protocol is `classic` (every Kafka version, Redpanda, MSK; a \
killed instance's partitions move after session.timeout.ms, 30 s by default); on Kafka 4.0+ \
\"group.protocol\" = \"consumer\" in [kafka.client] selects KIP-848 (incremental rebalances: the \
other instances keep their partitions; the broker's group.consumer.session.timeout.ms, 45 s by \
default, replaces session.timeout.ms).";

/// Flags of `abacus ingest`. Each `--x` overrides `ingest.x` of the config file and
/// `ABACUS_INGEST_X` of the environment.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Read every assigned partition up to its end, flush, commit and exit (backfills, cron,
    /// tests, the demo).
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics, liveness at /healthz and readiness at /readyz (503 while a partition is stalled), e.g. 127.0.0.1:9464 [config: ingest.metrics_addr]
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Insert when a batch holds this many rows [default: 100000] [config: ingest.batch_rows]
    #[arg(long, value_name = "N")]
    pub batch_rows: Option<String>,
    /// … or this many message bytes [default: 67108864] [config: ingest.batch_bytes]
    #[arg(long, value_name = "BYTES")]
    pub batch_bytes: Option<String>,
    /// … or when the oldest message waited this long [default: 1000] [config: ingest.batch_interval_ms]
    #[arg(long, value_name = "MS")]
    pub batch_interval_ms: Option<String>,
    /// Batches waiting for ClickHouse before consumption pauses [default: 2] [config: ingest.max_inflight_batches]
    #[arg(long, value_name = "N")]
    pub max_inflight_batches: Option<String>,
    /// Larger messages are quarantined as too_large [default: 1048576] [config: ingest.max_message_bytes]
    #[arg(long, value_name = "BYTES")]
    pub max_message_bytes: Option<String>,
    /// Quarantined payloads are cut to this size (length kept) [default: 65536] [config: ingest.quarantine_raw_bytes]
    #[arg(long, value_name = "BYTES")]
    pub quarantine_raw_bytes: Option<String>,
    /// Quarantine events whose |event_value| is larger [default: 1e12] [config: ingest.max_abs_event_value]
    #[arg(long, value_name = "X")]
    pub max_abs_event_value: Option<String>,
    /// Quarantine events timed earlier, in epoch ms; catches seconds sent as milliseconds [default: 946684800000 = 2000-01-01] [config: ingest.min_timestamp_ms]
    #[arg(long, value_name = "MS")]
    pub min_timestamp_ms: Option<String>,
    /// An event_id accepted within this window is a duplicate [default: 21600] [config: ingest.dedupe_window_secs]
    #[arg(long, value_name = "SECS")]
    pub dedupe_window_secs: Option<String>,
    /// Most ids remembered per partition, oldest forgotten first (≤ 55 bytes each: 216 MB at the default) [default: 5000000] [config: ingest.dedupe_max_ids]
    #[arg(long, value_name = "N")]
    pub dedupe_max_ids: Option<String>,
    /// Dedupe memory bound of the whole process, split between owned partitions [default: 1073741824] [config: ingest.dedupe_max_bytes]
    #[arg(long, value_name = "BYTES")]
    pub dedupe_max_bytes: Option<String>,
    /// First retry delay after a failed insert, doubling [default: 200] [config: ingest.retry_initial_ms]
    #[arg(long, value_name = "MS")]
    pub retry_initial_ms: Option<String>,
    /// Longest retry delay [default: 10000] [config: ingest.retry_max_ms]
    #[arg(long, value_name = "MS")]
    pub retry_max_ms: Option<String>,
    /// Time allowed to flush and commit on shutdown [default: 30] [config: ingest.shutdown_timeout_secs]
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout_secs: Option<String>,
    /// Seconds between progress log lines [default: 5] [config: ingest.progress_interval_secs]
    #[arg(long, value_name = "SECS")]
    pub progress_interval_secs: Option<String>,
    /// A partition whose committed offset does not move for this long while messages wait is stalled: ERROR log, /metrics, /readyz 503; --once gives up with exit 1 [default: 300] [config: ingest.stall_timeout_secs]
    #[arg(long, value_name = "SECS")]
    pub stall_timeout_secs: Option<String>,
}

impl IngestArgs {
    /// The flags that override `[ingest]` settings.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        [
            ("ingest.metrics_addr", &self.metrics_addr),
            ("ingest.batch_rows", &self.batch_rows),
            ("ingest.batch_bytes", &self.batch_bytes),
            ("ingest.batch_interval_ms", &self.batch_interval_ms),
            ("ingest.max_inflight_batches", &self.max_inflight_batches),
            ("ingest.max_message_bytes", &self.max_message_bytes),
            ("ingest.quarantine_raw_bytes", &self.quarantine_raw_bytes),
            ("ingest.max_abs_event_value", &self.max_abs_event_value),
            ("ingest.min_timestamp_ms", &self.min_timestamp_ms),
            ("ingest.dedupe_window_secs", &self.dedupe_window_secs),
            ("ingest.dedupe_max_ids", &self.dedupe_max_ids),
            ("ingest.dedupe_max_bytes", &self.dedupe_max_bytes),
            ("ingest.retry_initial_ms", &self.retry_initial_ms),
            ("ingest.retry_max_ms", &self.retry_max_ms),
            ("ingest.shutdown_timeout_secs", &self.shutdown_timeout_secs),
            (
                "ingest.progress_interval_secs",
                &self.progress_interval_secs,
            ),
            ("ingest.stall_timeout_secs", &self.stall_timeout_secs),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

pub async fn run(args: IngestArgs, config: &Config) -> Result<()> {
    let ch = connect(config).await?;
    let metrics = Arc::new(Metrics::default());
    if !config.ingest.metrics_addr.is_empty() {
        let listener = tokio::net::TcpListener::bind(&config.ingest.metrics_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on --metrics-addr {}",
                    config.ingest.metrics_addr
                )
            })?;
        tracing::info!(addr = %config.ingest.metrics_addr, "serving metrics at /metrics");
        let served = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = abacus_ingest::http::serve(listener, served).await {
                tracing::error!(error = %e, "the metrics endpoint stopped");
            }
        });
    }
    let summary = abacus_ingest::run(
        &config.kafka,
        &config.ingest,
        ch,
        RunOptions { once: args.once },
        metrics,
        crate::shutdown_signal(),
    )
    .await
    .context("ingest failed")?;
    println!(
        "ingest: consumed {}, inserted {}, duplicates dropped {}, redelivered skipped {}, quarantined {}",
        summary.consumed, summary.inserted, summary.duplicates, summary.redelivered, summary.quarantined
    );
    Ok(())
}
