//! Test support for integration tests of every Abacus crate (dev-dependency only).
//!
//! Each test gets its own ClickHouse database, named after the test with a random suffix and
//! migrated with the embedded migrations, so tests run in parallel and can be rerun. Services
//! are found through the same variables `deploy/local/stack env` prints
//! (`ABACUS_CLICKHOUSE_URL`, `ABACUS_KAFKA_BROKERS`), with loopback defaults. A service that
//! does not answer fails the test with a message that says how to start it; nothing is skipped.
//!
//! # Layout
//! - [`TestDatabase`]: a fresh, migrated database and its cleanup.
//! - [`http`]: a small keep-alive HTTP/1.1 client for the HTTP services' tests.
//! - [`clickhouse_url`], [`kafka_brokers`], [`unique_name`]: addresses and names.
//! - [`kafka`]: a fresh topic per test, a producer that checks delivery, partition leaders.
//! - [`cluster`]: a private Kafka cluster (the local stack's script) for broker failure tests.
//! - [`server`]: a private ClickHouse server for outage tests.

pub mod cluster;
pub mod http;
pub mod kafka;
pub mod server;

use abacus_schema::{ClickHouse, ClickHouseConfig};
use rand::Rng;

/// ClickHouse URL for tests: `ABACUS_CLICKHOUSE_URL`, else `http://127.0.0.1:8123`.
pub fn clickhouse_url() -> String {
    std::env::var("ABACUS_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".to_owned())
}

/// Kafka bootstrap servers for tests: `ABACUS_KAFKA_BROKERS`, else `127.0.0.1:9092`.
pub fn kafka_brokers() -> String {
    std::env::var("ABACUS_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// `prefix` made identifier-safe, plus `_` and 8 random hex digits.
pub fn unique_name(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let suffix: u32 = rand::rng().random();
    format!("t_{clean}_{suffix:08x}")
}

/// A fresh database for one test. Call [`TestDatabase::drop`] at the end of the test;
/// a database left behind by a failed test has a unique name and harms no other run.
#[derive(Debug)]
pub struct TestDatabase {
    ch: ClickHouse,
}

impl TestDatabase {
    /// Creates a database named after `test` and applies every embedded migration.
    ///
    /// # Panics
    /// When ClickHouse does not answer (with instructions) or a migration fails.
    pub async fn create(test: &str) -> Self {
        Self::create_at(&clickhouse_url(), test).await
    }

    /// Like [`TestDatabase::create`] on the server at `url`.
    pub async fn create_at(url: &str, test: &str) -> Self {
        let db = Self::connect(url, test).await;
        let migrations = abacus_schema::embedded().expect("embedded migrations are valid");
        abacus_schema::migrate(&db.ch, &migrations)
            .await
            .unwrap_or_else(|e| panic!("migrating test database {} failed: {e}", db.name()));
        db
    }

    /// Like [`TestDatabase::create`] but without migrating (the database does not exist yet).
    pub async fn create_empty(test: &str) -> Self {
        Self::connect(&clickhouse_url(), test).await
    }

    async fn connect(url: &str, test: &str) -> Self {
        let mut config = Self::config(&unique_name(test));
        config.url = url.to_owned();
        let ch = ClickHouse::connect(&config).await.unwrap_or_else(|e| {
            panic!(
                "ClickHouse is needed for this test and is not reachable ({e}).\n\
                 Start the local stack with `deploy/local/stack up` and export its addresses with\n\
                 `eval \"$(deploy/local/stack env)\"`, or run the whole suite with `scripts/test`."
            )
        });
        Self { ch }
    }

    /// Connection settings for a database named `name` on the test server.
    pub fn config(name: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            url: clickhouse_url(),
            database: name.to_owned(),
            ..ClickHouseConfig::default()
        }
    }

    /// The connection (its [`ClickHouse::client`] is bound to this database).
    pub fn clickhouse(&self) -> &ClickHouse {
        &self.ch
    }

    /// The database name.
    pub fn name(&self) -> &str {
        self.ch.database()
    }

    /// Counts rows of a query that returns one `UInt64`, e.g. `SELECT count() FROM events`.
    pub async fn count(&self, sql: &str) -> u64 {
        self.ch
            .client()
            .query(sql)
            .fetch_one::<u64>()
            .await
            .unwrap_or_else(|e| panic!("query failed: {sql}: {e}"))
    }

    /// Drops the database.
    pub async fn drop(self) {
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name());
        self.ch
            .server_client()
            .query(&sql)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("dropping test database failed: {e}"));
    }
}
