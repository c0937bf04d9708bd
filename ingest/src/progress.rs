//! Where each owned partition stands, for [`IngestContext`]: what is durable (committed before
//! ingest stops on an error), the end of partition that `--once` waits for, and the stall
//! guard — a partition whose committed offset does not move for `stall_timeout_secs` while
//! messages wait (ClickHouse refusing inserts, a consumer that cannot fetch) is reported in an
//! ERROR, in `/metrics` and in `/readyz`, and ends `--once`.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{IngestContext, Owned, Shared};
use crate::metrics::Metrics;
use crate::IngestError;

impl IngestContext {
    /// Commits, synchronously, the offsets of everything durable in ClickHouse (before ingest
    /// stops on an error: the asynchronous commits may still be on their way).
    pub fn commit_durable(&self, consumer: &BaseConsumer<Self>, shared: &Shared) {
        let mut tpl = TopicPartitionList::new();
        // Only partitions this process committed for: an offset read at assignment is never
        // written back (it could be older than the group's if that read failed).
        for owned in shared.owned.iter().filter(|o| o.committed > o.assigned_at) {
            let _ = tpl.add_partition_offset(
                &owned.topic,
                owned.partition,
                Offset::Offset(owned.committed),
            );
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "final offset commit failed; the last batches will be read again and deduplicated");
            }
        }
    }

    /// Records that the consumer reached the end of partition number `partition`.
    ///
    /// librdkafka's end-of-partition event names the partition number but not the topic. When
    /// one owned partition has that number, it is the one. When several subscribed topics
    /// share it, each candidate is asked: it is at its end when what it has read (or where
    /// the consumer stands, or the log start) reaches its high watermark, as the broker says
    /// now; the others' own end-of-partition events come later.
    pub fn reached_eof(&self, consumer: &BaseConsumer<Self>, shared: &mut Shared, partition: i32) {
        let candidates = shared
            .owned
            .iter()
            .filter(|o| o.partition == partition)
            .count();
        if candidates <= 1 {
            for owned in shared.owned.iter_mut().filter(|o| o.partition == partition) {
                owned.at_eof = true;
            }
            return;
        }
        let positions = consumer.position().ok();
        for owned in shared.owned.iter_mut().filter(|o| o.partition == partition) {
            let position = positions
                .as_ref()
                .and_then(|tpl| tpl.find_partition(&owned.topic, partition))
                .and_then(|e| match e.offset() {
                    Offset::Offset(n) => Some(n),
                    _ => None,
                })
                .unwrap_or(0);
            match consumer.fetch_watermarks(&owned.topic, partition, Duration::from_secs(10)) {
                Ok((low, high)) if high >= 0 => {
                    owned.at_eof = owned.next_offset.max(position).max(low) >= high;
                    tracing::debug!(
                        topic = %owned.topic,
                        partition,
                        next_offset = owned.next_offset,
                        high_watermark = high,
                        at_end = owned.at_eof,
                        "end of partition reported for several topics; checked the watermark"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    topic = %owned.topic,
                    partition,
                    error = %e,
                    "cannot read the high watermark; waiting for the next end of partition"
                ),
            }
        }
    }

    /// Whether `--once` is complete: something was assigned and the consumer reported the end
    /// of every owned partition after its last message.
    pub fn caught_up(&self, shared: &Shared) -> bool {
        shared.ever_assigned && !shared.owned.is_empty() && shared.owned.iter().all(|o| o.at_eof)
    }

    /// Checks every owned partition for a stall (the consumer loop calls it about once a
    /// second). Returns the error `--once` gives up with.
    pub fn check_stalls(&self, shared: &mut Shared) -> Option<IngestError> {
        let timeout = Duration::from_secs(self.config.stall_timeout_secs);
        let now = Instant::now();
        let mut give_up = None;
        for owned in &mut shared.owned {
            let waiting = waiting(owned);
            if waiting <= 0 {
                owned.moved_at = now;
            }
            let stalled = waiting > 0 && now.duration_since(owned.moved_at) >= timeout;
            report(
                owned,
                stalled,
                waiting,
                &self.metrics,
                self.config.stall_timeout_secs,
            );
            if stalled && self.once && give_up.is_none() {
                give_up = Some(IngestError::Stalled {
                    topic: owned.topic.clone(),
                    partition: owned.partition,
                    secs: self.config.stall_timeout_secs,
                });
            }
        }
        give_up
    }
}

/// Messages of a partition waiting: read but not durable in ClickHouse yet, or on the broker
/// but not fetched yet (as of the last statistics; the fetch position, not the last message
/// read, so that a transaction marker at the end of a partition waits for nothing).
fn waiting(owned: &Owned) -> i64 {
    let unwritten = owned.next_offset - owned.committed;
    let unfetched = if owned.high_watermark >= 0 && owned.fetch_next >= 0 {
        owned.high_watermark - owned.fetch_next
    } else {
        0
    };
    unwritten.max(0) + unfetched.max(0)
}

/// Logs and exposes a change of a partition's stall state.
pub(super) fn report(owned: &mut Owned, stalled: bool, waiting: i64, metrics: &Metrics, secs: u64) {
    if stalled == owned.stalled {
        return;
    }
    owned.stalled = stalled;
    metrics.set_stalled(&owned.topic, owned.partition, stalled);
    if stalled {
        tracing::error!(
            topic = %owned.topic,
            partition = owned.partition,
            committed = owned.committed,
            waiting,
            stall_timeout_secs = secs,
            "partition stalled: its committed offset has not moved for stall_timeout_secs while \
             messages wait (clickhouse refusing or failing inserts, see the warnings before, or \
             the consumer cannot fetch); /readyz answers 503 until it moves"
        );
    } else {
        tracing::info!(
            topic = %owned.topic,
            partition = owned.partition,
            committed = owned.committed,
            "partition no longer stalled: its committed offset moves again"
        );
    }
}
