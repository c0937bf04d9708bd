//! The SQL that materializes the user-level table `experiment_users` for one experiment.
//!
//! One `INSERT … SELECT` per experiment reads the experiment's exposures and the conversions
//! its metrics use, groups them by user and computes, per user: the variant and time `t0` of
//! the first exposure, the number of distinct variants seen, the segment values of the first
//! exposure and one value per metric, following the attribution rules in the README:
//!
//! - exposures of E count when their time lies in E's `[start, end)` and before the analysis
//!   time (`as_of`);
//! - a conversion counts for E when it is untagged or tagged with E (the filter
//!   `experiment_id IN ('', E)`), its event name is the metric's, its time is `≥ t0`, before
//!   `as_of` and inside the metric's window; the variant written on a conversion is never read;
//! - conversions are collected with `groupUniqArray` over `(event_id, event_name, time,
//!   value)`, so an event stored twice counts once;
//! - for a metric with CUPED the covariate is the same metric over `[t0 − pre_period, t0)`
//!   (`metric_covariates`; 0 for other metrics and for users without history). Conversions
//!   have no lower time bound in the filter, so the history is already among the user's
//!   conversions, and a late history event is "written since the watermark" like any other.
//!   The pre-period conversions are filtered once per user (`pre_convs`), so each covariate
//!   scans only them.
//!
//! Nothing may depend on the order in which the server reads events, or an incremental pass
//! could differ from a full one in the last bit: the conversions are sorted before a metric
//! sums their values, and ties between exposures at the same millisecond are broken by
//! `event_id`.
//!
//! An incremental pass adds `user_id IN (touched users)`: users with an event of E written
//! since the watermark, or with an event whose time moved inside the analysis horizon since
//! the previous pass. Every value is bound with `?`; the structure of the statement depends
//! only on the experiment's metrics.

use abacus_assign::{Experiment, Metric, MetricKind};
use serde::Serialize;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A value bound to a `?` of a statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
}

/// A statement with its bound values, in `?` order.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// SQL with `?` placeholders.
    pub sql: String,
    /// Values for the placeholders.
    pub values: Vec<Value>,
}

impl Statement {
    /// The statement with every value written as a SQL literal (for printing and for
    /// checking the SQL on other ClickHouse versions; execution binds with `?`).
    pub fn render(&self) -> String {
        let mut values = self.values.iter();
        let mut out = String::with_capacity(self.sql.len() + 64);
        for (i, part) in self.sql.split('?').enumerate() {
            if i > 0 {
                match values.next() {
                    Some(Value::Str(s)) => {
                        out.push('\'');
                        out.push_str(&s.replace('\\', "\\\\").replace('\'', "\\'"));
                        out.push('\'');
                    }
                    Some(Value::Int(n)) => out.push_str(&n.to_string()),
                    Some(Value::UInt(n)) => out.push_str(&n.to_string()),
                    None => out.push('?'),
                }
            }
            out.push_str(part);
        }
        out
    }

    /// The `clickhouse` query with every value bound.
    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        self.values
            .iter()
            .fold(client.query(&self.sql), |q, v| q.bind(v))
    }
}

/// Which users a pass recomputes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every user of the experiment.
    Full,
    /// Users with an event written at or after `written_since` (Unix seconds), or with an
    /// event time in `[time_from_ms, time_to_ms)`.
    Touched {
        /// Lower bound of `ingested_at`, Unix seconds.
        written_since: u32,
        /// Lower bound of event times that were beyond the previous analysis time.
        time_from_ms: i64,
        /// The new analysis time.
        time_to_ms: i64,
    },
}

/// The event names the metrics of `e` read (numerators and denominators), sorted, unique.
pub fn metric_events(e: &Experiment) -> Vec<String> {
    let mut names: Vec<String> = e
        .metrics
        .iter()
        .flat_map(|m| std::iter::once(m.event.clone()).chain(m.denominator.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The time after `t0` until which a metric's value can still change, in ms: the end of the
/// retention period (`(to_day + 1)` days); 0 for the other kinds. A user counts for a
/// retention metric only when `t0 + horizon ≤ as_of`.
pub fn horizon_ms(m: &Metric) -> i64 {
    match m.kind {
        MetricKind::Retention => (i64::from(m.to_day.unwrap_or(0)) + 1) * DAY_MS,
        _ => 0,
    }
}

/// Builder for the `WHERE` filter of E's relevant events.
fn relevant_filter(e: &Experiment, as_of_ms: i64, values: &mut Vec<Value>) -> String {
    let start = e.start.timestamp_millis();
    let end = e.end.map_or(i64::MAX, |t| t.timestamp_millis());
    let events = metric_events(e);
    let names = vec!["?"; events.len().max(1)].join(", ");
    values.extend([
        Value::Str(e.id.clone()),
        Value::Int(start),
        Value::Int(end),
        Value::Str(e.id.clone()),
    ]);
    if events.is_empty() {
        values.push(Value::Str(String::new()));
    }
    values.extend(events.into_iter().map(Value::Str));
    values.push(Value::Int(as_of_ms));
    format!(
        "((event_type = 'exposure' AND experiment_id = ? AND timestamp_ms >= ? AND timestamp_ms < ?) \
          OR (event_type = 'conversion' AND experiment_id IN ('', ?) AND event_name IN ({names}))) \
         AND timestamp_ms < ?"
    )
}

/// A list of strings as SQL: `?` placeholders in an array, or an empty `Array(String)`.
fn string_array(items: &[String], values: &mut Vec<Value>) -> String {
    if items.is_empty() {
        return "emptyArrayString()".to_owned();
    }
    values.extend(items.iter().cloned().map(Value::Str));
    format!("[{}]", vec!["?"; items.len()].join(", "))
}

/// The per-user CUPED covariate of `m`: the metric's value over the user's pre-period
/// conversions `pre_convs`; its values go to `values`.
fn covariate_expr(m: &Metric, values: &mut Vec<Value>) -> String {
    values.push(Value::Str(m.event.clone()));
    let c = "c.2 = ?";
    match m.kind {
        MetricKind::Revenue => format!("arraySum(c -> if({c}, c.4, 0.), pre_convs)"),
        MetricKind::Count => format!("toFloat64(arrayCount(c -> {c}, pre_convs))"),
        _ => format!("toFloat64(arrayExists(c -> {c}, pre_convs))"),
    }
}

/// The per-user expression of one metric: `(numerator, denominator)`. The numerator's values
/// go to `values`, the denominator's to `den_values` (the statement lists all numerators
/// before all denominators).
fn metric_expr(
    m: &Metric,
    values: &mut Vec<Value>,
    den_values: &mut Vec<Value>,
) -> (String, String) {
    // c.1 = event_id, c.2 = event_name, c.3 = time (ms), c.4 = value
    let cond = |event: &str, values: &mut Vec<Value>| -> String {
        values.push(Value::Str(event.to_owned()));
        match (m.kind, m.window) {
            (MetricKind::Retention, _) => {
                values.push(Value::Int(i64::from(m.from_day.unwrap_or(0)) * DAY_MS));
                values.push(Value::Int(horizon_ms(m)));
                "c.2 = ? AND c.3 >= t0 + ? AND c.3 < t0 + ?".to_owned()
            }
            (_, Some(w)) => {
                values.push(Value::Int(
                    i64::try_from(w.seconds().saturating_mul(1000)).unwrap_or(i64::MAX / 2),
                ));
                "c.2 = ? AND c.3 >= t0 AND c.3 < t0 + ?".to_owned()
            }
            (_, None) => "c.2 = ? AND c.3 >= t0".to_owned(),
        }
    };
    match m.kind {
        MetricKind::Conversion | MetricKind::Retention => {
            let c = cond(&m.event, values);
            (
                format!("toFloat64(arrayExists(c -> {c}, convs))"),
                "0.".into(),
            )
        }
        MetricKind::Revenue => {
            let c = cond(&m.event, values);
            (
                format!("arraySum(c -> if({c}, c.4, 0.), convs)"),
                "0.".into(),
            )
        }
        MetricKind::Count => {
            let c = cond(&m.event, values);
            (
                format!("toFloat64(arrayCount(c -> {c}, convs))"),
                "0.".into(),
            )
        }
        MetricKind::Ratio => {
            let num = cond(&m.event, values);
            let den = cond(m.denominator.as_deref().unwrap_or_default(), den_values);
            (
                format!("toFloat64(arrayCount(c -> {num}, convs))"),
                format!("toFloat64(arrayCount(c -> {den}, convs))"),
            )
        }
    }
}

/// The `INSERT … SELECT` that writes the user rows of `e` for `scope`, stamped `run_id`.
pub fn materialize(e: &Experiment, scope: Scope, as_of_ms: i64, run_id: u64) -> Statement {
    let mut values = vec![Value::Str(e.id.clone())];
    let segment_keys = string_array(&e.segments, &mut values);
    let names: Vec<String> = e.metrics.iter().map(|m| m.name.clone()).collect();
    let metric_names = string_array(&names, &mut values);
    let mut numerators = Vec::new();
    let mut denominators = Vec::new();
    let mut covariates = Vec::new();
    let mut den_values = Vec::new();
    let mut cov_values = Vec::new();
    let pre_ms =
        i64::try_from(e.pre_period().seconds().saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    for m in &e.metrics {
        let (n, d) = metric_expr(m, &mut values, &mut den_values);
        numerators.push(n);
        denominators.push(d);
        covariates.push(if e.uses_cuped(m) {
            covariate_expr(m, &mut cov_values)
        } else {
            "0.".to_owned()
        });
    }
    values.append(&mut den_values);
    values.append(&mut cov_values);
    values.push(Value::UInt(run_id));
    let pre_convs = if e.metrics.iter().any(|m| e.uses_cuped(m)) {
        values.push(Value::Int(pre_ms));
        ", arrayFilter(c -> c.3 >= t0 - ? AND c.3 < t0, convs) AS pre_convs"
    } else {
        ""
    };
    values.push(Value::Str(e.id.clone()));
    let segments = if e.segments.is_empty() {
        "emptyArrayString()".to_owned()
    } else {
        // No lambda: ClickHouse 18.16 cannot capture columns in one.
        let items: Vec<&str> = e
            .segments
            .iter()
            .map(|k| {
                values.push(Value::Str(k.clone()));
                "metadata_values[indexOf(metadata_keys, ?)]"
            })
            .collect();
        format!("[{}]", items.join(", "))
    };
    let filter = relevant_filter(e, as_of_ms, &mut values);
    let touched = match scope {
        Scope::Full => String::new(),
        Scope::Touched {
            written_since,
            time_from_ms,
            time_to_ms,
        } => {
            // Two branches rather than one `OR`: each is a cheap filter on one column within
            // E's key ranges, while the `OR` made old servers scan several times slower.
            let written = relevant_filter(e, as_of_ms, &mut values);
            values.push(Value::UInt(u64::from(written_since)));
            let moved = relevant_filter(e, as_of_ms, &mut values);
            values.extend([Value::Int(time_from_ms), Value::Int(time_to_ms)]);
            format!(
                " AND user_id IN (\
                 SELECT user_id FROM events WHERE {written} AND ingested_at >= toDateTime(?) \
                 UNION ALL \
                 SELECT user_id FROM events WHERE {moved} AND timestamp_ms >= ? AND timestamp_ms < ?)"
            )
        }
    };
    let sql = format!(
        "INSERT INTO experiment_users (experiment_id, user_id, variant, variants, t0_ms, \
           segment_keys, segment_values, metric_names, metric_values, metric_denominators, \
           metric_covariates, run_id) \
         SELECT ?, user_id, first_variant, toUInt16(n_variants), t0, {segment_keys}, seg_values, {metric_names}, \
           [{numerators}], [{denominators}], [{covariates}], ? \
         FROM ( \
           SELECT user_id, \
             minIf(timestamp_ms, is_exposure) AS t0, \
             argMinIf(variant, (timestamp_ms, event_id), is_exposure) AS first_variant, \
             uniqExactIf(variant, is_exposure) AS n_variants, \
             argMinIf(seg, (timestamp_ms, event_id), is_exposure) AS seg_values, \
             arraySort(groupUniqArrayIf((event_id, event_name, timestamp_ms, value), NOT is_exposure)) AS convs\
             {pre_convs} \
           FROM ( \
             SELECT user_id, event_id, event_name, timestamp_ms, variant, \
               ifNull(event_value, 0.) AS value, \
               event_type = 'exposure' AND experiment_id = ? AS is_exposure, \
               {segments} AS seg \
             FROM events \
             WHERE {filter}{touched} \
           ) \
           GROUP BY user_id \
           HAVING countIf(is_exposure) > 0 \
         )",
        numerators = numerators.join(", "),
        denominators = denominators.join(", "),
        covariates = covariates.join(", "),
    );
    Statement { sql, values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::example;

    #[test]
    fn a_ratio_before_other_metrics_keeps_each_value_in_its_place() {
        // Numerators are listed before denominators; a ratio's denominator values must not
        // shift the values of the metrics after it.
        let e = abacus_assign::parse(
            r#"
[[experiment]]
id = "r"
name = "r"
hypothesis = "h"
namespace = "r"
control = "a"
start = "2026-01-01T00:00:00Z"
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "b"
  weight = 1
  [[experiment.metric]]
  name = "ratio"
  kind = "ratio"
  event = "page_view"
  denominator = "session_start"
  window = "1d"
  primary = true
  [[experiment.metric]]
  name = "d7"
  kind = "retention"
  event = "session_start"
  from_day = 7
  to_day = 7
"#,
        )
        .unwrap()
        .experiments
        .remove(0);
        let sql = materialize(&e, Scope::Full, 10, 1).render();
        for expected in [
            "c.2 = 'page_view' AND c.3 >= t0 AND c.3 < t0 + 86400000",
            "c.2 = 'session_start' AND c.3 >= t0 + 604800000 AND c.3 < t0 + 691200000",
            "[toFloat64(arrayCount(c -> c.2 = 'session_start' AND c.3 >= t0 AND c.3 < t0 + 86400000, convs)), 0.]",
        ] {
            assert!(sql.contains(expected), "{expected}\n{sql}");
        }
    }

    #[test]
    fn every_placeholder_has_a_value() {
        let e = example();
        for scope in [
            Scope::Full,
            Scope::Touched {
                written_since: 1,
                time_from_ms: 2,
                time_to_ms: 3,
            },
        ] {
            let s = materialize(&e, scope, 10, 7);
            assert_eq!(s.sql.matches('?').count(), s.values.len(), "{}", s.sql);
        }
    }

    #[test]
    fn cuped_metrics_read_the_pre_period() {
        let mut e = example();
        e.cuped = true;
        let sql = materialize(&e, Scope::Full, 10, 1).render();
        // purchase_rate (conversion), revenue_per_user (revenue) and refund_rate (conversion)
        // get a covariate over the 14 days before t0; d7_retention does not.
        let pre = "arrayFilter(c -> c.3 >= t0 - 1209600000 AND c.3 < t0, convs) AS pre_convs";
        assert_eq!(sql.matches(pre).count(), 1, "{sql}");
        assert_eq!(sql.matches(", pre_convs)").count(), 3, "{sql}");
        assert!(
            sql.contains("arraySum(c -> if(c.2 = 'purchase', c.4, 0.), pre_convs)"),
            "{sql}"
        );
        e.cuped = false;
        let sql = materialize(&e, Scope::Full, 10, 1).render();
        assert!(!sql.contains("pre_convs"), "{sql}");
        assert!(sql.contains("[0., 0., 0., 0.], 1"), "{sql}");
    }

    #[test]
    fn metric_events_are_unique_and_include_denominators() {
        let e = example();
        assert_eq!(metric_events(&e), ["purchase", "refund", "session_start"]);
    }

    #[test]
    fn retention_horizon_ends_a_day_after_to_day() {
        let e = example();
        let d7 = e.metrics.iter().find(|m| m.name == "d7_retention").unwrap();
        assert_eq!(horizon_ms(d7), 8 * DAY_MS);
        assert_eq!(horizon_ms(&e.metrics[0]), 0);
    }
}
