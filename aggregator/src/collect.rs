//! Reads sufficient statistics from the user-level table: winsorization caps, users and
//! per-metric sums per (variant, day of first exposure) and per (variant, segment value),
//! and the number of users excluded for seeing several variants.
//!
//! The queries read `experiment_users FINAL` restricted to the experiment and to rows of the
//! current base (`run_id ≥ base_run_id`; that filter commutes with `FINAL` because newer rows
//! have higher run ids), then filter `variants = 1` *after* `FINAL`. They run with
//! `max_threads = 1` so that floating-point sums are added in the same (key) order in full and
//! incremental passes: the same users give the same numbers to the last bit.
//!
//! ClickHouse 18.16 drops subquery columns that are referenced only inside a lambda, so every
//! query also names `t0_ms` outside one (`t0_ms < as_of`, which always holds).

use abacus_assign::Experiment;
use abacus_schema::ClickHouse;
use clickhouse::Row;
use serde::Deserialize;

use crate::model::{DayCell, SegmentCell, Sums};
use crate::sql::{horizon_ms, DAY_MS};
use crate::AggregateError;

/// The current rows of one experiment (`?` = experiment id, base run id).
const CURRENT: &str =
    "(SELECT * FROM experiment_users FINAL WHERE experiment_id = ? AND run_id >= ?)";

/// Per-metric sums over the users of a group; `WITH` names: `as_of`, `horizons`, `caps`,
/// `has_cap`.
const SUMS: &str = "\
    sumForEach(arrayMap(h -> toUInt64(t0_ms + h <= as_of), horizons)) AS n, \
    sumForEach(arrayMap((x, h) -> toUInt64(t0_ms + h <= as_of AND x > 0), metric_values, horizons)) AS converted, \
    sumForEach(arrayMap((x, h, c, hc) -> if(t0_ms + h <= as_of, if(hc, least(x, c), x), 0.), metric_values, horizons, caps, has_cap)) AS sx, \
    sumForEach(arrayMap((x, h, c, hc) -> if(t0_ms + h <= as_of, pow(if(hc, least(x, c), x), 2), 0.), metric_values, horizons, caps, has_cap)) AS sxx, \
    sumForEach(arrayMap((y, h) -> if(t0_ms + h <= as_of, y, 0.), metric_denominators, horizons)) AS sy, \
    sumForEach(arrayMap((y, h) -> if(t0_ms + h <= as_of, y * y, 0.), metric_denominators, horizons)) AS syy, \
    sumForEach(arrayMap((x, y, h, c, hc) -> if(t0_ms + h <= as_of, if(hc, least(x, c), x) * y, 0.), metric_values, metric_denominators, horizons, caps, has_cap)) AS sxy";

/// What the statistics are computed over.
#[derive(Clone, Debug)]
pub struct Source<'a> {
    /// The experiment.
    pub experiment: &'a Experiment,
    /// Rows older than this run are stale.
    pub base_run_id: u64,
    /// Analysis time, epoch ms (retention eligibility).
    pub as_of_ms: i64,
}

impl Source<'_> {
    fn query(&self, ch: &ClickHouse, sql: &str) -> clickhouse::query::Query {
        ch.client()
            .query(sql)
            .bind(&self.experiment.id)
            .bind(self.base_run_id)
            .with_setting("max_threads", "1")
    }

    fn with(&self, caps: &[Option<f64>]) -> String {
        let horizons: Vec<String> = self
            .experiment
            .metrics
            .iter()
            .map(|m| format!("toInt64({})", horizon_ms(m)))
            .collect();
        let cap_values: Vec<String> = caps
            .iter()
            .map(|c| format!("toFloat64({:?})", c.unwrap_or(0.0)))
            .collect();
        let has_cap: Vec<&str> = caps
            .iter()
            .map(|c| if c.is_some() { "1" } else { "0" })
            .collect();
        format!(
            "WITH toInt64({}) AS as_of, [{}] AS horizons, [{}] AS caps, [{}] AS has_cap",
            self.as_of_ms,
            horizons.join(", "),
            cap_values.join(", "),
            has_cap.join(", ")
        )
    }
}

/// The winsorization cap of each metric: the pooled `winsorize` quantile (exact) of the
/// per-user values over analysed users; `None` for metrics without winsorization.
pub async fn caps(ch: &ClickHouse, src: &Source<'_>) -> Result<Vec<Option<f64>>, AggregateError> {
    let mut out = Vec::new();
    for (i, m) in src.experiment.metrics.iter().enumerate() {
        let Some(level) = m.winsorize else {
            out.push(None);
            continue;
        };
        let sql = format!(
            "SELECT toFloat64(quantileExact({level:?})(metric_values[{}])) FROM {CURRENT} WHERE variants = 1",
            i + 1
        );
        let cap = src
            .query(ch, &sql)
            .fetch_one::<f64>()
            .await
            .map_err(|e| AggregateError::query(format!("compute the cap of {}", m.name), &e))?;
        out.push(Some(cap));
    }
    Ok(out)
}

#[derive(Row, Deserialize)]
struct DayRow {
    variant: String,
    day: i64,
    users: u64,
    n: Vec<u64>,
    converted: Vec<u64>,
    sx: Vec<f64>,
    sxx: Vec<f64>,
    sy: Vec<f64>,
    syy: Vec<f64>,
    sxy: Vec<f64>,
}

#[derive(Row, Deserialize)]
struct SegmentRow {
    variant: String,
    key: String,
    value: String,
    users: u64,
    n: Vec<u64>,
    converted: Vec<u64>,
    sx: Vec<f64>,
    sxx: Vec<f64>,
    sy: Vec<f64>,
    syy: Vec<f64>,
    sxy: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
fn zip_sums(
    n: &[u64],
    converted: &[u64],
    sx: &[f64],
    sxx: &[f64],
    sy: &[f64],
    syy: &[f64],
    sxy: &[f64],
    metrics: usize,
) -> Vec<Sums> {
    (0..metrics)
        .map(|i| Sums {
            n: n.get(i).copied().unwrap_or(0),
            converted: converted.get(i).copied().unwrap_or(0),
            sx: sx.get(i).copied().unwrap_or(0.0),
            sxx: sxx.get(i).copied().unwrap_or(0.0),
            sy: sy.get(i).copied().unwrap_or(0.0),
            syy: syy.get(i).copied().unwrap_or(0.0),
            sxy: sxy.get(i).copied().unwrap_or(0.0),
        })
        .collect()
}

/// Users and sums per (variant, day of first exposure).
pub async fn days(
    ch: &ClickHouse,
    src: &Source<'_>,
    caps: &[Option<f64>],
) -> Result<Vec<DayCell>, AggregateError> {
    let sql = format!(
        "{with} SELECT variant, intDiv(t0_ms, {DAY_MS}) AS day, count() AS users, {SUMS} \
         FROM {CURRENT} WHERE variants = 1 AND t0_ms < as_of GROUP BY variant, day ORDER BY variant, day",
        with = src.with(caps)
    );
    let rows = src
        .query(ch, &sql)
        .fetch_all::<DayRow>()
        .await
        .map_err(|e| AggregateError::query("sum the metrics per variant and day", &e))?;
    let metrics = src.experiment.metrics.len();
    Ok(rows
        .into_iter()
        .map(|r| DayCell {
            metrics: zip_sums(
                &r.n,
                &r.converted,
                &r.sx,
                &r.sxx,
                &r.sy,
                &r.syy,
                &r.sxy,
                metrics,
            ),
            variant: r.variant,
            day: r.day,
            users: r.users,
        })
        .collect())
}

/// Users and sums per (variant, segment key, segment value).
pub async fn segments(
    ch: &ClickHouse,
    src: &Source<'_>,
    caps: &[Option<f64>],
) -> Result<Vec<SegmentCell>, AggregateError> {
    if src.experiment.segments.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{with} SELECT variant, key, value, count() AS users, {SUMS} \
         FROM {CURRENT} ARRAY JOIN segment_keys AS key, segment_values AS value \
         WHERE variants = 1 AND t0_ms < as_of GROUP BY variant, key, value ORDER BY key, value, variant",
        with = src.with(caps)
    );
    let rows = src
        .query(ch, &sql)
        .fetch_all::<SegmentRow>()
        .await
        .map_err(|e| AggregateError::query("sum the metrics per segment", &e))?;
    let metrics = src.experiment.metrics.len();
    Ok(rows
        .into_iter()
        .map(|r| SegmentCell {
            metrics: zip_sums(
                &r.n,
                &r.converted,
                &r.sx,
                &r.sxx,
                &r.sy,
                &r.syy,
                &r.sxy,
                metrics,
            ),
            variant: r.variant,
            key: r.key,
            value: r.value,
            users: r.users,
        })
        .collect())
}

/// Users excluded because they were exposed to two or more variants.
pub async fn multiple_exposure_users(
    ch: &ClickHouse,
    src: &Source<'_>,
) -> Result<u64, AggregateError> {
    src.query(
        ch,
        &format!("SELECT count() FROM {CURRENT} WHERE variants > 1"),
    )
    .fetch_one::<u64>()
    .await
    .map_err(|e| AggregateError::query("count users with several variants", &e))
}
