-- Event store: one row per accepted event (exposures and conversions).
--
-- Rows with the same sorting key collapse on merges (ReplacingMergeTree), and every field of
-- an event is part of or determined by its event_id, so a duplicate that slipped past the
-- ingest dedupe disappears in the background; queries that must be exact dedupe by event_id.
-- The key starts with experiment_id and event_name so that per-experiment reads (exposures of
-- E, conversions tagged with E or untagged) touch only their key ranges.
CREATE TABLE IF NOT EXISTS {db}.{local:events} {on_cluster}
(
    event_id        String,
    event_type      Enum8('exposure' = 1, 'conversion' = 2),
    experiment_id   String,                 -- '' for untagged conversions
    variant         String,                 -- '' when absent
    user_id         String,
    event_name      String,                 -- 'exposure' for exposures
    event_value     Nullable(Float64),
    metadata_keys   Array(String),          -- metadata as parallel arrays (no Map type on 18.16)
    metadata_values Array(String),
    timestamp_ms    Int64,                  -- event time, Unix epoch milliseconds (UTC)
    event_time      DateTime ALIAS toDateTime(intDiv(timestamp_ms, 1000)),
    ingested_at     DateTime,               -- when ingest wrote the row
    kafka_topic     String,                 -- lineage: where the event was read from
    kafka_partition Int32,
    kafka_offset    Int64
)
ENGINE = {engine:ReplacingMergeTree()}
PARTITION BY toYYYYMM(toDateTime(intDiv(timestamp_ms, 1000)))
ORDER BY (experiment_id, event_name, user_id, event_id);

-- On a cluster, events of one user live on one shard, so duplicates meet and collapse there.
{distributed:events:cityHash64(user_id)};
