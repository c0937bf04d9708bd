//! Interaction between two concurrent experiments: does the treatment effect of one depend
//! on the variant a user has in the other?
//!
//! The input is the table of the primary metric's mean per cell: rows are the variants of
//! experiment A (row 0 its control), columns those of experiment B (column 0 its control),
//! each cell an estimate and the variance of that estimate, from independent users.
//!
//! - 2×2: the difference in differences `(m₁₁ − m₁₀) − (m₀₁ − m₀₀)` — how much more A's
//!   treatment moves the metric among B's treatment users than among B's control users —
//!   with `se = √Σ v`, `z = did/se` and a normal interval.
//! - a×b: a Wald test of the `(a − 1)(b − 1)` interaction contrasts
//!   `m_ij − m_i0 − m_0j + m_00`: `W = d'(C V C')⁻¹ d`, chi-square with `(a − 1)(b − 1)`
//!   degrees of freedom (for 2×2, `W = z²`).
//!
//! With cell variances `s²/n` (sample variance, n − 1) this is the interaction test of an
//! OLS fit of the metric on both experiments' variants and their product with HC2
//! (heteroskedasticity-consistent) standard errors, which the fixtures check against
//! statsmodels. The test is symmetric in A and B.

use serde::Serialize;

use crate::dist::{chi2_sf, norm_two_sided_p, norm_upper_quantile};
use crate::error::{check_alpha, finite, Arm, Result, StatsError};
use crate::summary::{Interval, MeanSummary, ProportionSummary, RatioSummary};

/// The primary metric in one cell (users with a given variant in both experiments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CellEstimate {
    /// The metric's estimate in the cell (a rate, a mean, a ratio).
    pub estimate: f64,
    /// The variance of `estimate`.
    pub variance: f64,
}

impl CellEstimate {
    /// A conversion rate: `p` with variance `p(1 − p)/(n − 1)` (the sample variance of the
    /// 0/1 values over n). Needs two users.
    pub fn from_proportion(summary: &ProportionSummary) -> Result<Self> {
        let (n, p) = summary.checked(Arm::Treatment)?;
        if n < 2.0 {
            return Err(StatsError::TooFewObservations {
                arm: Arm::Treatment,
                n: summary.users,
                min: 2,
            });
        }
        Ok(CellEstimate {
            estimate: p,
            variance: p * (1.0 - p) / (n - 1.0),
        })
    }

    /// A mean: `mean` with variance `sd²/n`.
    pub fn from_mean(summary: &MeanSummary) -> Result<Self> {
        let (_, mean, variance) = summary.checked(Arm::Treatment)?;
        Ok(CellEstimate {
            estimate: mean,
            variance,
        })
    }

    /// A ratio metric: `Σnum/Σden` with its delta-method variance.
    pub fn from_ratio(summary: &RatioSummary) -> Result<Self> {
        let m = summary.moments(Arm::Treatment)?;
        Ok(CellEstimate {
            estimate: m.ratio,
            variance: m.variance,
        })
    }
}

/// Result of [`interaction_test`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InteractionResult {
    /// Wald statistic (`z²` for a 2×2 table).
    pub chi2: f64,
    /// Degrees of freedom `(a − 1)(b − 1)`.
    pub df: u64,
    pub p_value: f64,
    /// 2×2 only: the difference in differences `(m₁₁ − m₁₀) − (m₀₁ − m₀₀)`.
    pub difference: Option<f64>,
    /// 2×2 only: its standard error.
    pub se: Option<f64>,
    /// 2×2 only: `difference / se`.
    pub z: Option<f64>,
    /// 2×2 only: the normal interval of `difference` at level `1 − alpha`.
    pub ci: Option<Interval>,
    /// `p_value < alpha`.
    pub significant: bool,
    pub alpha: f64,
}

/// Tests the interaction in `table` (rows = variants of A, columns = variants of B, at
/// least 2×2, control first in both).
pub fn interaction_test(table: &[Vec<CellEstimate>], alpha: f64) -> Result<InteractionResult> {
    let alpha = check_alpha(alpha)?;
    let rows = table.len();
    let cols = table.first().map_or(0, Vec::len);
    if rows < 2 || cols < 2 {
        return Err(StatsError::TooFewValues {
            name: "interaction table rows and columns",
            len: rows.min(cols),
            min: 2,
        });
    }
    for (row, cells) in table.iter().enumerate() {
        if cells.len() != cols {
            return Err(StatsError::RaggedTable {
                name: "interaction table",
                row,
                len: cells.len(),
                expected: cols,
            });
        }
        for (column, cell) in cells.iter().enumerate() {
            let index = row * cols + column;
            if !cell.estimate.is_finite() {
                return Err(StatsError::InvalidElement {
                    name: "cell estimates",
                    index,
                    value: cell.estimate,
                    expected: "finite",
                });
            }
            if !(cell.variance.is_finite() && cell.variance >= 0.0) {
                return Err(StatsError::InvalidElement {
                    name: "cell variances",
                    index,
                    value: cell.variance,
                    expected: "non-negative and finite",
                });
            }
        }
    }
    let m = |i: usize, j: usize| table[i][j].estimate;
    let v = |i: usize, j: usize| table[i][j].variance;
    let df = ((rows - 1) * (cols - 1)) as u64;
    if rows == 2 && cols == 2 {
        let did = finite(
            "difference in differences",
            m(1, 1) - m(1, 0) - m(0, 1) + m(0, 0),
        )?;
        let se = finite(
            "standard error",
            (v(0, 0) + v(0, 1) + v(1, 0) + v(1, 1)).sqrt(),
        )?;
        let z = if se == 0.0 {
            if did != 0.0 {
                return Err(StatsError::undefined(
                    "interaction test",
                    "no cell varies but the effects differ",
                ));
            }
            0.0
        } else {
            finite("z statistic", did / se)?
        };
        let p_value = norm_two_sided_p(z);
        let ci = Interval::around(did, norm_upper_quantile(alpha / 2.0) * se)
            .checked("interaction interval")?;
        return Ok(InteractionResult {
            chi2: z * z,
            df,
            p_value,
            difference: Some(did),
            se: Some(se),
            z: Some(z),
            ci: Some(ci),
            significant: p_value < alpha,
            alpha,
        });
    }
    // Contrast (i, j) for i in 1..rows, j in 1..cols: +m_ij − m_i0 − m_0j + m_00.
    let contrasts: Vec<[(usize, usize, f64); 4]> = (1..rows)
        .flat_map(|i| {
            (1..cols).map(move |j| [(i, j, 1.0), (i, 0, -1.0), (0, j, -1.0), (0, 0, 1.0)])
        })
        .collect();
    let q = contrasts.len();
    let d: Vec<f64> = contrasts
        .iter()
        .map(|c| c.iter().map(|&(i, j, w)| w * m(i, j)).sum())
        .collect();
    // (C V C')_kl = Σ_cells c_k(cell)·c_l(cell)·v(cell), V diagonal.
    let mut cov = vec![vec![0.0; q]; q];
    for (k, ck) in contrasts.iter().enumerate() {
        for (l, cl) in contrasts.iter().enumerate() {
            let mut s = 0.0;
            for &(i, j, w) in ck {
                for &(i2, j2, w2) in cl {
                    if (i, j) == (i2, j2) {
                        s += w * w2 * v(i, j);
                    }
                }
            }
            cov[k][l] = s;
        }
    }
    let x = cholesky_solve(&cov, &d).ok_or_else(|| {
        StatsError::undefined(
            "interaction test",
            "the cells' variances are zero or degenerate",
        )
    })?;
    let chi2 = finite(
        "Wald statistic",
        d.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>().max(0.0),
    )?;
    let p_value = finite("p-value", chi2_sf(chi2, df as f64))?;
    Ok(InteractionResult {
        chi2,
        df,
        p_value,
        difference: None,
        se: None,
        z: None,
        ci: None,
        significant: p_value < alpha,
        alpha,
    })
}

/// Solves `A x = b` for a symmetric positive definite `A` by Cholesky; `None` when `A` is
/// not positive definite (a pivot at or below 1e-12 of the largest diagonal entry).
fn cholesky_solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = (0..n).map(|i| a[i][i]).fold(0.0_f64, f64::max);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let pivot = a[i][i] - s;
                if pivot <= 1e-12 * scale {
                    return None;
                }
                l[i][i] = pivot.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i][k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k][i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(estimate: f64, variance: f64) -> CellEstimate {
        CellEstimate { estimate, variance }
    }

    #[test]
    fn two_by_two_is_the_difference_in_differences() {
        let t = vec![
            vec![cell(0.10, 1e-4), cell(0.12, 1e-4)],
            vec![cell(0.11, 1e-4), cell(0.17, 1e-4)],
        ];
        let r = interaction_test(&t, 0.05).unwrap();
        let did = r.difference.unwrap();
        assert!((did - 0.04).abs() < 1e-12);
        assert!((r.se.unwrap() - 0.02).abs() < 1e-12);
        assert!((r.chi2 - 4.0).abs() < 1e-9);
        assert_eq!(r.df, 1);
    }

    #[test]
    fn wald_statistic_by_hand() {
        let t = vec![
            vec![cell(1.0, 0.01), cell(2.0, 0.02), cell(5.0, 0.03)],
            vec![cell(1.5, 0.01), cell(2.9, 0.02), cell(5.5, 0.03)],
        ];
        let r = interaction_test(&t, 0.05).unwrap();
        assert_eq!(r.df, 2);
        assert!(r.difference.is_none());
        // by hand: d = (0.4, 0.0); C V C' = [[0.06, 0.02], [0.02, 0.08]]
        let det = 0.06 * 0.08 - 0.02 * 0.02;
        let want = 0.4 * 0.4 * 0.08 / det;
        assert!((r.chi2 - want).abs() < 1e-12, "{} vs {want}", r.chi2);
    }

    #[test]
    fn cholesky_solves() {
        let a = vec![
            vec![4.0, 2.0, 0.6],
            vec![2.0, 5.0, 1.0],
            vec![0.6, 1.0, 3.0],
        ];
        let b = [1.0, 2.0, 3.0];
        let x = cholesky_solve(&a, &b).unwrap();
        for i in 0..3 {
            let got: f64 = (0..3).map(|j| a[i][j] * x[j]).sum();
            assert!((got - b[i]).abs() < 1e-12);
        }
        assert!(cholesky_solve(&[vec![0.0]], &[1.0]).is_none());
    }

    #[test]
    fn bad_input() {
        let ok = cell(1.0, 1.0);
        assert!(interaction_test(&[vec![ok, ok]], 0.05).is_err());
        let e = interaction_test(&[vec![ok, ok], vec![ok]], 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "interaction table row 1 has 1 values but row 0 has 2"
        );
        let e = interaction_test(&[vec![ok, ok], vec![ok, cell(1.0, -1.0)]], 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cell variances[3] must be non-negative and finite, got -1"
        );
        let zero = cell(1.0, 0.0);
        let flat = vec![vec![zero, zero, zero], vec![zero, zero, zero]];
        assert!(interaction_test(&flat, 0.05).is_err());
        let r = interaction_test(&[vec![zero, zero], vec![zero, zero]], 0.05).unwrap();
        assert_eq!(r.p_value, 1.0);
    }
}
