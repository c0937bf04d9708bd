//! Kafka helpers for tests: a fresh topic per test, a producer that fails the test when a
//! message is not acknowledged, and partition leaders.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::{kafka_brokers, unique_name};

/// Creates a topic named after `test` (random suffix) with `partitions` partitions on the
/// test broker and returns its name.
///
/// # Panics
/// When the broker does not answer (with instructions to start it).
pub async fn create_topic(test: &str, partitions: i32) -> String {
    create_topic_on(&kafka_brokers(), test, partitions, 1, &[]).await
}

/// Creates a topic named after `test` (random suffix) on the cluster at `brokers` with
/// `partitions` partitions, `replication` replicas each and topic `config`
/// (e.g. `("min.insync.replicas", "2")`), and returns its name.
///
/// # Panics
/// When the cluster does not answer (with instructions to start it) or refuses the topic.
pub async fn create_topic_on(
    brokers: &str,
    test: &str,
    partitions: i32,
    replication: i32,
    config: &[(&str, &str)],
) -> String {
    let name = unique_name(test);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let mut topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(replication));
    for (key, value) in config {
        topic = topic.set(key, value);
    }
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
            "Kafka is needed for this test and is not reachable at {brokers} ({e}).\n\
             Start the local stack with `deploy/local/stack up` and `eval \"$(deploy/local/stack env)\"`,\n\
             or run the whole suite with `scripts/test`."
        ),
    }
    name
}

/// Deletes `topic` from the cluster at `brokers` (at the end of a test, like
/// `TestDatabase::drop`: a topic left behind by a failed test harms no other run).
///
/// # Panics
/// When the cluster refuses.
pub async fn delete_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let results = admin
        .delete_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap_or_else(|e| panic!("deleting topic {topic} failed: {e}"));
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("deleting topic {t} failed: {e}"));
    }
}

/// The node id of the leader of `partition` of `topic` in the cluster at `brokers`, as the
/// cluster's metadata says now (`None` while the partition has no leader).
///
/// # Panics
/// When the metadata cannot be fetched or does not know the topic.
pub fn partition_leader(brokers: &str, topic: &str, partition: i32) -> Option<i32> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("metadata client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {topic} from {brokers}: {e}"));
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("the cluster at {brokers} does not know topic {topic}"));
    t.partitions()
        .iter()
        .find(|p| p.id() == partition)
        .map(|p| p.leader())
        .filter(|leader| *leader >= 0)
}

/// Publishes `(key, payload)` messages to `topic` of the test broker and waits until every
/// one is acknowledged.
///
/// # Panics
/// When a message cannot be delivered.
pub fn produce(topic: &str, messages: &[(String, Vec<u8>)]) {
    produce_to(&kafka_brokers(), topic, messages);
}

/// [`produce`] to the cluster at `brokers`.
///
/// # Panics
/// When a message cannot be delivered.
pub fn produce_to(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)]) {
    TestProducer::new(brokers).send_all(topic, messages);
}

/// Counts messages the cluster did not acknowledge (librdkafka reports them in the delivery
/// callback, not when they are queued).
#[derive(Debug, Default)]
struct DeliveryCheck {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCheck {}

impl ProducerContext for DeliveryCheck {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

/// An idempotent producer (acks from all in-sync replicas, retries without duplicates or
/// reordering) that fails the test when a message is not acknowledged. Reuse one for
/// several [`TestProducer::send_all`] calls, e.g. to publish in chunks while ingest runs.
pub struct TestProducer {
    producer: ThreadedProducer<DeliveryCheck>,
}

impl std::fmt::Debug for TestProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProducer").finish_non_exhaustive()
    }
}

impl TestProducer {
    /// A producer for the cluster at `brokers`.
    ///
    /// # Panics
    /// When librdkafka rejects the configuration.
    pub fn new(brokers: &str) -> Self {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("message.max.bytes", "10000000")
            .set("compression.type", "lz4")
            .create_with_context(DeliveryCheck::default())
            .expect("producer");
        Self { producer }
    }

    /// Publishes `(key, payload)` messages to `topic` and waits until every one is
    /// acknowledged.
    ///
    /// # Panics
    /// When a message cannot be delivered within two minutes.
    pub fn send_all(&self, topic: &str, messages: &[(String, Vec<u8>)]) {
        for (key, payload) in messages {
            let mut record = BaseRecord::to(topic)
                .key(key.as_str())
                .payload(payload.as_slice());
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        std::thread::sleep(Duration::from_millis(5));
                        record = returned;
                    }
                    Err((e, _)) => panic!("producing to {topic} failed: {e}"),
                }
            }
        }
        self.producer
            .flush(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("messages to {topic} not acknowledged within 120 s: {e}"));
        let context = self.producer.context();
        let failed = context.failed.load(Ordering::Relaxed);
        assert!(
            failed == 0,
            "{failed} messages to {topic} were not delivered (first error: {})",
            context
                .first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_deref()
                .unwrap_or("?")
        );
    }
}
