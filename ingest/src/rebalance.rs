//! Partition assignment and revocation for [`IngestContext`]: rebuilding a partition's state
//! from ClickHouse when it arrives, flushing and committing what was read before it leaves, and
//! keeping the dedupe sets of all owned partitions within the process-wide bound.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{Offset, TopicPartitionList};

use super::{IngestContext, Owned, Shared, EVICTION_WARNING_EVERY};
use crate::state::rebuild;
use crate::IngestError;

impl IngestContext {
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
            let since = Instant::now();
            let mut reported = false;
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
                    Err(e) if e.is_permanent() => {
                        tracing::error!(topic, partition, error = %e, "cannot rebuild dedupe state from clickhouse, and retrying cannot fix it; ingest stops");
                        self.lock().failed.get_or_insert(e);
                        break None;
                    }
                    Err(e)
                        if since.elapsed().as_secs() >= self.config.stall_timeout_secs
                            && !reported =>
                    {
                        // The stall guard, while the partition cannot even be set up.
                        tracing::error!(
                            topic,
                            partition,
                            error = %e,
                            stall_timeout_secs = self.config.stall_timeout_secs,
                            "partition stalled: its dedupe state could not be rebuilt from \
                             clickhouse for stall_timeout_secs; /readyz answers 503"
                        );
                        self.metrics.set_stalled(&topic, partition, true);
                        reported = true;
                        if self.once {
                            self.lock().failed.get_or_insert(IngestError::Stalled {
                                topic: topic.clone(),
                                partition,
                                secs: self.config.stall_timeout_secs,
                            });
                            break None;
                        }
                    }
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
            self.metrics.set_stalled(&topic, partition, false);
            if reported {
                tracing::info!(
                    topic,
                    partition,
                    "partition no longer stalled: its dedupe state is rebuilt"
                );
            }
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
                next_offset: start,
                assigned_at: start,
                committed: start,
                moved_at: Instant::now(),
                high_watermark: -1,
                fetch_next: -1,
                stalled: false,
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
        if shared.paused {
            // The writer's backlog is still full: partitions added to a paused assignment (an
            // incremental one, KIP-848) wait with the others until it drains.
            if let Err(e) = consumer.pause(tpl) {
                tracing::warn!(error = %e, "could not pause newly assigned partitions");
            }
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let deadline =
            Instant::now() + Duration::from_secs(self.config.shutdown_timeout_secs.max(1));
        let mut shared = self.lock();
        if !self.flush_all(consumer, &mut shared, deadline) {
            tracing::error!("could not write in-flight batches before giving up partitions; they will be redelivered to the new owner");
        } else if shared.paused {
            // The backlog is written: the partitions that stay (an incremental revoke, KIP-848)
            // read again. Otherwise the usual resume does it once the backlog drains.
            if let Ok(assignment) = consumer.assignment() {
                if consumer.resume(&assignment).is_ok() {
                    shared.paused = false;
                    tracing::info!("consumption resumed");
                }
            }
        }
        for elem in tpl.elements() {
            let (topic, partition) = (elem.topic(), elem.partition());
            shared
                .owned
                .retain(|o| !(o.partition == partition && o.topic == topic));
            self.metrics.forget_partition(topic, partition);
            tracing::info!(topic, partition, "partition revoked");
        }
        self.apply_dedupe_caps(&mut shared);
    }
}

/// Warns (at most once a minute per partition) that the dedupe cap forgets ids early.
pub(super) fn warn_evictions(owned: &mut Owned, now: i64) {
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
