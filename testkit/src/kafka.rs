//! Kafka helpers for tests: a fresh topic per test and a fast producer.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::{kafka_brokers, unique_name};

/// Creates a topic named after `test` (random suffix) with `partitions` partitions and
/// returns its name.
///
/// # Panics
/// When the broker does not answer (with instructions to start it).
pub async fn create_topic(test: &str, partitions: i32) -> String {
    let name = unique_name(test);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka_brokers())
        .create()
        .expect("admin client");
    let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
    let result = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await;
    match result {
        Ok(results) => {
            for r in results {
                r.unwrap_or_else(|(t, e)| panic!("creating topic {t} failed: {e}"));
            }
        }
        Err(e) => panic!(
            "Kafka is needed for this test and is not reachable at {} ({e}).\n\
             Start the local stack with `deploy/local/stack up` and `eval \"$(deploy/local/stack env)\"`,\n\
             or run the whole suite with `scripts/test`.",
            kafka_brokers()
        ),
    }
    name
}

/// Publishes `(key, payload)` messages to `topic` of the test broker and waits until every
/// one is acknowledged.
///
/// # Panics
/// When a message cannot be delivered.
pub fn produce(topic: &str, messages: &[(String, Vec<u8>)]) {
    produce_to(&kafka_brokers(), topic, messages);
}

/// [`produce`] to the cluster at `brokers` (e.g. a `rdkafka::mocking::MockCluster`).
///
/// # Panics
/// When a message cannot be delivered.
pub fn produce_to(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.max.bytes", "10000000")
        .set("compression.type", "lz4")
        .create()
        .expect("producer");
    for (key, payload) in messages {
        let mut record = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    if matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ) {
                        std::thread::sleep(Duration::from_millis(5));
                        record = r;
                    } else {
                        panic!("producing to {topic} failed: {e}");
                    }
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("all messages delivered");
}
