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
//! - [`event`]: the event format and its validation (`scan` reads and checks the usual
//!   messages in one pass, where each string is, `scan_lex.rs` reading the bytes; anything
//!   else is parsed by serde_json and `json` reads its fields, with the exact error).
//! - [`rowbinary`]: encoding accepted events straight into RowBinary (from the message's
//!   bytes for what `scan` read).
//! - [`batch`]: the per-message work (validate, dedupe, encode) and what a batch holds.
//! - [`dedupe`]: remembered event ids per partition, bounded in time and memory (`forgotten`
//!   remembers, approximately, ids the cap forced out).
//! - [`state`]: rebuilding dedupe state and stored offsets from ClickHouse.
//! - [`sink`]: RowBinary inserts with retries, ambiguity checks and poison-row isolation.
//! - [`lz4`]: LZ4 in ClickHouse's compressed-block framing, into a reused buffer.
//! - [`consumer`]: the consumer thread's state, batching, commits and rebalance callbacks.
//! - [`pipeline`]: [`run`], wiring consumer, writer, shutdown and `--once`.
//! - `consumer/progress.rs`: end of partition for `--once`, and the stall guard.
//! - [`metrics`]: counters, histograms, lag and stall state in the Prometheus format.
//! - [`http`]: `/metrics`, `/healthz` and `/readyz`.

pub mod batch;
mod clock;
pub mod config;
pub mod consumer;
pub mod dedupe;
pub mod event;
mod forgotten;
pub mod http;
mod json;
pub mod lz4;
pub mod metrics;
pub mod pipeline;
pub mod rowbinary;
mod scan;
pub mod sink;
pub mod state;

pub use config::{IngestConfig, InsertCompression, KafkaConfig};
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
    /// ClickHouse refused for a reason retrying cannot fix (permissions, credentials, missing
    /// tables): ingest stops with this error instead of retrying for ever.
    #[error("clickhouse refused to {context}: {cause}; retrying cannot fix this, so ingest stops ({message})")]
    Permanent {
        /// What was being done.
        context: String,
        /// The cause in words, with what to do.
        cause: &'static str,
        /// The server's error.
        message: String,
    },
    /// A partition made no progress for `stall_timeout_secs` while messages were waiting
    /// (`--once` gives up on it).
    #[error("partition {partition} of topic {topic} is stalled: its committed offset has not moved for {secs} s while messages wait (ingest.stall_timeout_secs); see the errors logged before")]
    Stalled {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The stall timeout.
        secs: u64,
    },
    /// Writing was abandoned because of shutdown.
    #[error("writing to clickhouse was abandoned at shutdown; unwritten messages stay uncommitted and will be read again")]
    Cancelled,
    /// Shutdown did not finish in time.
    #[error("could not flush and commit within {0} s of shutdown; uncommitted messages will be read again")]
    ShutdownTimeout(u64),
}

impl IngestError {
    /// Wraps a ClickHouse client error; one that retrying cannot fix (see [`permanent_cause`])
    /// becomes [`IngestError::Permanent`].
    pub fn clickhouse(context: &str, err: &clickhouse::error::Error) -> Self {
        let message = abacus_schema::error::describe(err);
        match permanent_cause(err) {
            Some(cause) => Self::Permanent {
                context: context.to_owned(),
                cause,
                message,
            },
            None => Self::ClickHouse {
                context: context.to_owned(),
                message,
            },
        }
    }

    /// Whether retrying cannot fix this error.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent { .. } | Self::Config(_))
    }
}

/// Why ClickHouse refused, when retrying cannot help: missing rights (164 READONLY on 18.16,
/// 497 ACCESS_DENIED and 291 DATABASE_ACCESS_DENIED on newer servers), refused credentials
/// (516 AUTHENTICATION_FAILED, 192 UNKNOWN_USER, 193 WRONG_PASSWORD, 194 REQUIRED_PASSWORD,
/// 195 IP_ADDRESS_NOT_ALLOWED), a missing table, database or column (60 UNKNOWN_TABLE,
/// 81 UNKNOWN_DATABASE, 16 NO_SUCH_COLUMN_IN_TABLE). `None` for anything else (outages,
/// timeouts, overload), which is retried.
pub fn permanent_cause(err: &clickhouse::error::Error) -> Option<&'static str> {
    let clickhouse::error::Error::BadResponse(text) = err else {
        return None;
    };
    Some(match sink::exception_code(text)? {
        164 => "the clickhouse user may not write (read-only mode: give ingest a user whose profile has readonly = 0)",
        497 | 291 => "the clickhouse user lacks a privilege (grant it INSERT and SELECT on the abacus database)",
        516 | 192..=195 => "clickhouse refused the credentials (check clickhouse.user and clickhouse.password)",
        60 | 81 => "a table or the database does not exist (run `abacus schema migrate`)",
        16 => "a column is missing (the schema is older than this binary: run `abacus schema migrate`)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_errors_are_told_from_transient_ones() {
        let bad = |t: &str| clickhouse::error::Error::BadResponse(t.to_owned());
        for (text, cause) in [
            ("Code: 164, e.displayText() = DB::Exception: Cannot insert into table in readonly mode", "read-only"),
            ("Code: 497. DB::Exception: writer: Not enough privileges. To execute this query, it's necessary to have the grant INSERT", "privilege"),
            ("Code: 516. DB::Exception: default: Authentication failed", "credentials"),
            ("Code: 193, e.displayText() = DB::Exception: Wrong password for user x", "credentials"),
            ("Code: 60, e.displayText() = DB::Exception: Table db.events doesn't exist.", "schema migrate"),
            ("Code: 81. DB::Exception: Database db doesn't exist", "schema migrate"),
        ] {
            let err = IngestError::clickhouse("insert into events", &bad(text));
            assert!(err.is_permanent(), "{text}");
            assert!(err.to_string().contains(cause), "{err}");
            assert!(err.to_string().contains(text), "{err}");
        }
        for err in [
            bad("Code: 241. DB::Exception: Memory limit exceeded"),
            bad("Code: 252. DB::Exception: Too many parts (300)"),
            clickhouse::error::Error::TimedOut,
            clickhouse::error::Error::Network("connection refused".into()),
        ] {
            assert!(!IngestError::clickhouse("x", &err).is_permanent(), "{err}");
        }
    }
}
