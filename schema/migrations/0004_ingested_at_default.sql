-- ingested_at is filled by the server when a row is written (DEFAULT now()) instead of by the
-- ingest process when it read the message. The aggregator reads "rows written since its last
-- watermark", and only the write time is safe for that: a batch whose insert was retried for
-- minutes still gets a fresh ingested_at when it finally lands.
ALTER TABLE {db}.{local:events} {on_cluster} MODIFY COLUMN ingested_at DateTime DEFAULT now();

-- On a cluster the Distributed table fills omitted columns from its own definition, so it needs
-- the same default. On a single server this names the same table again (a no-op).
ALTER TABLE {db}.{table:events} {on_cluster} MODIFY COLUMN ingested_at DateTime DEFAULT now();
