//! One comparison of a metric between control and a treatment, from sufficient statistics,
//! with the right test for the metric's kind: proportions (z-test, Fisher's exact test on
//! small counts) for conversion and retention metrics, Welch's t-test for revenue and count
//! metrics, the delta method for ratio metrics, and for metrics with CUPED the
//! regression-adjusted t-test on their covariate (`cuped`; 0/1 variances for conversions).
//! Also the sequential (always-valid) p-value, the guardrail (non-inferiority) verdict and the
//! Bayesian reading, each on the adjusted statistics when the metric uses CUPED.

use abacus_assign::{Direction, MetricKind};
use abacus_stats::{
    bayes_cuped, bayes_means, bayes_proportions, bayes_ratios, compare_cuped, compare_means,
    compare_proportions, compare_ratios, non_inferiority_cuped, non_inferiority_means,
    non_inferiority_proportions, sequential_cuped, sequential_means, sequential_proportions,
    sequential_ratios, BayesConfig, BayesResult, CupedSummary, Interval, MeanSummary,
    ProportionSummary, RatioSummary, SequentialConfig, StatsError, ValueKind,
};

use crate::model::Sums;

/// The outcome of comparing treatment with control.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Rate, mean per user or ratio of control.
    pub control_value: f64,
    /// The same for treatment.
    pub treatment_value: f64,
    /// `treatment − control`.
    pub abs_lift: f64,
    /// `treatment / control − 1`, when control is not 0.
    pub rel_lift: Option<f64>,
    /// Interval of `abs_lift`.
    pub ci_abs: Interval,
    /// Interval of `rel_lift`.
    pub ci_rel: Option<Interval>,
    /// Two-sided fixed-horizon p-value.
    pub p_value: f64,
    /// `z_test`, `fisher_exact`, `welch`, `delta_ratio` or `cuped`.
    pub method: &'static str,
    /// CUPED: the pooled θ (0: the covariate did not vary, no adjustment).
    pub theta: Option<f64>,
    /// CUPED: `1 − se²/se²_unadjusted`.
    pub variance_reduction: Option<f64>,
}

/// The value of a metric in one group (rate, mean or ratio); 0 when undefined.
pub fn value(kind: MetricKind, s: &Sums) -> f64 {
    let v = match kind {
        MetricKind::Conversion | MetricKind::Retention => s.converted as f64 / s.n as f64,
        MetricKind::Revenue | MetricKind::Count => s.sx / s.n as f64,
        MetricKind::Ratio => s.sx / s.sy,
    };
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn proportion(s: &Sums) -> ProportionSummary {
    ProportionSummary::new(s.n, s.converted.min(s.n))
}

fn mean(s: &Sums) -> MeanSummary {
    MeanSummary::from_sums(s.n, s.sx, s.sxx)
}

fn cuped(s: &Sums) -> CupedSummary {
    CupedSummary {
        n: s.n,
        sum_y: s.sx,
        sum_y2: s.sxx,
        sum_x: s.sp,
        sum_x2: s.spp,
        sum_xy: s.sxp,
    }
}

/// 0/1 values for conversion metrics, any values for revenue and count.
fn value_kind(kind: MetricKind) -> ValueKind {
    match kind {
        MetricKind::Conversion | MetricKind::Retention => ValueKind::Binary,
        _ => ValueKind::Continuous,
    }
}

fn ratio(s: &Sums) -> RatioSummary {
    RatioSummary {
        n: s.n,
        sum_num: s.sx,
        sum_den: s.sy,
        sum_num_sq: s.sxx,
        sum_den_sq: s.syy,
        sum_num_den: s.sxy,
    }
}

/// Compares `treatment` with `control` at level `alpha`, CUPED-adjusted when `adjusted`.
pub fn compare(
    kind: MetricKind,
    adjusted: bool,
    control: &Sums,
    treatment: &Sums,
    alpha: f64,
) -> Result<Comparison, StatsError> {
    if adjusted {
        let r = compare_cuped(&cuped(control), &cuped(treatment), value_kind(kind), alpha)?;
        return Ok(Comparison {
            control_value: r.control_mean,
            treatment_value: r.treatment_mean,
            abs_lift: r.abs_lift,
            rel_lift: r.rel_lift,
            ci_abs: r.ci_abs,
            ci_rel: r.ci_rel,
            p_value: r.p_value,
            method: "cuped",
            theta: Some(r.theta),
            variance_reduction: Some(r.variance_reduction),
        });
    }
    let plain =
        |control_value, treatment_value, abs_lift, rel_lift, ci_abs, ci_rel, p_value, method| {
            Comparison {
                control_value,
                treatment_value,
                abs_lift,
                rel_lift,
                ci_abs,
                ci_rel,
                p_value,
                method,
                theta: None,
                variance_reduction: None,
            }
        };
    match kind {
        MetricKind::Conversion | MetricKind::Retention => {
            let r = compare_proportions(&proportion(control), &proportion(treatment), alpha)?;
            Ok(plain(
                r.control_rate,
                r.treatment_rate,
                r.abs_lift,
                r.rel_lift,
                r.ci_abs,
                r.ci_rel,
                r.p_value,
                r.method.as_str(),
            ))
        }
        MetricKind::Revenue | MetricKind::Count => {
            let r = compare_means(&mean(control), &mean(treatment), alpha)?;
            Ok(plain(
                r.control_mean,
                r.treatment_mean,
                r.abs_lift,
                r.rel_lift,
                r.ci_abs,
                r.ci_rel,
                r.p_value,
                "welch",
            ))
        }
        MetricKind::Ratio => {
            let r = compare_ratios(&ratio(control), &ratio(treatment), alpha)?;
            Ok(plain(
                r.control_ratio,
                r.treatment_ratio,
                r.abs_lift,
                r.rel_lift,
                r.ci_abs,
                r.ci_rel,
                r.p_value,
                "delta_ratio",
            ))
        }
    }
}

/// The Bayesian reading (chance to win, risk, credible intervals), CUPED-adjusted when
/// `adjusted`.
pub fn bayes(
    kind: MetricKind,
    adjusted: bool,
    control: &Sums,
    treatment: &Sums,
    config: &BayesConfig,
) -> Result<BayesResult, StatsError> {
    if adjusted {
        return bayes_cuped(&cuped(control), &cuped(treatment), value_kind(kind), config);
    }
    match kind {
        MetricKind::Conversion | MetricKind::Retention => {
            bayes_proportions(&proportion(control), &proportion(treatment), config)
        }
        MetricKind::Revenue | MetricKind::Count => {
            bayes_means(&mean(control), &mean(treatment), config)
        }
        MetricKind::Ratio => bayes_ratios(&ratio(control), &ratio(treatment), config),
    }
}

/// The always-valid p-value of the mixture sequential test, CUPED-adjusted when `adjusted`.
pub fn sequential_p(
    kind: MetricKind,
    adjusted: bool,
    control: &Sums,
    treatment: &Sums,
    config: &SequentialConfig,
) -> Result<f64, StatsError> {
    if adjusted {
        let r = sequential_cuped(&cuped(control), &cuped(treatment), value_kind(kind), config)?;
        return Ok(r.p_value);
    }
    let r = match kind {
        MetricKind::Conversion | MetricKind::Retention => {
            sequential_proportions(&proportion(control), &proportion(treatment), config)?
        }
        MetricKind::Revenue | MetricKind::Count => {
            sequential_means(&mean(control), &mean(treatment), config)?
        }
        MetricKind::Ratio => sequential_ratios(&ratio(control), &ratio(treatment), config)?,
    };
    Ok(r.p_value)
}

/// A guardrail's verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guardrail {
    /// `pass` (non-inferior), `fail` (significantly worse) or `inconclusive`.
    pub verdict: &'static str,
    /// One-sided p-value of the non-inferiority test.
    pub p_value: Option<f64>,
    /// One-sided confidence bound of the difference on the worse side.
    pub bound: Option<f64>,
}

/// Non-inferiority of treatment with absolute `margin`, in the metric's direction (on the
/// CUPED-adjusted difference when `adjusted`).
///
/// `pass` when the non-inferiority test rejects at `alpha`; `fail` when the two-sided
/// comparison is significant in the worse direction; `inconclusive` otherwise. Ratio metrics
/// have no one-sided test: the two-sided interval decides (conservative).
#[allow(clippy::too_many_arguments)]
pub fn guardrail(
    kind: MetricKind,
    adjusted: bool,
    direction: Direction,
    margin: f64,
    control: &Sums,
    treatment: &Sums,
    cmp: &Comparison,
    alpha: f64,
) -> Guardrail {
    let dir = match direction {
        Direction::Increase => abacus_stats::Direction::HigherIsBetter,
        Direction::Decrease => abacus_stats::Direction::LowerIsBetter,
    };
    let worse = match direction {
        Direction::Increase => cmp.abs_lift < 0.0,
        Direction::Decrease => cmp.abs_lift > 0.0,
    };
    let ni = match kind {
        _ if adjusted => non_inferiority_cuped(
            &cuped(control),
            &cuped(treatment),
            value_kind(kind),
            margin,
            dir,
            alpha,
        )
        .ok(),
        MetricKind::Conversion | MetricKind::Retention => non_inferiority_proportions(
            &proportion(control),
            &proportion(treatment),
            margin,
            dir,
            alpha,
        )
        .ok(),
        MetricKind::Revenue | MetricKind::Count => {
            non_inferiority_means(&mean(control), &mean(treatment), margin, dir, alpha).ok()
        }
        MetricKind::Ratio => None,
    };
    let (non_inferior, p_value, bound) = match ni {
        Some(r) => (r.non_inferior, Some(r.p_value), Some(r.bound)),
        None => {
            let bound = match direction {
                Direction::Increase => cmp.ci_abs.low,
                Direction::Decrease => cmp.ci_abs.high,
            };
            let ok = match direction {
                Direction::Increase => bound > -margin,
                Direction::Decrease => bound < margin,
            };
            (ok, None, Some(bound))
        }
    };
    let verdict = if non_inferior {
        "pass"
    } else if worse && cmp.p_value < alpha {
        "fail"
    } else {
        "inconclusive"
    };
    Guardrail {
        verdict,
        p_value,
        bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(n: u64, c: u64) -> Sums {
        Sums {
            n,
            converted: c,
            sx: c as f64,
            sxx: c as f64,
            ..Sums::default()
        }
    }

    #[test]
    fn proportions_match_the_stats_crate() {
        let r = compare(
            MetricKind::Conversion,
            false,
            &conv(1000, 100),
            &conv(1000, 130),
            0.05,
        )
        .unwrap();
        assert!((r.control_value - 0.1).abs() < 1e-12);
        assert!((r.abs_lift - 0.03).abs() < 1e-12);
        assert_eq!(r.method, "z_test");
        assert!(r.p_value < 0.05);
    }

    #[test]
    fn guardrail_verdicts() {
        // refund rate (lower is better): identical arms, generous margin → pass
        let c = conv(10_000, 500);
        let cmp = compare(MetricKind::Conversion, false, &c, &c, 0.05).unwrap();
        let g = guardrail(
            MetricKind::Conversion,
            false,
            Direction::Decrease,
            0.02,
            &c,
            &c,
            &cmp,
            0.05,
        );
        assert_eq!(g.verdict, "pass");
        // clearly worse → fail
        let t = conv(10_000, 800);
        let cmp = compare(MetricKind::Conversion, false, &c, &t, 0.05).unwrap();
        let g = guardrail(
            MetricKind::Conversion,
            false,
            Direction::Decrease,
            0.005,
            &c,
            &t,
            &cmp,
            0.05,
        );
        assert_eq!(g.verdict, "fail");
        // small sample, tight margin → inconclusive
        let (c, t) = (conv(100, 5), conv(100, 6));
        let cmp = compare(MetricKind::Conversion, false, &c, &t, 0.05).unwrap();
        let g = guardrail(
            MetricKind::Conversion,
            false,
            Direction::Decrease,
            0.001,
            &c,
            &t,
            &cmp,
            0.05,
        );
        assert_eq!(g.verdict, "inconclusive");
    }

    #[test]
    fn values_are_never_nan() {
        assert_eq!(value(MetricKind::Ratio, &Sums::default()), 0.0);
        assert_eq!(value(MetricKind::Conversion, &Sums::default()), 0.0);
    }
}
