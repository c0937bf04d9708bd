//! Exposure logging: an `exposure` event in the ingest event format for each single evaluation
//! of an experiment, published to Kafka keyed by `user_id`, never waited for.
//!
//! - **Deterministic id.** [`event_id`] is derived from (experiment, variant, user, UTC day),
//!   so retries, restarts and several replicas produce the same id and ingest's dedupe keeps one
//!   exposure per user, experiment and day.
//! - **Recently published ids** are remembered in a bounded, sharded set ([`RecentIds`]); an
//!   evaluation whose id is in it is counted as deduplicated and not sent again. An id whose
//!   delivery failed is forgotten so a later evaluation publishes it.
//! - **Never blocks.** The request path only enqueues into librdkafka's bounded queue
//!   (`serve.exposure_queue` messages); a full queue (Kafka slow or down for long) drops the
//!   exposure, counts it by cause and logs a warning line at most every 10 s. Messages waiting
//!   while Kafka is down are delivered when it is back, within `serve.exposure_timeout_ms`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use abacus_assign::design::attr_text;
use abacus_assign::{Context, Experiment};
use abacus_ingest::KafkaConfig;
use chrono::{DateTime, Datelike, Utc};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use sha2::{Digest, Sha256};

use crate::answer::write_str;
use crate::config::ServeConfig;
use crate::metrics::{DropCause, Metrics};
use crate::recent::RecentIds;
use crate::ServeError;

/// The deterministic event id of an exposure and its 64-bit cache key.
///
/// `xp-<yyyymmdd>-<32 hex>`: the hex digits are the first 16 bytes of
/// SHA-256(`experiment \n variant \n user \n yyyy-mm-dd`).
pub fn event_id(
    experiment: &str,
    variant: &str,
    user: &str,
    day: chrono::NaiveDate,
) -> (String, u64) {
    // Built by hand: this runs on every exposure, and chrono's formatting and `format!` cost
    // more than the hash.
    let (y, m, d) = (day.year(), day.month(), day.day());
    let mut dashed = [0u8; 10];
    digits(&mut dashed[..4], y.clamp(0, 9999) as u32);
    dashed[4] = b'-';
    digits(&mut dashed[5..7], m);
    dashed[7] = b'-';
    digits(&mut dashed[8..10], d);
    let mut h = Sha256::new();
    for part in [
        experiment.as_bytes(),
        variant.as_bytes(),
        user.as_bytes(),
        &dashed,
    ] {
        h.update(part);
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    let mut id = String::with_capacity(44);
    id.push_str("xp-");
    for part in [&dashed[..4], &dashed[5..7], &dashed[8..10]] {
        id.extend(part.iter().map(|&b| char::from(b)));
    }
    id.push('-');
    for b in &digest[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    (id, u64::from_le_bytes(key))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `n` as decimal digits filling `out` (zero-padded on the left).
fn digits(out: &mut [u8], mut n: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The cache key of an event id given by a client (first 8 bytes of its SHA-256).
pub fn id_key(event_id: &str) -> u64 {
    let digest = Sha256::digest(event_id.as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(key)
}

/// The exposure event (JSON) of `user` seeing `variant` of `experiment` at `now`, with the
/// context attributes the experiment's `segments` name as metadata. Returns the id, its cache
/// key and the payload.
///
/// The event as ingest reads it (see ingest/src/event.rs), written by hand: byte for byte what
/// serde_json writes for it (a test compares them), without serde's per-field machinery.
pub fn exposure_event(
    experiment: &Experiment,
    variant: &str,
    user: &str,
    context: &Context,
    now: DateTime<Utc>,
) -> (String, u64, Vec<u8>) {
    let (id, key) = event_id(&experiment.id, variant, user, now.date_naive());
    // The experiment's segments, and its randomization unit (the aggregator analyses a
    // cluster-randomized or switchback experiment by the unit's value in the metadata), in
    // name order, each once.
    let mut metadata: Vec<(&str, Cow<'_, str>)> = experiment
        .segments
        .iter()
        .chain(experiment.unit.as_ref())
        .filter_map(|s| context.get(s).map(|v| (s.as_str(), attr_text(v))))
        .collect();
    metadata.sort_unstable_by(|a, b| a.0.cmp(b.0));
    metadata.dedup_by(|a, b| a.0 == b.0);
    let mut payload = Vec::with_capacity(
        160 + experiment.id.len()
            + variant.len()
            + user.len()
            + metadata
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>(),
    );
    payload.extend_from_slice(b"{\"event_id\":");
    write_str(&mut payload, &id);
    payload.extend_from_slice(b",\"event_type\":\"exposure\",\"experiment_id\":");
    write_str(&mut payload, &experiment.id);
    payload.extend_from_slice(b",\"variant\":");
    write_str(&mut payload, variant);
    payload.extend_from_slice(b",\"user_id\":");
    write_str(&mut payload, user);
    payload.extend_from_slice(b",\"timestamp\":");
    payload.extend_from_slice(
        itoa::Buffer::new()
            .format(now.timestamp_millis())
            .as_bytes(),
    );
    if !metadata.is_empty() {
        payload.extend_from_slice(b",\"metadata\":{");
        for (i, (name, value)) in metadata.iter().enumerate() {
            if i > 0 {
                payload.push(b',');
            }
            write_str(&mut payload, name);
            payload.push(b':');
            write_str(&mut payload, value);
        }
        payload.push(b'}');
    }
    payload.push(b'}');
    (id, key, payload)
}

/// Shared by the request path and the producer's delivery callback.
#[derive(Debug)]
struct Shared {
    metrics: Arc<Metrics>,
    recent: RecentIds,
    last_warning: AtomicU64,
}

impl Shared {
    fn dropped(&self, cause: DropCause, detail: &str) {
        self.metrics.dropped(cause, 1);
        let now = Utc::now().timestamp().max(0) as u64;
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 10
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                cause = cause.label(),
                dropped_total = self.metrics.dropped_total(),
                detail,
                "exposures dropped (counted in abacus_serve_exposures_dropped_total; at most one line per 10 s)"
            );
        }
    }
}

struct DeliveryContext(Arc<Shared>);

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, key: usize) {
        match result {
            Ok(_) => self.0.metrics.exposures_published.inc(),
            Err((e, _)) => {
                self.0.recent.remove(key as u64);
                self.0.dropped(DropCause::DeliveryFailed, &e.to_string());
            }
        }
    }
}

/// What happened to one exposure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to the producer.
    Queued,
    /// Published recently (same id): not sent again.
    Deduplicated,
    /// Not published (counted with its cause).
    Dropped(DropCause),
}

/// The exposure publisher.
pub struct Exposures {
    producer: Option<ThreadedProducer<DeliveryContext>>,
    topic: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Exposures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposures")
            .field("enabled", &self.producer.is_some())
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Exposures {
    /// A publisher that publishes nothing: every exposure counts as dropped (`disabled`).
    pub fn disabled(metrics: Arc<Metrics>) -> Self {
        Self {
            producer: None,
            topic: String::new(),
            shared: Arc::new(Shared {
                metrics,
                recent: RecentIds::new(0),
                last_warning: AtomicU64::new(0),
            }),
        }
    }

    /// A publisher to `serve.exposure_topic` (else the first `kafka.topic`) of `kafka`. Creating
    /// it does not connect: the service starts and answers while Kafka is down.
    pub fn new(
        kafka: &KafkaConfig,
        config: &ServeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServeError> {
        let topic = if config.exposure_topic.is_empty() {
            kafka.topics().into_iter().next().unwrap_or_default()
        } else {
            config.exposure_topic.clone()
        };
        if topic.is_empty() {
            return Err(ServeError::Config(
                "no exposure topic: set serve.exposure_topic or kafka.topic".into(),
            ));
        }
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &kafka.brokers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("compression.type", "lz4")
            .set(
                "queue.buffering.max.messages",
                config.exposure_queue.max(1).to_string(),
            )
            .set(
                "message.timeout.ms",
                config.exposure_timeout_ms.max(1).to_string(),
            );
        for (k, v) in &kafka.client {
            client.set(k, v);
        }
        let shared = Arc::new(Shared {
            metrics,
            recent: RecentIds::new(config.exposure_cache),
            last_warning: AtomicU64::new(0),
        });
        let producer = client
            .create_with_context(DeliveryContext(shared.clone()))
            .map_err(|e| ServeError::Kafka(format!("cannot create the exposure producer: {e}")))?;
        Ok(Self {
            producer: Some(producer),
            topic,
            shared,
        })
    }

    /// Publishes the exposure of `user` to `variant` of `experiment` (without waiting).
    pub fn expose(
        &self,
        experiment: &Experiment,
        variant: &str,
        user: &str,
        context: &Context,
        now: DateTime<Utc>,
    ) -> Outcome {
        let (_, key, payload) = exposure_event(experiment, variant, user, context, now);
        self.publish(key, user, &payload)
    }

    /// Publishes an already encoded event keyed by `user` (cache key `key`).
    pub fn publish(&self, key: u64, user: &str, payload: &[u8]) -> Outcome {
        let Some(producer) = &self.producer else {
            self.shared.metrics.dropped(DropCause::Disabled, 1);
            return Outcome::Dropped(DropCause::Disabled);
        };
        if !self.shared.recent.insert(key) {
            self.shared.metrics.exposures_deduplicated.inc();
            return Outcome::Deduplicated;
        }
        let record = BaseRecord::with_opaque_to(&self.topic, key as usize)
            .key(user)
            .payload(payload);
        match producer.send(record) {
            Ok(()) => {
                self.shared.metrics.exposures_queued.inc();
                Outcome::Queued
            }
            Err((e, _)) => {
                self.shared.recent.remove(key);
                let cause = match e {
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                        DropCause::QueueFull
                    }
                    _ => DropCause::ProducerError,
                };
                self.shared.dropped(cause, &e.to_string());
                Outcome::Dropped(cause)
            }
        }
    }

    /// Exposures waiting for Kafka.
    pub fn queue_depth(&self) -> u64 {
        self.producer
            .as_ref()
            .map_or(0, |p| p.in_flight_count().max(0) as u64)
    }

    /// Waits up to `timeout` for queued exposures to be delivered; returns how many are left.
    pub async fn flush(self: &Arc<Self>, timeout: Duration) -> u64 {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(p) = &this.producer {
                let _ = p.flush(timeout);
            }
            this.queue_depth()
        })
        .await
        .unwrap_or(0)
    }
}

#[cfg(test)]
#[path = "exposure_tests.rs"]
mod tests;
