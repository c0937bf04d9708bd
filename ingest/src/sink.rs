//! Writes batches to ClickHouse: RowBinary inserts into `events` and `quarantine`, retries
//! with exponential backoff and jitter while ClickHouse is down, and isolates rows that
//! ClickHouse rejects for data reasons by splitting the batch (they go to quarantine).
//!
//! An insert that failed in transit may still have been committed by the server. Before every
//! retry the sink asks ClickHouse which offsets of the batch are already stored and drops
//! those rows, so a retry never doubles an event.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use abacus_schema::ClickHouse;
use clickhouse::Row;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::event::EventRow;
use crate::metrics::Metrics;
use crate::state;
use crate::IngestError;

/// One row of the `quarantine` table.
#[derive(Clone, Debug, PartialEq, Row, Serialize, Deserialize)]
pub struct QuarantineRow {
    /// When the message was refused (epoch seconds).
    pub received_at: u32,
    /// Topic.
    pub kafka_topic: String,
    /// Partition.
    pub kafka_partition: i32,
    /// Offset.
    pub kafka_offset: i64,
    /// Reason code.
    pub reason: String,
    /// Explanation.
    pub detail: String,
    /// Payload bytes (cut at the limit), stored as a ClickHouse `String` (arbitrary bytes).
    #[serde(with = "serde_bytes_as_string")]
    pub raw: Vec<u8>,
    /// Original length.
    pub raw_length: u64,
    /// 1 when `raw` is cut.
    pub truncated: u8,
}

/// RowBinary writes `String` as length-prefixed bytes; serialize a byte vector the same way.
mod serde_bytes_as_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let v: serde_json::Value = Deserialize::deserialize(d)?;
        Ok(v.as_str().unwrap_or_default().as_bytes().to_vec())
    }
}

/// What the consumer hands to the writer: rows plus the offsets they settle.
#[derive(Debug, Default)]
pub struct Batch {
    /// Accepted events.
    pub events: Vec<EventRow>,
    /// Refused messages.
    pub quarantine: Vec<QuarantineRow>,
    /// Per (topic, partition): first and last offset consumed into this batch (inclusive),
    /// including duplicates that were dropped. Committing `last + 1` settles them.
    pub offsets: BTreeMap<(String, i32), (i64, i64)>,
    /// Message bytes in the batch (for the size trigger).
    pub bytes: usize,
    /// When the first message entered the batch.
    pub started: Option<Instant>,
}

impl Batch {
    /// Records that `offset` of `(topic, partition)` is part of this batch.
    pub fn settle(&mut self, topic: &str, partition: i32, offset: i64) {
        match self.offsets.get_mut(&(topic.to_owned(), partition)) {
            Some((first, last)) => {
                *first = (*first).min(offset);
                *last = (*last).max(offset);
            }
            None => {
                self.offsets
                    .insert((topic.to_owned(), partition), (offset, offset));
            }
        }
        self.started.get_or_insert_with(Instant::now);
    }

    /// Whether the batch settles nothing.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

/// What a written batch amounted to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Events inserted now.
    pub inserted: u64,
    /// Rows already stored by an earlier attempt whose answer was lost.
    pub already_stored: u64,
    /// Messages quarantined (including rows ClickHouse refused).
    pub quarantined: u64,
}

/// Retry policy for ClickHouse writes.
#[derive(Clone, Debug)]
pub struct Retry {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Retry {
    /// Delay before retry number `attempt` (0-based): exponential with full jitter in
    /// [delay/2, delay].
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        let half = base / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// The ClickHouse side of ingest.
#[derive(Clone, Debug)]
pub struct Sink {
    ch: ClickHouse,
    retry: Retry,
    metrics: Arc<Metrics>,
    cancel: Arc<AtomicBool>,
}

/// An insert attempt of an owned part, returning the part with the outcome.
pub type PartInsert<'a, T> =
    Pin<Box<dyn Future<Output = (Vec<T>, Result<(), clickhouse::error::Error>)> + Send + 'a>>;

impl Sink {
    /// A sink writing through `ch`; `cancel` stops retrying (shutdown while ClickHouse is down).
    pub fn new(
        ch: ClickHouse,
        retry: Retry,
        metrics: Arc<Metrics>,
        cancel: Arc<AtomicBool>,
    ) -> Self {
        Self {
            ch,
            retry,
            metrics,
            cancel,
        }
    }

    /// Writes a batch durably (events, then quarantine rows). Retries transient failures until
    /// they succeed or the sink is cancelled ([`IngestError::Cancelled`]).
    pub async fn write(&self, batch: &mut Batch) -> Result<Written, IngestError> {
        let mut written = Written::default();
        let events = std::mem::take(&mut batch.events);
        let (inserted, already, refused) = self.write_events(events, &batch.offsets).await?;
        written.inserted = inserted;
        written.already_stored = already;
        batch.quarantine.extend(refused);
        let quarantine = std::mem::take(&mut batch.quarantine);
        written.quarantined = self.write_quarantine(quarantine, &batch.offsets).await?;
        Ok(written)
    }

    async fn write_events(
        &self,
        mut rows: Vec<EventRow>,
        offsets: &BTreeMap<(String, i32), (i64, i64)>,
    ) -> Result<(u64, u64, Vec<QuarantineRow>), IngestError> {
        let total = rows.len() as u64;
        let mut attempt = 0;
        loop {
            if rows.is_empty() {
                return Ok((0, total, Vec::new()));
            }
            let started = Instant::now();
            match self.insert("events", &rows).await {
                Ok(()) => {
                    self.metrics.observe_insert(rows.len(), started.elapsed());
                    return Ok((rows.len() as u64, total - rows.len() as u64, Vec::new()));
                }
                Err(e) if is_data_error(&e) => {
                    tracing::warn!(rows = rows.len(), error = %e, "clickhouse refused the batch for data reasons; splitting it to isolate bad rows");
                    let (ok, bad) =
                        isolate(rows, |part: Vec<EventRow>| -> PartInsert<'_, EventRow> {
                            Box::pin(async move {
                                let result = self.insert("events", &part).await;
                                (part, result)
                            })
                        })
                        .await;
                    let refused = bad
                        .into_iter()
                        .map(|(row, err)| refused_row(row, &err))
                        .collect::<Vec<_>>();
                    let inserted = ok as u64;
                    return Ok((inserted, total - inserted - refused.len() as u64, refused));
                }
                Err(e) => {
                    self.backoff("events", attempt, &e).await?;
                    attempt += 1;
                    self.drop_stored("events", offsets, &mut rows, |r| {
                        (&r.kafka_topic, r.kafka_partition, r.kafka_offset)
                    })
                    .await;
                }
            }
        }
    }

    async fn write_quarantine(
        &self,
        mut rows: Vec<QuarantineRow>,
        offsets: &BTreeMap<(String, i32), (i64, i64)>,
    ) -> Result<u64, IngestError> {
        let total = rows.len() as u64;
        let mut attempt = 0;
        loop {
            if rows.is_empty() {
                return Ok(total);
            }
            match self.insert("quarantine", &rows).await {
                Ok(()) => return Ok(total),
                Err(e) => {
                    self.backoff("quarantine", attempt, &e).await?;
                    attempt += 1;
                    self.drop_stored("quarantine", offsets, &mut rows, |r| {
                        (&r.kafka_topic, r.kafka_partition, r.kafka_offset)
                    })
                    .await;
                }
            }
        }
    }

    /// After an insert failed in transit (it may still have been committed by the server),
    /// removes the rows whose offsets `table` already holds, so the retry doubles nothing.
    /// If ClickHouse cannot be asked, the rows stay and the next attempt asks again.
    async fn drop_stored<T>(
        &self,
        table: &'static str,
        offsets: &BTreeMap<(String, i32), (i64, i64)>,
        rows: &mut Vec<T>,
        lineage: impl Fn(&T) -> (&String, i32, i64),
    ) {
        if let Ok(stored) = state::stored_offsets(&self.ch, table, offsets).await {
            rows.retain(|r| {
                let (topic, partition, offset) = lineage(r);
                !stored.contains(&(topic.clone(), partition, offset))
            });
        }
    }

    async fn backoff(
        &self,
        table: &str,
        attempt: u32,
        err: &clickhouse::error::Error,
    ) -> Result<(), IngestError> {
        let delay = self.retry.delay(attempt);
        self.metrics.insert_failures.inc();
        tracing::warn!(
            table,
            attempt = attempt + 1,
            retry_in_ms = delay.as_millis() as u64,
            error = %abacus_schema::error::describe(err),
            "insert into clickhouse failed; will retry"
        );
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(IngestError::Cancelled);
            }
            tokio::time::sleep(Duration::from_millis(50).min(deadline - Instant::now())).await;
        }
        Ok(())
    }

    async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<(), clickhouse::error::Error>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite + Send + Sync,
    {
        let mut insert = self.ch.client().insert::<T>(table).await?;
        if self.ch.version().0 >= 19 {
            // Late events may span many months (partitions); never refuse a batch for that.
            insert = insert.with_setting("max_partitions_per_insert_block", "0");
        }
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    }
}

/// Whether ClickHouse refused the data itself (retrying cannot help) rather than failing.
pub fn is_data_error(err: &clickhouse::error::Error) -> bool {
    // Codes: 6 CANNOT_PARSE_TEXT, 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED, 33 CANNOT_READ_ALL_DATA,
    // 53 TYPE_MISMATCH, 69 ARGUMENT_OUT_OF_BOUND, 70 CANNOT_CONVERT_TYPE, 117 INCORRECT_DATA,
    // 131 TOO_LARGE_STRING_SIZE, 252 for "Too many partitions for single INSERT block".
    const DATA: &[u32] = &[6, 27, 33, 53, 69, 70, 117, 131];
    let clickhouse::error::Error::BadResponse(text) = err else {
        return false;
    };
    match exception_code(text) {
        Some(252) => text.contains("partitions for single INSERT"),
        Some(code) => DATA.contains(&code),
        None => false,
    }
}

/// The `Code: N` of a ClickHouse exception text.
pub fn exception_code(text: &str) -> Option<u32> {
    let rest = &text[text.find("Code: ")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Inserts `rows` by halves until every rejected row stands alone. Returns how many rows were
/// inserted and the rows that failed on their own, with their errors.
pub async fn isolate<'a, T, F>(rows: Vec<T>, insert: F) -> (usize, Vec<(T, String)>)
where
    T: Send + 'a,
    F: Fn(Vec<T>) -> PartInsert<'a, T>,
{
    let mut inserted = 0;
    let mut bad = Vec::new();
    let mut stack = vec![rows];
    while let Some(part) = stack.pop() {
        if part.is_empty() {
            continue;
        }
        let (part, result) = insert(part).await;
        match result {
            Ok(()) => inserted += part.len(),
            Err(e) if part.len() == 1 => bad.push((
                part.into_iter().next().expect("one row"),
                abacus_schema::error::describe(&e),
            )),
            Err(_) => {
                let mut left = part;
                let right = left.split_off(left.len() / 2);
                stack.push(right);
                stack.push(left);
            }
        }
    }
    (inserted, bad)
}

fn refused_row(row: EventRow, err: &str) -> QuarantineRow {
    let raw = serde_json::to_vec(&row).unwrap_or_default();
    QuarantineRow {
        received_at: row.ingested_at,
        kafka_topic: row.kafka_topic,
        kafka_partition: row.kafka_partition,
        kafka_offset: row.kafka_offset,
        reason: "rejected_by_clickhouse".into(),
        detail: err.to_owned(),
        raw_length: raw.len() as u64,
        raw,
        truncated: 0,
    }
}

/// Rows of `stored` offsets, for tests and the rebuild.
pub type StoredOffsets = HashSet<(String, i32, i64)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_codes_are_parsed_and_classified() {
        let bad = |t: &str| clickhouse::error::Error::BadResponse(t.to_owned());
        assert_eq!(
            exception_code("Code: 27, e.displayText() = DB::Exception: x"),
            Some(27)
        );
        assert!(is_data_error(&bad(
            "Code: 27, e.displayText() = DB::Exception: Cannot parse input"
        )));
        assert!(is_data_error(&bad(
            "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100)"
        )));
        assert!(!is_data_error(&bad("Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower")));
        assert!(!is_data_error(&bad(
            "Code: 241. DB::Exception: Memory limit exceeded"
        )));
        assert!(!is_data_error(&clickhouse::error::Error::TimedOut));
    }

    #[test]
    fn retry_delays_grow_with_jitter_and_cap() {
        let retry = Retry {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for attempt in 0..10 {
            let d = retry.delay(attempt);
            let base = Duration::from_millis(100 * (1 << attempt)).min(Duration::from_secs(2));
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
        }
    }

    #[tokio::test]
    async fn isolate_finds_exactly_the_bad_rows() {
        let rows: Vec<u32> = (0..1000).collect();
        let bad_rows = [3u32, 500, 501, 999];
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let insert = |part: Vec<u32>| -> PartInsert<'_, u32> {
            calls.fetch_add(1, Ordering::Relaxed);
            let poisoned = part.iter().any(|r| bad_rows.contains(r));
            Box::pin(async move {
                if poisoned {
                    (
                        part,
                        Err(clickhouse::error::Error::BadResponse(
                            "Code: 53. TYPE_MISMATCH".into(),
                        )),
                    )
                } else {
                    (part, Ok(()))
                }
            })
        };
        let (inserted, bad) = isolate(rows, insert).await;
        assert_eq!(inserted, 996);
        let mut found: Vec<u32> = bad.iter().map(|(r, _)| *r).collect();
        found.sort();
        assert_eq!(found, bad_rows);
        assert!(bad[0].1.contains("TYPE_MISMATCH"));
        // Logarithmic, not linear, in the batch size.
        assert!(calls.load(Ordering::Relaxed) < 100, "{calls:?}");
    }
}
