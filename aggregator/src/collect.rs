//! Reads sufficient statistics from the user-level table in two scans: the winsorization caps
//! (one query for all winsorized metrics), then users and per-metric sums grouped by
//! (variant, day of first exposure, segment values, several-variants flag). The per-day cells,
//! the per-segment cells and the count of users excluded for seeing several variants are
//! summed from those groups here, in a fixed order.
//!
//! The queries read `experiment_users FINAL` restricted to the experiment and to rows of the
//! current base (`run_id ≥ base_run_id`; that filter commutes with `FINAL` because newer rows
//! have higher run ids), then filter `variants = 1` *after* `FINAL`. They run with
//! `max_threads = 1` so that floating-point sums are added in the same (key) order in full and
//! incremental passes: the same users give the same numbers to the last bit.

use abacus_assign::Experiment;
use abacus_schema::ClickHouse;
use clickhouse::Row;
use serde::Deserialize;

use std::collections::BTreeMap;

use crate::model::{DayCell, SegmentCell, Sums};
use crate::sql::{horizon_ms, DAY_MS};
use crate::AggregateError;

/// The current rows of one experiment (`?` = experiment id, base run id).
const CURRENT: &str =
    "(SELECT * FROM experiment_users FINAL WHERE experiment_id = ? AND run_id >= ?)";

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

    /// Per-metric sums over the users of a group, as arrays in metric order. Plain scalar
    /// aggregates per metric (no lambdas: they are several times slower on old servers);
    /// horizons and caps are numbers computed here, written as literals.
    fn sums(&self, caps: &[Option<f64>]) -> String {
        let as_of = self.as_of_ms;
        let mut n = Vec::new();
        let mut converted = Vec::new();
        let mut sx = Vec::new();
        let mut sxx = Vec::new();
        let mut sy = Vec::new();
        let mut syy = Vec::new();
        let mut sxy = Vec::new();
        for (i, m) in self.experiment.metrics.iter().enumerate() {
            let k = i + 1;
            let eligible = format!("t0_ms + {} <= {as_of}", horizon_ms(m));
            let x = match caps.get(i).copied().flatten() {
                Some(cap) => format!("least(metric_values[{k}], toFloat64({cap:?}))"),
                None => format!("metric_values[{k}]"),
            };
            let y = format!("metric_denominators[{k}]");
            n.push(format!("countIf({eligible})"));
            converted.push(format!("countIf({eligible} AND metric_values[{k}] > 0)"));
            sx.push(format!("sumIf({x}, {eligible})"));
            sxx.push(format!("sumIf({x} * {x}, {eligible})"));
            sy.push(format!("sumIf({y}, {eligible})"));
            syy.push(format!("sumIf({y} * {y}, {eligible})"));
            sxy.push(format!("sumIf({x} * {y}, {eligible})"));
        }
        let list = |items: &[String], empty: &str| {
            if items.is_empty() {
                empty.to_owned()
            } else {
                format!("[{}]", items.join(", "))
            }
        };
        let (u, f) = ("emptyArrayUInt64()", "emptyArrayFloat64()");
        format!(
            "{} AS n, {} AS converted, {} AS sx, {} AS sxx, {} AS sy, {} AS syy, {} AS sxy",
            list(&n, u),
            list(&converted, u),
            list(&sx, f),
            list(&sxx, f),
            list(&sy, f),
            list(&syy, f),
            list(&sxy, f)
        )
    }
}

/// The winsorization cap of each metric: the pooled `winsorize` quantile (exact) of the
/// per-user values over analysed users; `None` for metrics without winsorization.
pub async fn caps(ch: &ClickHouse, src: &Source<'_>) -> Result<Vec<Option<f64>>, AggregateError> {
    let metrics = &src.experiment.metrics;
    let Some(sql) = caps_sql(src) else {
        return Ok(vec![None; metrics.len()]);
    };
    let found = src
        .query(ch, &sql)
        .fetch_one::<Vec<f64>>()
        .await
        .map_err(|e| AggregateError::query("compute the winsorization caps", &e))?;
    let mut found = found.into_iter();
    Ok(metrics
        .iter()
        .map(|m| m.winsorize.and_then(|_| found.next()))
        .collect())
}

/// The caps query (`?` = experiment id, base run id), or `None` without winsorized metrics.
pub fn caps_sql(src: &Source<'_>) -> Option<String> {
    let wanted: Vec<String> = src
        .experiment
        .metrics
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.winsorize.map(|level| {
                format!(
                    "toFloat64(quantileExact({level:?})(metric_values[{}]))",
                    i + 1
                )
            })
        })
        .collect();
    (!wanted.is_empty()).then(|| {
        format!(
            "SELECT [{}] FROM {CURRENT} WHERE variants = 1",
            wanted.join(", ")
        )
    })
}

#[derive(Row, Deserialize)]
struct GroupRow {
    variant: String,
    day: i64,
    segments: Vec<String>,
    multi: u8,
    users: u64,
    n: Vec<u64>,
    converted: Vec<u64>,
    sx: Vec<f64>,
    sxx: Vec<f64>,
    sy: Vec<f64>,
    syy: Vec<f64>,
    sxy: Vec<f64>,
}

impl GroupRow {
    /// The per-metric sums of this group (the arrays are in metric order).
    fn sums(&self, metrics: usize) -> Vec<Sums> {
        let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        (0..metrics)
            .map(|i| Sums {
                n: self.n.get(i).copied().unwrap_or(0),
                converted: self.converted.get(i).copied().unwrap_or(0),
                sx: at(&self.sx, i),
                sxx: at(&self.sxx, i),
                sy: at(&self.sy, i),
                syy: at(&self.syy, i),
                sxy: at(&self.sxy, i),
            })
            .collect()
    }
}

/// Users and per-metric sums per (variant, day), per (variant, segment value), and the users
/// excluded for several variants.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cells {
    /// Per (variant, day), analysed users only, ordered by variant and day.
    pub days: Vec<DayCell>,
    /// Per (variant, segment key, value), analysed users only, ordered by key, value, variant.
    pub segments: Vec<SegmentCell>,
    /// Users exposed to two or more variants.
    pub multiple_exposure_users: u64,
}

fn add(into: &mut (u64, Vec<Sums>), users: u64, metrics: &[Sums]) {
    into.0 += users;
    if into.1.len() < metrics.len() {
        into.1.resize(metrics.len(), Sums::default());
    }
    for (a, b) in into.1.iter_mut().zip(metrics) {
        a.add(b);
    }
}

/// Reads the grouped statistics in one scan.
pub async fn cells(
    ch: &ClickHouse,
    src: &Source<'_>,
    caps: &[Option<f64>],
) -> Result<Cells, AggregateError> {
    let sql = cells_sql(src, caps);
    let rows = src
        .query(ch, &sql)
        .fetch_all::<GroupRow>()
        .await
        .map_err(|e| AggregateError::query("sum the metrics per variant, day and segment", &e))?;
    let metrics = src.experiment.metrics.len();
    let keys = &src.experiment.segments;
    let mut out = Cells::default();
    let mut days: BTreeMap<(String, i64), (u64, Vec<Sums>)> = BTreeMap::new();
    let mut segments: BTreeMap<(String, String, String), (u64, Vec<Sums>)> = BTreeMap::new();
    for r in rows {
        if r.multi == 1 {
            out.multiple_exposure_users += r.users;
            continue;
        }
        let sums = r.sums(metrics);
        add(
            days.entry((r.variant.clone(), r.day)).or_default(),
            r.users,
            &sums,
        );
        for (k, key) in keys.iter().enumerate() {
            let value = r.segments.get(k).cloned().unwrap_or_default();
            add(
                segments
                    .entry((key.clone(), value, r.variant.clone()))
                    .or_default(),
                r.users,
                &sums,
            );
        }
    }
    out.days = days
        .into_iter()
        .map(|((variant, day), (users, metrics))| DayCell {
            variant,
            day,
            users,
            metrics,
        })
        .collect();
    out.segments = segments
        .into_iter()
        .map(|((key, value, variant), (users, metrics))| SegmentCell {
            variant,
            key,
            value,
            users,
            metrics,
        })
        .collect();
    Ok(out)
}

/// The grouped statistics query (`?` = experiment id, base run id).
pub fn cells_sql(src: &Source<'_>, caps: &[Option<f64>]) -> String {
    format!(
        "SELECT variant, intDiv(t0_ms, {DAY_MS}) AS day, segment_values AS segments, \
           toUInt8(variants > 1) AS multi, count() AS users, {sums} \
         FROM {CURRENT} WHERE t0_ms < {as_of} \
         GROUP BY variant, day, segments, multi ORDER BY variant, day, segments, multi",
        sums = src.sums(caps),
        as_of = src.as_of_ms,
    )
}
