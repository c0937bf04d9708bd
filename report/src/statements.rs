//! Every statement the reports run, rendered with sample values for the experiments of a
//! definitions file, so that `scripts/sqlcheck/run` can replay them on a current ClickHouse
//! (the local stack runs 18.16). Printed by `abacus schema print --runtime FILE`, beside the
//! aggregator's own (`abacus_aggregator::statements`).

use abacus_aggregator::model::{BalanceRow, ResultRow, RunRow, SegmentRow, SeriesRow};
use abacus_aggregator::sql::{Statement, Value};
use abacus_assign::Experiment;
use clickhouse::Row;

use crate::read::{rows_sql, LATEST_INTERACTIONS, LATEST_RUNS, PRIMARY_HISTORY, RUNS_OF};

fn fields<R: Row>() -> String {
    R::COLUMN_NAMES.join(", ")
}

/// `(what, statement)` for every report statement run for `e`, values inlined.
pub fn for_experiment(e: &Experiment) -> Vec<(String, String)> {
    let id = || vec![Value::Str(e.id.clone())];
    let mut out = vec![
        (
            format!("{}: newest interaction check", e.id),
            Statement {
                sql: LATEST_INTERACTIONS.replace(
                    "?fields",
                    &fields::<abacus_aggregator::interactions::InteractionRow>(),
                ),
                values: vec![Value::Str(e.id.clone()), Value::Str(e.id.clone())],
            }
            .render(),
        ),
        (
            format!("{}: every run (run picker, history)", e.id),
            Statement {
                sql: RUNS_OF.replace("?fields", &fields::<RunRow>()),
                values: id(),
            }
            .render(),
        ),
        (
            format!("{}: primary metrics of every run (history)", e.id),
            Statement {
                sql: PRIMARY_HISTORY.replace("?fields", &fields::<ResultRow>()),
                values: id(),
            }
            .render(),
        ),
    ];
    for (table, columns, order) in [
        ("results", fields::<ResultRow>(), "metric, variant"),
        (
            "results_series",
            fields::<SeriesRow>(),
            "metric, variant, day",
        ),
        (
            "results_segments",
            fields::<SegmentRow>(),
            "metric, segment_key, segment_value, variant",
        ),
        (
            "results_balance",
            fields::<BalanceRow>(),
            "segment_key, segment_value, variant",
        ),
    ] {
        out.push((
            format!("{}: report rows of {table}", e.id),
            Statement {
                sql: rows_sql(table, order).replace("?fields", &columns),
                values: vec![Value::Str(e.id.clone()), Value::UInt(2)],
            }
            .render(),
        ));
    }
    out
}

/// Report statements that do not depend on an experiment.
pub fn common() -> Vec<(String, String)> {
    vec![(
        "newest run of every experiment".to_owned(),
        LATEST_RUNS.replace("?fields", &fields::<RunRow>()),
    )]
}
