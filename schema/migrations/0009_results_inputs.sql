-- The inputs of every run: the per-variant sufficient statistics the aggregator computed the
-- run's results from (per day of first exposure and per segment value), so that a run can be
-- compared against another baseline variant later, exactly, without the user rows of that
-- time (`experiment_users` keeps only each user's newest row). Written before the run's
-- `experiment_runs` row, like the other result tables. Every column is documented in
-- schema/README.md.
CREATE TABLE IF NOT EXISTS {db}.{table:results_inputs} {on_cluster}
(
    run_id          UInt64,
    experiment_id   String,
    cell            Enum8('day' = 1, 'segment' = 2),
    variant         String,
    day             Int64,                  -- days since 1970-01-01 of the first exposure (day cells)
    segment_key     String,                 -- segment cells
    segment_value   String,
    users           UInt64,
    n               Array(UInt64),          -- per metric, in definition order
    converted       Array(UInt64),
    sx              Array(Float64),
    sxx             Array(Float64),
    sy              Array(Float64),
    syy             Array(Float64),
    sxy             Array(Float64),
    sp              Array(Float64),
    spp             Array(Float64),
    sxp             Array(Float64)
)
ENGINE = {engine:MergeTree()}
ORDER BY (experiment_id, run_id, cell, segment_key, segment_value, variant, day);
