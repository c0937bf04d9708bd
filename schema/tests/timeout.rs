//! A query to a server that stops answering (SIGSTOP, as a hung server) fails after
//! `query_timeout_secs` with an error that says so, instead of waiting for ever; the same
//! connection works again once the server runs.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant};

use abacus_schema::{ClickHouse, ClickHouseConfig, SchemaError};
use abacus_testkit::server::PrivateClickHouse;

#[tokio::test]
async fn a_hung_server_fails_the_query_after_the_query_timeout() {
    let server = PrivateClickHouse::start("query_timeout");
    let config = ClickHouseConfig {
        url: server.url(),
        database: "default".into(),
        query_timeout_secs: 2,
        ..ClickHouseConfig::default()
    };
    let ch = ClickHouse::connect(&config).await.unwrap();
    let probe = || async {
        ch.server_client()
            .query("SELECT toUInt8(1)")
            .fetch_one::<u8>()
            .await
    };
    assert_eq!(probe().await.unwrap(), 1);

    server.freeze();
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(60), probe())
        .await
        .expect("the query must fail by itself, long before 60 s")
        .unwrap_err();
    let elapsed = started.elapsed();
    let message = SchemaError::query("probe a frozen server", &err).to_string();
    println!("after {elapsed:?}: {message}");
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(20),
        "{elapsed:?}"
    );
    assert!(
        message.contains("no answer within the query timeout (clickhouse.query_timeout_secs)"),
        "{message}"
    );

    server.thaw();
    assert_eq!(probe().await.unwrap(), 1, "the connection recovers");
}
