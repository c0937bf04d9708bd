//! Score intervals for rates: Wilson for one rate and Newcombe's hybrid score interval for
//! a difference of two rates. Unlike Wald intervals they stay sensible at small counts and
//! at rates of 0 or 1.

use crate::dist::norm_upper_quantile;
use crate::error::{check_alpha, Arm, Result};
use crate::summary::{Interval, ProportionSummary};

/// Wilson score interval for the conversion rate of one arm at level `1 − alpha`:
///
/// `(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)`, `z = z_{1−α/2}`.
/// Errors (no users, conversions above users) name the arm "control".
pub fn wilson_interval(summary: &ProportionSummary, alpha: f64) -> Result<Interval> {
    wilson(summary, alpha, Arm::Control)
}

pub(crate) fn wilson(summary: &ProportionSummary, alpha: f64, arm: Arm) -> Result<Interval> {
    let alpha = check_alpha(alpha)?;
    let (n, p) = summary.checked(arm)?;
    let z = norm_upper_quantile(alpha / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    // At 0 (or all) conversions the bound is exactly 0 (or 1); rounding could leave 1e-19.
    let low = if summary.conversions == 0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let high = if summary.conversions == summary.users {
        1.0
    } else {
        (center + half).min(1.0)
    };
    Interval::new(low, high).checked("wilson interval")
}

/// Newcombe's hybrid score interval (his method 10) for `treatment rate − control rate`,
/// built from the Wilson intervals `[l_t, u_t]` and `[l_c, u_c]` of the two rates:
///
/// `d − √((p_t − l_t)² + (u_c − p_c)²) … d + √((u_t − p_t)² + (p_c − l_c)²)`.
pub fn newcombe_interval(
    control: &ProportionSummary,
    treatment: &ProportionSummary,
    alpha: f64,
) -> Result<Interval> {
    let (_, p_c) = control.checked(Arm::Control)?;
    let (_, p_t) = treatment.checked(Arm::Treatment)?;
    let c = wilson(control, alpha, Arm::Control)?;
    let t = wilson(treatment, alpha, Arm::Treatment)?;
    let d = p_t - p_c;
    let low = d - ((p_t - t.low).powi(2) + (c.high - p_c).powi(2)).sqrt();
    let high = d + ((t.high - p_t).powi(2) + (p_c - c.low).powi(2)).sqrt();
    Interval::new(low, high).checked("newcombe interval")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_at_zero_and_full() {
        let i = wilson_interval(&ProportionSummary::new(10, 0), 0.05).unwrap();
        assert_eq!(i.low, 0.0);
        assert!(i.high > 0.2 && i.high < 0.35, "{i:?}");
        let i = wilson_interval(&ProportionSummary::new(10, 10), 0.05).unwrap();
        assert_eq!(i.high, 1.0);
    }

    #[test]
    fn newcombe_contains_difference() {
        let c = ProportionSummary::new(50, 5);
        let t = ProportionSummary::new(40, 12);
        let i = newcombe_interval(&c, &t, 0.05).unwrap();
        assert!(i.contains(12.0 / 40.0 - 5.0 / 50.0));
        assert!(i.low > -1.0 && i.high < 1.0);
    }

    #[test]
    fn bad_alpha_is_an_error() {
        let s = ProportionSummary::new(10, 1);
        assert!(wilson_interval(&s, 0.0).is_err());
        assert!(newcombe_interval(&s, &s, 1.0).is_err());
    }
}
