//! The load generator and test tool behind `abacus produce`: synthetic traffic for the
//! experiments of an `experiments.toml`, with known truth (true lifts, duplicates, malformed
//! and late events, an optional assignment bug), published to Kafka with a rate limit. The
//! returned [`Truth`] lets ingest and the aggregator be reconciled exactly.
//!
//! It is a tool beside the data path, not part of it: ingest never depends on it.
//!
//! # Layout
//! - [`generate`]: the seeded traffic generator ([`Generator`], [`Plan`], [`Truth`]).
//! - [`history`]: users whose behaviour before their first exposure predicts their outcome
//!   (for CUPED).
//! - [`units`]: randomization units in the traffic (clusters with intra-cluster correlation,
//!   switchback units).
//! - [`publish`]: topic creation and rate-limited publishing that fails unless every message
//!   is acknowledged.

pub mod generate;
pub mod history;
pub mod publish;
pub mod units;

pub use generate::{Generator, Message, Plan, Truth};
pub use publish::{publish, PublishOptions};

/// What can stop load generation.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// A Kafka client failure (admin, producer or delivery).
    #[error("kafka: {0}")]
    Kafka(String),
}
