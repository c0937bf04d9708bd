-- Network effects and concurrent experiments: cluster-randomized and switchback experiments,
-- the interaction check between concurrent experiments and the always-valid sample ratio test.
-- Every column is documented in schema/README.md.
--
-- ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: every column is added by its own statement,
-- and `abacus schema migrate` treats "column with this name already exists" on an ADD COLUMN as
-- done, so a migration interrupted half-way can be run again.

-- Runs: how the experiment was randomized and analysed, and the always-valid SRM test (the
-- daemon's alert) beside the chi-square one (srm_chi2, srm_p_value).
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN design String DEFAULT 'user';
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN unit String;
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN clusters UInt64;
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN variant_clusters Array(UInt64);
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN unit_missing UInt64;
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN burn_in_events UInt64;
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN srm_unit String DEFAULT 'users';
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN srm_sequential_p_value Float64 DEFAULT 1;
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN srm_sequential_log_bf Float64;
ALTER TABLE {db}.{table:experiment_runs} {on_cluster} ADD COLUMN srm_sequential_mismatch UInt8;

-- Results: the unit of the analysis and, for cluster-randomized and switchback experiments, the
-- clusters per arm and what a (wrong) user-level analysis would have said.
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN analysis_unit String DEFAULT 'user';
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN control_clusters UInt64;
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN treatment_clusters UInt64;
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN user_level_ci_abs_low Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN user_level_ci_abs_high Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN user_level_p_value Nullable(Float64);

-- A view keeps the columns its table had when it was created: create it again.
DROP TABLE IF EXISTS {db}.{table:results_latest} {on_cluster};

CREATE VIEW IF NOT EXISTS {db}.{table:results_latest} {on_cluster} AS
SELECT *
FROM {db}.results
WHERE (experiment_id, run_id) IN (SELECT experiment_id, max(run_id) FROM {db}.experiment_runs GROUP BY experiment_id);

-- One row per interaction test of an aggregation pass: whether the treatment effect of
-- experiment_a on its primary metric differs across the variants of experiment_b.
CREATE TABLE IF NOT EXISTS {db}.{table:results_interactions} {on_cluster}
(
    run_id            UInt64,           -- the interaction check (epoch ms when it started)
    computed_at       DateTime,
    as_of_ms          Int64,
    experiment_a      String,           -- whose primary metric and treatment effect are tested
    experiment_b      String,           -- across whose variants
    metric            String,
    kind              String,
    variants_a        Array(String),    -- rows of the table, control first
    variants_b        Array(String),    -- columns, control first
    cell_users        Array(UInt64),    -- users in both experiments per cell, row-major
    cell_values       Array(Float64),   -- the metric per cell, row-major
    overlap_users     UInt64,
    chi2              Float64,          -- Wald statistic (z^2 for 2x2)
    df                UInt32,
    p_value           Float64,
    p_value_adjusted  Float64,          -- Holm over every test of the check
    difference        Nullable(Float64),-- 2x2: difference in differences
    ci_low            Nullable(Float64),
    ci_high           Nullable(Float64),
    flagged           UInt8,            -- p_value_adjusted < alpha
    alpha             Float64,
    error             String            -- why the pair was not tested ('' when it was)
)
ENGINE = {engine:MergeTree()}
ORDER BY (run_id, experiment_a, experiment_b, metric);
