//! What ingest knows from ClickHouse about its own past work: which offsets of a partition are
//! already stored, and which event ids a partition accepted recently. This is how the dedupe
//! state survives restarts, crashes between insert and commit, and partition moves between
//! ingest processes: it is rebuilt from the event store, never trusted from memory alone.

use std::collections::HashSet;

use abacus_schema::ClickHouse;
use clickhouse::Row;
use serde::Deserialize;

use crate::batch::Settled;
use crate::dedupe::{DedupeSet, IdHash};
use crate::sink::StoredOffsets;
use crate::IngestError;

/// Ids written from one partition within the dedupe window, and rows at or after its committed
/// offset (`?` = topic, partition, window in seconds, committed offset).
pub const SELECT_RECENT_IDS: &str =
    "SELECT event_id, toUInt32(ingested_at) AS ingested_at, kafka_offset FROM events \
     WHERE kafka_topic = ? AND kafka_partition = ? \
       AND (ingested_at >= now() - ? OR kafka_offset >= ?) \
     ORDER BY ingested_at";

/// Quarantined offsets of one partition at or after its committed offset (`?` = topic,
/// partition, committed offset).
pub const SELECT_QUARANTINED: &str =
    "SELECT kafka_topic, kafka_partition, kafka_offset FROM quarantine \
     WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset >= ?";

/// Offsets of `table` (events or quarantine) within a range of one partition (`?` = topic,
/// partition, first, last).
pub fn select_stored(table: &str) -> String {
    format!(
        "SELECT kafka_topic, kafka_partition, kafka_offset FROM {table} \
         WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset >= ? AND kafka_offset <= ?"
    )
}

/// Ingest state of one assigned partition.
#[derive(Debug)]
pub struct PartitionState {
    /// Recently accepted event ids.
    pub dedupe: DedupeSet,
    /// Offsets at or after the committed offset that are already stored (in `events` or
    /// `quarantine`): their redelivery is skipped.
    pub stored: HashSet<i64>,
}

#[derive(Row, Deserialize)]
struct StoredEvent {
    event_id: String,
    ingested_at: u32,
    kafka_offset: i64,
}

#[derive(Row, Deserialize)]
struct StoredOffset {
    kafka_topic: String,
    kafka_partition: i32,
    kafka_offset: i64,
}

/// Rebuilds the state of `(topic, partition)` whose committed offset is `committed` (the next
/// offset the group will read; 0 when nothing was committed).
pub async fn rebuild(
    ch: &ClickHouse,
    topic: &str,
    partition: i32,
    committed: i64,
    window_secs: u64,
    max_ids: usize,
) -> Result<PartitionState, IngestError> {
    let mut dedupe = DedupeSet::new(window_secs, max_ids);
    let mut stored = HashSet::new();
    let mut cursor = ch
        .client()
        .query(SELECT_RECENT_IDS)
        .bind(topic)
        .bind(partition)
        .bind(window_secs)
        .bind(committed)
        .fetch::<StoredEvent>()
        .map_err(|e| IngestError::clickhouse("read recent event ids", &e))?;
    while let Some(row) = cursor
        .next()
        .await
        .map_err(|e| IngestError::clickhouse("read recent event ids", &e))?
    {
        dedupe.insert(IdHash::of(&row.event_id), i64::from(row.ingested_at));
        if row.kafka_offset >= committed {
            stored.insert(row.kafka_offset);
        }
    }
    let quarantined = ch
        .client()
        .query(SELECT_QUARANTINED)
        .bind(topic)
        .bind(partition)
        .bind(committed)
        .fetch_all::<StoredOffset>()
        .await
        .map_err(|e| IngestError::clickhouse("read quarantined offsets", &e))?;
    stored.extend(quarantined.into_iter().map(|r| r.kafka_offset));
    Ok(PartitionState { dedupe, stored })
}

/// Which offsets within `ranges` (per topic and partition, inclusive) `table` already holds.
pub async fn stored_offsets(
    ch: &ClickHouse,
    table: &'static str,
    ranges: &[Settled],
) -> Result<StoredOffsets, IngestError> {
    let mut found = StoredOffsets::new();
    let sql = select_stored(table);
    for settled in ranges {
        let rows = ch
            .client()
            .query(&sql)
            .bind(&*settled.topic)
            .bind(settled.partition)
            .bind(settled.first)
            .bind(settled.last)
            .fetch_all::<StoredOffset>()
            .await
            .map_err(|e| IngestError::clickhouse("check stored offsets", &e))?;
        found.extend(
            rows.into_iter()
                .map(|r| (r.kafka_topic, r.kafka_partition, r.kafka_offset)),
        );
    }
    Ok(found)
}
