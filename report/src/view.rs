//! What the dashboard's experiment page shows, as plain values: the metrics table (grouped
//! primary → guardrails → secondary), with every cell already formatted. The page, the CSV
//! export and the JSON export are all rendered from these rows, so an export contains exactly
//! what the page shows. A new results column is one more name in [`COLUMNS`] (or in the
//! optional [`CUPED_COLUMNS`] / [`BAYES_COLUMNS`], shown when an experiment has such rows) and
//! one more arm in `cell`. A row without a test shows `–` for what it does not have.

use abacus_aggregator::model::ResultRow;
use serde_json::{json, Value};

use crate::decision::{Check, Decision};
use crate::{compared, no_test_reason, num, pct, pvalue, tested, verdict, Report};

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

/// Column headers of the metrics table (page and CSV) for every experiment; [`columns`] adds
/// the CUPED and Bayesian ones where the experiment has them.
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

/// Columns of metrics with CUPED, after `interval`: the estimate without the adjustment, how
/// much of the variance the adjustment removed, and θ (the lift and interval columns hold the
/// adjusted estimate, which the verdict uses).
pub const CUPED_COLUMNS: [&str; 4] = [
    "unadjusted lift",
    "unadjusted interval",
    "variance reduction",
    "theta",
];

/// Columns of the Bayesian engine, before `verdict`: the chance that the variant beats the
/// baseline and the expected loss (relative to the baseline) of choosing it or keeping the
/// baseline (the lift and interval columns hold the posterior mean and credible interval).
pub const BAYES_COLUMNS: [&str; 3] = [
    "chance to win",
    "risk choosing variant",
    "risk keeping baseline",
];

/// The columns of `r`'s metrics table, in page order.
pub fn columns(r: &Report) -> Vec<&'static str> {
    let cuped = r.results.iter().any(|m| m.cuped == 1);
    let bayes = r.results.iter().any(|m| m.engine == "bayesian");
    let mut out = COLUMNS[..10].to_vec();
    if cuped {
        out.extend(CUPED_COLUMNS);
    }
    out.extend(&COLUMNS[10..12]);
    if bayes {
        out.extend(BAYES_COLUMNS);
    }
    out.push("verdict");
    out
}

/// Shown for a number a row does not have.
pub const NONE: &str = "–";

fn cell(m: &ResultRow, column: &str, group: Group, verdict: &str) -> String {
    let (estimate, low, high, relative) = lift(m);
    let untested = || NONE.to_owned();
    let interval =
        |lo: f64, hi: f64, rel: bool| format!("[{}, {}]", lift_text(lo, rel), lift_text(hi, rel));
    let share = |x: Option<f64>, digits: usize| {
        x.map_or_else(untested, |x| format!("{:.*}%", digits, x * 100.0))
    };
    match column {
        "group" => group.as_str().to_owned(),
        "metric" => m.metric.clone(),
        "variant" => m.variant.clone(),
        "baseline" => m.control.clone(),
        "baseline users" => m.control_users.to_string(),
        "variant users" => m.treatment_users.to_string(),
        "baseline value" | "variant value" | "lift" | "interval" | "p" if !compared(m) => {
            untested()
        }
        "baseline value" => num(m.control_value, 4),
        "variant value" => num(m.treatment_value, 4),
        "lift" | "interval" | "p" if !m.error.is_empty() => untested(),
        "lift" => lift_text(estimate, relative),
        "interval" => interval(low, high, relative),
        "p" => match m.p_value_sequential {
            Some(s) => format!("{} (seq)", pvalue(s)),
            None => pvalue(m.p_value),
        },
        "p adjusted" if !tested(m) => untested(),
        "p adjusted" => pvalue(m.p_value_adjusted),
        "unadjusted lift" | "unadjusted interval" | "variance reduction" | "theta"
            if m.cuped != 1 || !compared(m) =>
        {
            untested()
        }
        "unadjusted lift" => match (m.rel_lift_unadjusted, m.abs_lift_unadjusted) {
            (Some(rel), _) => lift_text(rel, true),
            (None, Some(abs)) => lift_text(abs, false),
            (None, None) => untested(),
        },
        "unadjusted interval" => match (
            m.ci_rel_low_unadjusted,
            m.ci_rel_high_unadjusted,
            m.ci_abs_low_unadjusted,
            m.ci_abs_high_unadjusted,
        ) {
            (Some(lo), Some(hi), _, _) => interval(lo, hi, true),
            (_, _, Some(lo), Some(hi)) => interval(lo, hi, false),
            _ => untested(),
        },
        "variance reduction" => share(m.variance_reduction, 1),
        "theta" => m.cuped_theta.map_or_else(untested, |t| num(t, 3)),
        "chance to win" => share(m.chance_to_win, 1),
        "risk choosing variant" => share(m.risk_treatment, 3),
        "risk keeping baseline" => share(m.risk_control, 3),
        "verdict" => verdict.to_owned(),
        _ => untested(),
    }
}

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

/// The rows of the metrics table in page order, with a cell per column of [`columns`].
pub fn metric_rows(r: &Report) -> Vec<MetricRow> {
    let columns = columns(r);
    let mut rows: Vec<MetricRow> = r
        .results
        .iter()
        .map(|m| {
            let (estimate, low, high, relative) = lift(m);
            let group = Group::of(m);
            let v = verdict(m);
            MetricRow {
                group,
                metric: m.metric.clone(),
                variant: m.variant.clone(),
                baseline: m.control.clone(),
                cells: columns.iter().map(|c| cell(m, c, group, &v)).collect(),
                estimate,
                low,
                high,
                relative,
                verdict: v,
                error: if tested(m) {
                    String::new()
                } else {
                    no_test_reason(m)
                },
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

/// The metrics table as CSV (RFC 4180): the header of `columns` ([`columns`]), then the page's
/// cells.
pub fn csv(columns: &[&str], rows: &[MetricRow]) -> String {
    let mut out = columns
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
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

/// The page as JSON: the decision, the health checks, the progress and the metrics table (the
/// same cells).
pub fn export_json(
    r: &Report,
    decision: &Decision,
    checks: &[Check],
    columns: &[&str],
    rows: &[MetricRow],
) -> Value {
    let progress = crate::progress::progress(r);
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
        "progress": progress.map(|p| json!({
            "kind": p.kind(),
            "share": p.share(),
            "text": p.text(),
            "planned_users": match p {
                crate::progress::Progress::Sample { planned, .. } => Some(planned),
                crate::progress::Progress::Duration(_) => None,
            },
        })),
        "columns": columns,
        "metrics": rows.iter().map(|row| {
            Value::Object(columns.iter().zip(&row.cells).map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
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

    fn cells_of<'a>(
        columns: &[&str],
        row: &'a MetricRow,
    ) -> std::collections::BTreeMap<String, &'a str> {
        columns
            .iter()
            .zip(&row.cells)
            .map(|(c, v)| ((*c).to_owned(), v.as_str()))
            .collect()
    }

    #[test]
    fn cuped_rows_show_the_adjusted_estimate_with_the_unadjusted_beside() {
        let r = crate::fixtures::report();
        let columns = columns(&r);
        assert!(columns.contains(&"variance reduction") && !columns.contains(&"chance to win"));
        let rows = metric_rows(&r);
        let revenue = rows.iter().find(|x| x.metric == "revenue").unwrap();
        let c = cells_of(&columns, revenue);
        assert_eq!(c["lift"], "+5.00%");
        assert_eq!(c["interval"], "[+1.00%, +9.00%]");
        assert_eq!(c["unadjusted lift"], "+6.00%");
        assert_eq!(c["unadjusted interval"], "[-1.00%, +13.00%]");
        assert_eq!(c["variance reduction"], "36.4%");
        assert_eq!(c["theta"], "0.820");
        // A row without CUPED has nothing in those columns.
        let plain = cells_of(
            &columns,
            rows.iter().find(|x| x.metric == "purchase_rate").unwrap(),
        );
        assert_eq!(plain["variance reduction"], "–");
        // The CSV has the same columns and cells.
        let csv = csv(&columns, &rows);
        assert!(csv.starts_with("group,metric,variant,baseline,baseline users,variant users,baseline value,variant value,lift,interval,unadjusted lift,unadjusted interval,variance reduction,theta,p,p adjusted,verdict\r\n"), "{csv}");
        assert!(
            csv.contains(",+5.00%,\"[+1.00%, +9.00%]\",+6.00%,\"[-1.00%, +13.00%]\",36.4%,0.820,"),
            "{csv}"
        );
    }

    #[test]
    fn bayesian_rows_show_chance_to_win_and_risks() {
        let r = crate::fixtures::bayesian();
        let columns = columns(&r);
        assert_eq!(
            &columns[columns.len() - 4..],
            &[
                "chance to win",
                "risk choosing variant",
                "risk keeping baseline",
                "verdict"
            ]
        );
        let rows = metric_rows(&r);
        let c = cells_of(&columns, &rows[0]);
        assert_eq!(c["chance to win"], "97.3%");
        assert_eq!(c["risk choosing variant"], "0.040%");
        assert_eq!(c["risk keeping baseline"], "1.230%");
    }

    #[test]
    fn a_row_without_a_test_has_no_number_on_the_page() {
        let r = crate::fixtures::report();
        let columns = columns(&r);
        let rows = metric_rows(&r);
        let row = rows.iter().find(|x| x.metric == "big_spend").unwrap();
        let c = cells_of(&columns, row);
        for k in [
            "baseline value",
            "variant value",
            "lift",
            "interval",
            "p",
            "p adjusted",
        ] {
            assert_eq!(c[k], "–", "{k}");
        }
        assert_eq!(c["verdict"], "no test");
        assert_eq!(c["baseline users"], "500");
        assert_eq!(row.error, "control sum of squares must be finite, got inf");
    }
}
