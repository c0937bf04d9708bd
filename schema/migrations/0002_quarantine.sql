-- Quarantine: every message that ingest refused, with the reason and the raw bytes,
-- so that nothing is dropped silently and producers can be told what to fix.
-- A redelivered message is quarantined again with the same (topic, partition, offset)
-- and collapses with its first copy.
CREATE TABLE IF NOT EXISTS {db}.{local:quarantine} {on_cluster}
(
    received_at     DateTime,               -- when ingest refused the message
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    reason          String,                 -- machine-readable code, e.g. 'invalid_json', 'missing_field'
    detail          String,                 -- human-readable explanation
    raw             String,                 -- message bytes, cut at the configured limit
    raw_length      UInt64,                 -- length of the original message in bytes
    truncated       UInt8                   -- 1 when raw holds only the first bytes
)
ENGINE = {engine:ReplacingMergeTree()}
ORDER BY (kafka_topic, kafka_partition, kafka_offset);

{distributed:quarantine:cityHash64(kafka_topic, kafka_partition, kafka_offset)};
