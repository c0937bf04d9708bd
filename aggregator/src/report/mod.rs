//! Reports over the newest aggregation run of each experiment: loading the run's rows back
//! from ClickHouse ([`load`]) and rendering them as a text table ([`table`]), the JSON
//! contract ([`json`]) or a self-contained HTML page with inline SVG charts ([`html`]).

pub mod html;
pub mod json;
pub mod table;

use abacus_schema::ClickHouse;
use chrono::{DateTime, Utc};
use clickhouse::RowOwned;

use crate::model::{BalanceRow, ResultRow, RunRow, SegmentRow, SeriesRow};
use crate::AggregateError;

/// The newest run of every experiment.
pub const LATEST_RUNS: &str = "SELECT ?fields FROM experiment_runs \
     WHERE (experiment_id, run_id) IN \
       (SELECT experiment_id, max(run_id) FROM experiment_runs GROUP BY experiment_id) \
     ORDER BY experiment_id";

/// Everything a report shows for one experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Human-readable name from the registry (the id when unknown).
    pub name: String,
    /// The hypothesis from the registry.
    pub hypothesis: String,
    /// Control variant.
    pub control: String,
    /// Whether the experiment uses sequential testing.
    pub sequential: bool,
    /// The run.
    pub run: RunRow,
    /// One row per metric and treatment.
    pub results: Vec<ResultRow>,
    /// Cumulative series by exposure day.
    pub series: Vec<SeriesRow>,
    /// Per segment value.
    pub segments: Vec<SegmentRow>,
    /// Covariate balance.
    pub balance: Vec<BalanceRow>,
}

impl Report {
    /// The analysis time.
    pub fn as_of(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.run.as_of_ms).unwrap_or_default()
    }

    /// When the run was computed.
    pub fn computed_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(i64::from(self.run.computed_at), 0).unwrap_or_default()
    }
}

async fn rows<T: RowOwned + clickhouse::RowRead>(
    ch: &ClickHouse,
    table: &str,
    run: &RunRow,
    order: &str,
) -> Result<Vec<T>, AggregateError> {
    ch.client()
        .query(&format!(
            "SELECT ?fields FROM {table} WHERE experiment_id = ? AND run_id = ? ORDER BY {order}"
        ))
        .bind(&run.experiment_id)
        .bind(run.run_id)
        .fetch_all::<T>()
        .await
        .map_err(|e| AggregateError::query(format!("read {table}"), &e))
}

/// Loads the newest run of `experiment`, or of every experiment with a run.
pub async fn load(
    ch: &ClickHouse,
    experiment: Option<&str>,
) -> Result<Vec<Report>, AggregateError> {
    let mut runs = ch
        .client()
        .query(LATEST_RUNS)
        .fetch_all::<RunRow>()
        .await
        .map_err(|e| AggregateError::query("read experiment_runs", &e))?;
    if let Some(id) = experiment {
        runs.retain(|r| r.experiment_id == id);
        if runs.is_empty() {
            return Err(AggregateError::NoResults(Some(id.to_owned())));
        }
    }
    if runs.is_empty() {
        return Err(AggregateError::NoResults(None));
    }
    let registry = abacus_registry::current(ch).await?;
    let mut out = Vec::new();
    for run in runs {
        let def = registry
            .iter()
            .find(|s| s.experiment.id == run.experiment_id)
            .map(|s| &s.experiment);
        let results: Vec<ResultRow> = rows(ch, "results", &run, "metric, variant").await?;
        // Metrics in definition order (primary first), as the experiment lists them.
        let mut results = results;
        if let Some(def) = def {
            let position = |m: &str| {
                def.metrics
                    .iter()
                    .position(|x| x.name == m)
                    .unwrap_or(usize::MAX)
            };
            results.sort_by_key(|r| (r.is_primary == 0, position(&r.metric), r.variant.clone()));
        }
        out.push(Report {
            name: def.map_or_else(|| run.experiment_id.clone(), |d| d.name.clone()),
            hypothesis: def.map(|d| d.hypothesis.clone()).unwrap_or_default(),
            control: def.map_or_else(
                || {
                    results
                        .first()
                        .map(|r| r.control.clone())
                        .unwrap_or_default()
                },
                |d| d.control.clone(),
            ),
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
            run,
        });
    }
    Ok(out)
}

/// A number with `digits` significant digits, without exponent for everyday magnitudes.
pub fn num(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_owned();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..=9).contains(&magnitude) {
        return format!("{x:.*e}", digits.saturating_sub(1));
    }
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A share as a percentage with sign, e.g. `+8.12%`.
pub fn pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

/// A p-value: 4 decimals, or `<0.0001`.
pub fn pvalue(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".to_owned()
    } else {
        format!("{p:.4}")
    }
}

/// The verdict of one result row, in words.
pub fn verdict(r: &ResultRow) -> String {
    if !r.error.is_empty() {
        return "no test".to_owned();
    }
    if r.is_guardrail == 1 {
        return format!("guardrail {}", r.guardrail_verdict);
    }
    let better = match r.direction.as_str() {
        "decrease" => r.abs_lift < 0.0,
        _ => r.abs_lift > 0.0,
    };
    match (r.significant == 1, better) {
        (true, true) => "better".to_owned(),
        (true, false) => "worse".to_owned(),
        (false, _) => "not significant".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(num(0.123456, 4), "0.1235");
        assert_eq!(num(1234.5678, 4), "1235");
        assert_eq!(num(5.0, 4), "5.000");
        assert_eq!(pct(0.0812), "+8.12%");
        assert_eq!(pct(-0.5), "-50.00%");
        assert_eq!(pvalue(0.00001), "<0.0001");
        assert_eq!(pvalue(0.04321), "0.0432");
    }
}
