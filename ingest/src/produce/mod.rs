//! `abacus produce`: the load generator and test tool. It generates synthetic traffic for the
//! experiments of an `experiments.toml` ([`generate`]) and publishes it to Kafka with a rate
//! limit ([`publish`]), returning the ground truth so that ingest can be reconciled exactly.

pub mod generate;
pub mod publish;

pub use generate::{Generator, Message, Plan, Truth};
pub use publish::{publish, PublishOptions};
