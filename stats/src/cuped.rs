//! CUPED: variance reduction by regression adjustment on a pre-exposure covariate (Deng, Xu,
//! Kohavi & Walker, 2013), the same computation as GrowthBook's `gbstats`
//! (`RegressionAdjustedStatistic`, `compute_theta`).
//!
//! Per arm the inputs are the sums of the outcome `y` (the metric after exposure) and of the
//! covariate `x` (the same metric over a window before exposure; 0 for users without
//! history): `n, Σy, Σy², Σx, Σx², Σxy` ([`CupedSummary`]).
//!
//! - `θ = cov(x, y) / var(x)` over both arms pooled (one θ for both arms, so the adjustment
//!   cannot create a difference); `θ = 0` — no adjustment — when the pooled `x` or `y` does not
//!   vary.
//! - Adjusted per-user variance of an arm: `var(y) + θ²·var(x) − 2θ·cov(x, y)`.
//! - Adjusted difference: `(ȳ_t − θ·x̄_t) − (ȳ_c − θ·x̄_c)`; relative lift: that over the
//!   unadjusted control mean `ȳ_c`, with the delta-method variance
//!   `v_t/(ȳ_c²·n_t) + v_c·ȳ_t²/(ȳ_c⁴·n_c)` (adjusted variances, unadjusted means, as
//!   gbstats).
//! - Welch's t-test, t intervals and Welch–Satterthwaite degrees of freedom on the adjusted
//!   variances (gbstats' `TwoSidedTTest`).
//! - The reported adjusted mean of an arm is `ȳ − θ·(x̄ − x̄_pooled)`, on the metric's scale
//!   (gbstats' `mean` is `ȳ − θ·x̄`; differences and lifts are the same).
//! - Variance reduction: `1 − se²_adjusted / se²_unadjusted` of the difference; about `ρ²`
//!   for a pre/post correlation `ρ`.
//!
//! Variances follow gbstats: sample variances (n − 1) for [`ValueKind::Continuous`] values,
//! `p(1 − p)` for [`ValueKind::Binary`] (0/1) values; covariances use n − 1.

use serde::Serialize;

use crate::dist::{t_two_sided_p, t_upper_quantile};
use crate::error::{check_alpha, check_field_finite, check_field_non_negative, finite, Arm};
use crate::error::{Result, StatsError};
use crate::summary::Interval;

/// Per-arm sums of the outcome `y` and the pre-exposure covariate `x`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CupedSummary {
    /// Users in the arm.
    pub n: u64,
    /// Σy over users.
    pub sum_y: f64,
    /// Σy².
    pub sum_y2: f64,
    /// Σx over users (0 for users without history).
    pub sum_x: f64,
    /// Σx².
    pub sum_x2: f64,
    /// Σx·y.
    pub sum_xy: f64,
}

/// How the per-user values vary, which decides the variance formula (as gbstats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Any values (revenue, counts): sample variance `(Σv² − (Σv)²/n)/(n − 1)`.
    #[default]
    Continuous,
    /// 0/1 values (conversions): `p(1 − p)` with `p = Σv/n`.
    Binary,
}

/// One side of a summary: `n`, `Σv`, `Σv²`.
#[derive(Clone, Copy, Debug)]
struct Moments {
    n: f64,
    sum: f64,
    sum_sq: f64,
    kind: ValueKind,
}

impl Moments {
    fn mean(&self) -> f64 {
        self.sum / self.n
    }

    fn variance(&self) -> f64 {
        match self.kind {
            ValueKind::Binary => {
                let p = self.mean();
                p * (1.0 - p)
            }
            ValueKind::Continuous if self.n <= 1.0 => 0.0,
            ValueKind::Continuous => (self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1.0),
        }
    }
}

/// `(Σxy − Σx·Σy/n)/(n − 1)`.
fn covariance(n: f64, sum_x: f64, sum_y: f64, sum_xy: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else {
        (sum_xy - sum_x * sum_y / n) / (n - 1.0)
    }
}

/// One arm after adjustment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AdjustedArm {
    pub n: f64,
    /// `ȳ − θ·x̄` (gbstats' adjusted mean).
    pub mean: f64,
    /// `ȳ`.
    pub unadjusted_mean: f64,
    /// Adjusted per-user variance.
    pub variance: f64,
    /// Per-user variance of `y`.
    pub unadjusted_variance: f64,
    /// `x̄`.
    pub pre_mean: f64,
}

/// Both arms after adjustment with the pooled θ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Adjusted {
    pub theta: f64,
    pub control: AdjustedArm,
    pub treatment: AdjustedArm,
    /// `x̄` over both arms.
    pub pooled_pre_mean: f64,
}

impl CupedSummary {
    /// Checks the sums (n ≥ 2, finite, squares non-negative; binary sums within `[0, n]`).
    fn checked(&self, arm: Arm, kind: ValueKind) -> Result<(Moments, Moments, f64)> {
        if self.n < 2 {
            return Err(StatsError::TooFewObservations {
                arm,
                n: self.n,
                min: 2,
            });
        }
        let n = self.n as f64;
        let sum_y = check_field_finite(arm, "outcome sum", self.sum_y)?;
        let sum_y2 = check_field_non_negative(arm, "outcome sum of squares", self.sum_y2)?;
        let sum_x = check_field_finite(arm, "covariate sum", self.sum_x)?;
        let sum_x2 = check_field_non_negative(arm, "covariate sum of squares", self.sum_x2)?;
        let sum_xy = check_field_finite(arm, "cross sum", self.sum_xy)?;
        if kind == ValueKind::Binary {
            for (field, value) in [("outcome sum", sum_y), ("covariate sum", sum_x)] {
                if !(0.0..=n).contains(&value) {
                    return Err(StatsError::InvalidField {
                        arm,
                        field,
                        value,
                        expected: "between 0 and n for 0/1 values",
                    });
                }
            }
        }
        let y = Moments {
            n,
            sum: sum_y,
            sum_sq: sum_y2,
            kind,
        };
        let x = Moments {
            n,
            sum: sum_x,
            sum_sq: sum_x2,
            kind,
        };
        Ok((y, x, sum_xy))
    }
}

/// The pooled θ and both arms adjusted with it.
pub(crate) fn adjust(
    control: &CupedSummary,
    treatment: &CupedSummary,
    kind: ValueKind,
) -> Result<Adjusted> {
    let (yc, xc, xyc) = control.checked(Arm::Control, kind)?;
    let (yt, xt, xyt) = treatment.checked(Arm::Treatment, kind)?;
    let n = yc.n + yt.n;
    let joint = |a: Moments, b: Moments| Moments {
        n,
        sum: a.sum + b.sum,
        sum_sq: a.sum_sq + b.sum_sq,
        kind,
    };
    let (y, x) = (joint(yc, yt), joint(xc, xt));
    let theta = if x.variance() == 0.0 || y.variance() == 0.0 {
        0.0
    } else {
        finite(
            "theta",
            covariance(n, x.sum, y.sum, xyc + xyt) / x.variance(),
        )?
    };
    let arm = |y: Moments, x: Moments, xy: f64| -> Result<AdjustedArm> {
        let cov = covariance(y.n, x.sum, y.sum, xy);
        let variance = y.variance() + theta * theta * x.variance() - 2.0 * theta * cov;
        Ok(AdjustedArm {
            n: y.n,
            mean: finite("adjusted mean", y.mean() - theta * x.mean())?,
            unadjusted_mean: y.mean(),
            variance: finite("adjusted variance", variance.max(0.0))?,
            unadjusted_variance: finite("variance", y.variance().max(0.0))?,
            pre_mean: x.mean(),
        })
    };
    Ok(Adjusted {
        theta,
        control: arm(yc, xc, xyc)?,
        treatment: arm(yt, xt, xyt)?,
        pooled_pre_mean: x.mean(),
    })
}

/// Everything [`compare_cuped`] reports for one treatment against control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CupedResult {
    /// The pooled regression coefficient of `y` on `x` (0: no adjustment).
    pub theta: f64,
    /// Adjusted control mean `ȳ_c − θ·(x̄_c − x̄)`.
    pub control_mean: f64,
    /// Adjusted treatment mean.
    pub treatment_mean: f64,
    /// `ȳ_c`.
    pub control_mean_unadjusted: f64,
    /// `ȳ_t`.
    pub treatment_mean_unadjusted: f64,
    /// Adjusted difference `treatment_mean − control_mean`.
    pub abs_lift: f64,
    /// `abs_lift / ȳ_c`; `None` when the control mean is 0.
    pub rel_lift: Option<f64>,
    /// Welch's t of the adjusted difference.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom of the adjusted variances.
    pub df: f64,
    /// Two-sided p-value of the adjusted difference.
    pub p_value: f64,
    /// Standard error of the adjusted difference.
    pub se: f64,
    /// Standard error of the unadjusted difference (same variance convention).
    pub se_unadjusted: f64,
    pub ci_abs: Interval,
    pub ci_rel: Option<Interval>,
    /// `1 − se² / se_unadjusted²` (0 when the outcome does not vary).
    pub variance_reduction: f64,
    /// `p_value < alpha`.
    pub significant: bool,
    pub alpha: f64,
}

/// CUPED-adjusted comparison of `treatment` with `control` at level `alpha` (gbstats'
/// `TwoSidedTTest` on `RegressionAdjustedStatistic`s). Each arm needs n ≥ 2. When neither
/// adjusted arm varies the result is `t = 0`, `p = 1` if the difference is 0, else an error.
pub fn compare_cuped(
    control: &CupedSummary,
    treatment: &CupedSummary,
    kind: ValueKind,
    alpha: f64,
) -> Result<CupedResult> {
    let alpha = check_alpha(alpha)?;
    let a = adjust(control, treatment, kind)?;
    let (c, t) = (a.control, a.treatment);
    let (vc, vt) = (c.variance / c.n, t.variance / t.n);
    let se = (vc + vt).sqrt();
    let se_unadjusted = (c.unadjusted_variance / c.n + t.unadjusted_variance / t.n).sqrt();
    let abs_lift = finite("difference of adjusted means", t.mean - c.mean)?;
    let (t_stat, df, p_value) = if se == 0.0 {
        if abs_lift != 0.0 {
            return Err(StatsError::undefined(
                "t statistic",
                "neither adjusted arm varies but their means differ",
            ));
        }
        (0.0, c.n + t.n - 2.0, 1.0)
    } else {
        let df = (vc + vt) * (vc + vt) / (vc * vc / (c.n - 1.0) + vt * vt / (t.n - 1.0));
        let t_stat = finite("t statistic", abs_lift / se)?;
        (t_stat, df, t_two_sided_p(t_stat, df))
    };
    let q = finite("t quantile", t_upper_quantile(alpha / 2.0, df))?;
    let ci_abs = Interval::around(abs_lift, q * se).checked("absolute lift interval")?;
    let (rel_lift, ci_rel) = if c.unadjusted_mean == 0.0 {
        (None, None)
    } else {
        let m_c = c.unadjusted_mean;
        let rel = finite("relative lift", abs_lift / m_c)?;
        let var = vt / (m_c * m_c) + vc * t.unadjusted_mean.powi(2) / m_c.powi(4);
        let ci = Interval::around(rel, q * var.sqrt()).checked("relative lift interval")?;
        (Some(rel), Some(ci))
    };
    let variance_reduction = if se_unadjusted > 0.0 {
        1.0 - (se * se) / (se_unadjusted * se_unadjusted)
    } else {
        0.0
    };
    let centre = a.theta * a.pooled_pre_mean;
    Ok(CupedResult {
        theta: a.theta,
        control_mean: c.mean + centre,
        treatment_mean: t.mean + centre,
        control_mean_unadjusted: c.unadjusted_mean,
        treatment_mean_unadjusted: t.unadjusted_mean,
        abs_lift,
        rel_lift,
        t: t_stat,
        df,
        p_value,
        se,
        se_unadjusted,
        ci_abs,
        ci_rel,
        variance_reduction: finite("variance reduction", variance_reduction)?,
        significant: p_value < alpha,
        alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums of paired values.
    fn arm(values: &[(f64, f64)]) -> CupedSummary {
        let mut s = CupedSummary {
            n: values.len() as u64,
            ..CupedSummary::default()
        };
        for &(y, x) in values {
            s.sum_y += y;
            s.sum_y2 += y * y;
            s.sum_x += x;
            s.sum_x2 += x * x;
            s.sum_xy += x * y;
        }
        s
    }

    #[test]
    fn perfect_covariate_removes_the_noise() {
        // y = x + effect: with θ = 1 only the effect is left.
        let c = arm(&[(1.0, 1.0), (3.0, 3.0), (5.0, 5.0), (2.0, 2.0)]);
        let t = arm(&[(2.5, 2.0), (4.5, 4.0), (1.5, 1.0), (6.5, 6.0)]);
        let r = compare_cuped(&c, &t, ValueKind::Continuous, 0.05).unwrap();
        assert!((r.theta - 1.0).abs() < 0.2, "{r:?}");
        assert!(r.variance_reduction > 0.9, "{r:?}");
        assert!(r.ci_abs.contains(r.abs_lift));
        assert!(r.ci_rel.unwrap().contains(r.rel_lift.unwrap()));
    }

    #[test]
    fn without_history_it_is_welch() {
        let c = arm(&[(1.0, 0.0), (3.0, 0.0), (5.0, 0.0)]);
        let t = arm(&[(2.0, 0.0), (4.0, 0.0), (9.0, 0.0)]);
        let r = compare_cuped(&c, &t, ValueKind::Continuous, 0.05).unwrap();
        assert_eq!(r.theta, 0.0);
        assert_eq!(r.variance_reduction, 0.0);
        let welch = crate::compare_means(
            &crate::MeanSummary::from_sums(3, 9.0, 35.0),
            &crate::MeanSummary::from_sums(3, 15.0, 101.0),
            0.05,
        )
        .unwrap();
        assert!((r.p_value - welch.p_value).abs() < 1e-12);
        assert!((r.ci_abs.low - welch.ci_abs.low).abs() < 1e-12);
    }

    #[test]
    fn adjusted_means_are_centred_on_the_pooled_covariate() {
        let c = arm(&[(1.0, 2.0), (3.0, 2.5), (5.0, 6.0), (2.0, 1.0)]);
        let t = arm(&[(2.5, 2.0), (4.5, 4.0), (1.5, 1.0), (6.5, 6.0)]);
        let r = compare_cuped(&c, &t, ValueKind::Continuous, 0.05).unwrap();
        // Adjusted means average (weighted by n) to the overall mean of y.
        let overall = (c.sum_y + t.sum_y) / 8.0;
        assert!(((r.control_mean + r.treatment_mean) / 2.0 - overall).abs() < 1e-12);
        assert!((r.treatment_mean - r.control_mean - r.abs_lift).abs() < 1e-12);
    }

    #[test]
    fn bad_input_names_the_arm_and_field() {
        let ok = arm(&[(1.0, 1.0), (0.0, 1.0), (1.0, 0.0)]);
        let e = compare_cuped(&arm(&[(1.0, 1.0)]), &ok, ValueKind::Binary, 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "control needs at least 2 observations, got 1"
        );
        let bad = CupedSummary { sum_x: 4.0, ..ok };
        let e = compare_cuped(&ok, &bad, ValueKind::Binary, 0.05).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("treatment covariate sum must be between 0 and n"),
            "{e}"
        );
        let bad = CupedSummary { sum_y2: -1.0, ..ok };
        assert!(compare_cuped(&bad, &ok, ValueKind::Continuous, 0.05).is_err());
        let bad = CupedSummary {
            sum_xy: f64::NAN,
            ..ok
        };
        assert!(compare_cuped(&bad, &ok, ValueKind::Continuous, 0.05).is_err());
        assert!(compare_cuped(&ok, &ok, ValueKind::Continuous, 1.0).is_err());
    }

    #[test]
    fn constant_arms() {
        let c = arm(&[(2.0, 1.0), (2.0, 1.0)]);
        let r = compare_cuped(&c, &c, ValueKind::Continuous, 0.05).unwrap();
        assert_eq!((r.p_value, r.theta), (1.0, 0.0));
        let t = arm(&[(3.0, 1.0), (3.0, 1.0)]);
        assert!(compare_cuped(&c, &t, ValueKind::Continuous, 0.05).is_err());
    }
}
