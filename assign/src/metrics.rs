//! Validation of `[[experiment.metric]]` tables: kinds, windows, retention days, guardrails.

use crate::experiment::{Direction, Metric, MetricKind, Window};
use crate::file::RawMetric;
use crate::validate::check_id;
use crate::Problem;

pub(crate) fn resolve_metric(
    m: &RawMetric,
    experiment: &str,
    problems: &mut Vec<Problem>,
) -> Option<Metric> {
    let before = problems.len();
    let subj = format!("{experiment}, metric \"{}\"", m.name);
    let mut bad = |field: &str, reason: String| problems.push(Problem::new(&subj, field, reason));
    if let Err(e) = check_id(&m.name) {
        bad("name", e);
    }
    let kind = MetricKind::ALL
        .iter()
        .find(|(n, _)| *n == m.kind)
        .map(|(_, k)| *k);
    if kind.is_none() {
        bad(
            "kind",
            format!(
                "must be one of conversion, revenue, count, retention, ratio (got \"{}\")",
                m.kind
            ),
        );
    }
    if m.event.trim().is_empty() {
        bad("event", "must not be empty".to_owned());
    }
    let direction = match m.direction.as_deref() {
        None | Some("increase") => Some(Direction::Increase),
        Some("decrease") => Some(Direction::Decrease),
        Some(other) => {
            bad(
                "direction",
                format!("must be increase or decrease (got \"{other}\")"),
            );
            None
        }
    };
    match (m.guardrail, m.margin) {
        (true, None) => bad("margin", "is required for a guardrail metric".to_owned()),
        (true, Some(x)) if !(x.is_finite() && x > 0.0) => {
            bad("margin", format!("must be positive (got {x})"))
        }
        (false, Some(_)) => bad(
            "margin",
            "only applies to a guardrail metric (set guardrail = true)".to_owned(),
        ),
        _ => {}
    }
    if m.guardrail && m.primary {
        bad(
            "primary",
            "must not be set on a guardrail metric".to_owned(),
        );
    }
    let window = match &m.window {
        Some(w) => Window::parse(w).map_err(|e| bad("window", e)).ok(),
        None => None,
    };
    if let Some(w) = m.winsorize {
        if !(w.is_finite() && w > 0.0 && w <= 1.0) {
            bad(
                "winsorize",
                format!("must be a percentile in (0, 1] (got {w})"),
            );
        }
    }
    let days = |v: Option<i64>| v.and_then(|d| u32::try_from(d).ok());
    match kind {
        Some(MetricKind::Retention) => {
            match (m.from_day, m.to_day) {
                (Some(f), Some(t))
                    if f < 0 || t < 0 || days(Some(f)).is_none() || days(Some(t)).is_none() =>
                {
                    bad(
                        "from_day",
                        format!("and to_day must be non-negative day numbers (got {f} and {t})"),
                    )
                }
                (Some(f), Some(t)) if t < f => {
                    bad("to_day", format!("must be >= from_day ({f}) (got {t})"))
                }
                (Some(_), Some(_)) => {}
                (None, _) => bad("from_day", "is required for a retention metric".to_owned()),
                (_, None) => bad("to_day", "is required for a retention metric".to_owned()),
            }
            if m.window.is_some() {
                bad(
                    "window",
                    "does not apply to a retention metric (use from_day and to_day)".to_owned(),
                );
            }
        }
        Some(_) if m.from_day.is_some() || m.to_day.is_some() => bad(
            "from_day",
            "and to_day only apply to a retention metric".to_owned(),
        ),
        _ => {}
    }
    match (kind, &m.denominator) {
        (Some(MetricKind::Ratio), None) => {
            bad("denominator", "is required for a ratio metric".to_owned())
        }
        (Some(MetricKind::Ratio), Some(d)) if d.trim().is_empty() => {
            bad("denominator", "must not be empty".to_owned())
        }
        (Some(k), Some(_)) if k != MetricKind::Ratio => {
            bad("denominator", "only applies to a ratio metric".to_owned())
        }
        _ => {}
    }
    if m.winsorize.is_some() && matches!(kind, Some(MetricKind::Conversion | MetricKind::Retention))
    {
        bad(
            "winsorize",
            format!(
                "only applies to revenue, count and ratio metrics (kind is {})",
                m.kind
            ),
        );
    }
    crate::analysis::check_metric_cuped(m.cuped, kind, &mut bad);
    if problems.len() > before {
        return None;
    }
    Some(Metric {
        name: m.name.clone(),
        kind: kind?,
        event: m.event.clone(),
        denominator: m.denominator.clone(),
        primary: m.primary,
        guardrail: m.guardrail,
        direction: direction?,
        margin: m.margin,
        window,
        winsorize: m.winsorize,
        from_day: days(m.from_day),
        to_day: days(m.to_day),
        cuped: m.cuped,
    })
}

/// The metric as it would be written in a file.
pub(crate) fn metric_to_raw(m: &Metric) -> RawMetric {
    RawMetric {
        name: m.name.clone(),
        kind: MetricKind::ALL
            .iter()
            .find(|(_, k)| *k == m.kind)
            .map_or("conversion", |(n, _)| n)
            .to_owned(),
        event: m.event.clone(),
        denominator: m.denominator.clone(),
        primary: m.primary,
        guardrail: m.guardrail,
        direction: Some(
            match m.direction {
                Direction::Increase => "increase",
                Direction::Decrease => "decrease",
            }
            .to_owned(),
        ),
        margin: m.margin,
        window: m.window.map(|w| w.to_string()),
        winsorize: m.winsorize,
        from_day: m.from_day.map(i64::from),
        to_day: m.to_day.map(i64::from),
        cuped: m.cuped,
    }
}
