//! How an experiment is analysed, beside its design: the statistics engine (frequentist or
//! Bayesian, with an optional prior and decision thresholds), variance reduction by a
//! pre-exposure covariate (CUPED, `pre_period`) and the plan (planned users, or a baseline
//! rate, an MDE and a power to derive them from) that tunes sequential tests.
//!
//! Every field is optional in the file and left out of the stored JSON when unset, so
//! definitions that do not use them keep their checksum.

use serde::{Deserialize, Serialize};

use crate::experiment::{Experiment, Metric, MetricKind, Window};
use crate::file::RawExperiment;
use crate::Problem;

/// Days of history before the first exposure that CUPED reads when `pre_period` is not set.
pub const DEFAULT_PRE_PERIOD_DAYS: u64 = 14;

/// The statistics engine of an experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// p-values, confidence intervals, Holm's correction (the default).
    #[default]
    Frequentist,
    /// Chance to win, risk and credible intervals (GrowthBook's effect model).
    Bayesian,
}

impl Engine {
    /// `frequentist` or `bayesian`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Frequentist => "frequentist",
            Engine::Bayesian => "bayesian",
        }
    }

    /// Whether this is the default engine (left out of the stored JSON).
    pub fn is_default(&self) -> bool {
        *self == Engine::Frequentist
    }
}

/// A normal prior on the relative effect of every metric (Bayesian engine).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    /// Prior mean of the relative effect (0 = no effect expected).
    pub mean: f64,
    /// Prior standard deviation of the relative effect (0.1: ±10% is plausible).
    pub sd: f64,
}

/// The plan of an experiment: its planned users, or what they are derived from (a baseline
/// conversion rate of the primary metric, a relative minimum detectable effect and a power,
/// with the experiment's alpha and the control/first-treatment split).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Planned users of the whole experiment (all variants) at its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// Expected conversion rate of the primary metric in control, in (0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// Relative minimum detectable effect on it (0.05 = +5%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mde: Option<f64>,
    /// Power to detect it [default 0.8].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
}

impl Experiment {
    /// Whether `m` is analysed with CUPED: the metric's `cuped`, else the experiment's, and
    /// only for conversion, revenue and count metrics.
    pub fn uses_cuped(&self, m: &Metric) -> bool {
        m.cuped.unwrap_or(self.cuped) && supports_cuped(m.kind)
    }

    /// The window before the first exposure that CUPED reads (`pre_period`, default 14 days).
    pub fn pre_period(&self) -> Window {
        self.pre_period
            .unwrap_or(Window::from_seconds(DEFAULT_PRE_PERIOD_DAYS * 86_400))
    }
}

/// The metric kinds CUPED adjusts (one value per user with a natural pre-period value).
pub fn supports_cuped(kind: MetricKind) -> bool {
    matches!(
        kind,
        MetricKind::Conversion | MetricKind::Revenue | MetricKind::Count
    )
}

/// The analysis settings of an experiment, validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Analysis {
    pub cuped: bool,
    pub pre_period: Option<Window>,
    pub engine: Engine,
    pub prior: Option<Prior>,
    pub chance_to_win: Option<f64>,
    pub max_risk: Option<f64>,
    pub plan: Option<Plan>,
}

/// Validates the analysis settings of `r` (metrics already resolved).
pub(crate) fn resolve_analysis(
    r: &RawExperiment,
    metrics: &[Metric],
    subj: &str,
    problems: &mut Vec<Problem>,
) -> Analysis {
    let mut bad = |field: &str, reason: String| problems.push(Problem::new(subj, field, reason));
    let engine = match r.engine.as_deref() {
        None | Some("frequentist") => Engine::Frequentist,
        Some("bayesian") => Engine::Bayesian,
        Some(other) => {
            bad(
                "engine",
                format!("must be frequentist or bayesian (got \"{other}\")"),
            );
            Engine::Frequentist
        }
    };
    let bayesian_only = |set: bool, field: &str, bad: &mut dyn FnMut(&str, String)| {
        if set && engine != Engine::Bayesian {
            bad(field, "only applies with engine = \"bayesian\"".to_owned());
        }
    };
    bayesian_only(r.prior.is_some(), "prior", &mut bad);
    bayesian_only(r.chance_to_win.is_some(), "chance_to_win", &mut bad);
    bayesian_only(r.max_risk.is_some(), "max_risk", &mut bad);
    if engine == Engine::Bayesian && r.sequential {
        bad(
            "sequential",
            "applies to the frequentist engine (Bayesian results need no peeking correction)"
                .to_owned(),
        );
    }
    if let Some(p) = r.prior {
        if !p.mean.is_finite() {
            bad("prior", format!("mean must be finite (got {})", p.mean));
        }
        if !(p.sd.is_finite() && p.sd > 0.0) {
            bad("prior", format!("sd must be positive (got {})", p.sd));
        }
    }
    if let Some(c) = r.chance_to_win {
        if !(c.is_finite() && c > 0.5 && c < 1.0) {
            bad("chance_to_win", format!("must be in (0.5, 1) (got {c})"));
        }
    }
    if let Some(m) = r.max_risk {
        if !(m.is_finite() && m >= 0.0) {
            bad("max_risk", format!("must be non-negative (got {m})"));
        }
    }
    let any_cuped = metrics
        .iter()
        .any(|m| m.cuped.unwrap_or(r.cuped) && supports_cuped(m.kind));
    if r.cuped && !metrics.is_empty() && !metrics.iter().any(|m| supports_cuped(m.kind)) {
        bad(
            "cuped",
            "needs a conversion, revenue or count metric to adjust".to_owned(),
        );
    }
    let pre_period = match &r.pre_period {
        Some(_) if !any_cuped => {
            bad(
                "pre_period",
                "only applies when a metric uses CUPED (set cuped = true)".to_owned(),
            );
            None
        }
        Some(text) => Window::parse(text).map_err(|e| bad("pre_period", e)).ok(),
        None => None,
    };
    if let Some(plan) = r.plan {
        check_plan(&plan, metrics, &mut bad);
    }
    Analysis {
        cuped: r.cuped,
        pre_period,
        engine,
        prior: r.prior,
        chance_to_win: r.chance_to_win,
        max_risk: r.max_risk,
        plan: r.plan,
    }
}

fn check_plan(plan: &Plan, metrics: &[Metric], bad: &mut dyn FnMut(&str, String)) {
    match (plan.users, plan.baseline, plan.mde) {
        (Some(0), _, _) => bad("plan.users", "must be at least 1".to_owned()),
        (Some(_), None, None) if plan.power.is_none() => {}
        (Some(_), _, _) => bad(
            "plan",
            "takes either users, or baseline and mde (and power), not both".to_owned(),
        ),
        (None, Some(b), Some(mde)) => {
            if !(b.is_finite() && b > 0.0 && b < 1.0) {
                bad("plan.baseline", format!("must be in (0, 1) (got {b})"));
            } else {
                let target = b * (1.0 + mde);
                if !(mde.is_finite() && mde != 0.0 && target > 0.0 && target < 1.0) {
                    bad(
                        "plan.mde",
                        format!("must be a non-zero relative change keeping the rate in (0, 1) (got {mde})"),
                    );
                }
            }
            if let Some(p) = plan.power {
                if !(p.is_finite() && p > 0.0 && p < 1.0) {
                    bad("plan.power", format!("must be in (0, 1) (got {p})"));
                }
            }
            let primary_is_rate = metrics.iter().any(|m| {
                m.primary && matches!(m.kind, MetricKind::Conversion | MetricKind::Retention)
            });
            if !primary_is_rate {
                bad(
                    "plan",
                    "baseline and mde describe the primary metric's conversion rate: mark a conversion or retention metric primary, or give plan.users".to_owned(),
                );
            }
        }
        (None, _, _) => bad("plan", "needs users, or both baseline and mde".to_owned()),
    }
}

/// Checks a metric's own `cuped` setting.
pub(crate) fn check_metric_cuped(
    cuped: Option<bool>,
    kind: Option<MetricKind>,
    bad: &mut dyn FnMut(&str, String),
) {
    if let (Some(true), Some(kind)) = (cuped, kind) {
        if !supports_cuped(kind) {
            bad(
                "cuped",
                "applies to conversion, revenue and count metrics only".to_owned(),
            );
        }
    }
}
