//! Reading runs back from the result tables (`experiment_runs`, `results`, `results_series`,
//! `results_segments`, `results_balance`), with the registry's names and metric order.

use abacus_aggregator::interactions::InteractionRow;
use abacus_aggregator::model::{ResultRow, RunRow};
use abacus_assign::Experiment;
use abacus_schema::ClickHouse;
use clickhouse::RowOwned;

use crate::{Report, ReportError};

/// The newest run of every experiment.
pub const LATEST_RUNS: &str = "SELECT ?fields FROM experiment_runs \
     WHERE (experiment_id, run_id) IN \
       (SELECT experiment_id, max(run_id) FROM experiment_runs GROUP BY experiment_id) \
     ORDER BY experiment_id";

/// The statement reading the rows of one run from `table`, ordered by `order`.
pub fn rows_sql(table: &str, order: &str) -> String {
    format!("SELECT ?fields FROM {table} WHERE experiment_id = ? AND run_id = ? ORDER BY {order}")
}

async fn rows<T: RowOwned + clickhouse::RowRead>(
    ch: &ClickHouse,
    table: &str,
    run: &RunRow,
    order: &str,
) -> Result<Vec<T>, ReportError> {
    ch.client()
        .query(&rows_sql(table, order))
        .bind(&run.experiment_id)
        .bind(run.run_id)
        .fetch_all::<T>()
        .await
        .map_err(|e| ReportError::query(format!("read {table}"), &e))
}

/// The tests of the newest interaction check that involve one experiment (`?` twice), flagged
/// first.
pub const LATEST_INTERACTIONS: &str = "SELECT ?fields FROM results_interactions \
     WHERE run_id = (SELECT max(run_id) FROM results_interactions) \
       AND (experiment_a = ? OR experiment_b = ?) \
     ORDER BY flagged DESC, p_value_adjusted, experiment_a, experiment_b";

/// The newest interaction check's rows involving `experiment`.
pub async fn interactions(
    ch: &ClickHouse,
    experiment: &str,
) -> Result<Vec<InteractionRow>, ReportError> {
    ch.client()
        .query(LATEST_INTERACTIONS)
        .bind(experiment)
        .bind(experiment)
        .fetch_all::<InteractionRow>()
        .await
        .map_err(|e| ReportError::query("read results_interactions", &e))
}

/// Every run of one experiment, newest first.
pub const RUNS_OF: &str =
    "SELECT ?fields FROM experiment_runs WHERE experiment_id = ? ORDER BY run_id DESC";

/// The primary metrics' results of every run of one experiment (the run history).
pub const PRIMARY_HISTORY: &str = "SELECT ?fields FROM results \
     WHERE experiment_id = ? AND is_primary = 1 ORDER BY run_id, metric, variant";

/// The newest run of every experiment with a run.
pub async fn latest_runs(ch: &ClickHouse) -> Result<Vec<RunRow>, ReportError> {
    ch.client()
        .query(LATEST_RUNS)
        .fetch_all::<RunRow>()
        .await
        .map_err(|e| ReportError::query("read experiment_runs", &e))
}

/// Every run of `experiment`, newest first.
pub async fn runs_of(ch: &ClickHouse, experiment: &str) -> Result<Vec<RunRow>, ReportError> {
    ch.client()
        .query(RUNS_OF)
        .bind(experiment)
        .fetch_all::<RunRow>()
        .await
        .map_err(|e| ReportError::query("read experiment_runs", &e))
}

/// The primary metrics' result rows of every run of `experiment`, oldest run first.
pub async fn primary_history(
    ch: &ClickHouse,
    experiment: &str,
) -> Result<Vec<ResultRow>, ReportError> {
    ch.client()
        .query(PRIMARY_HISTORY)
        .bind(experiment)
        .fetch_all::<ResultRow>()
        .await
        .map_err(|e| ReportError::query("read the run history from results", &e))
}

/// Loads the newest run of `experiment`, or of every experiment with a run.
pub async fn load(ch: &ClickHouse, experiment: Option<&str>) -> Result<Vec<Report>, ReportError> {
    let mut runs = latest_runs(ch).await?;
    if let Some(id) = experiment {
        runs.retain(|r| r.experiment_id == id);
        if runs.is_empty() {
            return Err(ReportError::NoResults(Some(id.to_owned())));
        }
    }
    if runs.is_empty() {
        return Err(ReportError::NoResults(None));
    }
    let registry = abacus_registry::current(ch).await?;
    let mut out = Vec::new();
    for run in runs {
        let def = registry
            .iter()
            .find(|s| s.experiment.id == run.experiment_id)
            .map(|s| &s.experiment);
        out.push(load_run(ch, run, def).await?);
    }
    Ok(out)
}

/// Sorts result rows in definition order (primary metrics first), as the experiment lists them.
pub fn sort_results(results: &mut [ResultRow], def: Option<&Experiment>) {
    if let Some(def) = def {
        let position = |m: &str| {
            def.metrics
                .iter()
                .position(|x| x.name == m)
                .unwrap_or(usize::MAX)
        };
        results.sort_by_key(|r| (r.is_primary == 0, position(&r.metric), r.variant.clone()));
    }
}

/// Reads the rows of `run` into a report, with names from `def`.
pub async fn load_run(
    ch: &ClickHouse,
    run: RunRow,
    def: Option<&Experiment>,
) -> Result<Report, ReportError> {
    let mut results: Vec<ResultRow> = rows(ch, "results", &run, "metric, variant").await?;
    sort_results(&mut results, def);
    let control = def.map_or_else(
        || {
            results
                .first()
                .map(|r| r.control.clone())
                .unwrap_or_default()
        },
        |d| d.control.clone(),
    );
    Ok(Report {
        name: def.map_or_else(|| run.experiment_id.clone(), |d| d.name.clone()),
        hypothesis: def.map(|d| d.hypothesis.clone()).unwrap_or_default(),
        baseline: control.clone(),
        control,
        definition: def.cloned(),
        sequential: def.is_some_and(|d| d.sequential),
        results,
        series: rows(ch, "results_series", &run, "metric, variant, day").await?,
        segments: rows(
            ch,
            "results_segments",
            &run,
            "metric, segment_key, segment_value, variant",
        )
        .await?,
        balance: rows(
            ch,
            "results_balance",
            &run,
            "segment_key, segment_value, variant",
        )
        .await?,
        interactions: interactions(ch, &run.experiment_id).await?,
        run,
    })
}
