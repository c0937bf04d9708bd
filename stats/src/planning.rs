//! Planning: sample size, minimum detectable effect (MDE), power and runtime, for two
//! proportions and for continuous metrics, with unequal allocation.
//!
//! `ratio` is treatment users per control user (1 = equal split); sizes are returned per
//! arm. With `K = (z_{1−α/2} + z_{1−β})²` (exact normal quantiles), two-sided tests:
//!
//! - proportions: `n_c = K·(p₁q₁ + p₂q₂/r)/(p₂ − p₁)²`, `n_t = r·n_c`, each rounded up
//!   (for r = 1 this is the textbook `K·(p₁q₁ + p₂q₂)/(p₂ − p₁)²`);
//! - means: `n_c = K·σ²·(1 + 1/r)/Δ²`, `n_t = r·n_c`.
//!
//! The MDE inverts the same formulas (for proportions it is the root of a quadratic in
//! Δ, the upward change), and power is the exact power of the two-sided z-test,
//! `Φ(|Δ|/se − z_{1−α/2}) + Φ(−|Δ|/se − z_{1−α/2})`, so the power at the planned size is
//! at least the target.

use serde::Serialize;

use crate::dist::{norm_cdf, norm_upper_quantile};
use crate::error::{check_alpha, check_open_unit, check_positive, finite, Result, StatsError};

/// Test settings for planning.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Design {
    /// Two-sided significance level, in (0, 1). Default 0.05.
    pub alpha: f64,
    /// Target power `1 − β`, in (0, 1). Default 0.8.
    pub power: f64,
    /// Treatment users per control user, > 0. Default 1.
    pub ratio: f64,
}

impl Default for Design {
    fn default() -> Self {
        Design {
            alpha: 0.05,
            power: 0.8,
            ratio: 1.0,
        }
    }
}

impl Design {
    /// Checks the settings and returns `K = (z_{1−α/2} + z_{1−β})²`.
    fn k(&self) -> Result<f64> {
        let alpha = check_alpha(self.alpha)?;
        let power = check_open_unit("power", self.power)?;
        check_positive("ratio", self.ratio)?;
        let z = norm_upper_quantile(alpha / 2.0) + norm_upper_quantile(1.0 - power);
        Ok(z * z)
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
/// Baseline 5%, target 5.5% (+10% relative), α 0.05, power 0.8, ratio 1 gives 31,231 per
/// arm.
pub fn sample_size_proportions(baseline: f64, target: f64, design: &Design) -> Result<SampleSize> {
    let k = design.k()?;
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
    let n_c = k * (p1 * (1.0 - p1) + p2 * (1.0 - p2) / design.ratio) / (d * d);
    sizes(n_c, design.ratio)
}

/// The smallest absolute increase `p₂ − p₁` of the conversion rate detectable with
/// `control_users` in control (and `ratio ×` that in treatment): the positive root of
/// `(n_c + K/r)·Δ² − (K/r)(1 − 2p₁)·Δ − K·p₁q₁·(1 + 1/r) = 0`.
pub fn mde_proportions(baseline: f64, control_users: u64, design: &Design) -> Result<f64> {
    let k = design.k()?;
    let p1 = check_rate("baseline", baseline)?;
    if control_users == 0 {
        return Err(StatsError::OutOfRange {
            name: "control users",
            value: 0.0,
            expected: "at least 1",
        });
    }
    let r = design.ratio;
    let n = control_users as f64;
    let q1 = 1.0 - p1;
    let a = n + k / r;
    let b = (k / r) * (1.0 - 2.0 * p1);
    let c = k * p1 * q1 * (1.0 + 1.0 / r);
    let delta = finite(
        "minimum detectable effect",
        (b + (b * b + 4.0 * a * c).sqrt()) / (2.0 * a),
    )?;
    if p1 + delta >= 1.0 {
        return Err(StatsError::undefined(
            "minimum detectable effect",
            "too few users to detect any increase of the rate",
        ));
    }
    Ok(delta)
}

/// Power of the two-sided z-test (unpooled variance) to detect a change from `baseline`
/// to `target` with `control_users` in control and `ratio ×` that in treatment.
pub fn power_proportions(
    baseline: f64,
    target: f64,
    control_users: u64,
    alpha: f64,
    ratio: f64,
) -> Result<f64> {
    let alpha = check_alpha(alpha)?;
    let ratio = check_positive("ratio", ratio)?;
    let p1 = check_rate("baseline", baseline)?;
    let p2 = check_rate("target rate", target)?;
    let n = positive_count("control users", control_users)?;
    let se = (p1 * (1.0 - p1) / n + p2 * (1.0 - p2) / (ratio * n)).sqrt();
    power_from(((p2 - p1) / se).abs(), alpha)
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
    fn issue_example_is_31231() {
        let n = sample_size_proportions(0.05, 0.055, &Design::default()).unwrap();
        assert_eq!(
            n,
            SampleSize {
                control: 31_231,
                treatment: 31_231,
                total: 62_462
            }
        );
    }

    #[test]
    fn mde_inverts_sample_size() {
        for ratio in [0.5, 1.0, 3.0] {
            let design = Design {
                ratio,
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
        let design = Design::default();
        let n = sample_size_proportions(0.05, 0.055, &design).unwrap();
        let p = power_proportions(0.05, 0.055, n.control, 0.05, 1.0).unwrap();
        assert!((0.8..0.801).contains(&p), "{p}");
        assert!((power_proportions(0.05, 0.05, 100, 0.05, 1.0).unwrap() - 0.05).abs() < 1e-9);
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
