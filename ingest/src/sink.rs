//! Writes batches to ClickHouse: RowBinary inserts into `events` and `quarantine`, retries
//! with exponential backoff and jitter while ClickHouse is down, and isolates rows that
//! ClickHouse rejects for data reasons by splitting the batch (they go to quarantine).
//!
//! An insert that failed in transit may still have been committed by the server. Before every
//! retry the sink asks ClickHouse which offsets of the batch are already stored and drops
//! those rows, so a retry never doubles an event.

use std::collections::HashSet;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use abacus_schema::ClickHouse;
use bytes::Bytes;
use clickhouse::Row;
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use crate::batch::Batch;
use crate::batch::{EventRows, Settled};
use crate::dedupe::IdHash;
use crate::lz4::Compressor;
use crate::metrics::Metrics;
use crate::rowbinary::{decode_event, insert_sql};
use crate::state;
use crate::{permanent_cause, IngestError};

/// RowBinary is sent in pieces of this size (each compressed on its own).
const CHUNK_BYTES: usize = 1 << 20;

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

/// What a written batch amounted to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Events inserted now.
    pub inserted: u64,
    /// Rows already stored by an earlier attempt whose answer was lost.
    pub already_stored: u64,
    /// Messages quarantined (including rows ClickHouse refused).
    pub quarantined: u64,
    /// Ids of events ClickHouse refused, by slot of the batch's offsets: the consumer forgets
    /// them so that a corrected resend is accepted.
    pub refused: Vec<(usize, IdHash)>,
    /// The batch's emptied RowBinary buffer, for the consumer to reuse.
    pub spare: Vec<u8>,
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
    lz4: Arc<Compressor>,
    compress: bool,
}

/// An insert attempt of a range of rows.
pub type PartInsert<'a> =
    Pin<Box<dyn Future<Output = Result<(), clickhouse::error::Error>> + Send + 'a>>;

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
            lz4: Arc::default(),
            compress: true,
        }
    }

    /// Whether inserts are LZ4-compressed (the default; see
    /// [`crate::config::IngestConfig::insert_compression`]).
    pub fn compressing(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Writes a batch durably (events, then quarantine rows). Retries transient failures until
    /// they succeed or the sink is cancelled ([`IngestError::Cancelled`]).
    pub async fn write(&self, batch: &mut Batch) -> Result<Written, IngestError> {
        let events = std::mem::take(&mut batch.events);
        let mut written = self.write_events(events, &batch.offsets).await?;
        let refused = std::mem::take(&mut written.refused_rows);
        batch.quarantine.extend(refused);
        let quarantine = std::mem::take(&mut batch.quarantine);
        written.outcome.quarantined = self.write_quarantine(quarantine, &batch.offsets).await?;
        Ok(written.outcome)
    }

    async fn write_events(
        &self,
        mut rows: EventRows,
        offsets: &[Settled],
    ) -> Result<EventsWritten, IngestError> {
        let total = rows.len() as u64;
        let mut attempt = 0;
        loop {
            if rows.is_empty() {
                return Ok(EventsWritten::already(total));
            }
            let data = Bytes::from(std::mem::take(&mut rows.buf));
            let started = Instant::now();
            let result = self.insert_rowbinary(data.clone()).await;
            match result {
                Ok(()) => {
                    self.metrics.observe_insert(rows.len(), started.elapsed());
                    let inserted = rows.len() as u64;
                    // Every piece sent is dropped by now: the buffer is ours again.
                    let mut spare = data.try_into_mut().map(Vec::from).unwrap_or_default();
                    spare.clear();
                    return Ok(EventsWritten {
                        outcome: Written {
                            inserted,
                            already_stored: total - inserted,
                            spare,
                            ..Written::default()
                        },
                        refused_rows: Vec::new(),
                    });
                }
                Err(e) if is_data_error(&e) => {
                    tracing::warn!(rows = rows.len(), error = %e, "clickhouse refused the batch for data reasons; splitting it to isolate bad rows");
                    let meta = &rows.rows;
                    let span = |r: &Range<usize>| {
                        let start = if r.start == 0 {
                            0
                        } else {
                            meta[r.start - 1].end
                        };
                        start..meta[r.end - 1].end
                    };
                    let (ok, bad) = isolate(rows.len(), |part: Range<usize>| -> PartInsert<'_> {
                        let piece = data.slice(span(&part));
                        Box::pin(self.insert_rowbinary(piece))
                    })
                    .await;
                    let received_at = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
                    let mut outcome = Written {
                        inserted: ok as u64,
                        ..Written::default()
                    };
                    let mut refused_rows = Vec::with_capacity(bad.len());
                    for (i, err) in bad {
                        let bytes = &data[span(&(i..i + 1))];
                        let row = refused_row(bytes, meta[i], offsets, received_at, &err);
                        if let Some(id) = decode_event(bytes).map(|r| IdHash::of(&r.event_id)) {
                            outcome.refused.push((meta[i].slot, id));
                        }
                        refused_rows.push(row);
                    }
                    outcome.already_stored = total - outcome.inserted - refused_rows.len() as u64;
                    return Ok(EventsWritten {
                        outcome,
                        refused_rows,
                    });
                }
                Err(e) => {
                    if permanent_cause(&e).is_some() {
                        return Err(IngestError::clickhouse("insert into events", &e));
                    }
                    rows.buf = data.to_vec();
                    self.backoff("events", attempt, &e).await?;
                    attempt += 1;
                    if let Ok(stored) = state::stored_offsets(&self.ch, "events", offsets).await {
                        rows.retain(|m| !is_stored(&stored, &offsets[m.slot], m.offset));
                    }
                }
            }
        }
    }

    async fn write_quarantine(
        &self,
        mut rows: Vec<QuarantineRow>,
        offsets: &[Settled],
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
                    if permanent_cause(&e).is_some() {
                        return Err(IngestError::clickhouse("insert into quarantine", &e));
                    }
                    self.backoff("quarantine", attempt, &e).await?;
                    attempt += 1;
                    // The insert failed in transit but may still have been committed by the
                    // server: drop what is stored. If ClickHouse cannot be asked, ask again
                    // after the next attempt.
                    if let Ok(stored) = state::stored_offsets(&self.ch, "quarantine", offsets).await
                    {
                        rows.retain(|r| {
                            !stored.contains(&(
                                r.kafka_topic.clone(),
                                r.kafka_partition,
                                r.kafka_offset,
                            ))
                        });
                    }
                }
            }
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

    /// Sends encoded event rows (RowBinary) in one `INSERT`.
    async fn insert_rowbinary(&self, data: Bytes) -> Result<(), clickhouse::error::Error> {
        // Compressed here into ClickHouse's blocks (see `crate::lz4`): the client sends them as
        // they are and tells the server to decompress them. Or sent as they are.
        let mut insert = self
            .ch
            .client()
            .clone()
            .with_compression(clickhouse::Compression::None)
            .insert_formatted_with(insert_sql("events"));
        if self.compress {
            insert = insert.with_setting("decompress", "1");
        }
        if self.ch.version().0 >= 19 {
            // Late events may span many months (partitions); never refuse a batch for that.
            insert = insert.with_setting("max_partitions_per_insert_block", "0");
        }
        let mut at = 0;
        while at < data.len() {
            let end = (at + CHUNK_BYTES).min(data.len());
            let block = if self.compress {
                self.lz4
                    .compress(&data[at..end])
                    .map_err(|e| clickhouse::error::Error::Compression(Box::new(e)))?
            } else {
                data.slice(at..end)
            };
            insert.send(block).await?;
            at = end;
        }
        insert.end().await
    }

    async fn insert<T>(&self, table: &str, rows: &[T]) -> Result<(), clickhouse::error::Error>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite + Send + Sync,
    {
        let mut insert = self.ch.client().insert::<T>(table).await?;
        if self.ch.version().0 >= 19 {
            insert = insert.with_setting("max_partitions_per_insert_block", "0");
        }
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    }
}

/// The statement that checks write access to `table` (`events` or `quarantine`): an
/// `INSERT … SELECT` of no rows goes through the server's access checks (read-only user,
/// missing grant, missing table) exactly like a real insert, and stores nothing. (An `INSERT`
/// without data fails with NO_DATA_TO_INSERT on current servers.)
pub fn write_check_sql(table: &str) -> String {
    let columns = if table == "events" {
        crate::rowbinary::EVENT_COLUMNS.to_owned()
    } else {
        <QuarantineRow as Row>::COLUMN_NAMES.join(", ")
    };
    format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} WHERE 0")
}

/// Checks at startup that ingest may write to `events` and `quarantine` ([`write_check_sql`]).
pub async fn check_write_access(ch: &ClickHouse) -> Result<(), IngestError> {
    for table in ["events", "quarantine"] {
        ch.client()
            .query(&write_check_sql(table))
            .execute()
            .await
            .map_err(|e| {
                IngestError::clickhouse(
                    &format!("insert into {table} (startup check of write access)"),
                    &e,
                )
            })?;
    }
    Ok(())
}

/// The outcome of writing the events of a batch, and the rows ClickHouse refused.
struct EventsWritten {
    outcome: Written,
    refused_rows: Vec<QuarantineRow>,
}

impl EventsWritten {
    fn already(total: u64) -> Self {
        Self {
            outcome: Written {
                already_stored: total,
                ..Written::default()
            },
            refused_rows: Vec::new(),
        }
    }
}

fn is_stored(stored: &StoredOffsets, settled: &Settled, offset: i64) -> bool {
    stored.contains(&(settled.topic.to_string(), settled.partition, offset))
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

/// Inserts rows `0..rows` by halves until every rejected row stands alone. Returns how many
/// rows were inserted and the rows that failed on their own, with their errors.
pub async fn isolate<'a, F>(rows: usize, insert: F) -> (usize, Vec<(usize, String)>)
where
    F: Fn(Range<usize>) -> PartInsert<'a>,
{
    let mut inserted = 0;
    let mut bad = Vec::new();
    let mut stack = Vec::new();
    stack.push(0..rows);
    while let Some(part) = stack.pop() {
        if part.is_empty() {
            continue;
        }
        match insert(part.clone()).await {
            Ok(()) => inserted += part.len(),
            Err(e) if part.len() == 1 => bad.push((part.start, abacus_schema::error::describe(&e))),
            Err(_) => {
                let mid = part.start + part.len() / 2;
                stack.push(mid..part.end);
                stack.push(part.start..mid);
            }
        }
    }
    bad.sort_by_key(|(i, _)| *i);
    (inserted, bad)
}

/// The quarantine row of an event ClickHouse refused: the row as JSON, with the server's error.
fn refused_row(
    bytes: &[u8],
    meta: crate::batch::RowMeta,
    offsets: &[Settled],
    received_at: u32,
    err: &str,
) -> QuarantineRow {
    let raw = decode_event(bytes)
        .and_then(|row| serde_json::to_vec(&row).ok())
        .unwrap_or_default();
    let settled = &offsets[meta.slot];
    QuarantineRow {
        received_at,
        kafka_topic: settled.topic.to_string(),
        kafka_partition: settled.partition,
        kafka_offset: meta.offset,
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
#[path = "sink_tests.rs"]
mod tests;
