//! One comparison of a metric between control and a treatment, from sufficient statistics,
//! with the right test for the metric's kind: proportions (z-test, Fisher's exact test on
//! small counts) for conversion and retention metrics, Welch's t-test for revenue and count
//! metrics, the delta method for ratio metrics. Also the sequential (always-valid) p-value and
//! the guardrail (non-inferiority) verdict.

use abacus_assign::{Direction, MetricKind};
use abacus_stats::{
    compare_means, compare_proportions, compare_ratios, non_inferiority_means,
    non_inferiority_proportions, sequential_means, sequential_proportions, sequential_ratios,
    Interval, MeanSummary, ProportionSummary, RatioSummary, SequentialConfig, StatsError,
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
    /// `z_test`, `fisher_exact`, `welch` or `delta_ratio`.
    pub method: &'static str,
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

/// Compares `treatment` with `control` at level `alpha`.
pub fn compare(
    kind: MetricKind,
    control: &Sums,
    treatment: &Sums,
    alpha: f64,
) -> Result<Comparison, StatsError> {
    match kind {
        MetricKind::Conversion | MetricKind::Retention => {
            let r = compare_proportions(&proportion(control), &proportion(treatment), alpha)?;
            Ok(Comparison {
                control_value: r.control_rate,
                treatment_value: r.treatment_rate,
                abs_lift: r.abs_lift,
                rel_lift: r.rel_lift,
                ci_abs: r.ci_abs,
                ci_rel: r.ci_rel,
                p_value: r.p_value,
                method: r.method.as_str(),
            })
        }
        MetricKind::Revenue | MetricKind::Count => {
            let r = compare_means(&mean(control), &mean(treatment), alpha)?;
            Ok(Comparison {
                control_value: r.control_mean,
                treatment_value: r.treatment_mean,
                abs_lift: r.abs_lift,
                rel_lift: r.rel_lift,
                ci_abs: r.ci_abs,
                ci_rel: r.ci_rel,
                p_value: r.p_value,
                method: "welch",
            })
        }
        MetricKind::Ratio => {
            let r = compare_ratios(&ratio(control), &ratio(treatment), alpha)?;
            Ok(Comparison {
                control_value: r.control_ratio,
                treatment_value: r.treatment_ratio,
                abs_lift: r.abs_lift,
                rel_lift: r.rel_lift,
                ci_abs: r.ci_abs,
                ci_rel: r.ci_rel,
                p_value: r.p_value,
                method: "delta_ratio",
            })
        }
    }
}

/// The always-valid p-value of the mixture sequential test.
pub fn sequential_p(
    kind: MetricKind,
    control: &Sums,
    treatment: &Sums,
    config: &SequentialConfig,
) -> Result<f64, StatsError> {
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

/// Non-inferiority of treatment with absolute `margin`, in the metric's direction.
///
/// `pass` when the non-inferiority test rejects at `alpha`; `fail` when the two-sided
/// comparison is significant in the worse direction; `inconclusive` otherwise. Ratio metrics
/// have no one-sided test: the two-sided interval decides (conservative).
pub fn guardrail(
    kind: MetricKind,
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
        let cmp = compare(MetricKind::Conversion, &c, &c, 0.05).unwrap();
        let g = guardrail(
            MetricKind::Conversion,
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
        let cmp = compare(MetricKind::Conversion, &c, &t, 0.05).unwrap();
        let g = guardrail(
            MetricKind::Conversion,
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
        let cmp = compare(MetricKind::Conversion, &c, &t, 0.05).unwrap();
        let g = guardrail(
            MetricKind::Conversion,
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
