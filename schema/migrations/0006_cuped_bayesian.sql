-- CUPED, the Bayesian engine and sequential tests tuned to the plan. Every column is documented
-- in schema/README.md.
--
-- ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, so every column is added by its own
-- statement and `abacus schema migrate` treats "column with this name already exists" on an
-- ADD COLUMN as done: a migration interrupted half-way can be run again.

-- Per user and metric: the same metric over the pre-period before the first exposure (the CUPED
-- covariate; 0 for metrics without CUPED and for users without history). Rows written before
-- this migration read as an empty array (every covariate 0).
ALTER TABLE {db}.{local:experiment_users} {on_cluster}
    ADD COLUMN metric_covariates Array(Float64) AFTER metric_denominators;

-- On a cluster the Distributed table needs the column too (on one server it is the same table).
{cluster_only} ALTER TABLE {db}.{table:experiment_users} {on_cluster}
    ADD COLUMN metric_covariates Array(Float64) AFTER metric_denominators;

-- Results: which engine judged the row, the CUPED adjustment and the unadjusted estimates beside
-- the adjusted ones, the Bayesian figures, and the planned users the sequential test was tuned to.
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN engine String DEFAULT 'frequentist';
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN cuped UInt8;
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN cuped_theta Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN variance_reduction Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN control_value_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN treatment_value_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN abs_lift_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN rel_lift_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN ci_abs_low_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN ci_abs_high_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN ci_rel_low_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN ci_rel_high_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN p_value_unadjusted Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN chance_to_win Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN risk_control Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN risk_treatment Nullable(Float64);
ALTER TABLE {db}.{table:results} {on_cluster} ADD COLUMN planned_users Nullable(UInt64);

-- A view keeps the columns its table had when it was created: create it again.
DROP TABLE IF EXISTS {db}.{table:results_latest} {on_cluster};

CREATE VIEW IF NOT EXISTS {db}.{table:results_latest} {on_cluster} AS
SELECT *
FROM {db}.results
WHERE (experiment_id, run_id) IN (SELECT experiment_id, max(run_id) FROM {db}.experiment_runs GROUP BY experiment_id);
