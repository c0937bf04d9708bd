//! Publishes generated messages to Kafka: creates the topic when missing, keys messages by
//! user, honours a rate limit and fails if any message is not acknowledged by the broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::generate::{Generator, Truth};
use crate::LoadgenError;
use abacus_ingest::KafkaConfig;

/// How to publish.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// Partitions of the topic if it has to be created.
    pub partitions: i32,
    /// Messages per second at most (0: unlimited).
    pub rate_limit: u64,
}

#[derive(Default)]
struct Delivery {
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

struct Context(Arc<Delivery>);

impl ClientContext for Context {}

impl ProducerContext for Context {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.0.first_error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Creates `topic` with `partitions` partitions unless it exists.
pub async fn ensure_topic(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
) -> Result<(), LoadgenError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    for (k, v) in &kafka.client {
        config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = config
        .create()
        .map_err(|e| LoadgenError::Kafka(format!("cannot create admin client: {e}")))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .map_err(|e| {
            LoadgenError::Kafka(format!(
                "cannot create topic {topic} on {}: {e}",
                kafka.brokers
            ))
        })?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, partitions, "topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => {
                return Err(LoadgenError::Kafka(format!("cannot create topic {t}: {e}")))
            }
        }
    }
    Ok(())
}

/// Generates and publishes everything `generator` yields, calling `progress(sent)` now and
/// then; returns the ground truth once every message is acknowledged.
pub fn publish(
    kafka: &KafkaConfig,
    topic: &str,
    mut generator: Generator<'_>,
    options: &PublishOptions,
    progress: &dyn Fn(u64),
) -> Result<Truth, LoadgenError> {
    let delivery = Arc::new(Delivery::default());
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("linger.ms", "50")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .set("compression.type", "lz4");
    for (k, v) in &kafka.client {
        config.set(k, v);
    }
    config.set("enable.idempotence", "false");
    let producer: ThreadedProducer<Context> = config
        .create_with_context(Context(delivery.clone()))
        .map_err(|e| {
            LoadgenError::Kafka(format!("cannot create producer for {}: {e}", kafka.brokers))
        })?;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut send = |key: &str, payload: &[u8]| -> Result<(), LoadgenError> {
        if options.rate_limit > 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / options.rate_limit as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => {
                    return Err(LoadgenError::Kafka(format!(
                        "cannot publish to {topic}: {e}"
                    )))
                }
            }
        }
        sent += 1;
        if sent % 10_000 == 0 {
            progress(sent);
        }
        Ok(())
    };
    while let Some(messages) = generator.next_user() {
        for m in &messages {
            send(&m.key, &m.payload)?;
        }
    }
    for m in generator.finish() {
        send(&m.key, &m.payload)?;
    }
    progress(sent);
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e| LoadgenError::Kafka(format!("messages not acknowledged within 300 s: {e}")))?;
    let failed = delivery.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = delivery
            .first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        return Err(LoadgenError::Kafka(format!(
            "{failed} messages were not delivered (first error: {first})"
        )));
    }
    Ok(generator.truth().clone())
}
