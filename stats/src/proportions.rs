//! Binary (conversion) metrics: the two-proportion z-test, the Wald interval of the
//! absolute difference, the delta-method interval of the relative lift, and
//! [`compare_proportions`], which puts them together and switches to Fisher's exact test
//! (with Newcombe's interval) when counts are small.

use serde::Serialize;

use crate::dist::{norm_two_sided_p, norm_upper_quantile};
use crate::error::{check_alpha, finite, Arm, Result};
use crate::fisher::fisher_exact;
use crate::intervals::newcombe_interval;
use crate::summary::{Interval, ProportionSummary};

/// [`compare_proportions`] uses Fisher's exact test when any expected cell count of the
/// 2×2 table is below this.
pub const FISHER_MIN_EXPECTED: f64 = 5.0;

/// A z statistic and its two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ZTest {
    pub z: f64,
    pub p_value: f64,
}

/// Which test produced the p-value of a [`ProportionsResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProportionMethod {
    /// Pooled two-proportion z-test, Wald interval.
    ZTest,
    /// Fisher's exact test, Newcombe interval (some expected cell count below 5).
    FisherExact,
}

impl ProportionMethod {
    /// The name used in reports and JSON (`z_test`, `fisher_exact`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ProportionMethod::ZTest => "z_test",
            ProportionMethod::FisherExact => "fisher_exact",
        }
    }
}

/// Everything [`compare_proportions`] reports for one treatment against control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ProportionsResult {
    pub control_rate: f64,
    pub treatment_rate: f64,
    /// `treatment_rate − control_rate`.
    pub abs_lift: f64,
    /// `treatment_rate / control_rate − 1`; `None` when the control rate is 0.
    pub rel_lift: Option<f64>,
    /// Pooled z statistic (reported for both methods; 0 when neither arm varies).
    pub z: f64,
    /// Two-sided p-value of `method`.
    pub p_value: f64,
    /// Interval of `abs_lift`: Wald for the z-test, Newcombe for Fisher's test.
    pub ci_abs: Interval,
    /// Delta-method interval of `rel_lift`; `None` when the control rate is 0.
    pub ci_rel: Option<Interval>,
    /// `p_value < alpha`.
    pub significant: bool,
    pub method: ProportionMethod,
    /// Smallest expected cell count of the 2×2 table (decides `method`).
    pub min_expected: f64,
    pub alpha: f64,
}

/// Pooled two-proportion z-test of `treatment − control`:
///
/// `z = (p_t − p_c) / √(p̄(1−p̄)(1/n_t + 1/n_c))`, `p̄ = (x_t + x_c)/(n_t + n_c)`, with a
/// two-sided normal p-value. When neither arm varies (p̄ is 0 or 1) the difference is 0 and
/// the result is `z = 0`, `p = 1`.
pub fn z_test(control: &ProportionSummary, treatment: &ProportionSummary) -> Result<ZTest> {
    let (n_c, p_c) = control.checked(Arm::Control)?;
    let (n_t, p_t) = treatment.checked(Arm::Treatment)?;
    let pooled = (control.conversions + treatment.conversions) as f64 / (n_c + n_t);
    let se = (pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t)).sqrt();
    if se == 0.0 {
        return Ok(ZTest {
            z: 0.0,
            p_value: 1.0,
        });
    }
    let z = finite("z statistic", (p_t - p_c) / se)?;
    Ok(ZTest {
        z,
        p_value: norm_two_sided_p(z),
    })
}

/// Unpooled Wald interval of `p_t − p_c`: `d ± z_{1−α/2}·√(p_t(1−p_t)/n_t + p_c(1−p_c)/n_c)`.
pub fn wald_interval(
    control: &ProportionSummary,
    treatment: &ProportionSummary,
    alpha: f64,
) -> Result<Interval> {
    let alpha = check_alpha(alpha)?;
    let (n_c, p_c) = control.checked(Arm::Control)?;
    let (n_t, p_t) = treatment.checked(Arm::Treatment)?;
    let se = (p_t * (1.0 - p_t) / n_t + p_c * (1.0 - p_c) / n_c).sqrt();
    Interval::around(p_t - p_c, norm_upper_quantile(alpha / 2.0) * se).checked("wald interval")
}

/// Delta-method interval of the relative lift `r = p_t/p_c − 1`:
/// `r ± z_{1−α/2}·√(V_t/p_c² + p_t²·V_c/p_c⁴)` with `V = p(1−p)/n` per arm.
/// `None` when the control rate is 0 (the lift is undefined).
pub fn relative_interval(
    control: &ProportionSummary,
    treatment: &ProportionSummary,
    alpha: f64,
) -> Result<Option<Interval>> {
    let alpha = check_alpha(alpha)?;
    let (n_c, p_c) = control.checked(Arm::Control)?;
    let (n_t, p_t) = treatment.checked(Arm::Treatment)?;
    if p_c == 0.0 {
        return Ok(None);
    }
    let v_c = p_c * (1.0 - p_c) / n_c;
    let v_t = p_t * (1.0 - p_t) / n_t;
    let se = relative_se(p_c, p_t, v_c, v_t);
    let z = norm_upper_quantile(alpha / 2.0);
    Interval::around(p_t / p_c - 1.0, z * se)
        .checked("relative lift interval")
        .map(Some)
}

/// Delta-method standard error of `b/a − 1` for independent estimates with variances
/// `v_a`, `v_b`: `√(v_b/a² + b²·v_a/a⁴)`. Shared by every relative-lift interval.
pub(crate) fn relative_se(a: f64, b: f64, v_a: f64, v_b: f64) -> f64 {
    let a2 = a * a;
    (v_b / a2 + b * b * v_a / (a2 * a2)).sqrt()
}

/// The smallest expected cell count of the 2×2 table (arm × converted) under
/// independence: `min(row total · column total) / N`.
pub fn min_expected_count(
    control: &ProportionSummary,
    treatment: &ProportionSummary,
) -> Result<f64> {
    control.checked(Arm::Control)?;
    treatment.checked(Arm::Treatment)?;
    let n = (control.users + treatment.users) as f64;
    let converted = (control.conversions + treatment.conversions) as f64;
    let smallest_arm = control.users.min(treatment.users) as f64;
    let smallest_outcome = converted.min(n - converted);
    Ok(smallest_arm * smallest_outcome / n)
}

/// Compares the conversion rate of `treatment` with `control` at level `alpha`.
///
/// Uses the pooled z-test with the Wald interval, unless an expected cell count is below
/// [`FISHER_MIN_EXPECTED`]: then the p-value is Fisher's exact test and the absolute
/// interval is Newcombe's (the Wald interval collapses at small counts), and `method`
/// says so. The relative interval is the delta method in both cases.
pub fn compare_proportions(
    control: &ProportionSummary,
    treatment: &ProportionSummary,
    alpha: f64,
) -> Result<ProportionsResult> {
    let alpha = check_alpha(alpha)?;
    let (_, p_c) = control.checked(Arm::Control)?;
    let (_, p_t) = treatment.checked(Arm::Treatment)?;
    let test = z_test(control, treatment)?;
    let min_expected = min_expected_count(control, treatment)?;
    let (method, p_value, ci_abs) = if min_expected < FISHER_MIN_EXPECTED {
        (
            ProportionMethod::FisherExact,
            fisher_exact(control, treatment)?,
            newcombe_interval(control, treatment, alpha)?,
        )
    } else {
        (
            ProportionMethod::ZTest,
            test.p_value,
            wald_interval(control, treatment, alpha)?,
        )
    };
    let rel_lift = (p_c > 0.0).then(|| p_t / p_c - 1.0);
    Ok(ProportionsResult {
        control_rate: p_c,
        treatment_rate: p_t,
        abs_lift: p_t - p_c,
        rel_lift,
        z: test.z,
        p_value,
        ci_abs,
        ci_rel: relative_interval(control, treatment, alpha)?,
        significant: p_value < alpha,
        method,
        min_expected,
        alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(users: u64, conversions: u64) -> ProportionSummary {
        ProportionSummary::new(users, conversions)
    }

    #[test]
    fn textbook_z_test() {
        // 10,000 users per arm, 10% vs 11%: pooled p = 0.105,
        // z = 0.01 / sqrt(0.105·0.895·2/10000) = 2.30483...
        let t = z_test(&s(10_000, 1_000), &s(10_000, 1_100)).unwrap();
        assert!((t.z - 0.01 / (0.105f64 * 0.895 * 2e-4).sqrt()).abs() < 1e-12);
        assert!(t.p_value > 0.02 && t.p_value < 0.025);
    }

    #[test]
    fn no_variation_gives_z_zero() {
        assert_eq!(
            z_test(&s(100, 0), &s(50, 0)).unwrap(),
            ZTest {
                z: 0.0,
                p_value: 1.0
            }
        );
        assert_eq!(z_test(&s(100, 100), &s(50, 50)).unwrap().p_value, 1.0);
    }

    #[test]
    fn small_counts_switch_to_fisher() {
        let r = compare_proportions(&s(40, 1), &s(40, 6), 0.05).unwrap();
        assert_eq!(r.method, ProportionMethod::FisherExact);
        assert!(r.min_expected < 5.0);
        assert!(r.ci_abs.contains(r.abs_lift));
        let r = compare_proportions(&s(10_000, 1_000), &s(10_000, 1_100), 0.05).unwrap();
        assert_eq!(r.method, ProportionMethod::ZTest);
        assert!(r.significant);
    }

    #[test]
    fn zero_control_rate_has_no_relative_lift() {
        let r = compare_proportions(&s(1000, 0), &s(1000, 3), 0.05).unwrap();
        assert_eq!(r.rel_lift, None);
        assert_eq!(r.ci_rel, None);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = compare_proportions(&s(10, 12), &s(10, 1), 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "conversions (12) exceed users (10) in control"
        );
        let e = compare_proportions(&s(10, 1), &s(0, 0), 0.05).unwrap_err();
        assert_eq!(e.to_string(), "zero users in treatment");
        let e = compare_proportions(&s(10, 1), &s(10, 1), 0.0).unwrap_err();
        assert!(e.to_string().starts_with("alpha must be"));
    }
}
