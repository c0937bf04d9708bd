//! Statistics of a switchback experiment (`design = "switchback"`): a whole unit (a region)
//! switches between variants over time, one variant per (unit, window), and the analysis is
//! at that level ([`abacus_stats::compare_switchback`], clustered by unit).
//!
//! One query groups the experiment's exposures and the conversions its metrics use by (unit
//! value, window index): `w = ⌊(t − start)/window⌋` on the event time, the unit value from the
//! event's metadata. Events in the first `burn_in` of a window are not counted in the metrics
//! (the previous window's variant may still act on them) but are counted, as are events without
//! a unit value. Per cell: exposed users and, per metric, the numerator (users converting,
//! value total, events) and, for ratio metrics, the denominator events; conversion, revenue and
//! count metrics are means per exposed user of the cell. Conversions are deduplicated by
//! `event_id`, value totals summed in sorted order.
//!
//! The variant of a cell is the assignment's (`Experiment::switchback_variant`, a hash of
//! the namespace, unit value and window index), passed in as a function; cells whose exposures
//! name another variant are counted as mismatched.

use std::collections::BTreeMap;

use abacus_assign::{Experiment, Metric, MetricKind};
use abacus_schema::ClickHouse;
use abacus_stats::{compare_switchback, ClusteredResult, StatsError, UnitTotals};
use clickhouse::Row;
use serde::Deserialize;

use crate::sql::{metric_events, Statement, Value};
use crate::AggregateError;

/// What the query needs besides the definition.
#[derive(Clone, Debug)]
pub struct SwitchbackSource<'a> {
    pub experiment: &'a Experiment,
    /// The metadata key naming the unit (e.g. `region`).
    pub unit: &'a str,
    pub window_ms: i64,
    pub burn_in_ms: i64,
    pub as_of_ms: i64,
}

/// The per-metric numerator and denominator expressions of a cell (`?` values appended).
fn metric_exprs(m: &Metric, values: &mut Vec<Value>) -> (String, String) {
    let counted = "NOT is_exposure AND NOT burn AND event_name = ?";
    let mut cond = |event: &str| {
        values.push(Value::Str(event.to_owned()));
        counted
    };
    match m.kind {
        MetricKind::Conversion | MetricKind::Retention => (
            format!("toFloat64(uniqExactIf(user_id, {}))", cond(&m.event)),
            "toFloat64(users)".to_owned(),
        ),
        MetricKind::Revenue => (
            format!(
                "arraySum(arraySort(arrayMap(t -> t.2, groupUniqArrayIf((event_id, value), {}))))",
                cond(&m.event)
            ),
            "toFloat64(users)".to_owned(),
        ),
        MetricKind::Count => (
            format!("toFloat64(uniqExactIf(event_id, {}))", cond(&m.event)),
            "toFloat64(users)".to_owned(),
        ),
        MetricKind::Ratio => {
            let num = format!("toFloat64(uniqExactIf(event_id, {}))", cond(&m.event));
            let den = format!(
                "toFloat64(uniqExactIf(event_id, {}))",
                cond(m.denominator.as_deref().unwrap_or_default())
            );
            (num, den)
        }
    }
}

/// The per-(unit, window) query.
pub fn switchback_sql(src: &SwitchbackSource<'_>) -> Statement {
    let e = src.experiment;
    let mut values = Vec::new();
    let mut nums = Vec::new();
    let mut dens_values = Vec::new();
    let mut dens = Vec::new();
    for m in &e.metrics {
        let (n, d) = metric_exprs(m, &mut values);
        nums.push(n);
        // denominators' `?` come after all numerators'
        let mut own = Vec::new();
        if m.kind == MetricKind::Ratio {
            own.push(Value::Str(m.denominator.clone().unwrap_or_default()));
            // metric_exprs pushed the numerator and the denominator: move the latter
            values.pop();
        }
        dens_values.extend(own);
        dens.push(d);
    }
    values.append(&mut dens_values);
    let start = e.start.timestamp_millis();
    let end = e
        .end
        .map_or(i64::MAX, |t| t.timestamp_millis())
        .min(src.as_of_ms);
    values.extend([
        Value::Str(e.id.clone()),
        Value::Str(src.unit.to_owned()),
        Value::Int(start),
        Value::Int(src.window_ms),
        Value::Int(start),
        Value::Int(src.window_ms),
        Value::Int(src.burn_in_ms),
        Value::Str(e.id.clone()),
        Value::Str(e.id.clone()),
    ]);
    let events = metric_events(e);
    let names = vec!["?"; events.len().max(1)].join(", ");
    if events.is_empty() {
        values.push(Value::Str(String::new()));
    }
    values.extend(events.into_iter().map(Value::Str));
    values.extend([Value::Int(start), Value::Int(end)]);
    let list = |v: &[String]| {
        if v.is_empty() {
            "emptyArrayFloat64()".to_owned()
        } else {
            format!("[{}]", v.join(", "))
        }
    };
    let sql = format!(
        "SELECT unit, w, uniqExact(event_id) AS events, uniqExactIf(event_id, burn) AS burn_in_events, \
           groupUniqArrayIf(variant, is_exposure) AS variants, \
           uniqExactIf(user_id, is_exposure AND NOT burn) AS users, \
           {nums} AS num, {dens} AS den \
         FROM ( \
           SELECT user_id, event_id, event_name, variant, ifNull(event_value, 0.) AS value, \
             event_type = 'exposure' AND experiment_id = ? AS is_exposure, \
             metadata_values[indexOf(metadata_keys, ?)] AS unit, \
             intDiv(timestamp_ms - ?, ?) AS w, \
             (timestamp_ms - ?) % ? < ? AS burn \
           FROM events \
           WHERE ((event_type = 'exposure' AND experiment_id = ?) \
               OR (event_type = 'conversion' AND experiment_id IN ('', ?) AND event_name IN ({names}))) \
             AND timestamp_ms >= ? AND timestamp_ms < ? \
         ) \
         GROUP BY unit, w ORDER BY unit, w",
        nums = list(&nums),
        dens = list(&dens),
    );
    Statement { sql, values }
}

/// One (unit, window) cell.
#[derive(Clone, Debug, PartialEq, Row, Deserialize)]
pub struct CellRow {
    pub unit: String,
    pub w: i64,
    pub events: u64,
    pub burn_in_events: u64,
    /// Variants named by the cell's exposures.
    pub variants: Vec<String>,
    /// Exposed users outside the burn-in.
    pub users: u64,
    /// Per metric.
    pub num: Vec<f64>,
    /// Per metric.
    pub den: Vec<f64>,
}

/// A cell with its assigned variant.
#[derive(Clone, Debug, PartialEq)]
struct Cell {
    variant: String,
    users: u64,
    num: Vec<f64>,
    den: Vec<f64>,
}

/// Everything the switchback analysis of one experiment needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwitchbackStats {
    /// Cells by unit value, in window order.
    units: BTreeMap<String, Vec<Cell>>,
    /// Events without a value for the unit (not analysed).
    pub missing_unit_events: u64,
    /// Events in a window's burn-in (not counted in the metrics).
    pub burn_in_events: u64,
    /// Cells whose exposures name a variant other than the assigned one.
    pub mismatched_cells: u64,
}

impl SwitchbackStats {
    /// Folds the query's rows; `variant_of(unit, window)` is the assignment.
    pub fn from_rows<'v>(
        rows: &[CellRow],
        mut variant_of: impl FnMut(&str, i64) -> Option<&'v str>,
    ) -> Self {
        let mut out = SwitchbackStats::default();
        for r in rows {
            if r.unit.is_empty() {
                out.missing_unit_events += r.events;
                continue;
            }
            out.burn_in_events += r.burn_in_events;
            let Some(variant) = variant_of(&r.unit, r.w) else {
                continue;
            };
            if r.variants.iter().any(|v| v != variant) {
                out.mismatched_cells += 1;
            }
            out.units.entry(r.unit.clone()).or_default().push(Cell {
                variant: variant.to_owned(),
                users: r.users,
                num: r.num.clone(),
                den: r.den.clone(),
            });
        }
        out
    }

    /// Units with at least one cell.
    pub fn units(&self) -> u64 {
        self.units.len() as u64
    }

    /// Cells (unit × window) per variant in `order`.
    pub fn cells_per_variant(&self, order: &[&str]) -> Vec<u64> {
        order
            .iter()
            .map(|v| {
                self.units
                    .values()
                    .flatten()
                    .filter(|c| c.variant == *v)
                    .count() as u64
            })
            .collect()
    }

    /// Exposed users per variant in `order` (summed over cells: a user seen in two windows
    /// counts twice).
    pub fn exposures_per_variant(&self, order: &[&str]) -> Vec<u64> {
        order
            .iter()
            .map(|v| {
                self.units
                    .values()
                    .flatten()
                    .filter(|c| c.variant == *v)
                    .map(|c| c.users)
                    .sum()
            })
            .collect()
    }

    /// Compares metric `index` of `treatment` with control, clustered by unit.
    pub fn compare(
        &self,
        index: usize,
        control: &str,
        treatment: &str,
        alpha: f64,
    ) -> Result<ClusteredResult, StatsError> {
        let totals: Vec<UnitTotals> = self
            .units
            .values()
            .map(|cells| {
                let mut t = UnitTotals::default();
                for c in cells {
                    let (num, den) = (
                        c.num.get(index).copied().unwrap_or(0.0),
                        c.den.get(index).copied().unwrap_or(0.0),
                    );
                    if c.variant == treatment {
                        t.add(true, num, den);
                    } else if c.variant == control {
                        t.add(false, num, den);
                    }
                }
                t
            })
            .collect();
        compare_switchback(&totals, alpha)
    }
}

/// Runs the query and folds it with the assignment `variant_of`.
pub async fn read<'v>(
    ch: &ClickHouse,
    src: &SwitchbackSource<'_>,
    variant_of: impl FnMut(&str, i64) -> Option<&'v str>,
) -> Result<SwitchbackStats, AggregateError> {
    let rows = switchback_sql(src)
        .query(ch.client())
        .fetch_all::<CellRow>()
        .await
        .map_err(|e| AggregateError::query("sum the metrics per unit and window", &e))?;
    Ok(SwitchbackStats::from_rows(&rows, variant_of))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::example;

    #[test]
    fn placeholders_have_values() {
        let e = example();
        let src = SwitchbackSource {
            experiment: &e,
            unit: "region",
            window_ms: 3_600_000,
            burn_in_ms: 600_000,
            as_of_ms: e.start.timestamp_millis() + 86_400_000,
        };
        let s = switchback_sql(&src);
        assert_eq!(s.sql.matches('?').count(), s.values.len(), "{}", s.sql);
    }

    #[test]
    fn cells_fold_by_unit_and_compare() {
        let row = |unit: &str, w: i64, variants: &[&str], users: u64, num: f64| CellRow {
            unit: unit.into(),
            w,
            events: users + 3,
            burn_in_events: 1,
            variants: variants.iter().map(|s| s.to_string()).collect(),
            users,
            num: vec![num],
            den: vec![users as f64],
        };
        let mut rows = Vec::new();
        for (u, unit) in ["eu", "us", "apac", "latam"].iter().enumerate() {
            for w in 0..8 {
                let treated = (w + u as i64) % 2 == 0;
                let v = if treated { "t" } else { "c" };
                let users = 100 + 10 * w as u64 + u as u64;
                let rate = 0.1
                    + if treated { 0.02 } else { 0.0 }
                    + 0.001 * ((w * 7 + u as i64) % 5) as f64;
                rows.push(row(unit, w, &[v], users, rate * users as f64));
            }
        }
        rows.push(row("", 0, &["c"], 50, 1.0));
        rows.push(row("eu", 8, &["c"], 10, 1.0)); // assigned t below, exposures say c
        let s = SwitchbackStats::from_rows(&rows, |unit, w| {
            let u = ["eu", "us", "apac", "latam"]
                .iter()
                .position(|x| *x == unit)? as i64;
            Some(if (w + u) % 2 == 0 { "t" } else { "c" })
        });
        assert_eq!(s.missing_unit_events, 53);
        assert_eq!(s.mismatched_cells, 1);
        assert_eq!(s.units(), 4);
        assert_eq!(s.cells_per_variant(&["c", "t"]), [16, 17]);
        let r = s.compare(0, "c", "t", 0.05).unwrap();
        assert!((r.abs_lift - 0.02).abs() < 0.005, "{r:?}");
        assert_eq!(r.clusters, 4);
        assert_eq!(r.observations, 33);
    }
}
