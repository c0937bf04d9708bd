//! What an analyst should do with an experiment, from its newest run: the health checks (sample
//! ratio, multiple exposures, balance, data freshness) and the decision (ship / do not ship /
//! do not decide / keep running / no difference) with its reasons. Pure functions of a
//! [`Report`] and the analysis time; the dashboard, the exports and the tests call the same ones.
//!
//! Rules, in order:
//! 1. A failing health check (sample ratio mismatch, more than [`MULTIPLE_EXPOSURE_FAIL`] of the
//!    users exposed to several variants, a segment imbalanced across variants at p <
//!    [`BALANCE_FAIL_P`]) gives **do not decide**: results of a broken assignment are not
//!    evidence, so a health failure always suppresses ship advice.
//! 2. A guardrail of the leading treatment that fails gives **do not ship**.
//! 3. A treatment whose primary metrics are all significantly better and whose guardrails all
//!    pass gives **ship** (the one with the largest lift on the first primary metric).
//! 4. Primary metrics significantly worse in every treatment give **do not ship**.
//! 5. Otherwise: **no difference** once the plan is reached (the planned sample when the
//!    definition has a plan, else the planned end), else **keep running** with how far the
//!    experiment is ([`crate::progress`]).
//!
//! Under the Bayesian engine "significantly better" is the engine's verdict: a chance to win of
//! at least the experiment's `chance_to_win` with a risk of at most its `max_risk` (defaults
//! [`DEFAULT_CHANCE_TO_WIN`], [`DEFAULT_MAX_RISK`]), and the reasons quote them.

use abacus_aggregator::model::ResultRow;
use abacus_stats::{DEFAULT_CHANCE_TO_WIN, DEFAULT_MAX_RISK};
use chrono::{DateTime, Utc};

use crate::progress::progress;
use crate::{pct, pvalue, Report};

/// Share of users exposed to several variants above which the run is unhealthy.
pub const MULTIPLE_EXPOSURE_FAIL: f64 = 0.05;
/// Share of users exposed to several variants above which a warning is shown.
pub const MULTIPLE_EXPOSURE_WARN: f64 = 0.01;
/// Balance p-value below which a segment key counts as imbalanced (unhealthy).
pub const BALANCE_FAIL_P: f64 = 0.001;
/// Balance p-value below which a warning is shown.
pub const BALANCE_WARN_P: f64 = 0.01;
/// Hours after which the newest analysis counts as stale (a warning).
pub const STALE_HOURS: i64 = 26;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fine.
    Ok,
    /// Worth a look; does not block a decision.
    Warn,
    /// Blocks any ship decision.
    Fail,
}

impl Level {
    /// `ok`, `warn` or `fail` (CSS class and export value).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One health check.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Short name: `sample ratio`, `multiple exposures`, `balance`, `freshness`.
    pub name: &'static str,
    /// Outcome.
    pub level: Level,
    /// What was seen, in words.
    pub detail: String,
}

/// The health checks of a run at time `now`.
pub fn health(r: &Report, now: DateTime<Utc>) -> Vec<Check> {
    let run = &r.run;
    let mut out = Vec::new();
    out.push(Check {
        name: "sample ratio",
        level: if crate::network::srm_alert(run) {
            Level::Fail
        } else {
            Level::Ok
        },
        detail: if crate::network::srm_alert(run) {
            format!(
                "mismatch: {} per variant do not match the design (chi² {:.1}; {})",
                crate::network::srm_counted(run),
                run.srm_chi2,
                crate::network::srm_detail(run)
            )
        } else {
            format!("matches the design ({})", crate::network::srm_detail(run))
        },
    });
    let exposed = run.users + run.multiple_exposure_users;
    let share = if exposed > 0 {
        run.multiple_exposure_users as f64 / exposed as f64
    } else {
        0.0
    };
    out.push(Check {
        name: "multiple exposures",
        level: if share > MULTIPLE_EXPOSURE_FAIL {
            Level::Fail
        } else if share > MULTIPLE_EXPOSURE_WARN {
            Level::Warn
        } else {
            Level::Ok
        },
        detail: format!(
            "{} users ({:.2}%) saw several variants and are excluded",
            run.multiple_exposure_users,
            share * 100.0
        ),
    });
    let mut worst: Option<(&str, f64)> = None;
    for b in &r.balance {
        if worst.is_none_or(|(_, p)| b.p_value < p) {
            worst = Some((&b.segment_key, b.p_value));
        }
    }
    out.push(match worst {
        None => Check {
            name: "balance",
            level: Level::Ok,
            detail: "no segments to check".to_owned(),
        },
        Some((key, p)) => Check {
            name: "balance",
            level: if p < BALANCE_FAIL_P {
                Level::Fail
            } else if p < BALANCE_WARN_P {
                Level::Warn
            } else {
                Level::Ok
            },
            detail: if p < BALANCE_WARN_P {
                format!("segment `{key}` differs across variants (p {})", pvalue(p))
            } else {
                format!("segments balanced (lowest p {}, `{key}`)", pvalue(p))
            },
        },
    });
    let age = now.signed_duration_since(r.computed_at());
    out.push(Check {
        name: "freshness",
        level: if age.num_hours() >= STALE_HOURS {
            Level::Warn
        } else {
            Level::Ok
        },
        detail: format!("computed {} ago", human_age(age)),
    });
    out
}

fn human_age(age: chrono::TimeDelta) -> String {
    let secs = age.num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Ship this variant.
    Ship(String),
    /// Do not ship (a guardrail fails or the primary metric is worse).
    DoNotShip,
    /// Do not decide: the run is unhealthy.
    DoNotDecide,
    /// Not significant yet.
    KeepRunning,
    /// Not significant at the planned sample.
    NoDifference,
}

/// The decision and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// The headline, e.g. `ship treatment` or `do not decide`.
    pub headline: String,
    /// The reasons, in words.
    pub reasons: Vec<String>,
}

impl Decision {
    /// A short label for chips and the list page.
    pub fn chip(&self) -> &'static str {
        match self.verdict {
            Verdict::Ship(_) => "ship",
            Verdict::DoNotShip => "do not ship",
            Verdict::DoNotDecide => "do not decide",
            Verdict::KeepRunning => "keep running",
            Verdict::NoDifference => "no difference",
        }
    }

    /// Sort rank on the list: most actionable first (unhealthy, ready to ship, guardrail or
    /// primary failing, still running, no difference).
    pub fn rank(&self) -> u8 {
        match self.verdict {
            Verdict::DoNotDecide => 0,
            Verdict::Ship(_) => 1,
            Verdict::DoNotShip => 2,
            Verdict::KeepRunning => 3,
            Verdict::NoDifference => 4,
        }
    }
}

fn better(r: &ResultRow) -> bool {
    r.significant == 1
        && r.error.is_empty()
        && match r.direction.as_str() {
            "decrease" => r.abs_lift < 0.0,
            _ => r.abs_lift > 0.0,
        }
}

fn worse(r: &ResultRow) -> bool {
    r.significant == 1 && r.error.is_empty() && !better(r) && r.abs_lift != 0.0
}

fn lift_text(r: &ResultRow) -> String {
    let lift = r
        .rel_lift
        .map_or_else(|| format!("{:+.4} abs", r.abs_lift), pct);
    match r.chance_to_win {
        Some(c) => format!(
            "{lift}, chance to win {:.1}%, risk {}",
            c * 100.0,
            risk_text(r.risk_treatment.unwrap_or(0.0))
        ),
        None => lift,
    }
}

fn risk_text(risk: f64) -> String {
    format!("{:.3}%", risk * 100.0)
}

/// The Bayesian thresholds `(chance to win, max risk)` of a report whose primary metrics use
/// the Bayesian engine.
pub fn bayes_thresholds(r: &Report) -> Option<(f64, f64)> {
    let bayesian = r
        .results
        .iter()
        .any(|m| m.is_primary == 1 && m.engine == "bayesian");
    bayesian.then(|| {
        let def = r.definition.as_ref();
        (
            def.and_then(|d| d.chance_to_win)
                .unwrap_or(DEFAULT_CHANCE_TO_WIN),
            def.and_then(|d| d.max_risk).unwrap_or(DEFAULT_MAX_RISK),
        )
    })
}

/// The decision for a run (with its health checks from [`health`]).
pub fn decide(r: &Report, checks: &[Check]) -> Decision {
    let failing: Vec<&Check> = checks.iter().filter(|c| c.level == Level::Fail).collect();
    if !failing.is_empty() {
        return Decision {
            verdict: Verdict::DoNotDecide,
            headline: "do not decide".to_owned(),
            reasons: failing
                .iter()
                .map(|c| format!("{}: {}", c.name, c.detail))
                .chain(std::iter::once(
                    "a health failure means assignment or logging is broken: fix it before reading the metrics"
                        .to_owned(),
                ))
                .collect(),
        };
    }
    let variants: Vec<&str> = r
        .run
        .variants
        .iter()
        .map(String::as_str)
        .filter(|v| *v != r.baseline)
        .collect();
    let primary = |v: &str| -> Vec<&ResultRow> {
        r.results
            .iter()
            .filter(|m| m.variant == v && m.is_primary == 1)
            .collect()
    };
    let guardrails = |v: &str| -> Vec<&ResultRow> {
        r.results
            .iter()
            .filter(|m| m.variant == v && m.is_guardrail == 1)
            .collect()
    };
    if variants.iter().all(|v| primary(v).is_empty()) {
        return Decision {
            verdict: Verdict::KeepRunning,
            headline: "keep running".to_owned(),
            reasons: vec!["no primary metric result yet".to_owned()],
        };
    }
    // Winners: every primary metric significantly better.
    let mut winners: Vec<(&str, f64)> = variants
        .iter()
        .filter(|v| {
            let p = primary(v);
            !p.is_empty() && p.iter().all(|m| better(m))
        })
        .map(|v| {
            let first = primary(v)[0];
            (*v, first.rel_lift.unwrap_or(first.abs_lift).abs())
        })
        .collect();
    winners.sort_by(|a, b| b.1.total_cmp(&a.1));
    if let Some((v, _)) = winners.first() {
        let g = guardrails(v);
        let failed: Vec<&&ResultRow> = g.iter().filter(|m| m.guardrail_verdict == "fail").collect();
        if !failed.is_empty() {
            return Decision {
                verdict: Verdict::DoNotShip,
                headline: format!("do not ship {v}"),
                reasons: failed
                    .iter()
                    .map(|m| format!("guardrail {} failing ({})", m.metric, lift_text(m)))
                    .chain(std::iter::once(format!(
                        "primary metric better for {v}, but a guardrail fails"
                    )))
                    .collect(),
            };
        }
        let pending: Vec<&&ResultRow> =
            g.iter().filter(|m| m.guardrail_verdict != "pass").collect();
        if !pending.is_empty() {
            return Decision {
                verdict: Verdict::KeepRunning,
                headline: "keep running".to_owned(),
                reasons: vec![format!(
                    "primary metric better for {v}, but guardrail {} is not yet shown to hold",
                    pending
                        .iter()
                        .map(|m| m.metric.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )],
            };
        }
        let lifts: Vec<String> = primary(v)
            .iter()
            .map(|m| format!("{} {}", m.metric, lift_text(m)))
            .collect();
        let why = match bayes_thresholds(r) {
            Some((chance, risk)) => format!(
                "primary metric better by the Bayesian engine: chance to win ≥ {:.0}% with risk ≤ {} ({})",
                chance * 100.0,
                risk_text(risk),
                lifts.join("; ")
            ),
            None => format!("primary metric better ({})", lifts.join(", ")),
        };
        return Decision {
            verdict: Verdict::Ship((*v).to_owned()),
            headline: format!("ship {v}"),
            reasons: vec![
                why,
                if g.is_empty() {
                    "no guardrail defined".to_owned()
                } else {
                    "no guardrail failing".to_owned()
                },
            ],
        };
    }
    let all_worse = variants.iter().all(|v| {
        let p = primary(v);
        !p.is_empty() && p.iter().any(|m| worse(m))
    });
    if all_worse {
        return Decision {
            verdict: Verdict::DoNotShip,
            headline: "do not ship".to_owned(),
            reasons: vec![match bayes_thresholds(r) {
                Some((chance, _)) => format!(
                    "primary metric worse than {} in every treatment (chance to win ≤ {:.0}%)",
                    r.baseline,
                    (1.0 - chance) * 100.0
                ),
                None => format!(
                    "primary metric worse than {} in every treatment",
                    r.baseline
                ),
            }],
        };
    }
    let (not_yet, at_end) = match bayes_thresholds(r) {
        Some((chance, risk)) => {
            let best = variants
                .iter()
                .flat_map(|v| primary(v))
                .filter_map(|m| m.chance_to_win.map(|c| (m.variant.as_str(), c)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(String::new(), |(v, c)| {
                    format!(" (best: {v}, {:.1}%)", c * 100.0)
                });
            let bar = format!(
                "a chance to win ≥ {:.0}% with risk ≤ {}",
                chance * 100.0,
                risk_text(risk)
            );
            (
                format!("no treatment has {bar} yet{best}"),
                format!("no treatment reached {bar}{best}"),
            )
        }
        None => (
            "not significant yet".to_owned(),
            "not significant".to_owned(),
        ),
    };
    match progress(r) {
        Some(p) if p.done() => Decision {
            verdict: Verdict::NoDifference,
            headline: "no difference".to_owned(),
            reasons: vec![format!("{at_end} at the end of the plan: {}", p.text())],
        },
        Some(p) => Decision {
            verdict: Verdict::KeepRunning,
            headline: "keep running".to_owned(),
            reasons: vec![format!("{not_yet}, {}", p.text())],
        },
        None => Decision {
            verdict: Verdict::KeepRunning,
            headline: "keep running".to_owned(),
            reasons: vec![format!(
                "{not_yet} (the definition plans no sample size and no end date)"
            )],
        },
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
