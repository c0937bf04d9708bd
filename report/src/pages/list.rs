//! The experiments list: every experiment of the registry with status, days running, users per
//! variant, progress toward the planned sample (or end), decision chip and health flags, most actionable
//! first, filterable by text and status (a GET form: the filter is in the URL).

use std::collections::BTreeMap;

use abacus_assign::Experiment;
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use crate::decision::{decide, health, Decision, Level};
use crate::pages::{experiment_url, page, ExperimentQuery, ListQuery};
use crate::progress::{progress, Progress};
use crate::Report;

/// One line of the list.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Experiment id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Hypothesis.
    pub hypothesis: String,
    /// `running`, `ended` or `no data`.
    pub status: &'static str,
    /// Days since the start (up to the end or now).
    pub days: i64,
    /// Users per variant of the newest run.
    pub users: Vec<(String, u64)>,
    /// Progress toward the planned sample (or the planned end without a plan).
    pub progress: Option<Progress>,
    /// The decision of the newest run.
    pub decision: Option<Decision>,
    /// Health checks that warn or fail: `(name, level)`.
    pub flags: Vec<(&'static str, Level)>,
}

impl Entry {
    /// Sort rank: unhealthy, ready to ship, do not ship (guardrail or primary failing), still
    /// running, no difference, no data.
    pub fn rank(&self) -> u8 {
        self.decision.as_ref().map_or(9, Decision::rank)
    }
}

/// The entries of every experiment in `registry`, with the newest report of those that have one,
/// sorted most actionable first (then by id).
pub fn entries(
    registry: &[Experiment],
    latest: &BTreeMap<String, Report>,
    now: DateTime<Utc>,
) -> Vec<Entry> {
    let mut out: Vec<Entry> = registry
        .iter()
        .map(|e| {
            let report = latest.get(&e.id);
            let until = e.end.map_or(now, |end| end.min(now));
            let days = until.signed_duration_since(e.start).num_days().max(0);
            let (decision, flags) = match report {
                Some(r) => {
                    let checks = health(r, now);
                    let flags = checks
                        .iter()
                        .filter(|c| c.level != Level::Ok)
                        .map(|c| (c.name, c.level))
                        .collect();
                    (Some(decide(r, &checks)), flags)
                }
                None => (None, Vec::new()),
            };
            Entry {
                id: e.id.clone(),
                name: e.name.clone(),
                hypothesis: e.hypothesis.clone(),
                status: match (report, e.end) {
                    (None, _) => "no data",
                    (Some(_), Some(end)) if end <= now => "ended",
                    (Some(_), _) => "running",
                },
                days,
                users: report.map_or_else(Vec::new, |r| {
                    r.run
                        .variants
                        .iter()
                        .cloned()
                        .zip(r.run.variant_users.iter().copied())
                        .collect()
                }),
                progress: report.and_then(progress),
                decision,
                flags,
            }
        })
        .collect();
    out.sort_by(|a, b| a.rank().cmp(&b.rank()).then_with(|| a.id.cmp(&b.id)));
    out
}

/// The entries matching the filter.
pub fn filter<'a>(entries: &'a [Entry], q: &ListQuery) -> Vec<&'a Entry> {
    let needle = q.q.trim().to_lowercase();
    entries
        .iter()
        .filter(|e| q.status.is_empty() || e.status == q.status)
        .filter(|e| {
            needle.is_empty()
                || [&e.id, &e.name, &e.hypothesis]
                    .iter()
                    .any(|s| s.to_lowercase().contains(&needle))
        })
        .collect()
}

/// The list page.
pub fn render(entries: &[Entry], q: &ListQuery, version: &str) -> Markup {
    let shown = filter(entries, q);
    let body = html! {
        h1 { "Experiments" }
        form.filters method="get" action="/" role="search" {
            label for="q" { "Filter" }
            input #q type="search" name="q" value=(q.q) placeholder="id, name or hypothesis";
            label for="status" { "Status" }
            select #status name="status" {
                @for (value, text) in [("", "all"), ("running", "running"), ("ended", "ended"), ("no data", "no data")] {
                    option value=(value) selected[q.status == value] { (text) }
                }
            }
            button type="submit" { "Apply" }
        }
        p.meta { (shown.len()) " of " (entries.len()) " experiments · most actionable first" }
        div.scroll {
            table.list {
                caption.sr { "Experiments, most actionable first" }
                thead { tr {
                    th scope="col" { "Experiment" }
                    th scope="col" { "Status" }
                    th scope="col" { "Decision" }
                    th scope="col" { "Health" }
                    th scope="col" .num { "Days" }
                    th scope="col" { "Users per variant" }
                    th scope="col" { "Progress" }
                } }
                tbody {
                    @for e in &shown {
                        tr data-experiment=(e.id) {
                            th scope="row" {
                                a href=(experiment_url(&e.id, "", &ExperimentQuery::default())) { (e.name) }
                                br; span.meta { (e.id) }
                            }
                            td { span.status { (e.status) } }
                            td { @match &e.decision {
                                Some(d) => span class={"chip " (chip_class(d))} { (d.chip()) },
                                None => span.chip { "–" },
                            } }
                            td {
                                @if e.flags.is_empty() && e.decision.is_some() { span.flag.ok { "healthy" } }
                                @for (name, level) in &e.flags {
                                    span class={"flag " (level.as_str())} { (name) }
                                    " "
                                }
                            }
                            td.num { (e.days) }
                            td { @for (i, (v, n)) in e.users.iter().enumerate() {
                                @if i > 0 { " · " }
                                (v) " " (n)
                            } }
                            td { @match e.progress {
                                Some(p) => {
                                    span.progress data-kind=(p.kind()) title=(p.text()) {
                                        progress max="100" value=(format!("{:.0}", (p.share() * 100.0).min(100.0))) aria-label=(p.text()) {}
                                        " " (format!("{:.0}%", p.share() * 100.0))
                                        " " span.meta { @match p { Progress::Sample { planned, .. } => { "of " (crate::progress::thousands(planned)) " users" }, Progress::Duration(_) => "of the duration" } }
                                    }
                                },
                                None => span.meta { "no plan" },
                            } }
                        }
                    }
                }
            }
        }
    };
    page("Experiments", version, html! {}, body)
}

/// CSS class of a decision chip.
pub fn chip_class(d: &Decision) -> &'static str {
    match d.rank() {
        0 => "fail",
        1 => "ship",
        2 => "fail",
        _ => "neutral",
    }
}
