//! The `[clickhouse]` section of `abacus.toml`: where ClickHouse is and how to talk to it.

use serde::{Deserialize, Serialize};

use crate::redact::{redact_url, REDACTED};

/// Connection settings for ClickHouse, shared by every component that reads or writes it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// HTTP(S) endpoint of the server, e.g. `http://127.0.0.1:8123`.
    #[serde(default = "default_url")]
    pub url: String,
    /// Database that holds all Abacus tables; created by `abacus schema migrate` if missing.
    #[serde(default = "default_database")]
    pub database: String,
    /// User name for HTTP authentication.
    #[serde(default = "default_user")]
    pub user: String,
    /// Password for HTTP authentication (never printed; prefer `ABACUS_CLICKHOUSE_PASSWORD`).
    #[serde(default)]
    pub password: String,
    /// Cluster name from the server's `remote_servers`. When set, DDL runs `ON CLUSTER`,
    /// storage tables use Replicated engines and reads go through Distributed tables.
    #[serde(default)]
    pub cluster: String,
    /// Seconds to wait for the server to answer the first request before giving up.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Seconds a query may go without a byte from the server before it fails with a timeout
    /// (a hung or stopped server), and the server-side `max_execution_time` of every query.
    /// Raise it when single aggregation queries legitimately run longer.
    #[serde(default = "default_query_timeout_secs")]
    pub query_timeout_secs: u64,
}

fn default_url() -> String {
    "http://127.0.0.1:8123".to_owned()
}

fn default_database() -> String {
    "abacus".to_owned()
}

fn default_user() -> String {
    "default".to_owned()
}

fn default_connect_timeout_secs() -> u64 {
    5
}

fn default_query_timeout_secs() -> u64 {
    300
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            database: default_database(),
            user: default_user(),
            password: String::new(),
            cluster: String::new(),
            connect_timeout_secs: default_connect_timeout_secs(),
            query_timeout_secs: default_query_timeout_secs(),
        }
    }
}

/// `{:?}` never shows the password (nor one in the URL).
impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let password = if self.password.is_empty() {
            ""
        } else {
            REDACTED
        };
        f.debug_struct("ClickHouseConfig")
            .field("url", &redact_url(&self.url))
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &password)
            .field("cluster", &self.cluster)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("query_timeout_secs", &self.query_timeout_secs)
            .finish()
    }
}

impl ClickHouseConfig {
    /// Checks the numeric settings' ranges; the error names the setting.
    pub fn validate(&self) -> Result<(), crate::SchemaError> {
        let ranges = [
            (
                "clickhouse.connect_timeout_secs",
                self.connect_timeout_secs,
                1,
                3_600,
            ),
            (
                "clickhouse.query_timeout_secs",
                self.query_timeout_secs,
                1,
                7 * 86_400,
            ),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(crate::SchemaError::InvalidSetting {
                    name,
                    reason: format!("must be between {min} and {max} (got {value})"),
                });
            }
        }
        Ok(())
    }

    /// The cluster name, if one is configured.
    pub fn cluster(&self) -> Option<&str> {
        let name = self.cluster.trim();
        (!name.is_empty()).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_out_of_range_are_named() {
        ClickHouseConfig::default().validate().unwrap();
        for (connect, query, name) in [
            (0, 300, "clickhouse.connect_timeout_secs"),
            (5, 0, "clickhouse.query_timeout_secs"),
            (5, u64::MAX, "clickhouse.query_timeout_secs"),
        ] {
            let config = ClickHouseConfig {
                connect_timeout_secs: connect,
                query_timeout_secs: query,
                ..ClickHouseConfig::default()
            };
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
