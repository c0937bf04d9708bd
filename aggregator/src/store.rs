//! Writes the rows of an [`Analysis`] to the result tables.

use abacus_schema::ClickHouse;

use crate::model::Analysis;
use crate::AggregateError;

pub(crate) async fn insert<T>(
    ch: &ClickHouse,
    table: &str,
    rows: &[T],
) -> Result<(), AggregateError>
where
    T: clickhouse::RowOwned + clickhouse::RowWrite,
{
    if rows.is_empty() {
        return Ok(());
    }
    let context = format!("write {} rows to {table}", rows.len());
    let mut insert = ch
        .client()
        .insert::<T>(table)
        .await
        .map_err(|e| AggregateError::query(&context, &e))?;
    for row in rows {
        insert
            .write(row)
            .await
            .map_err(|e| AggregateError::query(&context, &e))?;
    }
    insert
        .end()
        .await
        .map_err(|e| AggregateError::query(&context, &e))
}

/// Writes series, segments, balance and results, then the run row last: a run is visible in
/// `results_latest` (which follows `experiment_runs`) only once all its rows are written.
pub async fn write(ch: &ClickHouse, analysis: &Analysis) -> Result<(), AggregateError> {
    insert(ch, "results_series", &analysis.series).await?;
    insert(ch, "results_segments", &analysis.segments).await?;
    insert(ch, "results_balance", &analysis.balance).await?;
    insert(ch, "results", &analysis.results).await?;
    if let Some(run) = &analysis.run {
        insert(ch, "experiment_runs", std::slice::from_ref(run)).await?;
    }
    Ok(())
}
