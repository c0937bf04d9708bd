//! Every statement the aggregator runs, rendered with sample values for the experiments of a
//! definitions file, so that `scripts/sqlcheck/run` can replay them on a current ClickHouse
//! (the local stack runs 18.16). Printed by `abacus schema print --runtime FILE` (the reports'
//! statements are in `abacus_report::statements`).

use abacus_assign::Experiment;
use clickhouse::Row;

use crate::collect::{cells_sql, Source};
use crate::materialize::SELECT_STATE;
use crate::model::ResultRow;
use crate::sql::{materialize, Scope, Statement, Value};

fn fields<R: Row>() -> String {
    R::COLUMN_NAMES.join(", ")
}

fn bound(sql: &str, values: Vec<Value>) -> String {
    Statement {
        sql: sql.to_owned(),
        values,
    }
    .render()
}

/// `(what, statement)` for every statement run for `e`, values inlined.
pub fn for_experiment(e: &Experiment) -> Vec<(String, String)> {
    let id = || Value::Str(e.id.clone());
    let as_of = e.start.timestamp_millis() + 30 * crate::sql::DAY_MS;
    let mut out = vec![
        (
            format!("{}: materialize users (full)", e.id),
            materialize(e, Scope::Full, as_of, 2).render(),
        ),
        (
            format!("{}: materialize users (incremental)", e.id),
            materialize(
                e,
                Scope::Touched {
                    written_since: 1_700_000_000,
                    time_from_ms: as_of - crate::sql::DAY_MS,
                    time_to_ms: as_of,
                },
                as_of,
                3,
            )
            .render(),
        ),
        (
            format!("{}: read the aggregation state", e.id),
            bound(SELECT_STATE, vec![id()]),
        ),
    ];
    let src = Source {
        experiment: e,
        base_run_id: 2,
        as_of_ms: as_of,
    };
    out.push((
        format!("{}: statistics per variant, day and segment", e.id),
        bound(&cells_sql(&src), vec![id(), Value::UInt(2)]),
    ));
    out.push((
        format!("{}: the inputs of a run (another baseline)", e.id),
        bound(
            &crate::inputs::SELECT_INPUTS.replace("?fields", &fields::<crate::inputs::InputRow>()),
            vec![id(), Value::UInt(2)],
        ),
    ));
    match (&e.unit, e.design) {
        (Some(unit), abacus_assign::Design::Ab) => {
            let caps = vec![Some(100.0); e.metrics.len()];
            let src = crate::clusters::ClusterSource {
                experiment: e,
                unit,
                base_run_id: 2,
                as_of_ms: as_of,
                caps: &caps,
            };
            out.push((
                format!("{}: statistics per cluster ({unit})", e.id),
                crate::clusters::clusters_sql(&src).render(),
            ));
        }
        (Some(unit), abacus_assign::Design::Switchback) => {
            let src = crate::switchback::SwitchbackSource {
                experiment: e,
                unit,
                window_ms: e.window_ms(),
                burn_in_ms: e.burn_in_ms(),
                as_of_ms: as_of,
            };
            out.push((
                format!("{}: statistics per ({unit}, window) cell", e.id),
                crate::switchback::switchback_sql(&src).render(),
            ));
        }
        (None, _) => {}
    }
    // The interaction check scans every experiment of a pass at once; its shape does not
    // depend on how many, so one experiment shows it.
    let members = [crate::interactions::Member {
        experiment: e,
        base_run_id: 2,
    }];
    out.push((
        format!("{}: interaction check scan", e.id),
        crate::interactions::entries_sql(&members, as_of).render(),
    ));
    out
}

/// Statements that do not depend on an experiment.
pub fn common() -> Vec<(String, String)> {
    vec![
        (
            "results_latest".to_owned(),
            format!(
                "SELECT {} FROM results_latest ORDER BY experiment_id, metric, variant",
                fields::<ResultRow>()
            ),
        ),
        (
            "registry".to_owned(),
            abacus_registry::store::SELECT_ALL.to_owned(),
        ),
        (
            "server clock".to_owned(),
            "SELECT toUInt32(now())".to_owned(),
        ),
        (
            "interaction check: the newest one".to_owned(),
            crate::interactions::NEWEST_CHECK_SQL.to_owned(),
        ),
        (
            "aggregation lease: claim epoch 1".to_owned(),
            crate::lease::create_sql(1),
        ),
        (
            "aggregation lease: write the holder's row".to_owned(),
            bound(
                &crate::lease::write_sql(1),
                vec![
                    Value::Str("host pid 1".to_owned()),
                    Value::UInt(60),
                    Value::UInt(0),
                ],
            ),
        ),
        (
            "aggregation lease: list the epochs".to_owned(),
            crate::lease::LIST_EPOCHS.to_owned(),
        ),
        (
            "aggregation lease: read an epoch".to_owned(),
            crate::lease::state_sql(1),
        ),
        (
            "aggregation lease: drop an older epoch".to_owned(),
            crate::lease::drop_sql(1),
        ),
    ]
}
