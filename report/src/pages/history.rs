//! The run history of an experiment: how the primary metric's estimate and interval moved
//! across aggregator runs (against the control), with a link to each run's page.

use abacus_aggregator::model::{ResultRow, RunRow};
use chrono::DateTime;
use maud::{html, Markup};

use crate::pages::charts::{band_chart, BandPoint};
use crate::pages::{experiment_url, page, ExperimentQuery};
use crate::pvalue;
use crate::view::{lift, lift_text};

/// Everything the page needs.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// Experiment id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Every run, newest first.
    pub runs: &'a [RunRow],
    /// Primary metrics' rows of every run, oldest first.
    pub history: &'a [ResultRow],
    /// The URL state (`metric` picks the primary metric).
    pub query: &'a ExperimentQuery,
    /// Snapshot version.
    pub version: &'a str,
}

/// Renders the page.
pub fn render(input: Input<'_>) -> Markup {
    let mut series: Vec<(&str, &str)> = Vec::new();
    for h in input.history {
        if !series.contains(&(h.metric.as_str(), h.variant.as_str())) {
            series.push((&h.metric, &h.variant));
        }
    }
    let metric = input
        .query
        .metric
        .as_deref()
        .filter(|m| series.iter().any(|s| s.0 == *m))
        .or_else(|| series.first().map(|s| s.0));
    let crumbs = html! {
        " / " a href=(experiment_url(input.id, "", &ExperimentQuery::default())) { (input.name) }
        " / " a href=(experiment_url(input.id, "/history", input.query)) aria-current="page" { "history" }
    };
    let body = html! {
        h1 { "Run history: " (input.name) }
        p.meta { (input.runs.len()) " runs · the primary metric's estimate and 95% interval (against the control) at each run" }
        @if let Some(metric) = metric {
            nav.picker aria-label="metric" {
                "Primary metric: "
                @for m in series.iter().map(|s| s.0).fold(Vec::<&str>::new(), |mut a, m| { if !a.contains(&m) { a.push(m) } a }) {
                    @let q = ExperimentQuery { metric: Some(m.to_owned()), ..input.query.clone() };
                    @if m == metric { a href=(experiment_url(input.id, "/history", &q)) aria-current="true" .current { (m) } }
                    @else { a href=(experiment_url(input.id, "/history", &q)) { (m) } }
                    " "
                }
            }
            @for (_, variant) in series.iter().filter(|s| s.0 == metric) {
                @let rows: Vec<&ResultRow> = input.history.iter().filter(|h| h.metric == metric && h.variant == *variant && h.error.is_empty()).collect();
                @let relative = rows.iter().all(|h| lift(h).3);
                @let points: Vec<BandPoint> = rows.iter().enumerate().map(|(i, h)| { let (y, low, high, _) = lift(h); BandPoint { x: i as f64, y, low, high } }).collect();
                @let step = (rows.len() / 6).max(1);
                @let labels: Vec<(f64, String)> = rows.iter().enumerate().step_by(step).map(|(i, h)| (i as f64, DateTime::from_timestamp(i64::from(h.computed_at), 0).unwrap_or_default().format("%m-%d %H:%M").to_string())).collect();
                h2 { (metric) ": " (variant) }
                figure.history data-metric=(metric) data-variant=(variant) {
                    (band_chart(&format!("estimate of {metric} across runs, {variant}"), &points, relative, &labels))
                }
                div.scroll { table.history {
                    thead { tr {
                        @for h in ["run", "computed", "as of", "users", "lift", "interval", "p adjusted", ""] { th scope="col" { (h) } }
                    } }
                    tbody {
                        @for h in rows.iter().rev() {
                            @let (e, lo, hi, rel) = lift(h);
                            @let run = input.runs.iter().find(|r| r.run_id == h.run_id);
                            tr data-run=(h.run_id) {
                                th scope="row" { (h.run_id) }
                                td { (DateTime::from_timestamp(i64::from(h.computed_at), 0).unwrap_or_default().format("%Y-%m-%d %H:%M")) }
                                td { (DateTime::from_timestamp_millis(h.as_of_ms).unwrap_or_default().format("%Y-%m-%d %H:%M")) }
                                td { (run.map_or(h.control_users + h.treatment_users, |r| r.users)) }
                                td { (lift_text(e, rel)) }
                                td { "[" (lift_text(lo, rel)) ", " (lift_text(hi, rel)) "]" }
                                td { (pvalue(h.p_value_adjusted)) }
                                td { a href=(experiment_url(input.id, "", &ExperimentQuery { run: Some(h.run_id), ..ExperimentQuery::default() })) { "view run " (h.run_id) } }
                            }
                        }
                    }
                } }
            }
        } @else {
            p.meta { "No run with a primary metric result yet." }
        }
    };
    page(
        &format!("History of {}", input.name),
        input.version,
        crumbs,
        body,
    )
}
