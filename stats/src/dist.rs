//! Normal, Student t and chi-square tail probabilities and quantiles, on top of `statrs`'
//! special functions.
//!
//! statrs' own `StudentsT::inverse_cdf` is inaccurate for large degrees of freedom (1e-4
//! relative at 2·10⁶) and does not terminate for some, so the t quantile here is the
//! Cornish–Fisher expansion from 1,000 degrees of freedom and a safeguarded Newton iteration
//! on the tail probability below; the tail probability itself uses a 1/ν-corrected normal
//! above 10⁶ degrees of freedom. Callers validate their inputs;
//! these helpers never panic and return NaN only for NaN input (callers check results
//! with [`crate::error::finite`]).

use std::f64::consts::{PI, SQRT_2};

use statrs::function::beta::checked_beta_reg;
use statrs::function::erf::{erfc, erfc_inv};
use statrs::function::gamma::{checked_gamma_ur, ln_gamma};

/// Degrees of freedom above which the t distribution is computed from the normal with a
/// 1/ν correction (error O(ν⁻²), below 1e-9 relative).
const LARGE_DF: f64 = 1e6;

/// Degrees of freedom from which the t quantile is the four-term Cornish–Fisher expansion
/// alone (relative error below 1e-11 down to tail probabilities of 1e-9, checked against
/// scipy); below, Newton iterations refine it.
const CORNISH_FISHER_DF: f64 = 1000.0;

/// Standard normal density.
pub(crate) fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Standard normal upper tail `P(Z > x)`, accurate far into the tail.
pub(crate) fn norm_sf(x: f64) -> f64 {
    0.5 * erfc(x / SQRT_2)
}

/// Standard normal cumulative distribution `P(Z ≤ x)`.
pub(crate) fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// Two-sided normal p-value `P(|Z| ≥ |z|)`.
pub(crate) fn norm_two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / SQRT_2).min(1.0)
}

/// The normal quantile with upper-tail probability `q`: `P(Z > z) = q`, `q` in (0, 1).
pub(crate) fn norm_upper_quantile(q: f64) -> f64 {
    SQRT_2 * erfc_inv(2.0 * q)
}

/// `P(T > |t|)` for Student's t with `df` degrees of freedom.
fn t_half_tail(t: f64, df: f64) -> f64 {
    let t = t.abs();
    if df > LARGE_DF {
        return norm_sf(t) + norm_pdf(t) * (t * t * t + t) / (4.0 * df);
    }
    let x = df / (df + t * t);
    checked_beta_reg(0.5 * df, 0.5, x).map_or(f64::NAN, |p| 0.5 * p)
}

/// Student t upper tail `P(T > t)`.
pub(crate) fn t_sf(t: f64, df: f64) -> f64 {
    let half = t_half_tail(t, df);
    if t >= 0.0 {
        half
    } else {
        1.0 - half
    }
}

/// Two-sided Student t p-value `P(|T| ≥ |t|)`.
pub(crate) fn t_two_sided_p(t: f64, df: f64) -> f64 {
    (2.0 * t_half_tail(t, df)).min(1.0)
}

/// Natural log of the normalising constant of the Student t density.
fn t_ln_norm(df: f64) -> f64 {
    ln_gamma(0.5 * (df + 1.0)) - ln_gamma(0.5 * df) - 0.5 * (df * PI).ln()
}

/// Cornish–Fisher expansion of the t quantile around the normal quantile `z`
/// (Abramowitz & Stegun 26.7.5); error O(ν⁻⁵).
fn cornish_fisher(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
}

/// The Student t quantile with upper-tail probability `q`: `P(T > t) = q`, `q` in (0, 1),
/// `df > 0` (fractional degrees of freedom allowed, as Welch's test needs).
pub(crate) fn t_upper_quantile(q: f64, df: f64) -> f64 {
    if q.is_nan() || df.is_nan() {
        return f64::NAN;
    }
    if q > 0.5 {
        return -t_upper_quantile(1.0 - q, df);
    }
    if q == 0.5 {
        return 0.0;
    }
    let z = norm_upper_quantile(q);
    if df >= CORNISH_FISHER_DF {
        return cornish_fisher(z, df);
    }
    if df == 1.0 {
        return 1.0 / (PI * q).tan();
    }
    if df == 2.0 {
        let p = 1.0 - q;
        return (2.0 * p - 1.0) / (2.0 * p * q).sqrt();
    }
    // Newton on P(T > t) = q from the Cornish–Fisher start (one or two steps for moderate
    // df), safeguarded by a bracket (lo, hi) that tightens with every evaluation.
    let ln_norm = t_ln_norm(df);
    let pdf = |t: f64| (ln_norm - 0.5 * (df + 1.0) * (t * t / df).ln_1p()).exp();
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    let mut t = if df >= 4.0 { cornish_fisher(z, df) } else { z };
    for _ in 0..100 {
        let f = t_sf(t, df) - q;
        if f > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        let mut next = t + f / pdf(t);
        if !(next > lo && next < hi) {
            next = if hi.is_finite() {
                0.5 * (lo + hi)
            } else {
                2.0 * t.max(1.0)
            };
        }
        if (next - t).abs() <= 1e-12 * next.abs() {
            return next;
        }
        t = next;
    }
    t
}

/// Chi-square upper tail `P(X > x)` with `df` degrees of freedom.
pub(crate) fn chi2_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    checked_gamma_ur(0.5 * df, 0.5 * x).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn normal_quantiles() {
        assert!(close(norm_upper_quantile(0.025), 1.959963984540054, 1e-13));
        assert!(close(norm_upper_quantile(0.2), 0.8416212335729143, 1e-13));
        assert!(close(norm_two_sided_p(1.9599639845400545), 0.05, 1e-9));
        assert!(close(norm_cdf(0.0), 0.5, 1e-15));
    }

    #[test]
    fn t_quantiles_in_closed_form_cases() {
        // df = 1 (Cauchy): upper 2.5% point is tan(0.475π)
        assert!(close(
            t_upper_quantile(0.025, 1.0),
            12.706204736174694,
            1e-12
        ));
        assert!(close(
            t_upper_quantile(0.025, 2.0),
            4.302652729749462,
            1e-12
        ));
        assert!(close(
            t_upper_quantile(0.975, 2.0),
            -4.302652729749462,
            1e-12
        ));
        assert!(close(
            t_upper_quantile(0.025, 10.0),
            2.228138851986274,
            1e-12
        ));
        assert!(close(t_upper_quantile(0.025, 1.5), 6.016663104427929, 1e-9));
    }

    #[test]
    fn t_quantiles_match_scipy() {
        // scipy.stats.t.isf(q, df), scipy 1.17.1
        for (q, df, want) in [
            (0.025, 3.5, 2.9400886379827296),
            (1e-06, 3.5, 61.04512120772062),
            (0.025, 57.3, 2.002238268231336),
            (1e-06, 57.3, 5.289850372244244),
            (0.025, 999.0, 1.9623414611334498),
            (1e-06, 999.0, 4.781636978830079),
            (0.025, 1000.0, 1.9623390808264085),
            (1e-06, 1000.0, 4.781608620458351),
            (0.025, 5000.0, 1.9604385517065075),
            (1e-06, 5000.0, 4.759037953505102),
            (0.025, 2000000.0, 1.959965170676375),
            (1e-06, 2000000.0, 4.753438328515179),
        ] {
            let got = t_upper_quantile(q, df);
            assert!(close(got, want, 1e-9), "q {q} df {df}: {got} vs {want}");
        }
    }

    #[test]
    fn t_quantile_inverts_the_tail() {
        for df in [1.3, 3.0, 7.7, 30.0, 123.4, 5e3, 9e5, 2e6, 1e9] {
            for q in [0.4, 0.1, 0.025, 1e-3, 1e-6] {
                let t = t_upper_quantile(q, df);
                assert!(close(t_sf(t, df), q, 1e-8), "df {df} q {q}: t {t}");
            }
        }
    }

    #[test]
    fn chi2_tail() {
        // P(χ²₁ > 3.8414588206941285) = 0.05
        assert!(close(chi2_sf(3.8414588206941285, 1.0), 0.05, 1e-12));
        assert_eq!(chi2_sf(0.0, 3.0), 1.0);
    }
}
