//! The Kafka side of ingest: one consumer thread that polls, validates, dedupes and batches,
//! and hands batches to the writer task; offsets are committed only when the writer reports
//! that a batch is durable in ClickHouse.
//!
//! All mutable state lives in [`Shared`] behind one mutex owned by the consumer's context, so
//! the rebalance callbacks (which librdkafka runs inside `poll`) can flush in-flight work for
//! revoked partitions and rebuild dedupe state for assigned ones before the group moves on:
//! a partition's new owner starts only after the old owner has written and committed what it
//! read, and reads the stored state from ClickHouse (`rebalance.rs`).

use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use abacus_schema::ClickHouse;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;

use crate::batch::{rows_buffer, Batch, Limits, Message, Settled};
use crate::clock::Clock;
use crate::config::IngestConfig;
use crate::metrics::Metrics;
use crate::sink::Written;
use crate::state::PartitionState;
use crate::IngestError;

#[path = "progress.rs"]
mod progress;
#[path = "rebalance.rs"]
mod rebalance;

/// A batch's outcome, sent back from the writer.
#[derive(Debug)]
pub struct Ack {
    /// Offsets the batch settled, per partition.
    pub offsets: Vec<Settled>,
    /// What was written, or why not.
    pub result: Result<Written, IngestError>,
}

/// An owned partition: its dedupe state and bookkeeping.
#[derive(Debug)]
struct Owned {
    topic: String,
    partition: i32,
    state: PartitionState,
    /// Whether the consumer reported reaching the end of the partition since its last message.
    at_eof: bool,
    /// The next offset to read: the committed offset at assignment, then the last message's + 1.
    next_offset: i64,
    /// The committed offset when the partition was assigned (0 when there was none).
    assigned_at: i64,
    /// The offset committed (durable in ClickHouse): the next one the group would read.
    committed: i64,
    /// When `committed` last moved, or nothing waited (the stall guard's clock).
    moved_at: Instant,
    /// The partition's high watermark and the consumer's fetch position as of the last
    /// statistics (-1 before the first): messages the consumer has not fetched yet.
    high_watermark: i64,
    fetch_next: i64,
    /// Whether the partition is reported stalled now.
    stalled: bool,
    /// Early evictions already reported in a warning, and when.
    warned_evicted: u64,
    warned_at: Option<Instant>,
}

/// Least time between two warnings about early dedupe evictions of one partition.
const EVICTION_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Everything the consumer thread and the rebalance callbacks share.
#[derive(Debug)]
pub struct Shared {
    /// Owned partitions (few per process: a linear search, mostly answered by `last_owned`
    /// since messages come in runs per partition).
    owned: Vec<Owned>,
    last_owned: usize,
    batch: Batch,
    batch_tx: tokio::sync::mpsc::Sender<Batch>,
    ack_rx: mpsc::Receiver<Ack>,
    inflight: usize,
    /// Since when a due batch has waited for room in the writer's backlog (see [`PAUSE_AFTER`]).
    backlogged_since: Option<Instant>,
    paused: bool,
    /// Set when a batch could not be written (shutdown during an outage).
    pub failed: Option<IngestError>,
    /// Whether any assignment happened (for `--once`).
    pub ever_assigned: bool,
    /// When to read the clock (see [`Clock`]).
    clock: Clock,
    /// Emptied batch buffers the writer gave back (no page faults, no growth copies).
    spare_buffers: Vec<Vec<u8>>,
}

/// How long a due batch waits for room in the writer's backlog, the consumer not polling
/// (librdkafka keeps fetching ahead, up to its queue limits), before the partitions are
/// paused. Pausing makes librdkafka drop every message it fetched ahead and fetch them again
/// on resume (decompressed twice: about 5% of ingest's CPU when it paused at each batch), so
/// it is kept for waits longer than ClickHouse takes for a batch: an outage, an overloaded
/// server. While paused the consumer polls again (rebalances are served within 100 ms).
pub const PAUSE_AFTER: Duration = Duration::from_secs(2);

impl Shared {
    /// Whether consumption is paused because the writer's backlog is full.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Whether a due batch waits for room in the writer's backlog (paused or not yet): no
    /// message can be taken now.
    pub fn backlogged(&self) -> bool {
        self.paused || self.backlogged_since.is_some()
    }

    /// Whether nothing is buffered or in flight.
    pub fn batch_is_empty(&self) -> bool {
        self.batch.is_empty() && self.inflight == 0
    }

    /// The index of `(topic, partition)` in `owned`.
    fn find_owned(&mut self, topic: &str, partition: i32) -> Option<usize> {
        let hit = |o: &Owned| o.partition == partition && o.topic == topic;
        if self.owned.get(self.last_owned).is_some_and(hit) {
            return Some(self.last_owned);
        }
        let i = self.owned.iter().position(hit)?;
        self.last_owned = i;
        Some(i)
    }
}

/// The consumer's context: rebalance and statistics callbacks.
#[derive(Debug)]
pub struct IngestContext {
    shared: Mutex<Shared>,
    ch: ClickHouse,
    runtime: Handle,
    config: IngestConfig,
    limits: Limits,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    /// `--once`: a stalled partition ends the run.
    once: bool,
}

impl IngestContext {
    /// Builds the context; `batch_tx`/`ack_rx` connect it to the writer task.
    pub fn new(
        ch: ClickHouse,
        runtime: Handle,
        config: IngestConfig,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
        batch_tx: tokio::sync::mpsc::Sender<Batch>,
        ack_rx: mpsc::Receiver<Ack>,
    ) -> Self {
        Self {
            shared: Mutex::new(Shared {
                owned: Vec::new(),
                last_owned: 0,
                batch: Batch::writing_into(rows_buffer(config.batch_bytes, 0)),
                batch_tx,
                ack_rx,
                inflight: 0,
                backlogged_since: None,
                paused: false,
                failed: None,
                ever_assigned: false,
                clock: Clock::new(),
                spare_buffers: Vec::new(),
            }),
            ch,
            runtime,
            limits: Limits::of(&config),
            config,
            metrics,
            stop,
            once: false,
        }
    }

    /// For `--once`: a stalled partition ends the run with [`IngestError::Stalled`].
    pub fn with_once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }

    /// Locks the shared state (a poisoned lock means a callback panicked: keep going with it).
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one message (validate, dedupe, add to the batch).
    pub fn handle(
        &self,
        shared: &mut Shared,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: Option<&[u8]>,
    ) {
        self.metrics.consumed.inc();
        let Some(i) = shared.find_owned(topic, partition) else {
            // librdkafka delivers only assigned partitions; a straggler after revocation is
            // left uncommitted and will be read again by the owner.
            tracing::debug!(
                topic,
                partition,
                offset,
                "message for a partition not owned; skipped"
            );
            return;
        };
        let owned = &mut shared.owned[i];
        owned.at_eof = false;
        owned.next_offset = offset + 1;
        let msg = Message {
            topic,
            partition,
            offset,
            payload,
        };
        shared.clock.tick();
        let now = shared.clock.now_secs();
        shared
            .batch
            .add(&mut owned.state, msg, now, self.limits, &self.metrics);
        if owned.state.dedupe.evicted_early() != owned.warned_evicted {
            rebalance::warn_evictions(owned, now);
        }
    }

    /// Whether the current batch should go to the writer now. Also refreshes the clock (see
    /// [`Clock`]): the consumer loop calls this after every poll.
    pub fn batch_due(&self, shared: &Shared) -> bool {
        let look = shared.clock.look();
        let b = &shared.batch;
        !b.is_empty()
            && (b.rows() >= self.config.batch_rows
                || b.bytes >= self.config.batch_bytes
                || (look
                    && b.started.is_some_and(|t| {
                        t.elapsed() >= Duration::from_millis(self.config.batch_interval_ms)
                    })))
    }

    /// Hands the current batch to the writer if there is room; otherwise the batch waits (the
    /// consumer stops polling), and after [`PAUSE_AFTER`] consumption is paused until an
    /// acknowledgement frees a slot. Returns whether the batch was handed over.
    pub fn try_dispatch(&self, consumer: &BaseConsumer<Self>, shared: &mut Shared) -> bool {
        if shared.batch.is_empty() {
            return true;
        }
        if shared.inflight >= self.config.max_inflight_batches.max(1) {
            self.backlogged(consumer, shared);
            return false;
        }
        let (bytes, rows) = (shared.batch.events.buf.len(), shared.batch.events.len());
        let batch = std::mem::take(&mut shared.batch);
        // The next batch writes into a buffer the writer gave back, or a new one with room for
        // more than this one held; its row list is as long as this one's from the start.
        shared.batch.events.buf = shared
            .spare_buffers
            .pop()
            .unwrap_or_else(|| rows_buffer(self.config.batch_bytes, bytes));
        shared.batch.events.rows.reserve_exact(rows);
        match shared.batch_tx.try_send(batch) {
            Ok(()) => {
                shared.inflight += 1;
                shared.backlogged_since = None;
                true
            }
            Err(
                tokio::sync::mpsc::error::TrySendError::Full(batch)
                | tokio::sync::mpsc::error::TrySendError::Closed(batch),
            ) => {
                let unused = std::mem::replace(&mut shared.batch, batch);
                shared.spare_buffers.push(unused.events.buf);
                self.backlogged(consumer, shared);
                false
            }
        }
    }

    /// A due batch found no room in the writer's backlog: note since when, and pause
    /// consumption once that is [`PAUSE_AFTER`] ago.
    fn backlogged(&self, consumer: &BaseConsumer<Self>, shared: &mut Shared) {
        let since = *shared.backlogged_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= PAUSE_AFTER {
            self.pause(consumer, shared);
        }
    }

    fn pause(&self, consumer: &BaseConsumer<Self>, shared: &mut Shared) {
        if shared.paused {
            return;
        }
        if let Ok(assignment) = consumer.assignment() {
            if consumer.pause(&assignment).is_ok() {
                shared.paused = true;
                tracing::info!(
                    inflight = shared.inflight,
                    "writer backlog full; consumption paused until clickhouse catches up"
                );
            }
        }
    }

    /// Processes acknowledgements that arrived (commits their offsets), waiting up to `wait`
    /// for the first one. Resumes consumption when the backlog has room again.
    pub fn drain_acks(
        &self,
        consumer: &BaseConsumer<Self>,
        shared: &mut Shared,
        wait: Duration,
        mode: CommitMode,
    ) {
        let mut first = true;
        while shared.inflight > 0 {
            let ack = if first && !wait.is_zero() {
                shared.ack_rx.recv_timeout(wait).ok()
            } else {
                shared.ack_rx.try_recv().ok()
            };
            first = false;
            let Some(ack) = ack else { break };
            shared.inflight -= 1;
            self.settle(consumer, shared, ack, mode);
        }
        if shared.paused && shared.inflight < self.config.max_inflight_batches.max(1) {
            if let Ok(assignment) = consumer.assignment() {
                if consumer.resume(&assignment).is_ok() {
                    shared.paused = false;
                    tracing::info!("consumption resumed");
                }
            }
        }
    }

    fn settle(
        &self,
        consumer: &BaseConsumer<Self>,
        shared: &mut Shared,
        ack: Ack,
        mode: CommitMode,
    ) {
        match ack.result {
            Ok(mut written) => {
                if written.spare.capacity() > 0
                    && shared.spare_buffers.len() <= self.config.max_inflight_batches
                {
                    shared
                        .spare_buffers
                        .push(std::mem::take(&mut written.spare));
                }
                self.metrics.inserted.add(written.inserted);
                self.metrics.redelivered.add(written.already_stored);
                for (slot, id) in &written.refused {
                    let settled = &ack.offsets[*slot];
                    if let Some(i) = shared.find_owned(&settled.topic, settled.partition) {
                        shared.owned[i].state.dedupe.forget(*id);
                    }
                }
                if shared.failed.is_some() {
                    // An earlier batch failed: committing this one would skip its offsets.
                    return;
                }
                let mut tpl = TopicPartitionList::new();
                let now = Instant::now();
                for settled in &ack.offsets {
                    if let Some(i) = shared.find_owned(&settled.topic, settled.partition) {
                        let owned = &mut shared.owned[i];
                        owned.committed = owned.committed.max(settled.last + 1);
                        owned.moved_at = now;
                        let _ = tpl.add_partition_offset(
                            &settled.topic,
                            settled.partition,
                            Offset::Offset(settled.last + 1),
                        );
                    }
                }
                if tpl.count() > 0 {
                    if let Err(e) = consumer.commit(&tpl, mode) {
                        self.metrics.commit_failures.inc();
                        tracing::warn!(error = %e, "offset commit failed; the batch will be redelivered and deduplicated");
                    }
                }
            }
            Err(e) => {
                if e.is_permanent() {
                    tracing::error!(error = %e, "batch not written and ingest stops: retrying cannot fix this; what was written before is committed, the rest is read again once the cause is fixed");
                } else {
                    tracing::error!(error = %e, "batch not written; its offsets stay uncommitted and will be redelivered");
                }
                shared.failed.get_or_insert(e);
            }
        }
    }

    /// Sends the current batch and waits until every batch in flight is acknowledged and
    /// committed (revocation and shutdown). Gives up at `deadline`.
    pub fn flush_all(
        &self,
        consumer: &BaseConsumer<Self>,
        shared: &mut Shared,
        deadline: Instant,
    ) -> bool {
        loop {
            let dispatched = self.try_dispatch(consumer, shared);
            if dispatched && shared.inflight == 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.drain_acks(
                consumer,
                shared,
                (deadline - now).min(Duration::from_millis(200)),
                CommitMode::Sync,
            );
        }
    }
}

impl ClientContext for IngestContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        // End of partition is expected (`--once` relies on it), not an error.
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        if matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::debug!(%reason, "end of partition");
        } else {
            tracing::error!(%error, %reason, "kafka client error");
        }
    }

    fn stats(&self, statistics: Statistics) {
        let mut shared = self.lock();
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 {
                    continue;
                }
                let Some(i) = shared.find_owned(topic, *partition) else {
                    continue;
                };
                shared.owned[i].high_watermark = p.hi_offset;
                shared.owned[i].fetch_next = p.next_offset;
                if p.consumer_lag >= 0 {
                    self.metrics.set_lag(topic, *partition, p.consumer_lag);
                }
            }
        }
    }
}
