//! Continuous metrics (revenue per user, sessions, …) from per-arm n, mean and sd:
//! Welch's t-test with Welch–Satterthwaite degrees of freedom and t-based intervals for
//! the absolute difference and (delta method) the relative lift.

use serde::Serialize;

use crate::dist::{t_two_sided_p, t_upper_quantile};
use crate::error::{check_alpha, finite, Arm, Result, StatsError};
use crate::proportions::relative_se;
use crate::summary::{Interval, MeanSummary};

/// Welch's t statistic, its degrees of freedom and two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WelchTest {
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (fractional).
    pub df: f64,
    pub p_value: f64,
    /// Standard error of the difference of means.
    pub se: f64,
}

/// Everything [`compare_means`] reports for one treatment against control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeansResult {
    pub control_mean: f64,
    pub treatment_mean: f64,
    /// `treatment_mean − control_mean`.
    pub abs_lift: f64,
    /// `treatment_mean / control_mean − 1`; `None` when the control mean is 0.
    pub rel_lift: Option<f64>,
    pub t: f64,
    pub df: f64,
    pub p_value: f64,
    /// `abs_lift ± t_{df,1−α/2}·se`.
    pub ci_abs: Interval,
    /// Delta-method interval of `rel_lift` with the same t quantile; `None` when the
    /// control mean is 0.
    pub ci_rel: Option<Interval>,
    /// `p_value < alpha`.
    pub significant: bool,
    pub alpha: f64,
}

/// Welch's unequal-variance t-test of `treatment − control`:
///
/// `t = (m_t − m_c)/se`, `se² = s_t²/n_t + s_c²/n_c`,
/// `df = se⁴ / ((s_t²/n_t)²/(n_t−1) + (s_c²/n_c)²/(n_c−1))`.
///
/// Each arm needs n ≥ 2. When both standard deviations are 0 and the means are equal the
/// result is `t = 0`, `p = 1`, `df = n_t + n_c − 2`; with different means it is an error
/// (the statistic is infinite).
pub fn welch_t_test(control: &MeanSummary, treatment: &MeanSummary) -> Result<WelchTest> {
    let (n_c, m_c, v_c) = control.checked(Arm::Control)?;
    let (n_t, m_t, v_t) = treatment.checked(Arm::Treatment)?;
    let diff = finite("difference of means", m_t - m_c)?;
    let var = v_c + v_t;
    if var == 0.0 {
        if diff == 0.0 {
            return Ok(WelchTest {
                t: 0.0,
                df: n_c + n_t - 2.0,
                p_value: 1.0,
                se: 0.0,
            });
        }
        return Err(StatsError::undefined(
            "t statistic",
            "both arms have zero standard deviation but different means",
        ));
    }
    let se = finite("standard error", var.sqrt())?;
    let df = finite(
        "degrees of freedom",
        var * var / (v_c * v_c / (n_c - 1.0) + v_t * v_t / (n_t - 1.0)),
    )?;
    let t = finite("t statistic", diff / se)?;
    Ok(WelchTest {
        t,
        df,
        p_value: finite("p-value", t_two_sided_p(t, df))?,
        se,
    })
}

/// Compares the mean of `treatment` with `control` at level `alpha` (Welch).
pub fn compare_means(
    control: &MeanSummary,
    treatment: &MeanSummary,
    alpha: f64,
) -> Result<MeansResult> {
    let alpha = check_alpha(alpha)?;
    let test = welch_t_test(control, treatment)?;
    let (_, m_c, v_c) = control.checked(Arm::Control)?;
    let (_, m_t, v_t) = treatment.checked(Arm::Treatment)?;
    let q = finite("t quantile", t_upper_quantile(alpha / 2.0, test.df))?;
    let abs_lift = m_t - m_c;
    let ci_abs = Interval::around(abs_lift, q * test.se).checked("absolute lift interval")?;
    let (rel_lift, ci_rel) = if m_c == 0.0 {
        (None, None)
    } else {
        let rel = finite("relative lift", m_t / m_c - 1.0)?;
        let se = relative_se(m_c, m_t, v_c, v_t);
        let ci = Interval::around(rel, q * se).checked("relative lift interval")?;
        (Some(rel), Some(ci))
    };
    Ok(MeansResult {
        control_mean: m_c,
        treatment_mean: m_t,
        abs_lift,
        rel_lift,
        t: test.t,
        df: test.df,
        p_value: test.p_value,
        ci_abs,
        ci_rel,
        significant: test.p_value < alpha,
        alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_degrees_of_freedom() {
        // equal n and sd: df = 2(n−1)
        let c = MeanSummary::new(10, 1.0, 2.0);
        let t = MeanSummary::new(10, 2.0, 2.0);
        let r = welch_t_test(&c, &t).unwrap();
        assert!((r.df - 18.0).abs() < 1e-12);
        assert!((r.t - 1.0 / (0.8f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn zero_variance() {
        let c = MeanSummary::new(10, 1.0, 0.0);
        let r = compare_means(&c, &c, 0.05).unwrap();
        assert_eq!(r.p_value, 1.0);
        assert_eq!(r.ci_abs, Interval::new(0.0, 0.0));
        let t = MeanSummary::new(10, 2.0, 0.0);
        let e = compare_means(&c, &t, 0.05).unwrap_err();
        assert!(e.to_string().starts_with("t statistic is undefined"), "{e}");
    }

    #[test]
    fn zero_control_mean_has_no_relative_lift() {
        let c = MeanSummary::new(10, 0.0, 1.0);
        let t = MeanSummary::new(10, 0.5, 1.0);
        let r = compare_means(&c, &t, 0.05).unwrap();
        assert_eq!(r.rel_lift, None);
        assert!(r.ci_abs.contains(0.5));
    }

    #[test]
    fn bad_input() {
        let ok = MeanSummary::new(10, 0.0, 1.0);
        assert!(compare_means(&MeanSummary::new(1, 0.0, 1.0), &ok, 0.05).is_err());
        assert!(compare_means(&ok, &MeanSummary::new(10, f64::INFINITY, 1.0), 0.05).is_err());
        assert!(compare_means(&ok, &ok, 1.5).is_err());
        // overflowing difference is an error, not infinity
        let big = MeanSummary::new(10, f64::MAX, 1.0);
        let neg = MeanSummary::new(10, -f64::MAX, 1.0);
        assert!(compare_means(&neg, &big, 0.05).is_err());
    }
}
