//! Integration tests of ingest against the local stack's real Kafka broker and ClickHouse.
//! Each test uses its own topic and database.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::sync::Arc;

use abacus_ingest::{IngestConfig, InsertCompression, KafkaConfig, Metrics, RunOptions, Summary};
use abacus_testkit::kafka::{create_topic, produce};
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};

fn kafka(topic: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: kafka_brokers(),
        topic: topic.to_owned(),
        group: unique_name("group"),
        client: BTreeMap::new(),
    }
}

fn fast_config() -> IngestConfig {
    IngestConfig {
        batch_rows: 5_000,
        batch_interval_ms: 200,
        ..IngestConfig::default()
    }
}

async fn ingest_once(db: &TestDatabase, kafka: &KafkaConfig, config: &IngestConfig) -> Summary {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    abacus_ingest::run(
        kafka,
        config,
        db.clickhouse().clone(),
        RunOptions { once: true },
        Arc::new(Metrics::default()),
        std::future::pending(),
    )
    .await
    .expect("ingest --once succeeds")
}

fn event(i: usize) -> Vec<u8> {
    let user = format!("user-{}", i % 997);
    if i % 3 == 0 {
        format!(
            r#"{{"event_id":"ev-{i}","event_type":"exposure","experiment_id":"exp","variant":"{}","user_id":"{user}","timestamp":{}}}"#,
            if i % 2 == 0 { "control" } else { "treatment" },
            1_793_000_000_000u64 + i as u64
        )
    } else {
        format!(
            r#"{{"event_id":"ev-{i}","event_type":"conversion","event_name":"purchase","event_value":{}.5,"user_id":"{user}","timestamp":"2026-11-02T10:00:00Z","metadata":{{"region":"eu"}}}}"#,
            i % 50
        )
    }
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_events_are_stored_once_and_malformed_ones_quarantined() {
    let db = TestDatabase::create("ingest_happy_path").await;
    let topic = create_topic("ingest_happy_path", 4).await;
    let unique = 20_000;
    let mut messages = Vec::new();
    let mut malformed = 0;
    for i in 0..unique {
        messages.push((format!("user-{}", i % 997), event(i)));
        if i % 20 == 0 {
            // 5% resent by the producer (same event_id, same key)
            messages.push((format!("user-{}", i % 997), event(i)));
        }
        if i % 100 == 0 {
            // 1% malformed
            messages.push((
                "bad".to_owned(),
                format!("{{\"event_id\":\"bad-{i}\"").into_bytes(),
            ));
            malformed += 1;
        }
    }
    produce(&topic, &messages);

    let kafka = kafka(&topic);
    let summary = ingest_once(&db, &kafka, &fast_config()).await;
    assert_eq!(summary.consumed as usize, messages.len());
    assert_eq!(summary.inserted as usize, unique);
    assert_eq!(summary.duplicates as usize, unique / 20);
    assert_eq!(summary.quarantined, malformed);
    assert_eq!(
        db.count("SELECT count() FROM events").await as usize,
        unique
    );
    assert_eq!(
        db.count("SELECT uniqExact(event_id) FROM events").await as usize,
        unique
    );
    assert_eq!(db.count("SELECT count() FROM quarantine").await, malformed);
    assert_eq!(
        db.count("SELECT count() FROM quarantine WHERE reason = 'invalid_json' AND raw LIKE '{\"event_id\":\"bad-%'").await,
        malformed
    );
    // Lineage and values survive the trip.
    assert_eq!(
        db.count("SELECT count() FROM events WHERE kafka_topic = '' OR kafka_offset < 0")
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT count() FROM events WHERE event_type = 'conversion' AND metadata_values[indexOf(metadata_keys, 'region')] = 'eu'").await as usize,
        unique - unique.div_ceil(3)
    );

    // The same group again: every offset was committed, so nothing is read again.
    let again = ingest_once(&db, &kafka, &fast_config()).await;
    assert_eq!(again.consumed, 0);
    assert_eq!(
        db.count("SELECT count() FROM events").await as usize,
        unique
    );
    db.drop().await;
}

/// A new group re-reads the topic from the beginning (as after a lost offset store): the
/// dedupe state rebuilt from ClickHouse keeps every event single.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rereading_a_topic_with_a_new_group_stores_nothing_twice() {
    let db = TestDatabase::create("ingest_reread").await;
    let topic = create_topic("ingest_reread", 2).await;
    let messages: Vec<_> = (0..3_000)
        .map(|i| (format!("user-{}", i % 97), event(i)))
        .collect();
    produce(&topic, &messages);
    // Once with LZ4 (`auto` leaves it off for this loopback ClickHouse), once without.
    let lz4 = IngestConfig {
        insert_compression: InsertCompression::Lz4,
        ..fast_config()
    };
    let first = ingest_once(&db, &kafka(&topic), &lz4).await;
    assert_eq!(first.inserted, 3_000);
    let second = ingest_once(&db, &kafka(&topic), &fast_config()).await;
    assert_eq!(second.inserted, 0);
    assert_eq!(second.duplicates + second.redelivered, 3_000);
    assert_eq!(db.count("SELECT count() FROM events").await, 3_000);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_input_corpus_lands_in_quarantine_with_reasons() {
    let db = TestDatabase::create("ingest_bad_corpus").await;
    let topic = create_topic("ingest_bad_corpus", 1).await;
    let ok = r#"{"event_id":"good","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250}"#;
    let huge = format!(
        r#"{{"event_id":"huge","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1,"pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("invalid_json", br#"{"event_id":"t1","event_type":"conv"#.to_vec()),
        ("invalid_field", br#"{"event_id":42,"event_type":"conversion","event_name":"p","user_id":"u","timestamp":1}"#.to_vec()),
        ("invalid_field", br#"{"event_id":"t3","event_type":"conversion","event_name":"p","user_id":"u","timestamp":"soon"}"#.to_vec()),
        ("too_large", huge.into_bytes()),
        ("invalid_utf8", vec![0xde, 0xad, 0xbe, 0xef, 0xff, 0x00, 0x7b]),
        ("empty", Vec::new()),
        ("missing_field", br#"{"event_id":"t7","event_type":"exposure","user_id":"u","timestamp":1}"#.to_vec()),
        ("invalid_json", br#"{"event_id":"t8","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1,"event_value":NaN}"#.to_vec()),
        ("invalid_field", br#"{"event_id":"t9","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1,"event_value":"NaN"}"#.to_vec()),
        ("not_an_object", b"[1,2,3]".to_vec()),
        ("accepted", ok.as_bytes().to_vec()),
        // Guards of issue #14: seconds for milliseconds, an absurd value, a repeated metadata
        // key, a lone surrogate, metadata nested past serde's limit.
        ("invalid_field", br#"{"event_id":"t12","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1780000000}"#.to_vec()),
        ("invalid_field", br#"{"event_id":"t13","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"event_value":1.7e308}"#.to_vec()),
        ("invalid_json", br#"{"event_id":"t14","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"metadata":{"a":"1","a":"2"}}"#.to_vec()),
        ("invalid_field", br#"{"event_id":"t15\ud800","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250}"#.to_vec()),
        ("invalid_field", format!(r#"{{"event_id":"t16","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"metadata":{{"k":{}1{}}}}}"#, "[".repeat(200), "]".repeat(200)).into_bytes()),
    ];
    let messages: Vec<_> = corpus
        .iter()
        .map(|(_, p)| ("k".to_owned(), p.clone()))
        .collect();
    produce(&topic, &messages);
    let summary = ingest_once(&db, &kafka(&topic), &fast_config()).await;
    assert_eq!(summary.inserted, 1);
    assert_eq!(summary.quarantined, corpus.len() as u64 - 1);

    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Q {
        kafka_offset: i64,
        reason: String,
        raw_length: u64,
        truncated: u8,
        raw_len: u64,
    }
    let rows: Vec<Q> = db
        .clickhouse()
        .client()
        .query("SELECT kafka_offset, reason, raw_length, truncated, toUInt64(length(raw)) AS raw_len FROM quarantine ORDER BY kafka_offset")
        .fetch_all()
        .await
        .unwrap();
    let expected: Vec<(i64, &str)> = corpus
        .iter()
        .enumerate()
        .filter(|(_, (r, _))| *r != "accepted")
        .map(|(i, (r, _))| (i as i64, *r))
        .collect();
    let got: Vec<(i64, &str)> = rows
        .iter()
        .map(|r| (r.kafka_offset, r.reason.as_str()))
        .collect();
    assert_eq!(got, expected);
    let details: Vec<String> = db
        .clickhouse()
        .client()
        .query("SELECT detail FROM quarantine WHERE kafka_offset >= 11 ORDER BY kafka_offset")
        .fetch_all()
        .await
        .unwrap();
    let needles = [
        "milliseconds",
        "max_abs_event_value",
        "duplicate key \"a\" in `metadata`",
        "invalid escape",
        "`metadata.k` must be a string, got an array",
    ];
    assert_eq!(details.len(), needles.len());
    for (detail, needle) in details.iter().zip(needles) {
        assert!(detail.contains(needle), "{needle:?} not in {detail:?}");
    }
    let huge_row = &rows[3];
    assert_eq!(huge_row.truncated, 1);
    assert!(huge_row.raw_length > 2 << 20);
    assert_eq!(huge_row.raw_len, 64 << 10);
    assert_eq!(
        db.count("SELECT count() FROM events WHERE event_id = 'good'")
            .await,
        1
    );
    db.drop().await;
}
