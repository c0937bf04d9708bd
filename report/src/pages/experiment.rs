//! One experiment's page, in reading order: header (hypothesis, dates, method chips, run
//! picker), decision banner with reasons, health strip, metrics grouped primary → guardrails →
//! secondary with intervals on one shared axis per group and a baseline picker, cumulative
//! lift over time per metric, segments, balance, and export links.

use abacus_aggregator::model::RunRow;
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use crate::decision::{bayes_thresholds, decide, health, Check, Decision, Verdict};
use crate::pages::charts::{axis, band_chart, interval_row, BandPoint};
use crate::pages::{date_of_day, experiment_url, page, ExperimentQuery};
use crate::progress::progress;
use crate::view::{columns, metric_rows, Group, MetricRow};
use crate::{num, pct, pvalue, Report};

/// Everything the page needs.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The run, compared against the chosen baseline.
    pub report: &'a Report,
    /// Every run of the experiment, newest first (the run picker).
    pub runs: &'a [RunRow],
    /// The URL state.
    pub query: &'a ExperimentQuery,
    /// A note shown above the metrics (e.g. why a baseline was not applied).
    pub note: Option<&'a str>,
    /// Current time (freshness).
    pub now: DateTime<Utc>,
    /// Snapshot version, for the live updater.
    pub version: &'a str,
}

/// What the page shows, computed once: the exports use the same values.
#[derive(Clone, Debug)]
pub struct Shown {
    /// Health checks.
    pub checks: Vec<Check>,
    /// Decision.
    pub decision: Decision,
    /// The columns of the metrics table (the CUPED and Bayesian ones when the experiment has
    /// them).
    pub columns: Vec<&'static str>,
    /// The metrics table.
    pub rows: Vec<MetricRow>,
}

/// The decision, health and metrics rows of a report.
pub fn shown(r: &Report, now: DateTime<Utc>) -> Shown {
    let checks = health(r, now);
    let decision = decide(r, &checks);
    Shown {
        checks,
        decision,
        columns: columns(r),
        rows: metric_rows(r),
    }
}

/// Renders the page.
pub fn render(input: Input<'_>) -> Markup {
    let r = input.report;
    let s = shown(r, input.now);
    let id = &r.run.experiment_id;
    let crumbs = html! { " / " a href=(experiment_url(id, "", &ExperimentQuery::default())) aria-current="page" { (r.name) } };
    let body = html! {
        (header(&input))
        (banner(&s.decision))
        (health_strip(&s.checks))
        @if let Some(note) = input.note { p.note role="note" { (note) } }
        (metrics(&input, &s.columns, &s.rows))
        (series(&input))
        (segments(&input))
        (balance(r))
        (exports(&input))
    };
    page(&r.name, input.version, crumbs, body)
}

fn header(input: &Input<'_>) -> Markup {
    let r = input.report;
    let def = r.definition.as_ref();
    let id = &r.run.experiment_id;
    let newest = input.runs.first().map(|x| x.run_id);
    html! {
        h1 { (r.name) " " span.meta { (id) } }
        @if !r.hypothesis.is_empty() { p.hypothesis { (r.hypothesis) } }
        p.meta {
            @if let Some(d) = def {
                "start " (d.start.format("%Y-%m-%d"))
                " · " @match d.end { Some(e) => { "planned end " (e.format("%Y-%m-%d")) }, None => "no planned end" }
                " · "
            }
            "as of " (r.as_of().format("%Y-%m-%d %H:%M UTC"))
            " · run " span #run-id { (r.run.run_id) } " (" (r.run.mode) ", computed " (r.computed_at().format("%Y-%m-%d %H:%M UTC")) ")"
        }
        @if let Some(p) = progress(r) {
            p.progress data-kind=(p.kind()) {
                progress max="100" value=(format!("{:.0}", (p.share() * 100.0).min(100.0))) aria-label=(format!("progress toward the planned {}", p.kind())) {}
                " " span #progress-text { (p.text()) }
            }
        }
        @if let Some(line) = crate::network::randomization(&r.run, def) {
            p.meta #randomization { (line) }
        }
        @for i in r.interactions.iter().filter(|i| i.flagged == 1) {
            p.note role="note" .interaction { "Interaction: " (crate::network::interaction_line(i)) }
        }
        ul.chips aria-label="analysis method" {
            @if !r.run.unit.is_empty() { li.chip { "clustered by " (r.run.unit) } }
            li.chip { @if r.sequential { "sequential (always valid)" } @else { "fixed horizon" } }
            @match bayes_thresholds(r) {
                Some((chance, risk)) => {
                    li.chip #engine data-engine="bayesian" { "Bayesian engine: chance to win ≥ " (format!("{:.0}%", chance * 100.0)) ", risk ≤ " (format!("{:.2}%", risk * 100.0)) }
                },
                None => { li.chip #engine data-engine="frequentist" { "Holm correction" } },
            }
            @if r.results.iter().any(|m| m.cuped == 1) {
                li.chip #cuped { "CUPED: the verdict uses the adjusted estimate" }
            }
            @if let Some(d) = def { li.chip { "α " (d.alpha) } }
            li.chip { "baseline " (r.baseline) }
        }
        form.runs method="get" action=(experiment_url(id, "", &ExperimentQuery::default())) {
            label for="run" { "Run" }
            select #run name="run" {
                @for run in input.runs.iter().take(200) {
                    option value=(run.run_id) selected[run.run_id == r.run.run_id] {
                        (DateTime::from_timestamp(i64::from(run.computed_at), 0).unwrap_or_default().format("%Y-%m-%d %H:%M"))
                        " · run " (run.run_id) " · " (run.users) " users"
                        @if Some(run.run_id) == newest { " (newest)" }
                    }
                }
            }
            @for (k, v) in [("baseline", &input.query.baseline), ("metric", &input.query.metric), ("segment", &input.query.segment)] {
                @if let Some(v) = v { input type="hidden" name=(k) value=(v); }
            }
            button type="submit" { "Show run" }
            " "
            a href=(experiment_url(id, "/history", &ExperimentQuery { run: None, ..input.query.clone() })) { "Run history" }
        }
    }
}

fn banner(d: &Decision) -> Markup {
    let class = match d.verdict {
        Verdict::Ship(_) => "ship",
        Verdict::DoNotDecide | Verdict::DoNotShip => "fail",
        Verdict::KeepRunning | Verdict::NoDifference => "neutral",
    };
    html! {
        section class={"banner " (class)} aria-labelledby="decision" #banner data-verdict=(d.chip()) {
            h2 #decision { "Decision: " (d.headline) }
            ul { @for reason in &d.reasons { li { (reason) } } }
        }
    }
}

fn health_strip(checks: &[Check]) -> Markup {
    html! {
        section aria-labelledby="health" {
            h2 #health .sr { "Health" }
            ul.health {
                @for c in checks {
                    li class={"check " (c.level.as_str())} data-check=(c.name) {
                        strong { (c.name) ": " (c.level.as_str()) } br; span { (c.detail) }
                    }
                }
            }
        }
    }
}

fn metrics(input: &Input<'_>, columns: &[&str], rows: &[MetricRow]) -> Markup {
    let r = input.report;
    let id = &r.run.experiment_id;
    let cuped = columns.contains(&"variance reduction");
    let bayes = columns.contains(&"chance to win");
    html! {
        section aria-labelledby="metrics" #metrics-section {
            h2 #metrics { "Metrics" }
            @if r.run.variants.len() > 2 {
                nav.picker aria-label="baseline" {
                    "Baseline: "
                    @for v in &r.run.variants {
                        @let q = ExperimentQuery { baseline: (v != &r.control).then(|| v.clone()), ..input.query.clone() };
                        @if *v == r.baseline { a href=(experiment_url(id, "", &q)) aria-current="true" .current { (v) } }
                        @else { a href=(experiment_url(id, "", &q)) { (v) } }
                        " "
                    }
                }
            }
            @for group in [Group::Primary, Group::Guardrail, Group::Secondary] {
                @let in_group: Vec<&MetricRow> = rows.iter().filter(|x| x.group == group).collect();
                @if !in_group.is_empty() {
                    @let domain = axis(in_group.iter().filter(|x| x.error.is_empty() && x.relative == in_group[0].relative).map(|x| (x.low, x.high)));
                    h3 { (group.title()) }
                    div.scroll {
                        table.metrics data-group=(group.as_str()) {
                            thead { tr {
                                @for c in &columns[1..] { th scope="col" { (c) } }
                                th scope="col" { "interval (shared axis)" }
                            } }
                            tbody {
                                @for row in &in_group {
                                    tr data-metric=(row.metric) data-variant=(row.variant) data-estimate=(row.estimate) data-low=(row.low) data-high=(row.high) {
                                        @for (column, cell) in columns.iter().zip(&row.cells).skip(1) {
                                            @if *column == "metric" { th scope="row" { (cell) } }
                                            @else if *column == "verdict" { td class={"verdict " (verdict_class(&row.verdict))} data-label=(column) { (cell) } }
                                            @else { td data-label=(column) data-column=(column) { (cell) } }
                                        }
                                        td.bar data-label="interval" {
                                            @if row.error.is_empty() && row.relative == in_group[0].relative {
                                                (interval_row(row.estimate, row.low, row.high, row.relative, domain))
                                            } @else if !row.error.is_empty() { span.meta { "no test: " (row.error) } }
                                            @else { span.meta { "absolute lift (not on the relative axis)" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.meta {
                "Lift is relative to the baseline (absolute when the baseline value is 0). "
                @if bayes {
                    "Bayesian engine: lift and interval are the posterior mean and credible interval; the verdict uses the chance to win and the risk (expected relative loss of each choice); p is the fixed-horizon p-value, for reference, without correction. "
                } @else {
                    "p: two-sided (seq: always-valid sequential). p adjusted: Holm over non-guardrail metrics × variants. "
                }
                @if cuped {
                    "CUPED: lift, interval and p are adjusted by the same metric before exposure (the verdict uses them); the unadjusted estimate is beside, with the share of variance removed and θ. "
                }
                "Guardrails: non-inferiority verdict. –: no test (the reason is beside the row)."
            }
        }
    }
}

fn verdict_class(v: &str) -> &'static str {
    match v {
        "better" | "guardrail pass" => "better",
        "worse" | "guardrail fail" => "worse",
        _ => "",
    }
}

fn series(input: &Input<'_>) -> Markup {
    let r = input.report;
    let id = &r.run.experiment_id;
    let mut metrics: Vec<&str> = Vec::new();
    for m in &r.results {
        if !metrics.contains(&m.metric.as_str()) {
            metrics.push(&m.metric);
        }
    }
    let selected = input
        .query
        .metric
        .as_deref()
        .filter(|m| metrics.contains(m))
        .or_else(|| metrics.first().copied());
    html! {
        section aria-labelledby="series" {
            h2 #series { "Cumulative lift over time" }
            nav.picker aria-label="metric" {
                "Metric: "
                @for m in &metrics {
                    @let q = ExperimentQuery { metric: Some((*m).to_owned()), ..input.query.clone() };
                    @if Some(*m) == selected { a href=(experiment_url(id, "", &q)) aria-current="true" .current { (m) } }
                    @else { a href=(experiment_url(id, "", &q)) { (m) } }
                    " "
                }
            }
            @if let Some(metric) = selected {
                @for v in r.run.variants.iter().filter(|v| **v != r.baseline) {
                    @let pts: Vec<(u16, BandPoint, bool)> = r.series.iter()
                        .filter(|s| s.metric == metric && &s.variant == v && s.error.is_empty())
                        .map(|s| match (s.rel_lift, s.ci_rel_low, s.ci_rel_high) {
                            (Some(l), Some(lo), Some(hi)) => (s.day, BandPoint { x: f64::from(s.day), y: l, low: lo, high: hi }, true),
                            _ => (s.day, BandPoint { x: f64::from(s.day), y: s.abs_lift, low: s.ci_abs_low, high: s.ci_abs_high }, false),
                        }).collect();
                    @let relative = pts.iter().all(|p| p.2);
                    @let points: Vec<BandPoint> = pts.iter().map(|p| p.1).collect();
                    @let step = (pts.len() / 6).max(1);
                    @let labels: Vec<(f64, String)> = pts.iter().step_by(step).map(|p| (f64::from(p.0), date_of_day(p.0)[5..].to_owned())).collect();
                    h3 { (metric) ": " (v) " vs " (r.baseline) }
                    figure.series data-metric=(metric) data-variant=(v) {
                        (band_chart(&format!("cumulative lift of {metric}, {v} vs {}", r.baseline), &points, relative, &labels))
                        figcaption.meta { "Users first exposed up to each day, with their outcomes as of the analysis time; fixed-horizon 95% interval." }
                    }
                }
            }
        }
    }
}

fn segments(input: &Input<'_>) -> Markup {
    let r = input.report;
    let id = &r.run.experiment_id;
    let mut keys: Vec<&str> = Vec::new();
    for s in &r.segments {
        if !keys.contains(&s.segment_key.as_str()) {
            keys.push(&s.segment_key);
        }
    }
    let selected = input
        .query
        .segment
        .as_deref()
        .filter(|k| keys.contains(k))
        .or_else(|| keys.first().copied());
    html! {
        section aria-labelledby="segments" {
            h2 #segments { "Segments" }
            @if keys.is_empty() { p.meta { "The definition names no segments." } }
            @else {
                nav.picker aria-label="segment" {
                    "Segment: "
                    @for k in &keys {
                        @let q = ExperimentQuery { segment: Some((*k).to_owned()), ..input.query.clone() };
                        @if Some(*k) == selected { a href=(experiment_url(id, "", &q)) aria-current="true" .current { (k) } }
                        @else { a href=(experiment_url(id, "", &q)) { (k) } }
                        " "
                    }
                }
                div.scroll { table.segments {
                    thead { tr {
                        @for h in ["metric", "value", "variant", "baseline users", "variant users", "baseline value", "variant value", "lift", "abs interval", "p"] { th scope="col" { (h) } }
                    } }
                    tbody {
                        @for s in r.segments.iter().filter(|s| Some(s.segment_key.as_str()) == selected) {
                            tr {
                                th scope="row" { (s.metric) }
                                td { @if s.segment_value.is_empty() { "(none)" } @else { (s.segment_value) } }
                                td { (s.variant) }
                                td { (s.control_users) } td { (s.treatment_users) }
                                td { (num(s.control_value, 4)) } td { (num(s.treatment_value, 4)) }
                                td { (s.rel_lift.map_or_else(|| num(s.abs_lift, 3), pct)) }
                                td { "[" (num(s.ci_abs_low, 3)) ", " (num(s.ci_abs_high, 3)) "]" }
                                td { @if s.error.is_empty() { (pvalue(s.p_value)) } @else { (s.error) } }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn balance(r: &Report) -> Markup {
    let mut keys: Vec<(&str, &str)> = r
        .balance
        .iter()
        .map(|b| (b.segment_key.as_str(), b.segment_value.as_str()))
        .collect();
    keys.dedup();
    let total: u64 = r.run.variant_users.iter().sum();
    let weights: f64 = r.run.variant_weights.iter().sum();
    html! {
        section aria-labelledby="balance" {
            h2 #balance { "Balance" }
            div.scroll { table.balance {
                caption { "Sample ratio: users per variant against the design" }
                thead { tr { th scope="col" { "variant" } th scope="col" { "users" } th scope="col" { "observed share" } th scope="col" { "expected share" } } }
                tbody {
                    @for ((v, u), w) in r.run.variants.iter().zip(&r.run.variant_users).zip(&r.run.variant_weights) {
                        tr {
                            th scope="row" { (v) } td { (u) }
                            td { (format!("{:.2}%", if total > 0 { *u as f64 / total as f64 * 100.0 } else { 0.0 })) }
                            td { (format!("{:.2}%", if weights > 0.0 { w / weights * 100.0 } else { 0.0 })) }
                        }
                    }
                }
            } }
            @if !keys.is_empty() {
                div.scroll { table.balance {
                    caption { "Segments across variants (chi-square test per segment key)" }
                    thead { tr {
                        th scope="col" { "segment" } th scope="col" { "value" }
                        @for v in &r.run.variants { th scope="col" { (v) } }
                        th scope="col" { "p" }
                    } }
                    tbody {
                        @for (key, value) in &keys {
                            tr {
                                th scope="row" { (key) }
                                td { @if value.is_empty() { "(none)" } @else { (value) } }
                                @for v in &r.run.variants {
                                    td { (r.balance.iter().find(|b| b.segment_key == *key && b.segment_value == *value && &b.variant == v).map_or(0, |b| b.users)) }
                                }
                                td { (pvalue(r.balance.iter().find(|b| b.segment_key == *key).map_or(1.0, |b| b.p_value))) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn exports(input: &Input<'_>) -> Markup {
    let id = &input.report.run.experiment_id;
    let q = ExperimentQuery {
        run: Some(input.report.run.run_id),
        ..input.query.clone()
    };
    html! {
        section aria-labelledby="exports" {
            h2 #exports { "Export" }
            p {
                a #export-csv href=(experiment_url(id, "/export.csv", &q)) download { "Metrics as CSV" }
                " · "
                a #export-json href=(experiment_url(id, "/export.json", &q)) { "Page as JSON" }
            }
        }
    }
}
