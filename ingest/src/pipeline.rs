//! Wires ingest together: the consumer thread, the writer task, the metrics endpoint and
//! shutdown. [`run`] is what `abacus ingest` calls.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use abacus_schema::ClickHouse;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::Message;

use crate::config::{IngestConfig, KafkaConfig};
use crate::consumer::{Ack, IngestContext};
use crate::metrics::Metrics;
use crate::sink::{Batch, Retry, Sink};
use crate::IngestError;

/// How long `--once` waits for a first partition assignment before failing.
const ONCE_ASSIGN_TIMEOUT: Duration = Duration::from_secs(60);

/// How often the consumer loop checks for stalled partitions.
const STALL_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Options of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop once every assigned partition is read to its end (as of assignment).
    pub once: bool,
}

/// Totals of one run (also exposed as metrics while it runs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages read.
    pub consumed: u64,
    /// Events inserted.
    pub inserted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Redeliveries of already stored messages skipped.
    pub redelivered: u64,
    /// Messages quarantined.
    pub quarantined: u64,
}

impl Summary {
    fn of(m: &Metrics) -> Self {
        Self {
            consumed: m.consumed.get(),
            inserted: m.inserted.get(),
            duplicates: m.duplicates.get(),
            redelivered: m.redelivered.get(),
            quarantined: m.rejected_total(),
        }
    }
}

/// librdkafka fetch settings ingest uses unless `[kafka.client]` overrides them.
///
/// librdkafka (≥ 2.1) stops fetching a partition for `fetch.queue.backoff.ms` (default
/// 1000 ms) whenever its local queue holds `queued.min.messages` (default 100,000) messages;
/// with large producer batches that happens at every fetch, and a consumer that keeps up
/// spends most of its time waiting (on the local stack: 117k messages/s read with the
/// defaults, 900k/s with these). The memory bound (`queued.max.messages.kbytes`) is unchanged;
/// the queue is only refilled sooner. A shorter `fetch.wait.max.ms` (default 500) lets the
/// broker answer a fetch sooner when a partition has little new data.
pub const FETCH_DEFAULTS: &[(&str, &str)] = &[
    ("fetch.queue.backoff.ms", "10"),
    ("fetch.wait.max.ms", "100"),
];

/// The librdkafka configuration of the ingest consumer: ingest's defaults (overridable), the
/// user's `[kafka.client]` settings, then the settings ingest's guarantees depend on (which
/// the user cannot override).
///
/// The consumer group protocol is librdkafka's default, `classic` (any Kafka ≥ 0.10, Redpanda,
/// MSK); `"group.protocol" = "consumer"` in `[kafka.client]` selects KIP-848 (brokers ≥ 4.0),
/// where the broker sets the session timeout, so ingest's default for it is left out.
pub fn consumer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &kafka.group)
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "5000");
    let kip848 = kafka
        .client
        .get("group.protocol")
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("consumer"));
    if !kip848 {
        config.set("session.timeout.ms", "30000");
    }
    for (key, value) in FETCH_DEFAULTS {
        config.set(*key, *value);
    }
    for (key, value) in &kafka.client {
        config.set(key, value);
    }
    config
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
    config
}

/// Runs ingest until `shutdown` resolves (or, with `once`, until caught up), then flushes,
/// commits and returns the totals.
pub async fn run(
    kafka: &KafkaConfig,
    config: &IngestConfig,
    ch: ClickHouse,
    options: RunOptions,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, IngestError> {
    config.validate()?;
    let topics = kafka.topics();
    if topics.is_empty() {
        return Err(IngestError::Config(
            "no topic configured (kafka.topic)".into(),
        ));
    }
    // A read-only user or a missing table fails now, with the cause, not at the first insert.
    crate::sink::check_write_access(&ch).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let cancel = Arc::new(AtomicBool::new(false));
    let (batch_tx, mut batch_rx) =
        tokio::sync::mpsc::channel::<Batch>(config.max_inflight_batches.max(1));
    let (ack_tx, ack_rx) = mpsc::channel::<Ack>();

    let sink = Sink::new(
        ch.clone(),
        Retry {
            initial: Duration::from_millis(config.retry_initial_ms.max(1)),
            max: Duration::from_millis(config.retry_max_ms.max(1)),
        },
        metrics.clone(),
        cancel.clone(),
    )
    .compressing(config.insert_compression.compresses(&ch.config().url));
    let writer = tokio::spawn(async move {
        while let Some(mut batch) = batch_rx.recv().await {
            let result = sink.write(&mut batch).await;
            if ack_tx
                .send(Ack {
                    offsets: batch.offsets,
                    result,
                })
                .is_err()
            {
                break;
            }
        }
    });

    let context = IngestContext::new(
        ch,
        tokio::runtime::Handle::current(),
        config.clone(),
        metrics.clone(),
        stop.clone(),
        batch_tx,
        ack_rx,
    );
    let consumer: BaseConsumer<IngestContext> = consumer_config(kafka)
        .create_with_context(context.with_once(options.once))
        .map_err(|e| {
            IngestError::Kafka(format!("cannot create consumer for {}: {e}", kafka.brokers))
        })?;
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_refs).map_err(|e| {
        IngestError::Kafka(format!("cannot subscribe to {}: {e}", topics.join(",")))
    })?;
    tracing::info!(topics = %topics.join(","), group = %kafka.group, brokers = %kafka.brokers, once = options.once, "ingest started");

    let progress_every = Duration::from_secs(config.progress_interval_secs.max(1));
    let shutdown_timeout = Duration::from_secs(config.shutdown_timeout_secs.max(1));
    let thread_stop = stop.clone();
    let thread_metrics = metrics.clone();
    let once = options.once;
    // One topic subscribed by name (not a `^` pattern): every message is of that topic.
    let single_topic = match topics.as_slice() {
        [topic] if !topic.starts_with('^') => Some(topic.clone()),
        _ => None,
    };
    let consumer_thread = tokio::task::spawn_blocking(move || {
        consume(
            consumer,
            thread_stop,
            thread_metrics,
            once,
            single_topic,
            progress_every,
            shutdown_timeout,
        )
    });

    tokio::pin!(shutdown);
    tokio::pin!(consumer_thread);
    let result = tokio::select! {
        r = &mut consumer_thread => r,
        () = &mut shutdown => {
            tracing::info!("shutdown requested; flushing and committing");
            stop.store(true, Ordering::Relaxed);
            match tokio::time::timeout(shutdown_timeout + Duration::from_secs(5), &mut consumer_thread).await {
                Ok(r) => r,
                Err(_) => {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(IngestError::ShutdownTimeout(shutdown_timeout.as_secs()));
                }
            }
        }
    };
    cancel.store(true, Ordering::Relaxed);
    writer.abort();
    let outcome = result.map_err(|e| IngestError::Kafka(format!("consumer thread failed: {e}")))?;
    outcome?;
    let summary = Summary::of(&metrics);
    tracing::info!(
        consumed = summary.consumed,
        inserted = summary.inserted,
        duplicates = summary.duplicates,
        redelivered = summary.redelivered,
        quarantined = summary.quarantined,
        cpu_seconds = crate::metrics::process_cpu_seconds().unwrap_or(f64::NAN),
        "ingest stopped"
    );
    Ok(summary)
}

/// The consumer thread's loop. `single_topic`: the topic of every message, when only one is
/// subscribed (then its name is not read from each message).
fn consume(
    consumer: BaseConsumer<IngestContext>,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    once: bool,
    single_topic: Option<String>,
    progress_every: Duration,
    shutdown_timeout: Duration,
) -> Result<(), IngestError> {
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut last_consumed = 0;
    let mut polls = 0u64;
    let mut last_stall_check = Instant::now();
    let ctx = consumer.context();
    let (mut paused, mut backlogged) = (false, false);
    while !stop.load(Ordering::Relaxed) {
        let mut got_message = false;
        // Never hold the lock while polling: rebalance callbacks run inside `poll` and take it.
        // While a due batch waits for room in the writer's backlog no message can be taken:
        // no poll at all at first (see `PAUSE_AFTER`), then, paused, polls that do not wait.
        // The wait is for the writer's acknowledgement instead, below.
        let polled = if backlogged && !paused {
            None
        } else {
            consumer.poll(if paused {
                Duration::ZERO
            } else {
                Duration::from_millis(100)
            })
        };
        let mut shared = ctx.lock();
        match polled {
            Some(Ok(msg)) => {
                got_message = true;
                // librdkafka gives the topic's name as a C string, checked for UTF-8 on each
                // call: not needed when there is one topic.
                let topic = single_topic.as_deref().unwrap_or_else(|| msg.topic());
                ctx.handle(
                    &mut shared,
                    topic,
                    msg.partition(),
                    msg.offset(),
                    msg.payload(),
                );
            }
            // Only `--once` needs to know (and the check may ask the broker).
            Some(Err(KafkaError::PartitionEOF(partition))) if once => {
                ctx.reached_eof(&consumer, &mut shared, partition);
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            None => {}
            Some(Err(e)) => {
                tracing::warn!(error = %e, "kafka consumer error (librdkafka retries by itself)")
            }
        }
        let mut dispatched = false;
        if ctx.batch_due(&shared) || (once && ctx.caught_up(&shared)) {
            dispatched = ctx.try_dispatch(&consumer, &mut shared);
        }
        // Acknowledgements come one per batch: look for them when idle, after a dispatch and
        // every 64 polls, not after every message.
        if !got_message || dispatched || polls % 64 == 0 {
            // Backlogged: wait here for the acknowledgement that frees a slot, so that
            // consumption resumes as soon as ClickHouse has taken a batch.
            let wait = if shared.backlogged() {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            ctx.drain_acks(&consumer, &mut shared, wait, CommitMode::Async);
        }
        (paused, backlogged) = (shared.paused(), shared.backlogged());
        if let Some(e) = shared.failed.take() {
            ctx.commit_durable(&consumer, &shared);
            return Err(e);
        }
        if once {
            if ctx.caught_up(&shared) && shared.batch_is_empty() {
                break;
            }
            if !shared.ever_assigned && started.elapsed() > ONCE_ASSIGN_TIMEOUT {
                return Err(IngestError::Kafka(format!(
                    "no partition was assigned within {}s; does the topic exist and is another consumer of the group holding all partitions?",
                    ONCE_ASSIGN_TIMEOUT.as_secs()
                )));
            }
        }
        // Reading the clock costs more than a message on some machines: look now and then.
        polls += 1;
        if (!got_message || polls % 256 == 0) && last_stall_check.elapsed() >= STALL_CHECK_EVERY {
            last_stall_check = Instant::now();
            if let Some(e) = ctx.check_stalls(&mut shared) {
                ctx.commit_durable(&consumer, &shared);
                return Err(e);
            }
        }
        drop(shared);
        if (!got_message || polls % 256 == 0) && last_progress.elapsed() >= progress_every {
            let consumed = metrics.consumed.get();
            let rate = (consumed - last_consumed) as f64 / last_progress.elapsed().as_secs_f64();
            tracing::info!(
                consumed,
                rate = rate.round() as u64,
                inserted = metrics.inserted.get(),
                duplicates = metrics.duplicates.get(),
                rejected = metrics.rejected_total(),
                lag = metrics.total_lag(),
                "progress"
            );
            last_progress = Instant::now();
            last_consumed = consumed;
        }
    }
    // Flush what was read, wait for ClickHouse, commit synchronously.
    let deadline = Instant::now() + shutdown_timeout;
    let mut shared = ctx.lock();
    let flushed = ctx.flush_all(&consumer, &mut shared, deadline);
    let failed = shared.failed.take();
    drop(shared);
    if !flushed {
        return Err(IngestError::ShutdownTimeout(shutdown_timeout.as_secs()));
    }
    if let Some(e) = failed {
        return Err(e);
    }
    consumer.unsubscribe();
    leave_group(consumer, Instant::now() + shutdown_timeout);
    Ok(())
}

/// Closes the consumer (its partitions are revoked, it leaves the group) and drops it.
///
/// The rdkafka crate's drop does the same, but polls in steps of 100 ms that nothing ends
/// when the close completes: a tenth of a second at the end of every `--once` run. Here the
/// steps are 5 ms. Messages polled meanwhile are not handled and their offsets not committed.
fn leave_group(consumer: BaseConsumer<IngestContext>, deadline: Instant) {
    if let Err(e) = consumer.close_queue() {
        tracing::warn!(error = %e, "could not start leaving the consumer group; closing on drop");
        return;
    }
    while !consumer.closed() {
        if Instant::now() >= deadline {
            tracing::warn!("leaving the consumer group takes long; closing on drop");
            return;
        }
        consumer.poll(Duration::from_millis(5));
    }
    // Closed: the crate's drop would try to close again and log an error that it failed (the
    // drop's other log lines, librdkafka's on destroy, are silenced with it).
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        drop(consumer)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_defaults_yield_to_the_user_but_guarantees_do_not() {
        let mut kafka = KafkaConfig::default();
        let config = consumer_config(&kafka);
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("10"));
        assert_eq!(config.get("fetch.wait.max.ms"), Some("100"));

        kafka
            .client
            .insert("fetch.queue.backoff.ms".into(), "500".into());
        kafka
            .client
            .insert("enable.auto.commit".into(), "true".into());
        let config = consumer_config(&kafka);
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("500"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("enable.partition.eof"), Some("true"));
    }

    #[test]
    fn the_kip848_group_protocol_gets_no_client_session_timeout() {
        let mut kafka = KafkaConfig::default();
        assert_eq!(
            consumer_config(&kafka).get("session.timeout.ms"),
            Some("30000")
        );
        kafka
            .client
            .insert("group.protocol".into(), "consumer".into());
        let config = consumer_config(&kafka);
        assert_eq!(config.get("session.timeout.ms"), None);
        // librdkafka accepts it, and rejects a client session timeout in this mode.
        let consumer: Result<BaseConsumer, _> = config.create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
        let rejected: Result<BaseConsumer, _> =
            config.clone().set("session.timeout.ms", "30000").create();
        assert!(rejected.is_err());
    }
}
