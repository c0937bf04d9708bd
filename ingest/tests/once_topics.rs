//! `--once` over several topics (issue 14, defect 2): librdkafka's end-of-partition event names
//! the partition number but not the topic, so an empty topic's partition 0 must not mark
//! partition 0 of a busy topic as read to its end. Real broker and ClickHouse of the local stack.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::sync::Arc;

use abacus_ingest::{IngestConfig, KafkaConfig, Metrics, RunOptions};
use abacus_testkit::kafka::{create_topic, produce};
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};

fn event(i: usize) -> Vec<u8> {
    format!(
        r#"{{"event_id":"ev-{i}","event_type":"conversion","event_name":"purchase","event_value":{}.5,"user_id":"user-{}","timestamp":{}}}"#,
        i % 50,
        i % 997,
        1_793_000_000_000u64 + i as u64
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_with_an_empty_and_a_busy_topic_reads_every_message_of_the_busy_one() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let db = TestDatabase::create("once_topics").await;
    // Same partition numbers in both topics: the empty one reaches its end at once.
    let empty = create_topic("once_empty", 3).await;
    let data = create_topic("once_data", 3).await;
    let total = 50_000;
    let messages: Vec<_> = (0..total)
        .map(|i| (format!("user-{}", i % 997), event(i)))
        .collect();
    produce(&data, &messages);

    // Both orders, twice each (the race is with the empty topic's first fetch), each with a
    // fresh group (reads from the beginning).
    let orders = [format!("{empty},{data}"), format!("{data},{empty}")];
    for (round, topics) in orders.iter().cycle().take(4).enumerate() {
        let kafka = KafkaConfig {
            brokers: kafka_brokers(),
            topic: topics.clone(),
            group: unique_name("once_topics"),
            client: BTreeMap::new(),
        };
        let config = IngestConfig {
            batch_rows: 5_000,
            batch_interval_ms: 200,
            ..IngestConfig::default()
        };
        let summary = abacus_ingest::run(
            &kafka,
            &config,
            db.clickhouse().clone(),
            RunOptions { once: true },
            Arc::new(Metrics::default()),
            std::future::pending(),
        )
        .await
        .expect("ingest --once succeeds");
        assert_eq!(
            summary.consumed as usize, total,
            "round {round} (--topic {topics}) stopped before the end of {data}: {summary:?}"
        );
        if round == 0 {
            assert_eq!(summary.inserted as usize, total, "{summary:?}");
        } else {
            // A new group reads everything again; every event is already stored.
            assert_eq!(summary.inserted, 0, "{summary:?}");
            assert_eq!(summary.redelivered + summary.duplicates, total as u64);
        }
        assert_eq!(db.count("SELECT count() FROM events").await as usize, total);
    }
    db.drop().await;
}
