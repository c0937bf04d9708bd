-- Experiment registry: every applied version of every experiment definition, so that past
-- analyses can be reproduced. The current definition of an experiment is its highest version.
-- Small and read everywhere, so on a cluster every node keeps a full copy.
CREATE TABLE IF NOT EXISTS {db}.{table:experiments} {on_cluster}
(
    experiment_id   String,
    version         UInt32,
    applied_at      DateTime,
    checksum        String,                 -- SHA-256 of the normalized definition
    definition      String                  -- the validated definition as JSON
)
ENGINE = {engine:ReplacingMergeTree()}
ORDER BY (experiment_id, version);
