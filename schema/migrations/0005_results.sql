-- Aggregator tables: the user-level table it maintains incrementally, its per-experiment state,
-- and the results it writes for analysts (every run kept, `results_latest` shows the newest).
-- Every column is documented in schema/README.md.

-- One row per (experiment, exposed user): the user's variant and first exposure time t0, the
-- segment values of the first exposure and one value per metric of the experiment. A pass
-- writes new rows for the users it recomputes; the newest run_id wins (FINAL), and rows older
-- than the experiment's base_run_id (last full recompute) are ignored.
CREATE TABLE IF NOT EXISTS {db}.{local:experiment_users} {on_cluster}
(
    experiment_id       String,
    user_id             String,
    variant             String,             -- variant of the first exposure
    variants            UInt16,             -- distinct variants seen; > 1 excludes the user
    t0_ms               Int64,              -- first exposure, epoch milliseconds
    segment_keys        Array(String),      -- the experiment's segments
    segment_values      Array(String),      -- their values on the first exposure ('' = absent)
    metric_names        Array(String),      -- the experiment's metrics, in definition order
    metric_values       Array(Float64),     -- per metric: 0/1, sum or count (numerator of a ratio)
    metric_denominators Array(Float64),     -- per metric: denominator of a ratio, else 0
    run_id              UInt64,             -- the pass that wrote the row
    computed_at         DateTime DEFAULT now()
)
ENGINE = {engine:ReplacingMergeTree(run_id)}
ORDER BY (experiment_id, user_id);

{distributed:experiment_users:cityHash64(user_id)};

-- Where the incremental aggregation of each experiment stands.
CREATE TABLE IF NOT EXISTS {db}.{table:aggregation_state} {on_cluster}
(
    experiment_id       String,
    definition_version  UInt32,
    definition_checksum String,
    base_run_id         UInt64,             -- the last full recompute; older user rows are stale
    run_id              UInt64,             -- the last pass
    watermark           DateTime,           -- events written (ingested_at) before this were read
    as_of_ms            Int64,              -- analysis time of the last pass
    updated_at          DateTime DEFAULT now()
)
ENGINE = {engine:ReplacingMergeTree(run_id)}
ORDER BY experiment_id;

-- One row per aggregation pass and experiment: sample sizes, sample ratio check, diagnostics.
CREATE TABLE IF NOT EXISTS {db}.{table:experiment_runs} {on_cluster}
(
    run_id                  UInt64,
    experiment_id           String,
    definition_version      UInt32,
    computed_at             DateTime,
    as_of_ms                Int64,
    mode                    String,         -- 'full' or 'incremental'
    recomputed_users        UInt64,         -- user rows written by this pass
    users                   UInt64,         -- users analysed (single-variant)
    multiple_exposure_users UInt64,         -- users excluded for seeing two or more variants
    variants                Array(String),
    variant_users           Array(UInt64),
    variant_weights         Array(Float64), -- the design's weights
    srm_chi2                Float64,
    srm_p_value             Float64,
    srm_mismatch            UInt8,
    elapsed_ms              UInt64,
    warnings                Array(String)
)
ENGINE = {engine:MergeTree()}
ORDER BY (experiment_id, run_id);

-- One row per (run, experiment, metric, treatment variant): the comparison with control.
CREATE TABLE IF NOT EXISTS {db}.{table:results} {on_cluster}
(
    run_id                UInt64,
    experiment_id         String,
    computed_at           DateTime,
    as_of_ms              Int64,
    metric                String,
    kind                  String,           -- conversion, revenue, count, retention, ratio
    is_primary            UInt8,
    is_guardrail          UInt8,
    direction             String,           -- increase or decrease
    control               String,
    variant               String,
    control_users         UInt64,
    treatment_users       UInt64,
    control_value         Float64,          -- rate, mean per user or ratio
    treatment_value       Float64,
    control_conversions   UInt64,           -- converted users (conversion, retention), else 0
    treatment_conversions UInt64,
    abs_lift              Float64,
    rel_lift              Nullable(Float64),
    ci_abs_low            Float64,
    ci_abs_high           Float64,
    ci_rel_low            Nullable(Float64),
    ci_rel_high           Nullable(Float64),
    method                String,           -- z_test, fisher_exact, welch, delta_ratio
    p_value               Float64,          -- fixed-horizon, two-sided
    p_value_sequential    Nullable(Float64),-- always-valid, when the experiment is sequential
    p_value_adjusted      Float64,          -- Holm across the experiment's variants x metrics
    significant           UInt8,
    alpha                 Float64,
    winsorize_cap         Nullable(Float64),
    guardrail_verdict     String,           -- '', 'pass', 'fail', 'inconclusive'
    guardrail_p_value     Nullable(Float64),
    guardrail_bound       Nullable(Float64),
    simpson               UInt8,            -- pooled lift opposes every segment of simpson_key
    simpson_key           String,
    srm_p_value           Float64,
    srm_mismatch          UInt8,
    error                 String            -- why no test could be run ('' when fine)
)
ENGINE = {engine:MergeTree()}
ORDER BY (experiment_id, run_id, metric, variant);

-- Cumulative results by day of first exposure (users exposed up to the end of `day`).
CREATE TABLE IF NOT EXISTS {db}.{table:results_series} {on_cluster}
(
    run_id          UInt64,
    experiment_id   String,
    metric          String,
    variant         String,
    day             Date,
    control_users   UInt64,
    treatment_users UInt64,
    control_value   Float64,
    treatment_value Float64,
    abs_lift        Float64,
    rel_lift        Nullable(Float64),
    ci_abs_low      Float64,
    ci_abs_high     Float64,
    ci_rel_low      Nullable(Float64),
    ci_rel_high     Nullable(Float64),
    p_value         Float64,
    error           String
)
ENGINE = {engine:MergeTree()}
ORDER BY (experiment_id, run_id, metric, variant, day);

-- Results per segment (value of a segment key on the user's first exposure).
CREATE TABLE IF NOT EXISTS {db}.{table:results_segments} {on_cluster}
(
    run_id          UInt64,
    experiment_id   String,
    metric          String,
    segment_key     String,
    segment_value   String,
    variant         String,
    control_users   UInt64,
    treatment_users UInt64,
    control_value   Float64,
    treatment_value Float64,
    abs_lift        Float64,
    rel_lift        Nullable(Float64),
    ci_abs_low      Float64,
    ci_abs_high     Float64,
    p_value         Float64,
    error           String
)
ENGINE = {engine:MergeTree()}
ORDER BY (experiment_id, run_id, metric, segment_key, segment_value, variant);

-- Covariate balance: users per (segment value, variant) with a chi-square test of independence
-- of variant and segment value (the same test result on every row of a key).
CREATE TABLE IF NOT EXISTS {db}.{table:results_balance} {on_cluster}
(
    run_id          UInt64,
    experiment_id   String,
    segment_key     String,
    segment_value   String,
    variant         String,
    users           UInt64,
    chi2            Float64,
    df              UInt32,
    p_value         Float64
)
ENGINE = {engine:MergeTree()}
ORDER BY (experiment_id, run_id, segment_key, segment_value, variant);

-- The newest run of every experiment.
CREATE VIEW IF NOT EXISTS {db}.{table:results_latest} {on_cluster} AS
SELECT *
FROM {db}.results
WHERE (experiment_id, run_id) IN (SELECT experiment_id, max(run_id) FROM {db}.experiment_runs GROUP BY experiment_id);
