//! Errors of the aggregator.

use abacus_registry::RegistryError;
use abacus_schema::SchemaError;

/// What can go wrong in an aggregation pass.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// A ClickHouse statement failed.
    #[error("clickhouse query failed ({context}): {message}")]
    Query {
        /// What was being done.
        context: String,
        /// The client's error.
        message: String,
    },
    /// Reading experiment definitions failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Connecting or schema trouble.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The registry holds no experiment (or not the one asked for).
    #[error("{0}")]
    NoExperiment(String),
    /// The aggregation lease ran out or was taken over during a pass (see [`crate::lease`]).
    #[error("lost the aggregation lease (epoch {epoch}): {reason}; the pass was stopped and the next one redoes it")]
    LeaseLost {
        /// Epoch of the lease.
        epoch: u64,
        /// What happened.
        reason: String,
    },
    /// An option is invalid.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The option.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl AggregateError {
    /// A failed query, described like the schema crate describes client errors.
    pub fn query(context: impl Into<String>, err: &clickhouse::error::Error) -> Self {
        Self::Query {
            context: context.into(),
            message: abacus_schema::error::describe(err),
        }
    }
}
