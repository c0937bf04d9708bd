-- Flag registry: every applied version of every feature flag definition (`abacus experiments
-- apply` stores them beside the experiments), so that `abacus serve --source registry` serves
-- flags too and a past configuration can be read back. The current definition of a flag is its
-- highest version. Small and read everywhere, so on a cluster every node keeps a full copy.
CREATE TABLE IF NOT EXISTS {db}.{table:flags} {on_cluster}
(
    flag_name       String,
    version         UInt32,
    applied_at      DateTime,
    checksum        String,                 -- SHA-256 of the definition
    definition      String                  -- the validated flag as a [[flag]] TOML table
)
ENGINE = {engine:ReplacingMergeTree()}
ORDER BY (flag_name, version);
