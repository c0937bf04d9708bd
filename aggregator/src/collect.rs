//! Reads sufficient statistics from the user-level table in one scan: users and per-metric
//! aggregates grouped by (variant, day of first exposure, segment values, several-variants
//! flag). The per-day cells, the per-segment cells and the count of users excluded for seeing
//! several variants are summed from those groups here, in a fixed order.
//!
//! The query reads `experiment_users FINAL` restricted to the experiment and to rows of the
//! current base (`run_id ≥ base_run_id`; that filter commutes with `FINAL` because newer rows
//! have higher run ids), and separates users with `variants > 1` *after* `FINAL`.
//!
//! Full and incremental passes must give the same numbers to the last bit, so no sum may
//! depend on the order in which the server meets rows. Integer-valued metrics (conversion,
//! retention, count, ratio) are summed by ClickHouse: sums of integers below 2^53 are exact in
//! any order. Revenue metrics and winsorized metrics are not: their per-user values come back
//! as one array per group, the winsorization cap is the exact quantile of all of them
//! ([`exact::quantile_exact`], the server's `quantileExact`), and the capped sums are exact
//! sums ([`exact::ExactSum`]) rounded once.
//!
//! Metrics with CUPED also get `Σp, Σp², Σxp` of their covariate `p` (the same metric before
//! the first exposure), summed the same way; a winsorized metric's covariate is capped at the
//! same percentile of the pooled covariate values, so both sides are capped alike.

use abacus_assign::{Experiment, Metric, MetricKind};
use abacus_schema::ClickHouse;
use clickhouse::Row;
use serde::Deserialize;

use std::collections::BTreeMap;

use crate::exact::{quantile_exact, ExactSum};
use crate::model::{DayCell, SegmentCell, Sums};
use crate::sql::{horizon_ms, DAY_MS};
use crate::AggregateError;

/// The current rows of one experiment (`?` = experiment id, base run id).
const CURRENT: &str =
    "(SELECT * FROM experiment_users FINAL WHERE experiment_id = ? AND run_id >= ?)";

/// Whether the per-user values of `m` are summed here rather than by ClickHouse: revenue
/// values are not integers, and winsorization needs the cap over all values first.
pub fn summed_here(m: &Metric) -> bool {
    m.kind == MetricKind::Revenue || m.winsorize.is_some()
}

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
    /// Per-metric aggregates over the users of a group, as arrays in metric order. Plain
    /// scalar aggregates per metric (no lambdas: they are several times slower on old
    /// servers); horizons are numbers computed here, written as literals. Metrics summed here
    /// get `0.` sums from the server and their values in `vals` / `dens` (empty arrays for the
    /// other metrics, so that every array is indexed by metric).
    fn aggregates(&self) -> String {
        let as_of = self.as_of_ms;
        let [mut n, mut converted, mut sx, mut sxx, mut sy, mut syy, mut sxy, mut vals, mut dens] =
            [(); 9].map(|()| Vec::<String>::new());
        let [mut sp, mut spp, mut sxp, mut pvals] = [(); 4].map(|()| Vec::<String>::new());
        for (i, m) in self.experiment.metrics.iter().enumerate() {
            let k = i + 1;
            let (x, y, p) = (
                format!("metric_values[{k}]"),
                format!("metric_denominators[{k}]"),
                format!("metric_covariates[{k}]"),
            );
            let cuped = self.experiment.uses_cuped(m);
            // Rows are restricted to `t0_ms < as_of`, so only a positive horizon (retention)
            // needs an eligibility condition.
            let horizon = horizon_ms(m);
            let eligible = (horizon > 0).then(|| format!("t0_ms + {horizon} <= {as_of}"));
            let count_if = |c: &str| match &eligible {
                Some(e) => format!("countIf({e} AND {c})"),
                None => format!("countIf({c})"),
            };
            let sum = |v: &str| match &eligible {
                Some(e) => format!("sumIf({v}, {e})"),
                None => format!("sum({v})"),
            };
            n.push(
                eligible
                    .as_ref()
                    .map_or("count()".to_owned(), |e| format!("countIf({e})")),
            );
            converted.push(count_if(&format!("{x} > 0")));
            let ratio = m.kind == MetricKind::Ratio;
            let zero = || "0.".to_owned();
            let none = || "emptyArrayFloat64()".to_owned();
            if summed_here(m) {
                // Revenue and winsorized metrics are never retention: no horizon here.
                debug_assert!(eligible.is_none());
                vals.push(format!("groupArray({x})"));
                dens.push(if ratio {
                    format!("groupArray({y})")
                } else {
                    none()
                });
                pvals.push(if cuped {
                    format!("groupArray({p})")
                } else {
                    none()
                });
                for list in [
                    &mut sx, &mut sxx, &mut sy, &mut syy, &mut sxy, &mut sp, &mut spp, &mut sxp,
                ] {
                    list.push(zero());
                }
                continue;
            }
            vals.push(none());
            dens.push(none());
            pvals.push(none());
            if cuped {
                // CUPED metrics are never retention either: plain sums of integers.
                sp.push(sum(&p));
                spp.push(sum(&format!("{p} * {p}")));
                sxp.push(sum(&format!("{x} * {p}")));
            } else {
                sp.push(zero());
                spp.push(zero());
                sxp.push(zero());
            }
            sx.push(sum(&x));
            sxx.push(sum(&format!("{x} * {x}")));
            if ratio {
                sy.push(sum(&y));
                syy.push(sum(&format!("{y} * {y}")));
                sxy.push(sum(&format!("{x} * {y}")));
            } else {
                sy.push(zero());
                syy.push(zero());
                sxy.push(zero());
            }
        }
        let list = |items: &[String], empty: &str| {
            if items.is_empty() {
                empty.to_owned()
            } else {
                format!("[{}]", items.join(", "))
            }
        };
        let (u, f, ff) = (
            "emptyArrayUInt64()",
            "emptyArrayFloat64()",
            "arrayResize([emptyArrayFloat64()], 0)",
        );
        format!(
            "{} AS n, {} AS converted, {} AS sx, {} AS sxx, {} AS sy, {} AS syy, {} AS sxy, \
             {} AS vals, {} AS dens, {} AS sp, {} AS spp, {} AS sxp, {} AS pvals",
            list(&n, u),
            list(&converted, u),
            list(&sx, f),
            list(&sxx, f),
            list(&sy, f),
            list(&syy, f),
            list(&sxy, f),
            list(&vals, ff),
            list(&dens, ff),
            list(&sp, f),
            list(&spp, f),
            list(&sxp, f),
            list(&pvals, ff)
        )
    }
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
    /// Per metric: the users' values for metrics summed here, else empty.
    vals: Vec<Vec<f64>>,
    /// Per metric: the users' denominators for ratio metrics summed here, else empty.
    dens: Vec<Vec<f64>>,
    sp: Vec<f64>,
    spp: Vec<f64>,
    sxp: Vec<f64>,
    /// Per metric: the users' covariates for CUPED metrics summed here, else empty.
    pvals: Vec<Vec<f64>>,
}

impl GroupRow {
    /// The per-metric sums of this group (the arrays are in metric order); metrics summed
    /// here use their caps (of the values and of the covariates).
    fn sums(&self, metrics: &[Metric], caps: &[Option<f64>], pcaps: &[Option<f64>]) -> Vec<Sums> {
        let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        let empty = Vec::new();
        metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut sums = Sums {
                    n: self.n.get(i).copied().unwrap_or(0),
                    converted: self.converted.get(i).copied().unwrap_or(0),
                    sx: at(&self.sx, i),
                    sxx: at(&self.sxx, i),
                    sy: at(&self.sy, i),
                    syy: at(&self.syy, i),
                    sxy: at(&self.sxy, i),
                    sp: at(&self.sp, i),
                    spp: at(&self.spp, i),
                    sxp: at(&self.sxp, i),
                };
                if summed_here(m) {
                    let xs = self.vals.get(i).unwrap_or(&empty);
                    let ys = self.dens.get(i).unwrap_or(&empty);
                    exact_sums(&mut sums, xs, ys, caps.get(i).copied().flatten());
                    let ps = self.pvals.get(i).unwrap_or(&empty);
                    if !ps.is_empty() {
                        let cap = caps.get(i).copied().flatten();
                        let pcap = pcaps.get(i).copied().flatten();
                        covariate_sums(&mut sums, xs, ps, cap, pcap);
                    }
                }
                sums
            })
            .collect()
    }
}

/// Fills the float sums of `sums` from per-user values `xs` (capped at `cap`) and
/// denominators `ys` (empty when the metric has none), exactly.
fn exact_sums(sums: &mut Sums, xs: &[f64], ys: &[f64], cap: Option<f64>) {
    let capped = |v: f64| cap.map_or(v, |c| v.min(c));
    let [mut sx, mut sxx, mut sy, mut syy, mut sxy] = [(); 5].map(|()| ExactSum::new());
    for (i, &v) in xs.iter().enumerate() {
        let x = capped(v);
        sx.add(x);
        sxx.add(x * x);
        if let Some(&y) = ys.get(i) {
            sy.add(y);
            syy.add(y * y);
            sxy.add(x * y);
        }
    }
    sums.sx = sx.value();
    sums.sxx = sxx.value();
    sums.sy = sy.value();
    sums.syy = syy.value();
    sums.sxy = sxy.value();
}

/// Fills the covariate sums of `sums` from per-user values `xs` (capped at `cap`) and
/// covariates `ps` (capped at `pcap`), exactly.
fn covariate_sums(sums: &mut Sums, xs: &[f64], ps: &[f64], cap: Option<f64>, pcap: Option<f64>) {
    let capped = |v: f64, c: Option<f64>| c.map_or(v, |c| v.min(c));
    let [mut sp, mut spp, mut sxp] = [(); 3].map(|()| ExactSum::new());
    for (&x, &p) in xs.iter().zip(ps) {
        let (x, p) = (capped(x, cap), capped(p, pcap));
        sp.add(p);
        spp.add(p * p);
        sxp.add(x * p);
    }
    sums.sp = sp.value();
    sums.spp = spp.value();
    sums.sxp = sxp.value();
}

/// Users and per-metric sums per (variant, day), per (variant, segment value), the users
/// excluded for several variants, and the winsorization caps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cells {
    /// Per (variant, day), analysed users only, ordered by variant and day.
    pub days: Vec<DayCell>,
    /// Per (variant, segment key, value), analysed users only, ordered by key, value, variant.
    pub segments: Vec<SegmentCell>,
    /// Users exposed to two or more variants.
    pub multiple_exposure_users: u64,
    /// Per metric: the winsorization cap, the pooled `winsorize` quantile (exact) of the
    /// per-user values of analysed users; `None` for metrics without winsorization.
    pub caps: Vec<Option<f64>>,
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

/// The caps of `metrics` from the values (`covariates = false`) or the CUPED covariates of
/// single-variant groups.
fn caps(metrics: &[Metric], rows: &[GroupRow], covariates: bool) -> Vec<Option<f64>> {
    metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let level = m.winsorize?;
            let mut all: Vec<f64> = rows
                .iter()
                .filter(|r| r.multi == 0)
                .filter_map(|r| {
                    if covariates {
                        r.pvals.get(i)
                    } else {
                        r.vals.get(i)
                    }
                })
                .flatten()
                .copied()
                .collect();
            quantile_exact(&mut all, level)
        })
        .collect()
}

/// Reads the grouped statistics in one scan.
pub async fn cells(ch: &ClickHouse, src: &Source<'_>) -> Result<Cells, AggregateError> {
    let sql = cells_sql(src);
    let rows = ch
        .client()
        .query(&sql)
        .bind(&src.experiment.id)
        .bind(src.base_run_id)
        .fetch_all::<GroupRow>()
        .await
        .map_err(|e| AggregateError::query("sum the metrics per variant, day and segment", &e))?;
    let metrics = &src.experiment.metrics;
    let keys = &src.experiment.segments;
    let mut out = Cells {
        caps: caps(metrics, &rows, false),
        ..Cells::default()
    };
    let covariate_caps = caps(metrics, &rows, true);
    let mut days: BTreeMap<(String, i64), (u64, Vec<Sums>)> = BTreeMap::new();
    let mut segments: BTreeMap<(String, String, String), (u64, Vec<Sums>)> = BTreeMap::new();
    for r in rows {
        if r.multi == 1 {
            out.multiple_exposure_users += r.users;
            continue;
        }
        let sums = r.sums(metrics, &out.caps, &covariate_caps);
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
pub fn cells_sql(src: &Source<'_>) -> String {
    format!(
        "SELECT variant, intDiv(t0_ms, {DAY_MS}) AS day, segment_values AS segments, \
           toUInt8(variants > 1) AS multi, count() AS users, {aggregates} \
         FROM {CURRENT} WHERE t0_ms < {as_of} \
         GROUP BY variant, day, segments, multi ORDER BY variant, day, segments, multi",
        aggregates = src.aggregates(),
        as_of = src.as_of_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::example;

    #[test]
    fn capped_sums_are_exact_and_ratio_sums_use_denominators() {
        let mut s = Sums::default();
        exact_sums(&mut s, &[1e16, 1.0, 1e-16, 50.0], &[], Some(20.0));
        // capped: 20 + 1 + 1e-16 + 20
        assert_eq!(s.sx, 41.0);
        assert_eq!(s.sxx, 400.0 + 1.0 + 1e-32 + 400.0);
        assert_eq!((s.sy, s.syy, s.sxy), (0.0, 0.0, 0.0));
        exact_sums(&mut s, &[2.0, 3.0], &[4.0, 5.0], None);
        assert_eq!(
            (s.sx, s.sxx, s.sy, s.syy, s.sxy),
            (5.0, 13.0, 9.0, 41.0, 23.0)
        );
    }

    #[test]
    fn covariate_sums_cap_both_sides() {
        let mut s = Sums::default();
        covariate_sums(
            &mut s,
            &[1.0, 50.0, 3.0],
            &[2.0, 0.0, 100.0],
            Some(20.0),
            Some(10.0),
        );
        // x capped at 20, p at 10: p = 2, 0, 10; x·p = 2, 0, 30
        assert_eq!((s.sp, s.spp, s.sxp), (12.0, 104.0, 32.0));
    }

    #[test]
    fn float_metrics_come_back_as_values_and_integer_metrics_as_sums() {
        let e = example();
        let src = Source {
            experiment: &e,
            base_run_id: 1,
            as_of_ms: 10,
        };
        let sql = cells_sql(&src);
        let revenue = e.metrics.iter().filter(|m| summed_here(m)).count();
        assert!(revenue > 0, "the example has revenue metrics");
        // One array of values per revenue metric, one of covariates when it uses CUPED.
        let covariates = e
            .metrics
            .iter()
            .filter(|m| summed_here(m) && e.uses_cuped(m))
            .count();
        assert_eq!(
            sql.matches("groupArray").count(),
            revenue + covariates,
            "{sql}"
        );
        let integer_cuped = e
            .metrics
            .iter()
            .filter(|m| !summed_here(m) && e.uses_cuped(m))
            .count();
        assert_eq!(
            sql.matches("* metric_covariates[").count(),
            2 * integer_cuped,
            "Σp² and Σxp of every integer CUPED metric: {sql}"
        );
        assert_eq!(sql.matches('?').count(), 2);
    }
}
