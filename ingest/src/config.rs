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
