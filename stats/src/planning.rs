//! Planning: sample size, minimum detectable effect (MDE), power and runtime, for two
//! proportions and for continuous metrics, with unequal allocation.
//!
//! `ratio` is treatment users per control user (1 = equal split); sizes are returned per
//! arm. Two-sided tests, exact normal quantiles `z_a = z_{1−α/2}`, `z_b = z_{1−β}`.
//!
//! Proportions plan for the test that [`crate::compare_proportions`] runs, the pooled z-test
//! ([`Formula::Pooled`], the default; statsmodels' `samplesize_proportions_2indep_onetail`):
//! the critical value uses the pooled variance under the null and power the unpooled one
//! under the alternative,
//!
//! `n_c = (z_a·√(p̄q̄(1 + 1/r)) + z_b·√(p₁q₁ + p₂q₂/r))² / Δ²`, `p̄ = (p₁ + r·p₂)/(1 + r)`,
//!
//! `n_t = r·n_c`, each rounded up. [`Formula::Textbook`] keeps the unpooled
//! `n_c = (z_a + z_b)²·(p₁q₁ + p₂q₂/r)/Δ²`, which under-powers unequal splits (baseline 2%,
//! +50%, four treatment users per control: 2,110 control users give 72% power, not 80%;
//! the pooled plan asks for 2,495).
//!
//! Means: `n_c = (z_a + z_b)²·σ²·(1 + 1/r)/Δ²`, `n_t = r·n_c`.
//!
//! The MDE inverts the same sample-size formula (the upward change), and power is the exact
//! power of the two-sided test with the same variances,
//! `Φ((|Δ| − z_a·se₀)/se₁) + Φ((−|Δ| − z_a·se₀)/se₁)` (`se₀` under the null, `se₁` under
//! the alternative; equal for means and the textbook formula), so the power at the planned
//! size is at least the target.

use serde::Serialize;

use crate::dist::{norm_cdf, norm_upper_quantile};
use crate::error::{check_alpha, check_open_unit, check_positive, finite, Result, StatsError};

/// Which variance a proportions plan assumes; see the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Formula {
    /// Pooled variance under the null (the z-test that is run), unpooled under the
    /// alternative. The default.
    #[default]
    Pooled,
    /// Unpooled variance throughout (the textbook formula).
    Textbook,
}

impl Formula {
    /// The name used in the CLI and JSON (`pooled`, `textbook`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Formula::Pooled => "pooled",
            Formula::Textbook => "textbook",
        }
    }
}

/// Test settings for planning.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Design {
    /// Two-sided significance level, in (0, 1). Default 0.05.
    pub alpha: f64,
    /// Target power `1 − β`, in (0, 1). Default 0.8.
    pub power: f64,
    /// Treatment users per control user, > 0. Default 1.
    pub ratio: f64,
    /// Variance assumed by proportions plans. Default [`Formula::Pooled`].
    pub formula: Formula,
}

impl Default for Design {
    fn default() -> Self {
        Design {
            alpha: 0.05,
            power: 0.8,
            ratio: 1.0,
            formula: Formula::Pooled,
        }
    }
}

impl Design {
    /// Checks the settings and returns `K = (z_{1−α/2} + z_{1−β})²`.
    fn k(&self) -> Result<f64> {
        let (z_a, z_b) = self.quantiles()?;
        Ok((z_a + z_b) * (z_a + z_b))
    }

    /// Checks the settings and returns `(z_{1−α/2}, z_{1−β})`.
    fn quantiles(&self) -> Result<(f64, f64)> {
        let alpha = check_alpha(self.alpha)?;
        let power = check_open_unit("power", self.power)?;
        check_positive("ratio", self.ratio)?;
        Ok((
            norm_upper_quantile(alpha / 2.0),
            norm_upper_quantile(1.0 - power),
        ))
    }
}

/// Standard deviations of the difference of two rates per `√n_c` (control users), under the
/// null and under the alternative, for `formula`: `(√(p̄q̄(1 + 1/r)), √(p₁q₁ + p₂q₂/r))` with
/// `p̄ = (p₁ + r·p₂)/(1 + r)` when pooled; both the second when textbook.
fn rate_sds(p1: f64, p2: f64, ratio: f64, formula: Formula) -> (f64, f64) {
    let alt = (p1 * (1.0 - p1) + p2 * (1.0 - p2) / ratio).sqrt();
    match formula {
        Formula::Textbook => (alt, alt),
        Formula::Pooled => {
            let pooled = (p1 + ratio * p2) / (1.0 + ratio);
            ((pooled * (1.0 - pooled) * (1.0 + 1.0 / ratio)).sqrt(), alt)
        }
    }
}

/// Users needed per arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SampleSize {
    pub control: u64,
    pub treatment: u64,
    /// `control + treatment`.
    pub total: u64,
}

/// Rounds a required sample size up, treating values within 1e-9 relative of an integer
/// as that integer (so floating-point noise never adds a user).
fn round_up(what: &'static str, n: f64) -> Result<u64> {
    let n = finite(what, n)?;
    let nearest = n.round();
    let n = if (n - nearest).abs() <= 1e-9 * n {
        nearest
    } else {
        n.ceil()
    };
    if n > 9.0e15 {
        return Err(StatsError::undefined(
            what,
            "more than 9e15 users would be needed (effect too small)",
        ));
    }
    Ok((n as u64).max(1))
}

fn sizes(control: f64, ratio: f64) -> Result<SampleSize> {
    let c = round_up("sample size", control)?;
    let t = round_up("sample size", control * ratio)?;
    Ok(SampleSize {
        control: c,
        treatment: t,
        total: c + t,
    })
}

fn check_rate(name: &'static str, p: f64) -> Result<f64> {
    check_open_unit(name, p)
}

/// Users per arm to detect a change of the conversion rate from `baseline` to `target`
/// (both in (0, 1), different) with a two-sided test.
///
/// Baseline 5%, target 5.5% (+10% relative), α 0.05, power 0.8, ratio 1 gives 31,234 per
/// arm (31,231 with [`Formula::Textbook`]).
pub fn sample_size_proportions(baseline: f64, target: f64, design: &Design) -> Result<SampleSize> {
    let (z_a, z_b) = design.quantiles()?;
    let p1 = check_rate("baseline", baseline)?;
    let p2 = check_rate("target rate", target)?;
    if p1 == p2 {
        return Err(StatsError::OutOfRange {
            name: "minimum detectable effect",
            value: 0.0,
            expected: "non-zero",
        });
    }
    let d = p2 - p1;
    let (sd_null, sd_alt) = rate_sds(p1, p2, design.ratio, design.formula);
    let root_n = (z_a * sd_null + z_b * sd_alt) / d;
    sizes(root_n * root_n, design.ratio)
}

/// The smallest absolute increase `p₂ − p₁` of the conversion rate detectable with
/// `control_users` in control (and `ratio ×` that in treatment): the `Δ` for which
/// [`sample_size_proportions`] (before rounding) gives `control_users`. For
/// [`Formula::Textbook`] that is the positive root of
/// `(n_c + K/r)·Δ² − (K/r)(1 − 2p₁)·Δ − K·p₁q₁·(1 + 1/r) = 0`, `K = (z_a + z_b)²`; for
/// [`Formula::Pooled`] it is found by bisection (the pooled rate moves with `Δ`).
pub fn mde_proportions(baseline: f64, control_users: u64, design: &Design) -> Result<f64> {
    let (z_a, z_b) = design.quantiles()?;
    let p1 = check_rate("baseline", baseline)?;
    let n = positive_count("control users", control_users)?;
    let r = design.ratio;
    let too_few = || {
        StatsError::undefined(
            "minimum detectable effect",
            "too few users to detect any increase of the rate",
        )
    };
    let delta = match design.formula {
        Formula::Textbook => {
            let k = (z_a + z_b) * (z_a + z_b);
            let a = n + k / r;
            let b = (k / r) * (1.0 - 2.0 * p1);
            let c = k * p1 * (1.0 - p1) * (1.0 + 1.0 / r);
            finite(
                "minimum detectable effect",
                (b + (b * b + 4.0 * a * c).sqrt()) / (2.0 * a),
            )?
        }
        Formula::Pooled => {
            // g(Δ) = z_a·sd₀ + z_b·sd₁ − Δ·√n is positive near 0 (the sds are) and falls
            // with Δ; the MDE is its root below 1 − p₁.
            let g = |d: f64| {
                let (sd_null, sd_alt) = rate_sds(p1, p1 + d, r, Formula::Pooled);
                z_a * sd_null + z_b * sd_alt - d * n.sqrt()
            };
            let (mut lo, mut hi) = (0.0, 1.0 - p1);
            if g(hi) > 0.0 {
                return Err(too_few());
            }
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if mid <= lo || mid >= hi {
                    break;
                }
                if g(mid) > 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        }
    };
    if p1 + delta >= 1.0 {
        return Err(too_few());
    }
    Ok(delta)
}

/// Power of the two-sided z-test to detect a change from `baseline` to `target` with
/// `control_users` in control and `ratio ×` that in treatment, with the variances of
/// `formula` (statsmodels' `power_proportions_2indep` for [`Formula::Pooled`]).
pub fn power_proportions(
    baseline: f64,
    target: f64,
    control_users: u64,
    alpha: f64,
    ratio: f64,
    formula: Formula,
) -> Result<f64> {
    let alpha = check_alpha(alpha)?;
    let ratio = check_positive("ratio", ratio)?;
    let p1 = check_rate("baseline", baseline)?;
    let p2 = check_rate("target rate", target)?;
    let n = positive_count("control users", control_users)?;
    let (sd_null, sd_alt) = rate_sds(p1, p2, ratio, formula);
    let shift = (p2 - p1).abs() * n.sqrt();
    let z = norm_upper_quantile(alpha / 2.0);
    let crit = z * sd_null;
    finite(
        "power",
        (norm_cdf((shift - crit) / sd_alt) + norm_cdf((-shift - crit) / sd_alt)).min(1.0),
    )
}

/// Users per arm to detect a change `delta` of the mean of a metric with standard
/// deviation `sd` (per user) with a two-sided test.
pub fn sample_size_means(sd: f64, delta: f64, design: &Design) -> Result<SampleSize> {
    let k = design.k()?;
    let sd = check_positive("sd", sd)?;
    let delta = nonzero_effect(delta)?;
    let n_c = k * sd * sd * (1.0 + 1.0 / design.ratio) / (delta * delta);
    sizes(n_c, design.ratio)
}

/// The smallest change of the mean detectable with `control_n` users in control:
/// `(z_{1−α/2} + z_{1−β})·σ·√((1 + 1/r)/n_c)`.
pub fn mde_means(sd: f64, control_n: u64, design: &Design) -> Result<f64> {
    let k = design.k()?;
    let sd = check_positive("sd", sd)?;
    let n = positive_count("control users", control_n)?;
    finite(
        "minimum detectable effect",
        (k * sd * sd * (1.0 + 1.0 / design.ratio) / n).sqrt(),
    )
}

/// Power of the two-sided z-test to detect a change `delta` of the mean of a metric with
/// standard deviation `sd`, with `control_n` users in control and `ratio ×` that in
/// treatment.
pub fn power_means(sd: f64, delta: f64, control_n: u64, alpha: f64, ratio: f64) -> Result<f64> {
    let alpha = check_alpha(alpha)?;
    let ratio = check_positive("ratio", ratio)?;
    let sd = check_positive("sd", sd)?;
    if !delta.is_finite() {
        return Err(StatsError::OutOfRange {
            name: "effect",
            value: delta,
            expected: "finite",
        });
    }
    let n = positive_count("control users", control_n)?;
    let se = sd * ((1.0 + 1.0 / ratio) / n).sqrt();
    power_from((delta / se).abs(), alpha)
}

/// Days to enrol `total_users` when `daily_users` eligible users arrive per day (all arms
/// together), rounded up.
pub fn runtime_days(total_users: u64, daily_users: u64) -> Result<u64> {
    if daily_users == 0 {
        return Err(StatsError::OutOfRange {
            name: "daily users",
            value: 0.0,
            expected: "at least 1",
        });
    }
    Ok(total_users.div_ceil(daily_users))
}

fn positive_count(name: &'static str, n: u64) -> Result<f64> {
    if n == 0 {
        return Err(StatsError::OutOfRange {
            name,
            value: 0.0,
            expected: "at least 1",
        });
    }
    Ok(n as f64)
}

fn nonzero_effect(delta: f64) -> Result<f64> {
    if delta.is_finite() && delta != 0.0 {
        Ok(delta)
    } else {
        Err(StatsError::OutOfRange {
            name: "minimum detectable effect",
            value: delta,
            expected: "non-zero and finite",
        })
    }
}

/// Power of a two-sided z-test whose statistic has mean `shift` (≥ 0).
fn power_from(shift: f64, alpha: f64) -> Result<f64> {
    let z = norm_upper_quantile(alpha / 2.0);
    finite(
        "power",
        (norm_cdf(shift - z) + norm_cdf(-shift - z)).min(1.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_examples() {
        let n = sample_size_proportions(0.05, 0.055, &Design::default()).unwrap();
        assert_eq!(
            n,
            SampleSize {
                control: 31_234,
                treatment: 31_234,
                total: 62_468
            }
        );
        let textbook = Design {
            formula: Formula::Textbook,
            ..Design::default()
        };
        let n = sample_size_proportions(0.05, 0.055, &textbook).unwrap();
        assert_eq!((n.control, n.total), (31_231, 62_462));
        // 2% → 3% with four treatment users per control: the textbook plan under-powers.
        let one_to_four = Design {
            ratio: 4.0,
            ..Design::default()
        };
        let n = sample_size_proportions(0.02, 0.03, &one_to_four).unwrap();
        assert_eq!(n.control, 2_495);
        let n = sample_size_proportions(
            0.02,
            0.03,
            &Design {
                formula: Formula::Textbook,
                ..one_to_four
            },
        )
        .unwrap();
        assert_eq!(n.control, 2_110);
        let real = power_proportions(0.02, 0.03, 2_110, 0.05, 4.0, Formula::Pooled).unwrap();
        assert!((real - 0.7247).abs() < 1e-4, "{real}");
    }

    #[test]
    fn mde_inverts_sample_size() {
        for (ratio, formula) in [0.5, 1.0, 3.0]
            .into_iter()
            .flat_map(|r| [(r, Formula::Pooled), (r, Formula::Textbook)])
        {
            let design = Design {
                ratio,
                formula,
                ..Design::default()
            };
            let d = mde_proportions(0.1, 20_000, &design).unwrap();
            let n = sample_size_proportions(0.1, 0.1 + d, &design).unwrap();
            assert!((n.control as i64 - 20_000).abs() <= 1, "{ratio}: {n:?}");
            let d = mde_means(3.0, 5_000, &design).unwrap();
            let n = sample_size_means(3.0, d, &design).unwrap();
            assert!((n.control as i64 - 5_000).abs() <= 1, "{ratio}: {n:?}");
        }
    }

    #[test]
    fn power_at_planned_size_reaches_target() {
        for formula in [Formula::Pooled, Formula::Textbook] {
            for ratio in [0.25, 1.0, 4.0] {
                let design = Design {
                    ratio,
                    formula,
                    ..Design::default()
                };
                let n = sample_size_proportions(0.05, 0.055, &design).unwrap();
                let p = power_proportions(0.05, 0.055, n.control, 0.05, ratio, formula).unwrap();
                assert!((0.8..0.801).contains(&p), "{formula:?} {ratio}: {p}");
            }
            let p = power_proportions(0.05, 0.05, 100, 0.05, 1.0, formula).unwrap();
            assert!((p - 0.05).abs() < 1e-9);
        }
    }

    #[test]
    fn unequal_allocation() {
        let design = Design {
            ratio: 2.0,
            ..Design::default()
        };
        let n = sample_size_means(1.0, 0.1, &design).unwrap();
        // n_c = 7.848879·1.5/0.01 = 1177.33 → 1178, n_t = 2354.66 → 2355
        assert_eq!((n.control, n.treatment), (1178, 2355));
        assert_eq!(n.total, 3533);
    }

    #[test]
    fn runtime() {
        assert_eq!(runtime_days(62_462, 10_000).unwrap(), 7);
        assert_eq!(runtime_days(60_000, 10_000).unwrap(), 6);
        assert!(runtime_days(1, 0).is_err());
    }

    #[test]
    fn bad_input() {
        let d = Design::default();
        assert!(sample_size_proportions(0.0, 0.1, &d).is_err());
        assert!(sample_size_proportions(0.1, 0.1, &d).is_err());
        assert!(sample_size_proportions(0.1, 1.1, &d).is_err());
        let e = sample_size_proportions(0.1, 0.2, &Design { power: 1.0, ..d }).unwrap_err();
        assert_eq!(
            e.to_string(),
            "power must be between 0 and 1 (exclusive), got 1"
        );
        assert!(sample_size_means(0.0, 1.0, &d).is_err());
        assert!(mde_proportions(0.5, 1, &d).is_err());
        assert!(sample_size_means(1.0, 1e-300, &d).is_err());
    }
}
