//! What the dashboard's experiment page shows, as plain values: the metrics table (grouped
//! primary → guardrails → secondary), with every cell already formatted. The page, the CSV
//! export and the JSON export are all rendered from these rows, so an export contains exactly
//! what the page shows. A new results column is one more field here and one more cell in
//! [`COLUMNS`].

use abacus_aggregator::model::ResultRow;
use serde_json::{json, Value};

use crate::decision::{Check, Decision};
use crate::{num, pct, pvalue, verdict, Report};

/// The group of a metric on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Decision metrics.
    Primary,
    /// Non-inferiority checks.
    Guardrail,
    /// Everything else.
    Secondary,
}

impl Group {
    /// `primary`, `guardrail` or `secondary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Primary => "primary",
            Group::Guardrail => "guardrail",
            Group::Secondary => "secondary",
        }
    }

    /// Heading on the page.
    pub fn title(self) -> &'static str {
        match self {
            Group::Primary => "Primary metrics",
            Group::Guardrail => "Guardrails",
            Group::Secondary => "Secondary metrics",
        }
    }

    fn of(r: &ResultRow) -> Self {
        if r.is_primary == 1 {
            Group::Primary
        } else if r.is_guardrail == 1 {
            Group::Guardrail
        } else {
            Group::Secondary
        }
    }
}

/// One row of the metrics table.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    /// Group.
    pub group: Group,
    /// Metric.
    pub metric: String,
    /// Treatment variant.
    pub variant: String,
    /// Baseline variant.
    pub baseline: String,
    /// Formatted cells, in [`COLUMNS`] order.
    pub cells: Vec<String>,
    /// Point estimate of the lift (relative when `relative`).
    pub estimate: f64,
    /// Interval low.
    pub low: f64,
    /// Interval high.
    pub high: f64,
    /// Whether the lift is relative.
    pub relative: bool,
    /// Verdict, for styling: `better`, `worse`, or anything else.
    pub verdict: String,
    /// Why no test could be run, if so.
    pub error: String,
}

/// Column headers of the metrics table (page and CSV).
pub const COLUMNS: [&str; 13] = [
    "group",
    "metric",
    "variant",
    "baseline",
    "baseline users",
    "variant users",
    "baseline value",
    "variant value",
    "lift",
    "interval",
    "p",
    "p adjusted",
    "verdict",
];

/// The lift of a row: `(estimate, low, high, relative)`; absolute when no relative lift.
pub fn lift(r: &ResultRow) -> (f64, f64, f64, bool) {
    match (r.rel_lift, r.ci_rel_low, r.ci_rel_high) {
        (Some(l), Some(lo), Some(hi)) => (l, lo, hi, true),
        _ => (r.abs_lift, r.ci_abs_low, r.ci_abs_high, false),
    }
}

/// A lift value as shown: a percentage, or a signed absolute number.
pub fn lift_text(x: f64, relative: bool) -> String {
    if relative {
        pct(x)
    } else {
        let s = num(x, 4);
        if x > 0.0 {
            format!("+{s}")
        } else {
            s
        }
    }
}

/// The rows of the metrics table in page order.
pub fn metric_rows(r: &Report) -> Vec<MetricRow> {
    let mut rows: Vec<MetricRow> = r
        .results
        .iter()
        .map(|m| {
            let (estimate, low, high, relative) = lift(m);
            let group = Group::of(m);
            let p = match m.p_value_sequential {
                Some(s) => format!("{} (seq)", pvalue(s)),
                None => pvalue(m.p_value),
            };
            let v = verdict(m);
            let cells = vec![
                group.as_str().to_owned(),
                m.metric.clone(),
                m.variant.clone(),
                m.control.clone(),
                m.control_users.to_string(),
                m.treatment_users.to_string(),
                num(m.control_value, 4),
                num(m.treatment_value, 4),
                if m.error.is_empty() {
                    lift_text(estimate, relative)
                } else {
                    "–".to_owned()
                },
                if m.error.is_empty() {
                    format!(
                        "[{}, {}]",
                        lift_text(low, relative),
                        lift_text(high, relative)
                    )
                } else {
                    "–".to_owned()
                },
                if m.error.is_empty() {
                    p
                } else {
                    "–".to_owned()
                },
                if m.error.is_empty() {
                    pvalue(m.p_value_adjusted)
                } else {
                    "–".to_owned()
                },
                v.clone(),
            ];
            MetricRow {
                group,
                metric: m.metric.clone(),
                variant: m.variant.clone(),
                baseline: m.control.clone(),
                cells,
                estimate,
                low,
                high,
                relative,
                verdict: v,
                error: m.error.clone(),
            }
        })
        .collect();
    // Stable: definition order within a group.
    rows.sort_by_key(|row| row.group);
    rows
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The metrics table as CSV (RFC 4180): the header of [`COLUMNS`], then the page's cells.
pub fn csv(rows: &[MetricRow]) -> String {
    let mut out = COLUMNS.map(csv_field).join(",");
    out.push_str("\r\n");
    for row in rows {
        out.push_str(
            &row.cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// The page as JSON: the decision, the health checks and the metrics table (the same cells).
pub fn export_json(r: &Report, decision: &Decision, checks: &[Check], rows: &[MetricRow]) -> Value {
    json!({
        "experiment_id": r.run.experiment_id,
        "name": r.name,
        "run_id": r.run.run_id,
        "as_of": r.as_of().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "baseline": r.baseline,
        "decision": {
            "verdict": decision.chip(),
            "headline": decision.headline,
            "reasons": decision.reasons,
        },
        "health": checks.iter().map(|c| json!({
            "check": c.name,
            "level": c.level.as_str(),
            "detail": c.detail,
        })).collect::<Vec<_>>(),
        "columns": COLUMNS,
        "metrics": rows.iter().map(|row| {
            Value::Object(COLUMNS.iter().zip(&row.cells).map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
        }).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("[+1.00%, +2.00%]"), "\"[+1.00%, +2.00%]\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn lifts_read_like_the_table() {
        assert_eq!(lift_text(0.0812, true), "+8.12%");
        assert_eq!(lift_text(0.5, false), "+0.5000");
        assert_eq!(lift_text(-0.5, false), "-0.5000");
    }
}
