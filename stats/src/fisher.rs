//! Fisher's exact test for a 2×2 table of (converted, not converted) × (treatment,
//! control), two-sided.
//!
//! With the margins fixed, the treatment conversions follow a hypergeometric
//! distribution. The two-sided p-value sums the probabilities of every table that is at
//! most as likely as the observed one (the "minimum likelihood" rule of R's `fisher.test`
//! and `scipy.stats.fisher_exact`); probabilities equal to the observed one within a
//! relative 1e-7 count as ties, as in R.
//!
//! Probabilities are computed relative to the mode by the ratio recurrence
//! `pmf(k+1)/pmf(k) = (K−k)(n−k) / ((k+1)(N−K−n+k+1))`, so no factorials or gamma functions
//! are evaluated and nothing overflows; the walk stops where the remaining tail is below
//! 1e-16 of what has to be summed.

use crate::error::{Arm, Result};
use crate::summary::ProportionSummary;

/// Relative tolerance under which a table is as likely as the observed one.
const TIE_TOLERANCE: f64 = 1e-7;

/// Two-sided p-value of Fisher's exact test comparing the conversion rates of two arms.
///
/// Errors when an arm has no users or more conversions than users.
pub fn fisher_exact(control: &ProportionSummary, treatment: &ProportionSummary) -> Result<f64> {
    control.checked(Arm::Control)?;
    treatment.checked(Arm::Treatment)?;
    Ok(two_sided_p(
        treatment.users,
        control.users,
        treatment.conversions + control.conversions,
        treatment.conversions,
    ))
}

/// Hypergeometric two-sided p-value: `n1` draws (treatment users) from `n1 + n2` items of
/// which `k` are successes (conversions); `x` successes observed among the draws.
fn two_sided_p(n1: u64, n2: u64, k: u64, x: u64) -> f64 {
    let total = n1 + n2;
    let lo = k.saturating_sub(n2);
    let hi = k.min(n1);
    if lo == hi {
        return 1.0;
    }
    let (nf, kf, n1f) = (total as f64, k as f64, n1 as f64);
    // Mode of the hypergeometric distribution.
    let mode = ((((n1 + 1) as f64) * ((k + 1) as f64) / (nf + 2.0)).floor() as u64).clamp(lo, hi);
    // ratio(j) = pmf(j+1)/pmf(j)
    let ratio = |j: f64| (kf - j) * (n1f - j) / ((j + 1.0) * (nf - kf - n1f + j + 1.0));

    // Weight of the observed table relative to the mode, by walking from the mode to x.
    let mut w_obs = 1.0_f64;
    if x > mode {
        for j in mode..x {
            w_obs *= ratio(j as f64);
            if w_obs == 0.0 {
                break;
            }
        }
    } else {
        for j in (x..mode).rev() {
            w_obs /= ratio(j as f64);
            if w_obs == 0.0 {
                break;
            }
        }
    }
    let limit = w_obs * (1.0 + TIE_TOLERANCE);
    // Stop a walk once weights are negligible both in absolute terms and relative to the
    // observed table (weights only decrease away from the mode).
    let negligible = 1e-16 * w_obs.min(1.0);

    let mut total_weight = 1.0;
    let mut tail_weight = if 1.0 <= limit { 1.0 } else { 0.0 };
    // Walk up from the mode.
    let mut w = 1.0_f64;
    let mut j = mode;
    while j < hi {
        w *= ratio(j as f64);
        j += 1;
        total_weight += w;
        if w <= limit {
            tail_weight += w;
        }
        if w < negligible || w == 0.0 {
            break;
        }
    }
    // Walk down from the mode.
    let mut w = 1.0_f64;
    let mut j = mode;
    while j > lo {
        j -= 1;
        w /= ratio(j as f64);
        total_weight += w;
        if w <= limit {
            tail_weight += w;
        }
        if w < negligible || w == 0.0 {
            break;
        }
    }
    (tail_weight / total_weight).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(c: (u64, u64), t: (u64, u64)) -> f64 {
        fisher_exact(
            &ProportionSummary::new(c.0, c.1),
            &ProportionSummary::new(t.0, t.1),
        )
        .unwrap()
    }

    #[test]
    fn scipy_docs_example() {
        // scipy.stats.fisher_exact([[6, 2], [1, 4]]) = 0.10256410256410257:
        // treatment 8 users / 6 conversions, control 5 users / 1 conversion.
        let v = p((5, 1), (8, 6));
        assert!((v - 0.10256410256410257).abs() < 1e-14, "{v}");
    }

    #[test]
    fn symmetric_and_degenerate_tables() {
        assert_eq!(p((10, 0), (10, 0)), 1.0);
        assert_eq!(p((10, 10), (10, 10)), 1.0);
        assert!((p((10, 3), (10, 3)) - 1.0).abs() < 1e-12);
        let a = p((20, 2), (30, 11));
        let b = p((30, 11), (20, 2));
        assert!((a - b).abs() < 1e-14);
        assert!(a > 0.0 && a < 1.0);
    }

    #[test]
    fn rejects_bad_counts() {
        assert!(
            fisher_exact(&ProportionSummary::new(5, 6), &ProportionSummary::new(5, 1)).is_err()
        );
        assert!(
            fisher_exact(&ProportionSummary::new(5, 1), &ProportionSummary::new(0, 0)).is_err()
        );
    }

    #[test]
    fn large_margins_stay_fast_and_finite() {
        let v = p((1_000_000, 2), (1_000_000, 14));
        assert!(v > 0.0 && v < 0.01, "{v}");
        let v = p((50_000_000, 25_000_000), (3, 0));
        assert!(v > 0.0 && v <= 1.0, "{v}");
    }
}
