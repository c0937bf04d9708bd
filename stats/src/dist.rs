//! Normal, Student t and chi-square tail probabilities and quantiles, on top of `statrs`'
//! special functions.
//!
//! statrs' own `StudentsT::inverse_cdf` is inaccurate for large degrees of freedom (1e-4
//! relative at 2·10⁶) and does not terminate for some, so the t quantile here is a
//! safeguarded Newton iteration on the tail probability, and very large degrees of freedom
//! use the first terms of the Cornish–Fisher expansion. Callers validate their inputs;
//! these helpers never panic and return NaN only for NaN input (callers check results
//! with [`crate::error::finite`]).

use std::f64::consts::{PI, SQRT_2};

use statrs::function::beta::checked_beta_reg;
use statrs::function::erf::{erfc, erfc_inv};
use statrs::function::gamma::{checked_gamma_ur, ln_gamma};

/// Degrees of freedom above which the t distribution is computed from the normal with a
/// 1/ν correction (error O(ν⁻²), below 1e-9 relative).
const LARGE_DF: f64 = 1e6;

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

/// Student t density.
fn t_pdf(t: f64, df: f64) -> f64 {
    let ln_c = ln_gamma(0.5 * (df + 1.0)) - ln_gamma(0.5 * df) - 0.5 * (df * PI).ln();
    (ln_c - 0.5 * (df + 1.0) * (t * t / df).ln_1p()).exp()
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
    if df > LARGE_DF {
        // Cornish–Fisher expansion of the t quantile around the normal one.
        let z2 = z * z;
        return z
            + z * (z2 + 1.0) / (4.0 * df)
            + z * ((5.0 * z2 + 16.0) * z2 + 3.0) / (96.0 * df * df);
    }
    if df == 1.0 {
        return 1.0 / (PI * q).tan();
    }
    if df == 2.0 {
        let p = 1.0 - q;
        return (2.0 * p - 1.0) / (2.0 * p * q).sqrt();
    }
    // Safeguarded Newton on P(T > t) = q over the bracket (lo, hi), t > 0.
    let mut lo = 0.0_f64;
    let mut hi = z.max(1.0);
    let mut guard = 0;
    while t_sf(hi, df) > q && guard < 2000 {
        lo = hi;
        hi *= 2.0;
        guard += 1;
    }
    let mut t = if df >= 4.0 {
        let z2 = z * z;
        (z + z * (z2 + 1.0) / (4.0 * df)).clamp(lo, hi)
    } else {
        0.5 * (lo + hi)
    };
    for _ in 0..200 {
        let f = t_sf(t, df) - q;
        if f > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        let step = f / t_pdf(t, df);
        let mut next = t + step;
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - t).abs() <= 1e-15 * next.abs() || hi - lo <= 1e-15 * hi {
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
