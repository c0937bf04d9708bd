//! What the consumer builds for the writer: accepted events already encoded as RowBinary in one
//! buffer, quarantine rows, and the offsets the batch settles per partition.
//!
//! [`Batch::add`] is the whole per-message work of the consumer thread (validate, dedupe,
//! encode or quarantine); it needs neither Kafka nor ClickHouse, so the `hot_path` bench
//! measures exactly what the consumer thread does per message.

use std::sync::Arc;
use std::time::Instant;

use crate::dedupe::{IdHash, Seen};
use crate::event::{parse_text, text_of, Rejection, Validation};
use crate::metrics::Metrics;
use crate::rowbinary::{encode_event, encode_scanned};
use crate::scan::{slice, Scan};
use crate::sink::QuarantineRow;
use crate::state::PartitionState;

/// The offsets of one partition that a batch settles (first and last, inclusive), including
/// duplicates that were dropped: committing `last + 1` settles them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// First offset.
    pub first: i64,
    /// Last offset.
    pub last: i64,
}

/// Where one encoded row ends and where it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowMeta {
    /// End of the row in [`EventRows::buf`] (exclusive).
    pub end: usize,
    /// Index of its partition in the batch's [`Batch::offsets`].
    pub slot: usize,
    /// Its Kafka offset.
    pub offset: i64,
}

/// The most a new batch buffer reserves before the first batch says how much is needed.
const RESERVE_AT_MOST: usize = 64 << 20;

/// A buffer for a batch's rows when the writer has none to give back: room for a quarter more
/// than the last batch held (`last` bytes), and at least `batch_bytes` (up to 64 MiB; rows are
/// about as long as their messages). Reserved address space is not memory until written, and
/// a buffer that never has to grow is never copied into fresh pages, which the kernel zeroes
/// first: when each batch grew its buffer by doubling, the copies and the page clearing were
/// about 14% of ingest's CPU samples (`perf`, 1 M events).
pub fn rows_buffer(batch_bytes: usize, last: usize) -> Vec<u8> {
    Vec::with_capacity((last + last / 4).max(batch_bytes.min(RESERVE_AT_MOST)))
}

/// Accepted events as consecutive RowBinary rows.
#[derive(Debug, Default)]
pub struct EventRows {
    /// The rows.
    pub buf: Vec<u8>,
    /// One entry per row, in order.
    pub rows: Vec<RowMeta>,
}

impl EventRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Byte range of row `i` in `buf`.
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 { 0 } else { self.rows[i - 1].end };
        start..self.rows[i].end
    }

    /// Keeps the rows for which `keep` holds, moving them together.
    pub fn retain(&mut self, mut keep: impl FnMut(&RowMeta) -> bool) {
        let mut write = 0;
        let mut start = 0;
        let mut kept = Vec::with_capacity(self.rows.len());
        for meta in &self.rows {
            let len = meta.end - start;
            if keep(meta) {
                self.buf.copy_within(start..meta.end, write);
                write += len;
                kept.push(RowMeta {
                    end: write,
                    ..*meta
                });
            }
            start = meta.end;
        }
        self.buf.truncate(write);
        self.rows = kept;
    }
}

/// What the consumer hands to the writer: rows plus the offsets they settle.
#[derive(Debug, Default)]
pub struct Batch {
    /// Accepted events.
    pub events: EventRows,
    /// Refused messages.
    pub quarantine: Vec<QuarantineRow>,
    /// Per partition read into this batch: the offsets it settles.
    pub offsets: Vec<Settled>,
    /// Message bytes in the batch (for the size trigger).
    pub bytes: usize,
    /// When the first message entered the batch.
    pub started: Option<Instant>,
    /// The slot of the partition of the last message (messages come in runs per partition).
    last_slot: usize,
    /// The fast path's reading of the current message (reused, see [`Scan`]).
    scan: Scan,
}

/// One Kafka message.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Payload, if any.
    pub payload: Option<&'a [u8]>,
}

/// Limits that decide between accepting and quarantining a message.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// What a message must keep to be accepted.
    pub validation: Validation,
    /// Quarantined payloads are cut to this many bytes.
    pub quarantine_raw_bytes: usize,
}

impl Limits {
    /// The limits of an `[ingest]` configuration.
    pub fn of(config: &crate::IngestConfig) -> Self {
        Self {
            validation: Validation {
                max_bytes: config.max_message_bytes,
                max_abs_value: config.max_abs_event_value,
                min_timestamp_ms: config.min_timestamp_ms,
            },
            quarantine_raw_bytes: config.quarantine_raw_bytes,
        }
    }
}

impl Batch {
    /// An empty batch whose rows go into `buf` (emptied).
    pub fn writing_into(mut buf: Vec<u8>) -> Self {
        buf.clear();
        let mut batch = Self::default();
        batch.events.buf = buf;
        batch
    }

    /// The slot in [`Batch::offsets`] of `(topic, partition)`, created if needed.
    fn slot(&mut self, topic: &str, partition: i32) -> usize {
        let hit = |s: &Settled| s.partition == partition && *s.topic == *topic;
        if self.offsets.get(self.last_slot).is_some_and(hit) {
            return self.last_slot;
        }
        let slot = match self.offsets.iter().position(hit) {
            Some(slot) => slot,
            None => {
                self.offsets.push(Settled {
                    topic: Arc::from(topic),
                    partition,
                    first: i64::MAX,
                    last: i64::MIN,
                });
                self.offsets.len() - 1
            }
        };
        self.last_slot = slot;
        slot
    }

    /// Records that `offset` of `(topic, partition)` is part of this batch; returns its slot.
    pub fn settle(&mut self, topic: &str, partition: i32, offset: i64) -> usize {
        let slot = self.slot(topic, partition);
        let settled = &mut self.offsets[slot];
        settled.first = settled.first.min(offset);
        settled.last = settled.last.max(offset);
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        slot
    }

    /// Whether the batch settles nothing.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Rows in the batch (events and quarantine).
    pub fn rows(&self) -> usize {
        self.events.len() + self.quarantine.len()
    }

    /// Dedupes `id` in `state`, counting early evictions and possible duplicates.
    fn remember(
        &self,
        state: &mut PartitionState,
        id: IdHash,
        now: i64,
        metrics: &Metrics,
    ) -> Seen {
        let evicted = state.dedupe.evicted_early();
        let seen = state.dedupe.insert(id, now);
        if state.dedupe.evicted_early() != evicted {
            metrics
                .dedupe_evicted_early
                .add(state.dedupe.evicted_early() - evicted);
        }
        if seen == Seen::PossiblyForgotten {
            metrics.possible_duplicates.inc();
        }
        seen
    }

    /// The per-message work: settles the offset, skips a redelivery of an already stored
    /// offset, validates, drops a duplicate `event_id`, and encodes the event or queues the
    /// message for quarantine. `now` is the ingest time in epoch seconds.
    pub fn add(
        &mut self,
        state: &mut PartitionState,
        msg: Message<'_>,
        now: i64,
        limits: Limits,
        metrics: &Metrics,
    ) {
        let slot = self.settle(msg.topic, msg.partition, msg.offset);
        self.bytes += msg.payload.map_or(0, <[u8]>::len);
        if !state.stored.is_empty() && state.stored.remove(&msg.offset) {
            metrics.redelivered.inc();
            return;
        }
        let bytes = msg.payload.unwrap_or_default();
        if bytes.len() <= limits.validation.max_bytes && self.scan.read(bytes, &limits.validation) {
            // The usual message: dedupe and encode straight from its bytes.
            let id = IdHash::of_bytes(slice(bytes, self.scan.event_id));
            if self.remember(state, id, now, metrics) == Seen::Duplicate {
                metrics.duplicates.inc();
                return;
            }
            let rows = &mut self.events;
            encode_scanned(
                &mut rows.buf,
                &self.scan,
                bytes,
                msg.topic,
                msg.partition,
                msg.offset,
            );
            rows.rows.push(RowMeta {
                end: rows.buf.len(),
                slot,
                offset: msg.offset,
            });
            return;
        }
        let text = match text_of(msg.payload, &limits.validation) {
            Ok(text) => text,
            Err(rejection) => return self.refuse(msg, rejection, now, limits, metrics),
        };
        match parse_text(text, &limits.validation) {
            Ok(event) => match self.remember(state, IdHash::of(&event.event_id), now, metrics) {
                Seen::New | Seen::PossiblyForgotten => {
                    let rows = &mut self.events;
                    encode_event(&mut rows.buf, &event, msg.topic, msg.partition, msg.offset);
                    rows.rows.push(RowMeta {
                        end: rows.buf.len(),
                        slot,
                        offset: msg.offset,
                    });
                }
                Seen::Duplicate => metrics.duplicates.inc(),
            },
            Err(rejection) => self.refuse(msg, rejection, now, limits, metrics),
        }
    }

    /// Queues a refused message for quarantine.
    fn refuse(
        &mut self,
        msg: Message<'_>,
        rejection: Rejection,
        now: i64,
        limits: Limits,
        metrics: &Metrics,
    ) {
        metrics.reject(rejection.code);
        let raw = msg.payload.unwrap_or_default();
        let cut = raw.len().min(limits.quarantine_raw_bytes);
        self.quarantine.push(QuarantineRow {
            received_at: u32::try_from(now).unwrap_or(u32::MAX),
            kafka_topic: msg.topic.to_owned(),
            kafka_partition: msg.partition,
            kafka_offset: msg.offset,
            reason: rejection.code.to_owned(),
            detail: rejection.detail,
            raw: raw[..cut].to_vec(),
            raw_length: raw.len() as u64,
            truncated: u8::from(cut < raw.len()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedupe::DedupeSet;
    use crate::rowbinary::decode_event;

    fn limits() -> Limits {
        Limits {
            validation: Validation::default(),
            quarantine_raw_bytes: 4,
        }
    }

    fn state() -> PartitionState {
        PartitionState {
            dedupe: DedupeSet::new(3600, 1000),
            stored: [5].into_iter().collect(),
        }
    }

    #[test]
    fn messages_are_encoded_deduplicated_quarantined_and_settled() {
        let metrics = Metrics::default();
        let limits = limits();
        let mut batch = Batch::default();
        let (mut s3, mut s4) = (state(), state());
        let ok = |id: &str| {
            format!(
                r#"{{"event_id":"{id}","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250}}"#
            )
        };
        let (a, b) = (ok("a"), ok("b"));
        let msgs: [(i32, i64, &[u8]); 6] = [
            (3, 10, a.as_bytes()),
            (3, 11, a.as_bytes()), // duplicate
            (4, 5, b.as_bytes()),  // already stored
            (4, 6, b"{bad json"),  // quarantined
            (4, 7, b.as_bytes()),
            (3, 12, b.as_bytes()), // another partition: not a duplicate
        ];
        for (partition, offset, payload) in msgs {
            let state = if partition == 3 { &mut s3 } else { &mut s4 };
            let msg = Message {
                topic: "t",
                partition,
                offset,
                payload: Some(payload),
            };
            batch.add(state, msg, 100, limits, &metrics);
        }
        assert_eq!(batch.events.len(), 3);
        assert_eq!(batch.quarantine.len(), 1);
        assert_eq!(batch.quarantine[0].raw, b"{bad");
        assert_eq!(batch.quarantine[0].raw_length, 9);
        assert_eq!(
            (metrics.duplicates.get(), metrics.redelivered.get()),
            (1, 1)
        );
        let settled: Vec<_> = batch
            .offsets
            .iter()
            .map(|s| (s.partition, s.first, s.last))
            .collect();
        assert_eq!(settled, [(3, 10, 12), (4, 5, 7)]);
        let decoded: Vec<_> = (0..3)
            .map(|i| decode_event(&batch.events.buf[batch.events.range(i)]).expect("row"))
            .map(|r| (r.event_id, r.kafka_partition, r.kafka_offset))
            .collect();
        assert_eq!(
            decoded,
            [("a".into(), 3, 10), ("b".into(), 4, 7), ("b".into(), 3, 12)]
        );
        assert_eq!(batch.events.rows[1].slot, 1);

        batch.events.retain(|m| m.offset != 7);
        let left: Vec<_> = (0..2)
            .map(|i| {
                decode_event(&batch.events.buf[batch.events.range(i)])
                    .expect("row")
                    .kafka_offset
            })
            .collect();
        assert_eq!(left, [10, 12]);
    }

    #[test]
    fn a_batch_fills_its_reserved_buffer_without_moving_it() {
        let metrics = Metrics::default();
        let limits = limits();
        let batch_bytes = 1 << 20;
        let mut batch = Batch::writing_into(rows_buffer(batch_bytes, 0));
        let at = batch.events.buf.as_ptr();
        let mut state = PartitionState {
            dedupe: DedupeSet::new(3600, 100_000),
            stored: Default::default(),
        };
        let mut offset = 0;
        while batch.bytes < batch_bytes {
            let msg = format!(
                r#"{{"event_id":"e-{offset}","event_type":"conversion","event_name":"purchase","user_id":"user-{offset}","timestamp":1793613600250,"metadata":{{"plan":"pro"}}}}"#
            );
            let msg = Message {
                topic: "abacus-events",
                partition: 0,
                offset,
                payload: Some(msg.as_bytes()),
            };
            batch.add(&mut state, msg, 100, limits, &metrics);
            offset += 1;
        }
        assert_eq!(batch.events.len() as i64, offset, "every message is a row");
        assert_eq!(
            batch.events.buf.as_ptr(),
            at,
            "the rows buffer was moved to grow"
        );
        // The writer gives the buffer back: the next batch starts empty in the same memory.
        let held = batch.events.buf.len();
        let next = Batch::writing_into(batch.events.buf);
        assert!(next.events.is_empty() && next.events.buf.is_empty());
        assert_eq!(next.events.buf.as_ptr(), at);
        // A new buffer after a batch larger than `batch_bytes` has room for a quarter more.
        assert!(rows_buffer(batch_bytes, 4 * held).capacity() >= 5 * held);
    }
}
