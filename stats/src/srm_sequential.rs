//! Always-valid sample ratio mismatch test: the Dirichlet–multinomial mixture of Lindon &
//! Malek, "Anytime-valid inference for multinomial count data" (NeurIPS 2022; the
//! sequential SRM test of Optimizely's `ssrm-test` package).
//!
//! Users arrive one by one in `k` variants with probabilities `θ` (planned: `θ₀`, the
//! normalised weights). Against `H₀: θ = θ₀` the alternative mixes `θ ~ Dirichlet(α)`,
//! `α = c·θ₀` (concentration `c`). After counts `x` (`N = Σx`) the Bayes factor is
//!
//! `BF = [B(α + x) / B(α)] / Π θ₀ᵢ^xᵢ`, `B(a) = Π Γ(aᵢ) / Γ(Σ aᵢ)`,
//!
//! a nonnegative martingale under `H₀` (the multinomial coefficients cancel), so by Ville's
//! inequality `P(BF ever ≥ 1/threshold) ≤ threshold`: the p-value `min(1, 1/BF)` can be
//! recomputed at every aggregator pass and the first `p < threshold` raises the alarm with
//! a false-alarm rate over the whole life of the experiment at most `threshold`. A
//! chi-square test repeated at every pass has no such bound.
//!
//! The default concentration [`DEFAULT_SRM_CONCENTRATION`] = 10,000 is `ssrm-test`'s: the
//! prior standard deviation of a 50% share is then 0.5 percentage points, the size of the
//! mismatches that matter (a 50.5/49.5 split on a million users gives `p ≈ 10⁻¹⁸`).
//!
//! `ln BF` is computed from Stirling's series with the leading terms cancelled analytically,
//!
//! `ln BF = Σᵢ (aᵢ − ½)·ln(1 + (xᵢ − N·θ₀ᵢ)/(S·θ₀ᵢ)) − (k − 1)/2·ln(S/c)
//!          + Σᵢ [δ(aᵢ) − δ(αᵢ)] − [δ(S) − δ(c)]`,
//!
//! `aᵢ = αᵢ + xᵢ`, `S = c + N`, `δ(z) = ln Γ(z) − (z − ½)·ln z + z − ½·ln 2π`, so billions of
//! users lose no precision to the cancellation of `ln Γ` values near 10¹⁰.

use serde::Serialize;
use statrs::function::gamma::ln_gamma;

use crate::error::{check_open_unit, check_positive, finite, Result, StatsError};
use crate::summary::MAX_COUNT;

/// Default concentration `c` of the Dirichlet mixture (`α = c·θ₀`), as in `ssrm-test`.
pub const DEFAULT_SRM_CONCENTRATION: f64 = 10_000.0;

/// Result of [`srm_sequential`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SequentialSrmResult {
    /// Always-valid p-value of the counts at this look, `min(1, 1/BF)`.
    pub p_value: f64,
    /// `ln BF` of the mixture against the planned split (positive favours a mismatch).
    pub log_bayes_factor: f64,
    /// `p_value < threshold`.
    pub mismatch: bool,
    pub threshold: f64,
    pub concentration: f64,
    /// Expected users per variant under the planned weights.
    pub expected: Vec<f64>,
}

/// Tests the cumulative `observed` users per variant against the planned `weights` (any
/// positive scale). With no users at all the Bayes factor is 1 and `p_value` 1.
///
/// Errors when the lengths differ, there are fewer than two variants, a weight is not
/// positive and finite, a count or the total exceeds 2⁵³, `threshold` is outside (0, 1) or
/// `concentration` is not positive.
pub fn srm_sequential(
    observed: &[u64],
    weights: &[f64],
    threshold: f64,
    concentration: f64,
) -> Result<SequentialSrmResult> {
    let threshold = check_open_unit("threshold", threshold)?;
    let c = check_positive("concentration", concentration)?;
    crate::srm::check_counts_and_weights(observed, weights)?;
    let mut total = 0u64;
    for (index, &o) in observed.iter().enumerate() {
        total = total.saturating_add(o);
        if o > MAX_COUNT || total > MAX_COUNT {
            return Err(StatsError::InvalidElement {
                name: "observed",
                index,
                value: o as f64,
                expected: "at most 2^53 in all",
            });
        }
    }
    let weight_sum: f64 = weights.iter().sum();
    let theta: Vec<f64> = weights.iter().map(|w| w / weight_sum).collect();
    let n = total as f64;
    let s = c + n;
    let k = observed.len() as f64;
    let mut log_bf = -(k - 1.0) / 2.0 * (s / c).ln() - (stirling_rest(s) - stirling_rest(c));
    for (&x, &t) in observed.iter().zip(&theta) {
        let x = x as f64;
        let alpha = c * t;
        let a = alpha + x;
        log_bf += (a - 0.5) * ((x - n * t) / (s * t)).ln_1p();
        log_bf += stirling_rest(a) - stirling_rest(alpha);
    }
    let log_bf = finite("log Bayes factor", log_bf)?;
    let p_value = (-log_bf).min(0.0).exp();
    Ok(SequentialSrmResult {
        p_value,
        log_bayes_factor: log_bf,
        mismatch: p_value < threshold,
        threshold,
        concentration: c,
        expected: theta.iter().map(|t| n * t).collect(),
    })
}

/// `δ(z) = ln Γ(z) − [(z − ½)·ln z − z + ½·ln 2π]` for `z > 0`: Stirling's series from 10
/// on (error below 1e-16), `ln Γ` directly below.
fn stirling_rest(z: f64) -> f64 {
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    if z >= 10.0 {
        let r = 1.0 / z;
        let r2 = r * r;
        r * (1.0 / 12.0
            - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 * (1.0 / 1680.0 - r2 / 1188.0))))
    } else {
        ln_gamma(z) - ((z - 0.5) * z.ln() - z + HALF_LN_2PI)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ln BF` straight from the definition (fine for small counts).
    fn direct(observed: &[u64], weights: &[f64], c: f64) -> f64 {
        let sum: f64 = weights.iter().sum();
        let theta: Vec<f64> = weights.iter().map(|w| w / sum).collect();
        let ln_beta = |a: &[f64]| {
            a.iter().map(|&v| ln_gamma(v)).sum::<f64>() - ln_gamma(a.iter().sum::<f64>())
        };
        let alpha: Vec<f64> = theta.iter().map(|t| c * t).collect();
        let post: Vec<f64> = alpha
            .iter()
            .zip(observed)
            .map(|(a, &x)| a + x as f64)
            .collect();
        let null: f64 = observed
            .iter()
            .zip(&theta)
            .map(|(&x, t)| x as f64 * t.ln())
            .sum();
        ln_beta(&post) - ln_beta(&alpha) - null
    }

    #[test]
    fn stirling_form_equals_the_definition() {
        for (obs, w, c) in [
            (vec![5u64, 9], vec![1.0, 1.0], 1.0),
            (vec![50, 70, 20], vec![0.4, 0.4, 0.2], 3.0),
            (vec![5000, 5200], vec![50.0, 50.0], 10_000.0),
            (vec![0, 12], vec![1.0, 3.0], 0.5),
            (vec![123, 0, 77, 9], vec![1.0, 2.0, 3.0, 4.0], 100.0),
        ] {
            let got = srm_sequential(&obs, &w, 0.001, c).unwrap().log_bayes_factor;
            let want = direct(&obs, &w, c);
            assert!((got - want).abs() < 1e-9, "{obs:?} {c}: {got} vs {want}");
        }
    }

    #[test]
    fn detects_a_half_percent_split_on_a_million_users() {
        let r = srm_sequential(&[505_000, 495_000], &[1.0, 1.0], 0.001, 10_000.0).unwrap();
        assert!(r.mismatch && r.p_value < 1e-15, "{r:?}");
        let ok = srm_sequential(&[500_300, 499_700], &[1.0, 1.0], 0.001, 10_000.0).unwrap();
        assert!(!ok.mismatch, "{ok:?}");
        let none = srm_sequential(&[0, 0], &[1.0, 1.0], 0.001, 10_000.0).unwrap();
        assert_eq!((none.p_value, none.log_bayes_factor), (1.0, 0.0));
    }

    #[test]
    fn bad_input() {
        let e = srm_sequential(&[1, 2], &[1.0], 0.001, 1.0).unwrap_err();
        assert_eq!(e.to_string(), "observed has 2 values but weights has 1");
        assert!(srm_sequential(&[1, 2], &[1.0, 0.0], 0.001, 1.0).is_err());
        assert!(srm_sequential(&[1, 2], &[1.0, 1.0], 0.001, 0.0).is_err());
        assert!(srm_sequential(&[1, 2], &[1.0, 1.0], 1.0, 1.0).is_err());
        assert!(srm_sequential(&[u64::MAX, 2], &[1.0, 1.0], 0.01, 1.0).is_err());
        assert!(srm_sequential(&[3], &[1.0], 0.01, 1.0).is_err());
    }
}
