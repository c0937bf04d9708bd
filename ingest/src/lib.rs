//! Consumes experiment events from Kafka, validates them, drops duplicate `event_id`s and
//! writes them to ClickHouse in bulk, committing Kafka offsets only after ClickHouse has
//! acknowledged the rows. Messages that fail validation are written to the quarantine table
//! with the reason and the raw bytes; nothing is dropped silently.
//!
//! Guarantees (see the README's "Ingest" section): an event is stored once even when producers
//! resend it, when Kafka redelivers after a crash between insert and commit, when ClickHouse
//! fails mid-insert, and when partitions move between ingest processes of one consumer group.
//!
//! # Layout
//! - [`config`]: the `[kafka]` and `[ingest]` configuration sections.
//! - [`event`]: the event format and its validation (`scan` splits the usual messages
//!   in one pass, `json` reads the fields).
//! - [`rowbinary`]: encoding accepted events straight into RowBinary.
//! - [`batch`]: the per-message work (validate, dedupe, encode) and what a batch holds.
//! - [`dedupe`]: remembered event ids per partition, bounded in time and memory (`forgotten`
//!   remembers, approximately, ids the cap forced out).
//! - [`state`]: rebuilding dedupe state and stored offsets from ClickHouse.
//! - [`sink`]: RowBinary inserts with retries, ambiguity checks and poison-row isolation.
//! - [`consumer`]: the consumer thread's state, batching, commits and rebalance callbacks.
//! - [`pipeline`]: [`run`], wiring consumer, writer, shutdown and `--once`.
//! - [`metrics`]: counters, histograms, lag and the Prometheus endpoint.

pub mod batch;
pub mod config;
pub mod consumer;
pub mod dedupe;
pub mod event;
mod forgotten;
mod json;
pub mod metrics;
pub mod pipeline;
pub mod rowbinary;
mod scan;
pub mod sink;
pub mod state;

pub use config::{IngestConfig, KafkaConfig};
pub use metrics::Metrics;
pub use pipeline::{consumer_config, run, RunOptions, Summary};

/// What can stop ingest.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Invalid configuration.
    #[error("invalid ingest configuration: {0}")]
    Config(String),
    /// Kafka client failure.
    #[error("kafka: {0}")]
    Kafka(String),
    /// A ClickHouse request failed.
    #[error("clickhouse request failed ({context}): {message}")]
    ClickHouse {
        /// What was being done.
        context: String,
        /// The client's error.
        message: String,
    },
    /// Writing was abandoned because of shutdown.
    #[error("writing to clickhouse was abandoned at shutdown; unwritten messages stay uncommitted and will be read again")]
    Cancelled,
    /// Shutdown did not finish in time.
    #[error("could not flush and commit within {0} s of shutdown; uncommitted messages will be read again")]
    ShutdownTimeout(u64),
}

impl IngestError {
    /// Wraps a ClickHouse client error.
    pub fn clickhouse(context: &str, err: &clickhouse::error::Error) -> Self {
        Self::ClickHouse {
            context: context.to_owned(),
            message: abacus_schema::error::describe(err),
        }
    }
}
