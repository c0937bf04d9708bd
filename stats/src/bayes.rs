//! A Bayesian reading of an experiment: the model of GrowthBook's `gbstats`
//! (`EffectBayesianABTest`). The lift is approximately normal — the difference of means and,
//! by the delta method, the relative lift `Δ/m_c` — with the data's variance; a normal prior
//! on the relative effect (flat by default) gives a normal posterior, from which:
//!
//! - **chance to win** `P(lift > 0)` (`P(lift < 0)` when lower is better);
//! - **risk** (expected loss) of choosing each arm: choosing control loses
//!   `E[max(0, lift)] = Φ(μ/σ)·μ + σ·φ(μ/σ)`, choosing treatment loses
//!   `E[max(0, −lift)] = σ·φ(μ/σ) − μ·Φ(−μ/σ)` (swapped when lower is better);
//! - the `1 − α` credible interval `μ ± z_{α/2}·σ`.
//!
//! Relative figures (`rel_*`, chance to win, risk) come from the relative lift with
//! `var = v_t/m_c² + v_c·m_t²/m_c⁴` (`v` = variance of an arm's mean, `m` its unadjusted
//! mean), absolute ones (`abs_*`) from the difference with `var = v_t + v_c`, each as gbstats
//! reports them for its relative and absolute difference types. A proper prior `N(μ₀, σ₀²)`
//! on the relative effect is rescaled to the absolute one as `N(μ₀·|m_c|, σ₀²·m_c²)`; the
//! posterior is `N((d/V + μ₀/σ₀²)/(1/V + 1/σ₀²), 1/(1/V + 1/σ₀²))` for data `d` with
//! variance `V`.
//!
//! Variances per arm: `p(1 − p)/n` for conversions, `sd²/n` for means, the delta-method
//! variance for ratios and the CUPED-adjusted variance for [`bayes_cuped`] (gbstats'
//! `ProportionStatistic`, `SampleMeanStatistic`, `RatioStatistic`,
//! `RegressionAdjustedStatistic`).

use serde::Serialize;

use crate::cuped::{adjust, CupedSummary, ValueKind};
use crate::dist::{norm_cdf, norm_pdf, norm_upper_quantile};
use crate::error::{check_alpha, check_open_unit, check_positive, finite, Arm, Result};
use crate::error::{check_non_negative, StatsError};
use crate::summary::{Interval, MeanSummary, ProportionSummary, RatioSummary};

/// Chance to win from which a result is a winner (and `1 −` it, a loser) by default.
pub const DEFAULT_CHANCE_TO_WIN: f64 = 0.95;

/// Largest risk (expected relative loss of the chosen arm) accepted with a winner or loser
/// by default: 0.25% of the control value.
pub const DEFAULT_MAX_RISK: f64 = 0.0025;

/// A normal prior on the relative effect `treatment/control − 1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NormalPrior {
    /// Prior mean of the relative effect (0 = no effect expected).
    pub mean: f64,
    /// Prior standard deviation of the relative effect, > 0 (0.1 = effects of ±10% are
    /// plausible).
    pub sd: f64,
}

/// Settings of the Bayesian comparison.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BayesConfig {
    /// The credible intervals have level `1 − alpha`. Default 0.05.
    pub alpha: f64,
    /// `None` (default) for a flat prior.
    pub prior: Option<NormalPrior>,
    /// The metric is better when lower (refunds, latency): chance to win is `P(lift < 0)`
    /// and the risks swap.
    pub lower_is_better: bool,
}

impl Default for BayesConfig {
    fn default() -> Self {
        BayesConfig {
            alpha: 0.05,
            prior: None,
            lower_is_better: false,
        }
    }
}

/// The posterior reading of one treatment against control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BayesResult {
    /// Probability that treatment is better than control.
    pub chance_to_win: f64,
    /// Expected relative loss of choosing control (relative to the control value).
    pub risk_control: f64,
    /// Expected relative loss of choosing treatment.
    pub risk_treatment: f64,
    /// Posterior mean of the relative lift.
    pub rel_lift: f64,
    /// Credible interval of the relative lift.
    pub ci_rel: Interval,
    /// Posterior standard deviation of the relative lift.
    pub rel_sd: f64,
    /// Posterior mean of the absolute lift.
    pub abs_lift: f64,
    /// Credible interval of the absolute lift.
    pub ci_abs: Interval,
    /// Posterior standard deviation of the absolute lift.
    pub abs_sd: f64,
    pub alpha: f64,
}

/// One arm as the model sees it.
#[derive(Clone, Copy, Debug)]
struct ArmEffect {
    /// Mean (CUPED-adjusted for [`bayes_cuped`]).
    mean: f64,
    /// Unadjusted mean (the denominator of relative figures).
    unadjusted_mean: f64,
    /// Variance of the mean.
    variance: f64,
}

/// Bayesian comparison of conversion rates.
pub fn bayes_proportions(
    control: &ProportionSummary,
    treatment: &ProportionSummary,
    config: &BayesConfig,
) -> Result<BayesResult> {
    let arm = |s: &ProportionSummary, which: Arm| -> Result<ArmEffect> {
        let (n, p) = s.checked(which)?;
        Ok(ArmEffect {
            mean: p,
            unadjusted_mean: p,
            variance: p * (1.0 - p) / n,
        })
    };
    posterior(
        arm(control, Arm::Control)?,
        arm(treatment, Arm::Treatment)?,
        config,
    )
}

/// Bayesian comparison of means (n, mean, sd per arm).
pub fn bayes_means(
    control: &MeanSummary,
    treatment: &MeanSummary,
    config: &BayesConfig,
) -> Result<BayesResult> {
    let arm = |s: &MeanSummary, which: Arm| -> Result<ArmEffect> {
        let (_, mean, variance) = s.checked(which)?;
        Ok(ArmEffect {
            mean,
            unadjusted_mean: mean,
            variance,
        })
    };
    posterior(
        arm(control, Arm::Control)?,
        arm(treatment, Arm::Treatment)?,
        config,
    )
}

/// Bayesian comparison of ratio metrics (delta-method variances).
pub fn bayes_ratios(
    control: &RatioSummary,
    treatment: &RatioSummary,
    config: &BayesConfig,
) -> Result<BayesResult> {
    let arm = |s: &RatioSummary, which: Arm| -> Result<ArmEffect> {
        let m = s.moments(which)?;
        Ok(ArmEffect {
            mean: m.ratio,
            unadjusted_mean: m.ratio,
            variance: m.variance,
        })
    };
    posterior(
        arm(control, Arm::Control)?,
        arm(treatment, Arm::Treatment)?,
        config,
    )
}

/// Bayesian comparison of CUPED-adjusted means (see [`crate::cuped`]).
pub fn bayes_cuped(
    control: &CupedSummary,
    treatment: &CupedSummary,
    kind: ValueKind,
    config: &BayesConfig,
) -> Result<BayesResult> {
    let a = adjust(control, treatment, kind)?;
    let arm = |x: crate::cuped::AdjustedArm| ArmEffect {
        mean: x.mean,
        unadjusted_mean: x.unadjusted_mean,
        variance: x.variance / x.n,
    };
    posterior(arm(a.control), arm(a.treatment), config)
}

/// Normal posterior `(mean, sd)` of data `d` with variance `v` under an optional normal
/// prior `(μ₀, σ₀²)`.
fn update(d: f64, v: f64, prior: Option<(f64, f64)>) -> (f64, f64) {
    match prior {
        None => (d, v.sqrt()),
        Some((m0, v0)) => {
            let precision = 1.0 / v + 1.0 / v0;
            ((d / v + m0 / v0) / precision, (1.0 / precision).sqrt())
        }
    }
}

fn posterior(c: ArmEffect, t: ArmEffect, config: &BayesConfig) -> Result<BayesResult> {
    let alpha = check_alpha(config.alpha)?;
    if let Some(p) = config.prior {
        finite("prior mean", p.mean)?;
        check_positive("prior sd", p.sd)?;
    }
    if c.variance <= 0.0 || t.variance <= 0.0 {
        let arm = if c.variance <= 0.0 {
            Arm::Control
        } else {
            Arm::Treatment
        };
        return Err(StatsError::undefined(
            "bayesian comparison",
            format!("{arm} does not vary (no conversions, or every user converted)"),
        ));
    }
    let m_c = c.unadjusted_mean;
    if m_c == 0.0 {
        return Err(StatsError::undefined(
            "bayesian comparison",
            "the control value is 0, so the relative lift is undefined",
        ));
    }
    let diff = finite("difference", t.mean - c.mean)?;
    let rel_var = t.variance / (m_c * m_c) + c.variance * t.unadjusted_mean.powi(2) / m_c.powi(4);
    let prior_rel = config.prior.map(|p| (p.mean, p.sd * p.sd));
    let prior_abs = config
        .prior
        .map(|p| (p.mean * m_c.abs(), p.sd * p.sd * m_c * m_c));
    let (rel, rel_sd) = update(diff / m_c, rel_var, prior_rel);
    let (abs, abs_sd) = update(diff, t.variance + c.variance, prior_abs);
    let (rel, rel_sd) = (
        finite("relative lift", rel)?,
        finite("posterior sd", rel_sd)?,
    );
    let (abs, abs_sd) = (
        finite("absolute lift", abs)?,
        finite("posterior sd", abs_sd)?,
    );
    let z = norm_upper_quantile(alpha / 2.0);
    let s = rel / rel_sd;
    let p_up = norm_cdf(s);
    // E[max(0, lift)] and E[max(0, −lift)] of N(rel, rel_sd²).
    let gain = (p_up * rel + rel_sd * norm_pdf(s)).max(0.0);
    let loss = (rel_sd * norm_pdf(s) - rel * norm_cdf(-s)).max(0.0);
    let (chance_to_win, risk_control, risk_treatment) = if config.lower_is_better {
        (norm_cdf(-s), loss, gain)
    } else {
        (p_up, gain, loss)
    };
    Ok(BayesResult {
        chance_to_win,
        risk_control: finite("risk", risk_control)?,
        risk_treatment: finite("risk", risk_treatment)?,
        rel_lift: rel,
        ci_rel: Interval::around(rel, z * rel_sd).checked("credible interval")?,
        rel_sd,
        abs_lift: abs,
        ci_abs: Interval::around(abs, z * abs_sd).checked("credible interval")?,
        abs_sd,
        alpha,
    })
}

/// What a Bayesian result says to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BayesDecision {
    /// Chance to win at least the threshold and the risk of choosing treatment acceptable.
    TreatmentBetter,
    /// Chance to win at most `1 −` the threshold and the risk of keeping control acceptable.
    ControlBetter,
    /// Neither yet.
    Inconclusive,
}

/// Decision thresholds; see [`DEFAULT_CHANCE_TO_WIN`] and [`DEFAULT_MAX_RISK`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BayesThresholds {
    /// Chance to win needed for a winner, in (0.5, 1).
    pub chance_to_win: f64,
    /// Largest acceptable risk of the chosen arm (relative to the control value), ≥ 0.
    pub max_risk: f64,
}

impl Default for BayesThresholds {
    fn default() -> Self {
        BayesThresholds {
            chance_to_win: DEFAULT_CHANCE_TO_WIN,
            max_risk: DEFAULT_MAX_RISK,
        }
    }
}

impl BayesThresholds {
    /// Checks the thresholds.
    pub fn checked(self) -> Result<Self> {
        let c = check_open_unit("chance to win", self.chance_to_win)?;
        if c <= 0.5 {
            return Err(StatsError::OutOfRange {
                name: "chance to win",
                value: c,
                expected: "between 0.5 and 1 (exclusive)",
            });
        }
        check_non_negative("max risk", self.max_risk)?;
        Ok(self)
    }
}

/// The decision for `result`: treatment better when its chance to win reaches the threshold
/// and the risk of choosing it is at most `max_risk`; control better in the mirror case.
pub fn bayes_decision(result: &BayesResult, thresholds: &BayesThresholds) -> BayesDecision {
    if result.chance_to_win >= thresholds.chance_to_win
        && result.risk_treatment <= thresholds.max_risk
    {
        BayesDecision::TreatmentBetter
    } else if result.chance_to_win <= 1.0 - thresholds.chance_to_win
        && result.risk_control <= thresholds.max_risk
    {
        BayesDecision::ControlBetter
    } else {
        BayesDecision::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(users: u64, conversions: u64) -> ProportionSummary {
        ProportionSummary::new(users, conversions)
    }

    #[test]
    fn identical_arms_are_a_coin_flip() {
        let r = bayes_proportions(&p(1000, 100), &p(1000, 100), &BayesConfig::default()).unwrap();
        assert_eq!(r.chance_to_win, 0.5);
        assert!((r.risk_control - r.risk_treatment).abs() < 1e-15);
        assert!(r.ci_rel.contains(0.0) && r.ci_abs.contains(0.0));
        let d = bayes_decision(&r, &BayesThresholds::default());
        assert_eq!(d, BayesDecision::Inconclusive);
    }

    #[test]
    fn a_clear_winner_and_its_mirror() {
        let cfg = BayesConfig::default();
        let r = bayes_proportions(&p(100_000, 10_000), &p(100_000, 10_800), &cfg).unwrap();
        assert!(r.chance_to_win > 0.999, "{r:?}");
        assert!(r.risk_treatment < 1e-6 && r.risk_control > 0.07, "{r:?}");
        let t = BayesThresholds::default();
        assert_eq!(bayes_decision(&r, &t), BayesDecision::TreatmentBetter);
        let lower = BayesConfig {
            lower_is_better: true,
            ..cfg
        };
        let m = bayes_proportions(&p(100_000, 10_000), &p(100_000, 10_800), &lower).unwrap();
        assert!((m.chance_to_win + r.chance_to_win - 1.0).abs() < 1e-12);
        assert_eq!(
            (m.risk_control, m.risk_treatment),
            (r.risk_treatment, r.risk_control)
        );
        assert_eq!(bayes_decision(&m, &t), BayesDecision::ControlBetter);
    }

    #[test]
    fn a_proper_prior_shrinks_towards_its_mean() {
        let flat =
            bayes_proportions(&p(2000, 200), &p(2000, 240), &BayesConfig::default()).unwrap();
        let cfg = BayesConfig {
            prior: Some(NormalPrior {
                mean: 0.0,
                sd: 0.05,
            }),
            ..BayesConfig::default()
        };
        let shrunk = bayes_proportions(&p(2000, 200), &p(2000, 240), &cfg).unwrap();
        assert!(shrunk.rel_lift < flat.rel_lift && shrunk.rel_lift > 0.0);
        assert!(shrunk.rel_sd < flat.rel_sd);
        assert!(shrunk.abs_lift < flat.abs_lift);
    }

    #[test]
    fn refuses_what_is_undefined() {
        let cfg = BayesConfig::default();
        let e = bayes_proportions(&p(100, 0), &p(100, 5), &cfg).unwrap_err();
        assert!(e.to_string().contains("control does not vary"), "{e}");
        let bad = BayesConfig {
            prior: Some(NormalPrior { mean: 0.0, sd: 0.0 }),
            ..cfg
        };
        assert!(bayes_proportions(&p(100, 3), &p(100, 5), &bad).is_err());
        let zero = MeanSummary::new(10, 0.0, 1.0);
        let e = bayes_means(&zero, &MeanSummary::new(10, 1.0, 1.0), &cfg).unwrap_err();
        assert!(e.to_string().contains("control value is 0"), "{e}");
        let t = BayesThresholds {
            chance_to_win: 0.4,
            max_risk: 0.01,
        };
        assert!(t.checked().is_err());
    }
}
