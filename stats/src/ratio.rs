//! Ratio metrics such as revenue per order or clicks per session, where numerator and
//! denominator both vary per user (the unit of randomisation). The ratio `Σnum/Σden` of
//! each arm gets its variance from the delta method with the covariance term,
//!
//! `Var(R) ≈ (s²_num − 2·R·s_num,den + R²·s²_den) / (n·mean_den²)`,
//!
//! and arms are compared with a normal (z) test and normal intervals for the absolute and
//! (delta method again) relative difference.

use serde::Serialize;

use crate::dist::{norm_two_sided_p, norm_upper_quantile};
use crate::error::{check_alpha, finite, Arm, Result, StatsError};
use crate::proportions::relative_se;
use crate::summary::{Interval, RatioSummary};

/// Everything [`compare_ratios`] reports for one treatment against control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RatioResult {
    pub control_ratio: f64,
    pub treatment_ratio: f64,
    /// `treatment_ratio − control_ratio`.
    pub abs_lift: f64,
    /// `treatment_ratio / control_ratio − 1`; `None` when the control ratio is 0.
    pub rel_lift: Option<f64>,
    pub z: f64,
    pub p_value: f64,
    /// Delta-method standard error of `abs_lift`.
    pub se: f64,
    pub ci_abs: Interval,
    pub ci_rel: Option<Interval>,
    /// `p_value < alpha`.
    pub significant: bool,
    pub alpha: f64,
}

/// The ratio `Σnum/Σden` of one arm and its delta-method standard error; errors name
/// `arm`.
pub fn ratio_estimate(summary: &RatioSummary, arm: Arm) -> Result<(f64, f64)> {
    let m = summary.moments(arm)?;
    Ok((m.ratio, m.variance.sqrt()))
}

/// Compares the ratio metric of `treatment` with `control` at level `alpha`. Each arm
/// needs n ≥ 2 users and a non-zero denominator sum. When neither ratio varies the result
/// is `z = 0`, `p = 1` if they are equal and an error otherwise.
pub fn compare_ratios(
    control: &RatioSummary,
    treatment: &RatioSummary,
    alpha: f64,
) -> Result<RatioResult> {
    let alpha = check_alpha(alpha)?;
    let c = control.moments(Arm::Control)?;
    let t = treatment.moments(Arm::Treatment)?;
    let diff = finite("difference of ratios", t.ratio - c.ratio)?;
    let se = finite("standard error", (c.variance + t.variance).sqrt())?;
    let z = if se == 0.0 {
        if diff != 0.0 {
            return Err(StatsError::undefined(
                "z statistic",
                "neither ratio varies but they differ",
            ));
        }
        0.0
    } else {
        finite("z statistic", diff / se)?
    };
    let p_value = norm_two_sided_p(z);
    let q = norm_upper_quantile(alpha / 2.0);
    let ci_abs = Interval::around(diff, q * se).checked("absolute lift interval")?;
    let (rel_lift, ci_rel) = if c.ratio == 0.0 {
        (None, None)
    } else {
        let rel = finite("relative lift", t.ratio / c.ratio - 1.0)?;
        let se_rel = relative_se(c.ratio, t.ratio, c.variance, t.variance);
        let ci = Interval::around(rel, q * se_rel).checked("relative lift interval")?;
        (Some(rel), Some(ci))
    };
    Ok(RatioResult {
        control_ratio: c.ratio,
        treatment_ratio: t.ratio,
        abs_lift: diff,
        rel_lift,
        z,
        p_value,
        se,
        ci_abs,
        ci_rel,
        significant: p_value < alpha,
        alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(rows: &[(f64, f64)]) -> RatioSummary {
        let mut s = RatioSummary {
            n: rows.len() as u64,
            ..RatioSummary::default()
        };
        for &(num, den) in rows {
            s.sum_num += num;
            s.sum_den += den;
            s.sum_num_sq += num * num;
            s.sum_den_sq += den * den;
            s.sum_num_den += num * den;
        }
        s
    }

    #[test]
    fn ratio_of_sums_not_mean_of_ratios() {
        let s = summary(&[(10.0, 1.0), (30.0, 3.0), (0.0, 0.0), (5.0, 2.0)]);
        let (r, se) = ratio_estimate(&s, Arm::Treatment).unwrap();
        assert!((r - 45.0 / 6.0).abs() < 1e-12);
        assert!(se > 0.0);
    }

    #[test]
    fn compare_contains_estimate_and_flags_zero_denominator() {
        let c = summary(&[(10.0, 1.0), (30.0, 3.0), (0.0, 1.0), (5.0, 2.0), (8.0, 1.0)]);
        let t = summary(&[(12.0, 1.0), (31.0, 2.0), (4.0, 1.0), (9.0, 2.0), (7.0, 1.0)]);
        let r = compare_ratios(&c, &t, 0.05).unwrap();
        assert!(r.ci_abs.contains(r.abs_lift));
        assert!(r.ci_rel.unwrap().contains(r.rel_lift.unwrap()));
        let empty = summary(&[(0.0, 0.0), (0.0, 0.0)]);
        let e = compare_ratios(&empty, &t, 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "control denominator sum must be non-zero, got 0"
        );
    }
}
