//! Sample ratio mismatch (SRM): a chi-square goodness-of-fit test of the users observed
//! per variant against the planned allocation weights, for any number of variants.
//!
//! `χ² = Σ (O_i − E_i)²/E_i` with `E_i = N·w_i/Σw`, `k − 1` degrees of freedom. A p-value
//! below the threshold (default 0.001, strict because the check runs on every experiment
//! every day) means the assignment or logging is broken and the results can't be trusted.

use serde::Serialize;

use crate::dist::chi2_sf;
use crate::error::{check_open_unit, finite, Result, StatsError};

/// Default p-value threshold below which a sample ratio mismatch is flagged.
pub const DEFAULT_SRM_THRESHOLD: f64 = 0.001;

/// Result of [`srm_test`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SrmResult {
    pub chi2: f64,
    /// Degrees of freedom (variants − 1).
    pub df: u64,
    pub p_value: f64,
    /// `p_value < threshold`.
    pub mismatch: bool,
    /// Expected users per variant under the planned weights.
    pub expected: Vec<f64>,
    pub threshold: f64,
}

/// Tests `observed` users per variant against the planned `weights` (any positive scale,
/// e.g. `[50, 50]` or `[0.2, 0.4, 0.4]`).
///
/// Errors when the lengths differ, there are fewer than two variants, a weight is not
/// positive and finite, no users were observed, or `threshold` is outside (0, 1).
pub fn srm_test(observed: &[u64], weights: &[f64], threshold: f64) -> Result<SrmResult> {
    let threshold = check_open_unit("threshold", threshold)?;
    check_counts_and_weights(observed, weights)?;
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total == 0.0 {
        return Err(StatsError::undefined(
            "sample ratio test",
            "no users observed in any variant",
        ));
    }
    let weight_sum: f64 = weights.iter().sum();
    let expected: Vec<f64> = weights.iter().map(|w| total * w / weight_sum).collect();
    let chi2 = observed
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| {
            let d = o as f64 - e;
            d * d / e
        })
        .sum::<f64>();
    let chi2 = finite("chi-square statistic", chi2)?;
    let df = observed.len() as u64 - 1;
    let p_value = finite("p-value", chi2_sf(chi2, df as f64))?;
    Ok(SrmResult {
        chi2,
        df,
        p_value,
        mismatch: p_value < threshold,
        expected,
        threshold,
    })
}

/// Checks the inputs of a sample ratio test: as many counts as weights, at least two variants,
/// every weight positive and finite.
pub(crate) fn check_counts_and_weights(observed: &[u64], weights: &[f64]) -> Result<()> {
    if observed.len() != weights.len() {
        return Err(StatsError::LengthMismatch {
            left: "observed",
            left_len: observed.len(),
            right: "weights",
            right_len: weights.len(),
        });
    }
    if observed.len() < 2 {
        return Err(StatsError::TooFewValues {
            name: "observed",
            len: observed.len(),
            min: 2,
        });
    }
    for (index, &w) in weights.iter().enumerate() {
        if !(w.is_finite() && w > 0.0) {
            return Err(StatsError::InvalidElement {
                name: "weights",
                index,
                value: w,
                expected: "positive and finite",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_split_passes_and_skewed_fails() {
        let r = srm_test(&[5000, 5050], &[50.0, 50.0], DEFAULT_SRM_THRESHOLD).unwrap();
        assert!(!r.mismatch);
        assert_eq!(r.df, 1);
        let r = srm_test(&[5000, 5400], &[1.0, 1.0], DEFAULT_SRM_THRESHOLD).unwrap();
        assert!(r.mismatch, "{r:?}");
        let r = srm_test(&[2000, 4000, 4000], &[0.2, 0.4, 0.4], 0.001).unwrap();
        assert_eq!(r.chi2, 0.0);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn bad_input() {
        let e = srm_test(&[1, 2, 3], &[1.0, 1.0], 0.001).unwrap_err();
        assert_eq!(e.to_string(), "observed has 3 values but weights has 2");
        let e = srm_test(&[1, 2], &[1.0, -1.0], 0.001).unwrap_err();
        assert_eq!(
            e.to_string(),
            "weights[1] must be positive and finite, got -1"
        );
        assert!(srm_test(&[0, 0], &[1.0, 1.0], 0.001).is_err());
        assert!(srm_test(&[5], &[1.0], 0.001).is_err());
        assert!(srm_test(&[5, 5], &[1.0, 1.0], 0.0).is_err());
    }
}
