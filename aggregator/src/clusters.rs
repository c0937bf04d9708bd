//! Cluster-level statistics of a cluster-randomized experiment (`unit = "company_id"`): every
//! user of a cluster shares its variant, so metrics are compared as ratios of cluster totals
//! with cluster-robust variance ([`abacus_stats::compare_clustered`]).
//!
//! The unit value of a user is the value of the unit's metadata key on the user's first
//! exposure (in `[start, end)`, before the analysis time; ties broken by `event_id`, like the
//! variant), read from the exposures each pass — so late exposures are always taken into
//! account. One query joins it to the experiment's current user rows and groups by (variant,
//! unit value): users and, per metric, the eligible users, the numerator total and the
//! denominator total of each cluster. Users whose first exposure lacks the unit are counted
//! (`missing_unit_users`) and left out of the cluster analysis, not guessed.
//!
//! Float totals (revenue, winsorized values) are summed in sorted order, so a full and an
//! incremental pass give the same bits.

use std::collections::BTreeMap;

use abacus_assign::{Experiment, Metric, MetricKind};
use abacus_schema::ClickHouse;
use abacus_stats::{compare_clustered, ClusterSummary, ClusteredResult, StatsError};
use clickhouse::Row;
use serde::Deserialize;

use crate::collect::summed_here;
use crate::sql::{horizon_ms, Statement, Value};
use crate::AggregateError;

/// What the query needs besides the definition.
#[derive(Clone, Debug)]
pub struct ClusterSource<'a> {
    pub experiment: &'a Experiment,
    /// The metadata key that names the cluster (e.g. `company_id`).
    pub unit: &'a str,
    pub base_run_id: u64,
    pub as_of_ms: i64,
    /// Winsorization cap per metric, as the user-level analysis computed it.
    pub caps: &'a [Option<f64>],
}

/// An f64 as a SQL literal (a number this code computed, never user input).
fn literal(x: f64) -> String {
    format!("{x:?}")
}

fn metric_aggregates(m: &Metric, k: usize, as_of: i64, cap: Option<f64>) -> [String; 3] {
    let x = format!("metric_values[{k}]");
    let y = format!("metric_denominators[{k}]");
    let horizon = horizon_ms(m);
    let eligible = (horizon > 0).then(|| format!("t0_ms + {horizon} <= {as_of}"));
    let n = eligible
        .as_ref()
        .map_or("count()".to_owned(), |e| format!("countIf({e})"));
    let sx = if summed_here(m) {
        let v = cap.map_or(x.clone(), |c| format!("least({x}, {})", literal(c)));
        format!("arraySum(arraySort(groupArray({v})))")
    } else {
        match &eligible {
            Some(e) => format!("sumIf({x}, {e})"),
            None => format!("sum({x})"),
        }
    };
    let sy = if m.kind == MetricKind::Ratio {
        format!("sum({y})")
    } else {
        "0.".to_owned()
    };
    [n, sx, sy]
}

/// The per-(variant, unit value) query.
pub fn clusters_sql(src: &ClusterSource<'_>) -> Statement {
    let e = src.experiment;
    let (mut n, mut sx, mut sy) = (Vec::new(), Vec::new(), Vec::new());
    for (i, m) in e.metrics.iter().enumerate() {
        let cap = src.caps.get(i).copied().flatten();
        let [a, b, c] = metric_aggregates(m, i + 1, src.as_of_ms, cap);
        n.push(a);
        sx.push(b);
        sy.push(c);
    }
    let list = |v: &[String], empty: &str| {
        if v.is_empty() {
            empty.to_owned()
        } else {
            format!("[{}]", v.join(", "))
        }
    };
    let start = e.start.timestamp_millis();
    let end = e.end.map_or(i64::MAX, |t| t.timestamp_millis());
    let sql = format!(
        "SELECT variant, unit, count() AS users, {n} AS n, {sx} AS sx, {sy} AS sy \
         FROM (SELECT * FROM experiment_users FINAL WHERE experiment_id = ? AND run_id >= ?) AS users \
         ANY LEFT JOIN ( \
           SELECT user_id, argMin(metadata_values[indexOf(metadata_keys, ?)], (timestamp_ms, event_id)) AS unit \
           FROM events \
           WHERE event_type = 'exposure' AND experiment_id = ? AND timestamp_ms >= ? AND timestamp_ms < ? \
             AND timestamp_ms < ? \
           GROUP BY user_id \
         ) AS units USING user_id \
         WHERE variants = 1 AND t0_ms < {as_of} \
         GROUP BY variant, unit ORDER BY variant, unit",
        n = list(&n, "emptyArrayUInt64()"),
        sx = list(&sx, "emptyArrayFloat64()"),
        sy = list(&sy, "emptyArrayFloat64()"),
        as_of = src.as_of_ms,
    );
    Statement {
        sql,
        values: vec![
            Value::Str(e.id.clone()),
            Value::UInt(src.base_run_id),
            Value::Str(src.unit.to_owned()),
            Value::Str(e.id.clone()),
            Value::Int(start),
            Value::Int(end),
            Value::Int(src.as_of_ms),
        ],
    }
}

/// One row of the query: one cluster in one variant.
#[derive(Clone, Debug, PartialEq, Row, Deserialize)]
pub struct ClusterRow {
    pub variant: String,
    pub unit: String,
    pub users: u64,
    /// Per metric: eligible users of the cluster.
    pub n: Vec<u64>,
    /// Per metric: the cluster's numerator total.
    pub sx: Vec<f64>,
    /// Per metric: the cluster's denominator total (ratio metrics; else 0).
    pub sy: Vec<f64>,
}

/// The clusters of each variant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VariantClusters {
    pub clusters: u64,
    pub users: u64,
    /// Per metric, in definition order.
    pub metrics: Vec<ClusterSummary>,
}

/// Everything the cluster analysis of one experiment needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterStats {
    /// By variant name.
    pub variants: BTreeMap<String, VariantClusters>,
    /// Analysed users whose first exposure had no value for the unit.
    pub missing_unit_users: u64,
    /// Unit values seen in more than one variant (the producer did not randomize by unit).
    pub split_clusters: u64,
}

impl ClusterStats {
    /// Folds the query's rows.
    pub fn from_rows(rows: &[ClusterRow], metrics: &[Metric]) -> Self {
        let mut out = ClusterStats::default();
        let mut variants_of: BTreeMap<&str, u32> = BTreeMap::new();
        for r in rows {
            if r.unit.is_empty() {
                out.missing_unit_users += r.users;
                continue;
            }
            *variants_of.entry(&r.unit).or_default() += 1;
            let v = out.variants.entry(r.variant.clone()).or_default();
            v.metrics.resize(metrics.len(), ClusterSummary::default());
            v.clusters += 1;
            v.users += r.users;
            for (i, (m, s)) in metrics.iter().zip(v.metrics.iter_mut()).enumerate() {
                let n = r.n.get(i).copied().unwrap_or(0);
                let num = r.sx.get(i).copied().unwrap_or(0.0);
                let den = if m.kind == MetricKind::Ratio {
                    r.sy.get(i).copied().unwrap_or(0.0)
                } else {
                    n as f64
                };
                if n > 0 {
                    s.add(num, den);
                }
            }
        }
        out.split_clusters = variants_of.values().filter(|&&c| c > 1).count() as u64;
        out
    }

    /// Clusters per variant in `order` (0 for a variant without clusters).
    pub fn clusters_per_variant(&self, order: &[&str]) -> Vec<u64> {
        order
            .iter()
            .map(|v| self.variants.get(*v).map_or(0, |c| c.clusters))
            .collect()
    }

    /// All clusters.
    pub fn clusters(&self) -> u64 {
        self.variants.values().map(|v| v.clusters).sum()
    }

    /// Compares metric `index` of `treatment` with control.
    pub fn compare(
        &self,
        index: usize,
        control: &str,
        treatment: &str,
        alpha: f64,
    ) -> Result<ClusteredResult, StatsError> {
        let summary = |v: &str| {
            self.variants
                .get(v)
                .and_then(|c| c.metrics.get(index))
                .copied()
                .unwrap_or_default()
        };
        compare_clustered(&summary(control), &summary(treatment), alpha)
    }
}

/// Runs the query and folds it.
pub async fn read(
    ch: &ClickHouse,
    src: &ClusterSource<'_>,
) -> Result<ClusterStats, AggregateError> {
    let rows = clusters_sql(src)
        .query(ch.client())
        .fetch_all::<ClusterRow>()
        .await
        .map_err(|e| AggregateError::query("sum the metrics per cluster", &e))?;
    Ok(ClusterStats::from_rows(&rows, &src.experiment.metrics))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::example;

    #[test]
    fn placeholders_and_sorted_float_sums() {
        let e = example();
        let caps = vec![None; e.metrics.len()];
        let src = ClusterSource {
            experiment: &e,
            unit: "company_id",
            base_run_id: 3,
            as_of_ms: e.start.timestamp_millis() + 1,
            caps: &caps,
        };
        let s = clusters_sql(&src);
        assert_eq!(s.sql.matches('?').count(), s.values.len());
        let revenue = e.metrics.iter().filter(|m| summed_here(m)).count();
        assert_eq!(
            s.sql.matches("arraySum(arraySort(groupArray(").count(),
            revenue
        );
    }

    #[test]
    fn rows_fold_into_cluster_sums_and_missing_units_are_counted() {
        let e = example();
        let k = e.metrics.len();
        let row = |variant: &str, unit: &str, users: u64, x: f64| ClusterRow {
            variant: variant.into(),
            unit: unit.into(),
            users,
            n: vec![users; k],
            sx: vec![x; k],
            sy: vec![2.0 * x; k],
        };
        let rows = vec![
            row("control", "", 7, 1.0),
            row("control", "acme", 10, 2.0),
            row("control", "globex", 20, 3.0),
            row("treatment", "globex", 5, 1.0),
            row("treatment", "initech", 30, 9.0),
        ];
        let s = ClusterStats::from_rows(&rows, &e.metrics);
        assert_eq!(s.missing_unit_users, 7);
        assert_eq!(s.split_clusters, 1);
        assert_eq!(s.clusters(), 4);
        assert_eq!(s.clusters_per_variant(&["control", "treatment"]), [2, 2]);
        let c = &s.variants["control"].metrics[0];
        assert_eq!((c.clusters, c.sum_num, c.sum_den), (2, 5.0, 30.0));
        assert_eq!(c.sum_num_den, 2.0 * 10.0 + 3.0 * 20.0);
    }
}
