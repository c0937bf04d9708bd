//! The `[serve]` section of `abacus.toml`: where definitions come from, the listen address,
//! request limits, API keys and exposure logging.

use serde::{Deserialize, Serialize};

/// Settings of `abacus serve`. Every key can also be set as `ABACUS_SERVE_<KEY>`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on, `host:port` (loopback unless you mean to expose it).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where definitions come from: `file` (the experiments file) or `registry` (the newest
    /// applied version of every experiment in ClickHouse).
    #[serde(default = "default_source")]
    pub source: String,
    /// The experiments file of the `file` source.
    #[serde(default)]
    pub experiments: String,
    /// How often the experiments file is checked for changes (milliseconds).
    #[serde(default = "default_file_poll_ms")]
    pub file_poll_ms: u64,
    /// How often the registry is read (seconds).
    #[serde(default = "default_registry_poll_secs")]
    pub registry_poll_secs: u64,
    /// API keys accepted as `Authorization: Bearer <key>` or `X-API-Key: <key>`; empty: no
    /// authentication. Set them from the environment (`ABACUS_SERVE_API_KEYS=k1,k2`), not in a
    /// file under version control. Never logged or shown by `abacus config show`.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Largest accepted request body (bytes); larger ones get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Most attributes in an evaluation context; more get 400 `INVALID_CONTEXT`.
    #[serde(default = "default_max_attributes")]
    pub max_attributes: usize,
    /// Most exposures in one `POST /v1/exposures` batch.
    #[serde(default = "default_max_exposure_batch")]
    pub max_exposure_batch: usize,
    /// Publish an exposure event to Kafka for each single evaluation of an experiment.
    #[serde(default = "default_true")]
    pub exposures: bool,
    /// Topic of exposure events [default: the first topic of `kafka.topic`].
    #[serde(default)]
    pub exposure_topic: String,
    /// Most exposures waiting for Kafka (librdkafka's queue); beyond it exposures are dropped
    /// and counted, never waited for.
    #[serde(default = "default_exposure_queue")]
    pub exposure_queue: usize,
    /// An exposure Kafka has not acknowledged within this time is dropped and counted
    /// (milliseconds; covers short broker outages).
    #[serde(default = "default_exposure_timeout_ms")]
    pub exposure_timeout_ms: u64,
    /// Event ids remembered to avoid publishing an exposure twice (about 50 bytes each).
    #[serde(default = "default_exposure_cache")]
    pub exposure_cache: usize,
    /// On SIGTERM: time to finish open requests and flush exposures (seconds).
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("source", &self.source)
            .field("experiments", &self.experiments)
            .field("api_keys", &format!("<{} redacted>", self.api_keys.len()))
            .field("exposures", &self.exposures)
            .finish_non_exhaustive()
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_source() -> String {
    "file".to_owned()
}

fn default_file_poll_ms() -> u64 {
    200
}

fn default_registry_poll_secs() -> u64 {
    5
}

fn default_max_body_bytes() -> usize {
    64 * 1024
}

fn default_max_attributes() -> usize {
    100
}

fn default_max_exposure_batch() -> usize {
    1000
}

fn default_true() -> bool {
    true
}

fn default_exposure_queue() -> usize {
    100_000
}

fn default_exposure_timeout_ms() -> u64 {
    300_000
}

fn default_exposure_cache() -> usize {
    1_000_000
}

fn default_shutdown_timeout_secs() -> u64 {
    10
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            source: default_source(),
            experiments: String::new(),
            file_poll_ms: default_file_poll_ms(),
            registry_poll_secs: default_registry_poll_secs(),
            api_keys: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
            max_attributes: default_max_attributes(),
            max_exposure_batch: default_max_exposure_batch(),
            exposures: true,
            exposure_topic: String::new(),
            exposure_queue: default_exposure_queue(),
            exposure_timeout_ms: default_exposure_timeout_ms(),
            exposure_cache: default_exposure_cache(),
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
        }
    }
}

/// The request limits and keys the HTTP layer enforces.
#[derive(Clone)]
pub struct Limits {
    /// See [`ServeConfig::max_body_bytes`].
    pub max_body_bytes: usize,
    /// See [`ServeConfig::max_attributes`].
    pub max_attributes: usize,
    /// See [`ServeConfig::max_exposure_batch`].
    pub max_exposure_batch: usize,
    /// See [`ServeConfig::api_keys`].
    pub api_keys: Vec<String>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_attributes", &self.max_attributes)
            .field("max_exposure_batch", &self.max_exposure_batch)
            .field("api_keys", &format!("<{} redacted>", self.api_keys.len()))
            .finish()
    }
}

impl From<&ServeConfig> for Limits {
    fn from(c: &ServeConfig) -> Self {
        Self {
            max_body_bytes: c.max_body_bytes,
            max_attributes: c.max_attributes,
            max_exposure_batch: c.max_exposure_batch,
            api_keys: c
                .api_keys
                .iter()
                .filter(|k| !k.is_empty())
                .cloned()
                .collect(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        (&ServeConfig::default()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_api_keys() {
        let c = ServeConfig {
            api_keys: vec!["s3cret".into()],
            ..ServeConfig::default()
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!format!("{:?}", Limits::from(&c)).contains("s3cret"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ServeConfig>("listn = \"x\"").is_err());
    }
}
