//! Guardrails: one-sided non-inferiority tests ("treatment is not worse than control by
//! more than a margin `m`").
//!
//! For a metric where higher is better the hypotheses are `H₀: θ ≤ −m` against
//! `H₁: θ > −m` with `θ = treatment − control`; the statistic is `(θ̂ + m)/se` and the
//! p-value its upper tail. For lower-is-better metrics (latency, errors) the signs flip:
//! `H₁: θ < m`. The margin is absolute (in the metric's units) and may be 0 (then this is
//! a one-sided superiority test). Proportions use the unpooled Wald standard error (the
//! null hypothesis does not say the rates are equal), means use Welch's t, CUPED-adjusted
//! means Welch's t on the adjusted difference and variances ([`crate::cuped`]).

use serde::Serialize;

use crate::cuped::{compare_cuped, CupedSummary, ValueKind};
use crate::dist::{norm_sf, norm_upper_quantile, t_sf, t_upper_quantile};
use crate::error::{check_alpha, check_non_negative, finite, Arm, Result, StatsError};
use crate::means::welch_t_test;
use crate::summary::{MeanSummary, ProportionSummary};

/// Which direction of change is an improvement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Conversion, revenue, …: the guardrail fails when treatment is lower.
    #[default]
    HigherIsBetter,
    /// Latency, error rate, …: the guardrail fails when treatment is higher.
    LowerIsBetter,
}

/// Result of a non-inferiority test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NonInferiorityResult {
    /// `treatment − control`.
    pub abs_lift: f64,
    pub margin: f64,
    pub direction: Direction,
    /// z (proportions) or t (means) statistic, positive when treatment looks non-inferior.
    pub statistic: f64,
    /// Welch degrees of freedom for means; `None` for proportions.
    pub df: Option<f64>,
    /// One-sided p-value.
    pub p_value: f64,
    /// One-sided `1 − α` confidence bound of `abs_lift` on the "worse" side: the lower
    /// bound when higher is better, the upper bound when lower is better. Non-inferiority
    /// holds when it is beyond `−margin` (resp. below `margin`).
    pub bound: f64,
    /// `p_value < alpha`.
    pub non_inferior: bool,
    pub alpha: f64,
}

/// Non-inferiority of the treatment conversion rate with absolute `margin`.
pub fn non_inferiority_proportions(
    control: &ProportionSummary,
    treatment: &ProportionSummary,
    margin: f64,
    direction: Direction,
    alpha: f64,
) -> Result<NonInferiorityResult> {
    let alpha = check_alpha(alpha)?;
    let margin = check_non_negative("margin", margin)?;
    let (n_c, p_c) = control.checked(Arm::Control)?;
    let (n_t, p_t) = treatment.checked(Arm::Treatment)?;
    let se = (p_t * (1.0 - p_t) / n_t + p_c * (1.0 - p_c) / n_c).sqrt();
    if se == 0.0 {
        return Err(StatsError::undefined(
            "non-inferiority test",
            "neither arm varies (all rates are 0 or 1)",
        ));
    }
    let diff = p_t - p_c;
    let statistic = finite("z statistic", (oriented(diff, direction) + margin) / se)?;
    let p_value = norm_sf(statistic);
    let q = norm_upper_quantile(alpha);
    Ok(NonInferiorityResult {
        abs_lift: diff,
        margin,
        direction,
        statistic,
        df: None,
        p_value,
        bound: finite("confidence bound", worse_bound(diff, q * se, direction))?,
        non_inferior: p_value < alpha,
        alpha,
    })
}

/// Non-inferiority of the treatment mean with absolute `margin` (Welch's t).
pub fn non_inferiority_means(
    control: &MeanSummary,
    treatment: &MeanSummary,
    margin: f64,
    direction: Direction,
    alpha: f64,
) -> Result<NonInferiorityResult> {
    let alpha = check_alpha(alpha)?;
    let margin = check_non_negative("margin", margin)?;
    let welch = welch_t_test(control, treatment)?;
    if welch.se == 0.0 {
        return Err(StatsError::undefined(
            "non-inferiority test",
            "both arms have zero standard deviation",
        ));
    }
    let diff = treatment.mean - control.mean;
    let statistic = finite(
        "t statistic",
        (oriented(diff, direction) + margin) / welch.se,
    )?;
    let p_value = finite("p-value", t_sf(statistic, welch.df))?;
    let q = finite("t quantile", t_upper_quantile(alpha, welch.df))?;
    Ok(NonInferiorityResult {
        abs_lift: diff,
        margin,
        direction,
        statistic,
        df: Some(welch.df),
        p_value,
        bound: finite(
            "confidence bound",
            worse_bound(diff, q * welch.se, direction),
        )?,
        non_inferior: p_value < alpha,
        alpha,
    })
}

/// Non-inferiority of the CUPED-adjusted treatment mean with absolute `margin` (Welch's t on
/// the adjusted difference, as [`crate::compare_cuped`]).
pub fn non_inferiority_cuped(
    control: &CupedSummary,
    treatment: &CupedSummary,
    kind: ValueKind,
    margin: f64,
    direction: Direction,
    alpha: f64,
) -> Result<NonInferiorityResult> {
    let alpha = check_alpha(alpha)?;
    let margin = check_non_negative("margin", margin)?;
    let r = compare_cuped(control, treatment, kind, alpha)?;
    if r.se == 0.0 {
        return Err(StatsError::undefined(
            "non-inferiority test",
            "neither adjusted arm varies",
        ));
    }
    let diff = r.abs_lift;
    let statistic = finite("t statistic", (oriented(diff, direction) + margin) / r.se)?;
    let p_value = finite("p-value", t_sf(statistic, r.df))?;
    let q = finite("t quantile", t_upper_quantile(alpha, r.df))?;
    Ok(NonInferiorityResult {
        abs_lift: diff,
        margin,
        direction,
        statistic,
        df: Some(r.df),
        p_value,
        bound: finite("confidence bound", worse_bound(diff, q * r.se, direction))?,
        non_inferior: p_value < alpha,
        alpha,
    })
}

/// The difference with the sign that makes "better" positive.
fn oriented(diff: f64, direction: Direction) -> f64 {
    match direction {
        Direction::HigherIsBetter => diff,
        Direction::LowerIsBetter => -diff,
    }
}

fn worse_bound(diff: f64, half: f64, direction: Direction) -> f64 {
    match direction {
        Direction::HigherIsBetter => diff - half,
        Direction::LowerIsBetter => diff + half,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_rates_are_non_inferior_with_a_margin_and_enough_data() {
        let c = ProportionSummary::new(50_000, 5_000);
        let r = non_inferiority_proportions(&c, &c, 0.01, Direction::HigherIsBetter, 0.05).unwrap();
        assert!(r.non_inferior, "{r:?}");
        assert!(r.bound > -0.01);
        let r = non_inferiority_proportions(&c, &c, 0.0, Direction::HigherIsBetter, 0.05).unwrap();
        assert!((r.p_value - 0.5).abs() < 1e-12);
    }

    #[test]
    fn direction_flips_the_test() {
        let c = MeanSummary::new(1000, 200.0, 50.0);
        let t = MeanSummary::new(1000, 190.0, 50.0); // latency went down: better
        let lower = non_inferiority_means(&c, &t, 5.0, Direction::LowerIsBetter, 0.05).unwrap();
        assert!(lower.non_inferior);
        assert!(lower.bound < 5.0);
        let higher = non_inferiority_means(&c, &t, 5.0, Direction::HigherIsBetter, 0.05).unwrap();
        assert!(!higher.non_inferior);
        assert!(higher.bound < -5.0);
    }

    #[test]
    fn cuped_guardrail_uses_the_adjusted_difference() {
        // Without history CUPED is Welch's test: the same verdict as the plain means test.
        let arm = |ys: &[f64]| CupedSummary {
            n: ys.len() as u64,
            sum_y: ys.iter().sum(),
            sum_y2: ys.iter().map(|y| y * y).sum(),
            ..CupedSummary::default()
        };
        let (c, t) = (arm(&[1.0, 2.0, 3.0, 4.0]), arm(&[1.5, 2.5, 3.0, 4.5]));
        let r = non_inferiority_cuped(
            &c,
            &t,
            ValueKind::Continuous,
            1.0,
            Direction::HigherIsBetter,
            0.05,
        )
        .unwrap();
        let m = non_inferiority_means(
            &MeanSummary::from_sums(4, 10.0, 30.0),
            &MeanSummary::from_sums(4, 11.5, 37.75),
            1.0,
            Direction::HigherIsBetter,
            0.05,
        )
        .unwrap();
        assert!((r.p_value - m.p_value).abs() < 1e-12 && (r.bound - m.bound).abs() < 1e-12);
    }

    #[test]
    fn bad_margin() {
        let c = ProportionSummary::new(100, 10);
        let e =
            non_inferiority_proportions(&c, &c, -0.1, Direction::HigherIsBetter, 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "margin must be a non-negative finite number, got -0.1"
        );
        let z = ProportionSummary::new(100, 0);
        assert!(non_inferiority_proportions(&z, &z, 0.1, Direction::HigherIsBetter, 0.05).is_err());
    }
}
