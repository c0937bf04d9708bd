//! Connecting to ClickHouse: builds the `clickhouse` client from [`ClickHouseConfig`], checks
//! that the server answers within the configured timeout and learns its version.

use std::time::Duration;

use clickhouse::Client;

use crate::ident::check_ident;
use crate::redact::redact_url;
use crate::render::Target;
use crate::{ClickHouseConfig, SchemaError};

/// A server's `version()`, e.g. `18.16.1` → `(18, 16, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion(pub u32, pub u32, pub u32);

impl ServerVersion {
    /// Parses the first three numbers of a `version()` string.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        Some(Self(
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        ))
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Oldest release on which the client's schema validation is known to work; older servers
/// (such as 18.16) reject the settings it sends, so validation stays off there.
const VALIDATION_SINCE: ServerVersion = ServerVersion(24, 1, 0);

/// A client on the `clickhouse` crate's own HTTP stack (hyper-util's client, TCP keepalive
/// 60 s, idle pooled connections dropped after 2 s as the server closes them after 3 s) with
/// one addition: a read or a write on a connection fails after `timeout` without progress, so
/// a hung or stopped server fails the query instead of holding it for ever. Writing resets the
/// read timer, so a long insert is not cut short.
///
/// The TLS connector only for an `https://` URL: building one loads the system's CA bundle,
/// about 40 ms of CPU time in every process that connects.
fn client_with_timeouts(url: &str, timeout: Duration) -> Client {
    // One body for both connector types (a generic function would need hyper's and tower's
    // traits spelled out).
    macro_rules! client {
        ($connector:expr) => {{
            let mut connector = hyper_timeout::TimeoutConnector::new($connector);
            connector.set_read_timeout(Some(timeout));
            connector.set_write_timeout(Some(timeout));
            connector.set_reset_reader_on_write(true);
            let mut builder =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
            Client::with_http_client(
                builder
                    .pool_idle_timeout(Duration::from_secs(2))
                    .build(connector),
            )
        }};
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_keepalive(Some(Duration::from_secs(60)));
    let https = url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    if https {
        http.enforce_http(false);
        client!(hyper_tls::HttpsConnector::new_with_connector(http))
    } else {
        client!(http)
    }
}

/// A checked connection to one ClickHouse deployment and the Abacus database on it.
#[derive(Clone, Debug)]
pub struct ClickHouse {
    server: Client,
    database_client: Client,
    config: ClickHouseConfig,
    version: ServerVersion,
}

impl ClickHouse {
    /// Checks the configured names, connects and asks the server for its version.
    ///
    /// Fails with [`SchemaError::Timeout`] when the server does not answer within
    /// `connect_timeout_secs`, and with [`SchemaError::Unreachable`] when it refuses.
    pub async fn connect(config: &ClickHouseConfig) -> Result<Self, SchemaError> {
        check_ident("database", &config.database)?;
        if let Some(cluster) = config.cluster() {
            check_ident("cluster", cluster)?;
        }
        let query_timeout = config.query_timeout_secs.max(1);
        let base = client_with_timeouts(&config.url, Duration::from_secs(query_timeout))
            .with_url(config.url.trim_end_matches('/'))
            .with_setting("max_execution_time", query_timeout.to_string())
            .with_user(&config.user)
            .with_password(&config.password)
            .with_compression(clickhouse::Compression::Lz4)
            .with_validation(false);
        let secs = config.connect_timeout_secs.max(1);
        let answer = tokio::time::timeout(
            Duration::from_secs(secs),
            base.query("SELECT version()").fetch_one::<String>(),
        )
        .await
        .map_err(|_| SchemaError::Timeout {
            url: redact_url(&config.url),
            secs,
        })?
        .map_err(|e| SchemaError::Unreachable {
            url: redact_url(&config.url),
            message: crate::error::describe(&e),
        })?;
        let version = ServerVersion::parse(&answer).unwrap_or(ServerVersion(0, 0, 0));
        let validate = version >= VALIDATION_SINCE;
        let server = base.with_validation(validate);
        let database_client = server.clone().with_database(&config.database);
        tracing::debug!(url = %redact_url(&config.url), %version, validate, "connected to clickhouse");
        Ok(Self {
            server,
            database_client,
            config: config.clone(),
            version,
        })
    }

    /// Client bound to the Abacus database (unqualified table names resolve there).
    /// Only valid once the database exists (after [`crate::migrate`]).
    pub fn client(&self) -> &Client {
        &self.database_client
    }

    /// Client without a database, for statements that name the database themselves.
    pub fn server_client(&self) -> &Client {
        &self.server
    }

    /// The server's version.
    pub fn version(&self) -> ServerVersion {
        self.version
    }

    /// The Abacus database name.
    pub fn database(&self) -> &str {
        &self.config.database
    }

    /// The configuration this connection was made from.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    /// Where rendered SQL runs: database and optional cluster.
    pub fn target(&self) -> Target {
        Target {
            database: self.config.database.clone(),
            cluster: self.config.cluster().map(str::to_owned),
        }
    }

    /// Runs one statement, naming `context` in the error.
    pub async fn execute(&self, sql: &str, context: &str) -> Result<(), SchemaError> {
        self.server
            .query(sql)
            .execute()
            .await
            .map_err(|e| SchemaError::query(context, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            ServerVersion::parse("18.16.1"),
            Some(ServerVersion(18, 16, 1))
        );
        assert_eq!(
            ServerVersion::parse("26.9.1.123"),
            Some(ServerVersion(26, 9, 1))
        );
        assert_eq!(ServerVersion::parse("24.3"), Some(ServerVersion(24, 3, 0)));
        assert_eq!(ServerVersion::parse("x"), None);
        assert!(ServerVersion(18, 16, 1) < VALIDATION_SINCE);
    }

    /// The TLS connector is built only for `https://` URLs (any case), and plain HTTP is spoken
    /// to the rest: what reaches a listener is a TLS handshake, then an HTTP request.
    #[tokio::test]
    async fn https_urls_speak_tls_and_http_urls_plain_http() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_bytes = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut byte = [0u8; 1];
                conn.read_exact(&mut byte).await.unwrap();
                got.push(byte[0]);
            }
            got
        });
        for scheme in ["HTTPS", "http"] {
            let config = ClickHouseConfig {
                url: format!("{scheme}://127.0.0.1:{port}"),
                connect_timeout_secs: 5,
                ..ClickHouseConfig::default()
            };
            assert!(ClickHouse::connect(&config).await.is_err());
        }
        // 0x16 starts a TLS handshake record; `P` starts `POST`.
        assert_eq!(first_bytes.await.unwrap(), [0x16, b'P']);
    }
}
