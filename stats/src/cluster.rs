//! Cluster-randomized experiments: every user of a cluster (a company, team, city) gets the
//! cluster's variant, so users of one cluster are not independent and a user-level test
//! underestimates the variance — by the design effect `1 + (m − 1)·ρ` for clusters of `m`
//! users with intra-cluster correlation `ρ` (about 6 for `m = 50`, `ρ = 0.1`).
//!
//! The per-user metric of an arm is estimated as a ratio of cluster totals,
//!
//! `R = Σ_g y_g / Σ_g n_g`,
//!
//! where `y_g` is the cluster's numerator total (conversions, revenue, or the numerator of a
//! ratio metric) and `n_g` its denominator total (users, or the ratio metric's denominator).
//! Its variance is the cluster-robust sandwich (the delta method over clusters, Liang &
//! Zeger 1986), with the small-sample factor of Stata and statsmodels (CR1):
//!
//! `Var(R) = c · Σ_g (y_g − R·n_g)² / (Σ_g n_g)²`, `c = G/(G − 1) · (N − 1)/(N − 2)`,
//!
//! for `G` clusters and `N` observations (clusters here, (unit, window) cells for
//! switchback experiments). The difference of arms uses a t reference distribution with
//! `G − 1` degrees of freedom (Cameron & Miller, "A practitioner's guide to
//! cluster-robust inference", 2015), which keeps intervals honest with few clusters. The
//! result equals the treatment coefficient of a weighted least squares fit of `y_g/n_g`
//! on an intercept and a treatment dummy with weights `n_g` and standard errors clustered
//! by cluster (`statsmodels` `WLS(...).fit(cov_type="cluster", use_t=True)`), which
//! `tests/fixtures/network.json` checks.
//!
//! Inputs are the sums over clusters ([`ClusterSummary`]), as the aggregator reads them from
//! one `GROUP BY cluster` subquery. The interval therefore reflects the number of clusters,
//! not the number of users.

use serde::Serialize;

use crate::dist::{t_two_sided_p, t_upper_quantile};
use crate::error::{check_alpha, finite, Arm, Result, StatsError};
use crate::summary::{checked_ratio_sums, Interval, RatioSums};

/// Sums over the clusters of one arm of a cluster-randomized experiment.
///
/// For a conversion metric `num` is the cluster's converted users and `den` its users; for
/// a mean metric `num` is the cluster's total value and `den` its users; for a ratio metric
/// both are the cluster totals of the metric's numerator and denominator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ClusterSummary {
    /// Clusters in the arm (with at least one user).
    pub clusters: u64,
    /// `Σ_g num_g`.
    pub sum_num: f64,
    /// `Σ_g den_g` (users, for conversion and mean metrics).
    pub sum_den: f64,
    /// `Σ_g num_g²`.
    pub sum_num_sq: f64,
    /// `Σ_g den_g²`.
    pub sum_den_sq: f64,
    /// `Σ_g num_g·den_g`.
    pub sum_num_den: f64,
}

impl ClusterSummary {
    /// Adds one cluster's totals.
    pub fn add(&mut self, num: f64, den: f64) {
        self.clusters += 1;
        self.sum_num += num;
        self.sum_den += den;
        self.sum_num_sq += num * num;
        self.sum_den_sq += den * den;
        self.sum_num_den += num * den;
    }

    /// Checks the sums and returns `(R, Σ_g (num_g − R·den_g)²)`.
    fn checked(&self, arm: Arm) -> Result<(f64, f64)> {
        let RatioSums {
            num: sum_num,
            den: sum_den,
            num_sq: sum_num_sq,
            den_sq: sum_den_sq,
            num_den: sum_num_den,
        } = checked_ratio_sums(
            arm,
            self.clusters,
            [
                self.sum_num,
                self.sum_den,
                self.sum_num_sq,
                self.sum_den_sq,
                self.sum_num_den,
            ],
        )?;
        let k = self.clusters as f64;
        let ratio = sum_num / sum_den;
        // Σ(y − R·n)² = Σ(y − ȳ)² − 2R·Σ(y − ȳ)(n − n̄) + R²·Σ(n − n̄)², because ȳ = R·n̄.
        let ss_num = sum_num_sq - sum_num * sum_num / k;
        let ss_den = sum_den_sq - sum_den * sum_den / k;
        let cross = sum_num_den - sum_num * sum_den / k;
        let residual = (ss_num - 2.0 * ratio * cross + ratio * ratio * ss_den).max(0.0);
        Ok((ratio, finite("cluster residual sum of squares", residual)?))
    }
}

/// A comparison of `treatment − control` with cluster-robust standard errors: the result of
/// [`compare_clustered`] and [`crate::compare_switchback`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClusteredResult {
    /// `Σ num / Σ den` in control.
    pub control_ratio: f64,
    /// `Σ num / Σ den` in treatment.
    pub treatment_ratio: f64,
    /// `treatment_ratio − control_ratio`.
    pub abs_lift: f64,
    /// `treatment_ratio / control_ratio − 1`; `None` when the control ratio is 0.
    pub rel_lift: Option<f64>,
    /// Cluster-robust standard error of `abs_lift`.
    pub se: f64,
    /// `abs_lift / se`.
    pub t: f64,
    /// Degrees of freedom of the t reference distribution (clusters − 1).
    pub df: u64,
    pub p_value: f64,
    pub ci_abs: Interval,
    /// Delta-method interval of `rel_lift` (with the covariance of the arms).
    pub ci_rel: Option<Interval>,
    /// `p_value < alpha`.
    pub significant: bool,
    pub alpha: f64,
    /// Clusters (or switchback units) in the comparison.
    pub clusters: u64,
    /// Observations: clusters, or (unit, window) cells for a switchback.
    pub observations: u64,
}

/// Compares a metric of a cluster-randomized experiment: ratios of cluster totals per arm
/// with cluster-robust (CR1) standard errors and a t test with `G − 1` degrees of freedom,
/// `G` the clusters of both arms. Each arm needs at least two clusters and a non-zero
/// denominator sum.
pub fn compare_clustered(
    control: &ClusterSummary,
    treatment: &ClusterSummary,
    alpha: f64,
) -> Result<ClusteredResult> {
    let (r_c, ss_c) = control.checked(Arm::Control)?;
    let (r_t, ss_t) = treatment.checked(Arm::Treatment)?;
    let clusters = control.clusters + treatment.clusters;
    robust(
        RobustParts {
            control_ratio: r_c,
            treatment_ratio: r_t,
            var_control: ss_c / (control.sum_den * control.sum_den),
            var_treatment: ss_t / (treatment.sum_den * treatment.sum_den),
            covariance: 0.0,
            clusters,
            observations: clusters,
        },
        alpha,
    )
}

/// The two ratios and their sandwich (co)variances before the small-sample factor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RobustParts {
    pub control_ratio: f64,
    pub treatment_ratio: f64,
    pub var_control: f64,
    pub var_treatment: f64,
    pub covariance: f64,
    pub clusters: u64,
    pub observations: u64,
}

/// Applies the CR1 factor and builds the t test and intervals.
pub(crate) fn robust(p: RobustParts, alpha: f64) -> Result<ClusteredResult> {
    let alpha = check_alpha(alpha)?;
    if p.clusters < 2 || p.observations < 3 {
        return Err(StatsError::undefined(
            "cluster-robust variance",
            format!(
                "needs at least 2 clusters and 3 observations, got {} and {}",
                p.clusters, p.observations
            ),
        ));
    }
    let g = p.clusters as f64;
    let n = p.observations as f64;
    let factor = g / (g - 1.0) * (n - 1.0) / (n - 2.0);
    let (v_t, v_c, cov) = (
        factor * p.var_treatment,
        factor * p.var_control,
        factor * p.covariance,
    );
    let diff = finite("difference of ratios", p.treatment_ratio - p.control_ratio)?;
    let se = finite("standard error", (v_t + v_c - 2.0 * cov).max(0.0).sqrt())?;
    let df = p.clusters - 1;
    let t = if se == 0.0 {
        if diff != 0.0 {
            return Err(StatsError::undefined(
                "t statistic",
                "no cluster varies but the arms differ",
            ));
        }
        0.0
    } else {
        finite("t statistic", diff / se)?
    };
    let p_value = finite("p-value", t_two_sided_p(t, df as f64))?;
    let q = t_upper_quantile(alpha / 2.0, df as f64);
    let ci_abs = Interval::around(diff, q * se).checked("absolute lift interval")?;
    let (rel_lift, ci_rel) = if p.control_ratio == 0.0 {
        (None, None)
    } else {
        let (a, b) = (p.control_ratio, p.treatment_ratio);
        let rel = finite("relative lift", b / a - 1.0)?;
        // Var(b/a) ≈ v_t/a² + b²·v_c/a⁴ − 2b·cov/a³
        let var =
            (v_t / (a * a) + b * b * v_c / (a * a * a * a) - 2.0 * b * cov / (a * a * a)).max(0.0);
        let ci = Interval::around(rel, q * var.sqrt()).checked("relative lift interval")?;
        (Some(rel), Some(ci))
    };
    Ok(ClusteredResult {
        control_ratio: p.control_ratio,
        treatment_ratio: p.treatment_ratio,
        abs_lift: diff,
        rel_lift,
        se,
        t,
        df,
        p_value,
        ci_abs,
        ci_rel,
        significant: p_value < alpha,
        alpha,
        clusters: p.clusters,
        observations: p.observations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(rows: &[(f64, f64)]) -> ClusterSummary {
        let mut s = ClusterSummary::default();
        for &(num, den) in rows {
            s.add(num, den);
        }
        s
    }

    #[test]
    fn matches_the_sandwich_computed_cluster_by_cluster() {
        let c = [(3.0, 10.0), (1.0, 12.0), (6.0, 20.0), (2.0, 9.0)];
        let t = [
            (5.0, 11.0),
            (4.0, 10.0),
            (9.0, 25.0),
            (1.0, 7.0),
            (3.0, 8.0),
        ];
        let r = compare_clustered(&arm(&c), &arm(&t), 0.05).unwrap();
        let by_hand = |rows: &[(f64, f64)]| {
            let (y, n): (f64, f64) = rows.iter().fold((0.0, 0.0), |a, r| (a.0 + r.0, a.1 + r.1));
            let ratio = y / n;
            let ss: f64 = rows.iter().map(|(y, m)| (y - ratio * m).powi(2)).sum();
            (ratio, ss / (n * n))
        };
        let (rc, vc) = by_hand(&c);
        let (rt, vt) = by_hand(&t);
        let g = 9.0;
        let factor = g / (g - 1.0) * (g - 1.0) / (g - 2.0);
        assert!((r.abs_lift - (rt - rc)).abs() < 1e-15);
        assert!((r.se - (factor * (vc + vt)).sqrt()).abs() < 1e-14);
        assert_eq!(r.df, 8);
        assert!(r.ci_abs.contains(r.abs_lift));
        assert!(r.ci_rel.unwrap().contains(r.rel_lift.unwrap()));
    }

    #[test]
    fn identical_clusters_give_p_one_and_bad_input_is_named() {
        let same = arm(&[(2.0, 10.0), (2.0, 10.0)]);
        let r = compare_clustered(&same, &same, 0.05).unwrap();
        assert_eq!((r.t, r.p_value), (0.0, 1.0));
        let e = compare_clustered(&arm(&[(1.0, 2.0)]), &same, 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "control needs at least 2 observations, got 1"
        );
        let e = compare_clustered(&same, &arm(&[(0.0, 0.0), (0.0, 0.0)]), 0.05).unwrap_err();
        assert_eq!(
            e.to_string(),
            "treatment denominator sum must be non-zero, got 0"
        );
        assert!(compare_clustered(&same, &same, 1.0).is_err());
    }
}
