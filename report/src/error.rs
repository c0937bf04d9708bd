//! Errors of reading a run back for a report.

use abacus_registry::RegistryError;

/// What can go wrong while building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
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
    /// No aggregation run exists for a report (of this experiment, or of any).
    #[error("no results {} yet: run `abacus aggregate --once` first", .0.as_deref().map_or_else(|| "in this database".to_owned(), |id| format!("for experiment `{id}`")))]
    NoResults(Option<String>),
    /// Reading the statistics again for another baseline failed.
    #[error(transparent)]
    Aggregate(#[from] abacus_aggregator::AggregateError),
    /// A baseline cannot be used.
    #[error("cannot compare experiment `{experiment}` against this baseline: {reason}")]
    Baseline {
        /// The experiment.
        experiment: String,
        /// Why.
        reason: String,
    },
}

impl ReportError {
    /// A failed query, described like the schema crate describes client errors.
    pub fn query(context: impl Into<String>, err: &clickhouse::error::Error) -> Self {
        Self::Query {
            context: context.into(),
            message: abacus_schema::error::describe(err),
        }
    }
}
