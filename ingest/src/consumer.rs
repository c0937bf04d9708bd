//! The Kafka side of ingest: one consumer thread that polls, validates, dedupes and batches,
//! and hands batches to the writer task; offsets are committed only when the writer reports
//! that a batch is durable in ClickHouse.
//!
//! All mutable state lives in [`Shared`] behind one mutex owned by the consumer's context, so
//! the rebalance callbacks (which librdkafka runs inside `poll`) can flush in-flight work for
//! revoked partitions and rebuild dedupe state for assigned ones before the group moves on:
//! a partition's new owner starts only after the old owner has written and committed what it
//! read, and reads the stored state from ClickHouse.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use abacus_schema::ClickHouse;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;

use crate::batch::{Batch, Limits, Message, Settled};
use crate::config::IngestConfig;
use crate::metrics::Metrics;
use crate::sink::Written;
use crate::state::{rebuild, PartitionState};
use crate::IngestError;

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
    paused: bool,
    /// Set when a batch could not be written (shutdown during an outage).
    pub failed: Option<IngestError>,
    /// Whether any assignment happened (for `--once`).
    pub ever_assigned: bool,
    /// Messages handled so far, and at the last look at the clock: reading the clock costs
    /// more than handling a message on some machines, so the time (for dedupe and the batch
    /// interval) is read every [`CLOCK_EVERY`] messages and whenever the consumer is idle.
    handled: u64,
    clock_checked_at: Cell<u64>,
    now_secs: Cell<i64>,
    /// Emptied batch buffers the writer gave back (no page faults, no growth copies).
    spare_buffers: Vec<Vec<u8>>,
}

/// See [`Shared::handled`].
const CLOCK_EVERY: u64 = 64;

fn epoch_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Shared {
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
                batch: Batch::default(),
                batch_tx,
                ack_rx,
                inflight: 0,
                paused: false,
                failed: None,
                ever_assigned: false,
                handled: 0,
                clock_checked_at: Cell::new(0),
                now_secs: Cell::new(epoch_secs()),
                spare_buffers: Vec::new(),
            }),
            ch,
            runtime,
            limits: Limits::of(&config),
            config,
            metrics,
            stop,
        }
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
        let msg = Message {
            topic,
            partition,
            offset,
            payload,
        };
        shared.handled += 1;
        let now = shared.now_secs.get();
        shared
            .batch
            .add(&mut owned.state, msg, now, self.limits, &self.metrics);
        if owned.state.dedupe.evicted_early() != owned.warned_evicted {
            warn_evictions(owned, now);
        }
    }

    /// The per-partition dedupe cap when `partitions` are owned (`dedupe_max_ids`, lowered to
    /// keep the process within `dedupe_max_bytes`).
    fn dedupe_cap(&self, partitions: usize) -> usize {
        crate::dedupe::cap_for(
            self.config.dedupe_max_ids,
            self.config.dedupe_max_bytes,
            partitions,
        )
    }

    /// Applies the cap for the partitions owned now to every dedupe set (shrinking sets when
    /// more partitions arrived, raising the cap when some left).
    fn apply_dedupe_caps(&self, shared: &mut Shared) {
        let partitions = shared.owned.len();
        let cap = self.dedupe_cap(partitions);
        for owned in &mut shared.owned {
            if owned.state.dedupe.max_ids() == cap {
                continue;
            }
            let evicted = owned.state.dedupe.evicted_early();
            owned.state.dedupe.set_max_ids(cap);
            let forced_out = owned.state.dedupe.evicted_early() - evicted;
            self.metrics.dedupe_evicted_early.add(forced_out);
            owned.warned_evicted += forced_out;
            tracing::info!(
                topic = %owned.topic,
                partition = owned.partition,
                dedupe_max_ids = cap,
                owned_partitions = partitions,
                forgotten = forced_out,
                "dedupe cap of the partition set for the process-wide bound (dedupe_max_bytes)"
            );
        }
    }

    /// Whether the current batch should go to the writer now. Also refreshes the clock (see
    /// [`Shared::handled`]): the consumer loop calls this after every poll.
    pub fn batch_due(&self, shared: &Shared) -> bool {
        let since = shared.handled - shared.clock_checked_at.get();
        let look = since == 0 || since >= CLOCK_EVERY;
        if look {
            shared.clock_checked_at.set(shared.handled);
            shared.now_secs.set(epoch_secs());
        }
        let b = &shared.batch;
        !b.is_empty()
            && (b.rows() >= self.config.batch_rows
                || b.bytes >= self.config.batch_bytes
                || (look
                    && b.started.is_some_and(|t| {
                        t.elapsed() >= Duration::from_millis(self.config.batch_interval_ms)
                    })))
    }

    /// Hands the current batch to the writer if there is room; otherwise pauses consumption
    /// until an acknowledgement frees a slot. Returns whether the batch was handed over.
    pub fn try_dispatch(&self, consumer: &BaseConsumer<Self>, shared: &mut Shared) -> bool {
        if shared.batch.is_empty() {
            return true;
        }
        if shared.inflight >= self.config.max_inflight_batches.max(1) {
            self.pause(consumer, shared);
            return false;
        }
        let capacity = shared.batch.events.buf.len();
        let batch = std::mem::take(&mut shared.batch);
        // The next batch writes into a buffer the writer gave back, or one as large as this.
        shared.batch.events.buf = shared
            .spare_buffers
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(capacity));
        match shared.batch_tx.try_send(batch) {
            Ok(()) => {
                shared.inflight += 1;
                true
            }
            Err(
                tokio::sync::mpsc::error::TrySendError::Full(batch)
                | tokio::sync::mpsc::error::TrySendError::Closed(batch),
            ) => {
                shared.batch = batch;
                self.pause(consumer, shared);
                false
            }
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
                let mut tpl = TopicPartitionList::new();
                for settled in &ack.offsets {
                    if shared
                        .find_owned(&settled.topic, settled.partition)
                        .is_some()
                    {
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
                tracing::error!(error = %e, "batch not written; its offsets stay uncommitted and will be redelivered");
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

    /// Records that the consumer reached the end of partition `partition` (of every
    /// subscribed topic: librdkafka's end-of-partition event does not name the topic).
    pub fn reached_eof(&self, shared: &mut Shared, partition: i32) {
        for owned in &mut shared.owned {
            if owned.partition == partition {
                owned.at_eof = true;
            }
        }
    }

    /// Whether `--once` is complete: something was assigned and the consumer reported the end
    /// of every owned partition after its last message.
    pub fn caught_up(&self, shared: &Shared) -> bool {
        shared.ever_assigned && !shared.owned.is_empty() && shared.owned.iter().all(|o| o.at_eof)
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let timeout = Duration::from_secs(10);
        let committed = consumer
            .committed_offsets(tpl.clone(), timeout)
            .unwrap_or_else(|_| tpl.clone());
        let partitions = {
            let mut shared = self.lock();
            let new = tpl
                .elements()
                .iter()
                .filter(|e| shared.find_owned(e.topic(), e.partition()).is_none())
                .count();
            shared.owned.len() + new
        };
        let cap = self.dedupe_cap(partitions);
        for elem in committed.elements() {
            let (topic, partition) = (elem.topic().to_owned(), elem.partition());
            // Without a committed offset the group starts at the beginning (auto.offset.reset
            // = earliest); offsets below the log start are simply never delivered.
            let start = match elem.offset() {
                Offset::Offset(n) => n,
                _ => 0,
            };
            let mut attempt = 0;
            let state = loop {
                let built = self.runtime.block_on(rebuild(
                    &self.ch,
                    &topic,
                    partition,
                    start,
                    self.config.dedupe_window_secs,
                    cap,
                ));
                match built {
                    Ok(state) => break Some(state),
                    Err(e) if !self.stop.load(Ordering::Relaxed) => {
                        let delay = Duration::from_millis(
                            (self.config.retry_initial_ms << attempt.min(6))
                                .min(self.config.retry_max_ms),
                        );
                        tracing::warn!(topic, partition, error = %e, "cannot rebuild dedupe state from clickhouse; retrying");
                        std::thread::sleep(delay);
                        attempt += 1;
                    }
                    Err(_) => break None,
                }
            };
            let Some(state) = state else { continue };
            tracing::info!(
                topic,
                partition,
                committed = start,
                remembered_ids = state.dedupe.len(),
                already_stored = state.stored.len(),
                "partition assigned"
            );
            let mut shared = self.lock();
            let owned = Owned {
                topic,
                partition,
                state,
                at_eof: false,
                warned_evicted: 0,
                warned_at: None,
            };
            match shared.find_owned(&owned.topic, partition) {
                Some(i) => shared.owned[i] = owned,
                None => shared.owned.push(owned),
            }
        }
        let mut shared = self.lock();
        self.apply_dedupe_caps(&mut shared);
        shared.ever_assigned = true;
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let deadline =
            Instant::now() + Duration::from_secs(self.config.shutdown_timeout_secs.max(1));
        let mut shared = self.lock();
        if !self.flush_all(consumer, &mut shared, deadline) {
            tracing::error!("could not write in-flight batches before giving up partitions; they will be redelivered to the new owner");
        }
        shared.paused = false;
        for elem in tpl.elements() {
            let (topic, partition) = (elem.topic(), elem.partition());
            shared
                .owned
                .retain(|o| !(o.partition == partition && o.topic == topic));
            self.metrics.clear_lag(topic, partition);
            tracing::info!(topic, partition, "partition revoked");
        }
        self.apply_dedupe_caps(&mut shared);
    }
}

/// Warns (at most once a minute per partition) that the dedupe cap forgets ids early.
fn warn_evictions(owned: &mut Owned, now: i64) {
    if owned
        .warned_at
        .is_some_and(|t| t.elapsed() < EVICTION_WARNING_EVERY)
    {
        return;
    }
    let dedupe = &owned.state.dedupe;
    let evicted = dedupe.evicted_early() - owned.warned_evicted;
    tracing::warn!(
        topic = %owned.topic,
        partition = owned.partition,
        dedupe_max_ids = dedupe.max_ids(),
        evicted_early = evicted,
        remembered_secs = dedupe.oldest_remembered().map_or(0, |t| (now - t).max(0)),
        "dedupe cap reached: the oldest event ids are forgotten before dedupe_window_secs; \
         resends older than remembered_secs are accepted again (counted in \
         abacus_ingest_possible_duplicates_total while the filter still knows them). Raise \
         dedupe_max_ids or dedupe_max_bytes, or run more ingest processes"
    );
    owned.warned_evicted = dedupe.evicted_early();
    owned.warned_at = Some(Instant::now());
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
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0
                    && p.consumer_lag >= 0
                    && self.lock().find_owned(topic, *partition).is_some()
                {
                    self.metrics.set_lag(topic, *partition, p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for IngestContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.revoke(consumer, tpl);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => self.assign(consumer, tpl),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::error!(error = %e, "rebalance failed"),
        }
    }
}
