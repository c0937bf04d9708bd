//! Consumes experiment events from Kafka and writes them to ClickHouse.
//!
//! # Layout
//! - [`config`]: the `[kafka]` configuration section (brokers, topics, group and
//!   pass-through librdkafka client settings).

pub mod config;

pub use config::KafkaConfig;
