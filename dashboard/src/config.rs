//! The `[dashboard]` section of `abacus.toml`.

use serde::{Deserialize, Serialize};

/// Settings of `abacus dashboard`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Address to listen on. Loopback by default: put a TLS-terminating proxy in front to
    /// expose it.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Seconds between two checks for new aggregation runs (and registry changes).
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    /// Access token: when set, every request needs `Authorization: Bearer TOKEN` or basic
    /// auth with this token as password (any user name). Never logged.
    #[serde(default)]
    pub token: String,
    /// Basic auth user name (with `basic_password`).
    #[serde(default)]
    pub basic_user: String,
    /// Basic auth password. Never logged.
    #[serde(default)]
    pub basic_password: String,
}

fn default_listen() -> String {
    "127.0.0.1:8090".to_owned()
}

fn default_refresh_secs() -> u64 {
    5
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            refresh_secs: default_refresh_secs(),
            token: String::new(),
            basic_user: String::new(),
            basic_password: String::new(),
        }
    }
}

impl std::fmt::Debug for DashboardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("DashboardConfig")
            .field("listen", &self.listen)
            .field("refresh_secs", &self.refresh_secs)
            .field("token", &hidden(&self.token))
            .field("basic_user", &self.basic_user)
            .field("basic_password", &hidden(&self.basic_password))
            .finish()
    }
}

impl DashboardConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), crate::DashboardError> {
        if !(1..=86_400).contains(&self.refresh_secs) {
            return Err(crate::DashboardError::Invalid(format!(
                "dashboard.refresh_secs must be between 1 and 86400 (got {})",
                self.refresh_secs
            )));
        }
        if self.basic_user.is_empty() != self.basic_password.is_empty() {
            return Err(crate::DashboardError::Invalid(
                "dashboard.basic_user and dashboard.basic_password go together".into(),
            ));
        }
        Ok(())
    }
}
