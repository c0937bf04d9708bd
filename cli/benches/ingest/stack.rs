//! The ingest benches' use of the local stack: settings from the environment, the `abacus`
//! binary pointed at a database and a topic, events produced for a bench, the topic deleted.

use std::process::Command;

use abacus_testkit::kafka_brokers;
use rdkafka::ClientConfig;

/// The setting `name` from the environment, or `default` when unset or not a `T`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `abacus` binary with ClickHouse database `db`, Kafka topic `topic` and group `group`.
pub fn abacus(db: &str, topic: &str, group: &str) -> Command {
    abacus_under(env!("CARGO_BIN_EXE_abacus"), db, topic, group)
}

/// `program` (the `abacus` binary, or a tool that runs it, such as valgrind) with the
/// environment of [`abacus`].
pub fn abacus_under(program: &str, db: &str, topic: &str, group: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
        .env("ABACUS_CLICKHOUSE_DATABASE", db)
        .env("ABACUS_KAFKA_BROKERS", kafka_brokers())
        .env("ABACUS_KAFKA_TOPIC", topic)
        .env("ABACUS_KAFKA_GROUP", group)
        .env("RUST_LOG", "warn");
    cmd
}

/// Produces `events` events of the example experiments to `topic` (no duplicates, malformed or
/// late ones) with `abacus produce`; returns how many messages were sent.
pub fn produce(db: &str, topic: &str, events: u64) -> u64 {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");
    let out = abacus(db, topic, "unused")
        .args([
            "produce",
            "--experiments",
            examples,
            "--users",
            "100000000",
            "--quiet",
            "--json",
        ])
        .args([
            "--events",
            &events.to_string(),
            "--duplicates",
            "0",
            "--malformed",
            "0",
            "--late",
            "0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    truth["messages"].as_u64().unwrap()
}

/// Deletes a bench's topic (a million events take ~400 MB of the broker's disk).
pub async fn delete_topic(topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .create()
        .unwrap();
    if let Err(e) = admin.delete_topics(&[topic], &AdminOptions::new()).await {
        eprintln!("could not delete topic {topic}: {e}");
    }
}
