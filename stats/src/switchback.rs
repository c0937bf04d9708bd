//! Switchback experiments: a whole unit (a region, a market) switches between variants over
//! time, one variant per (unit, window). Outcomes are measured per (unit, window) cell —
//! totals (orders per region-hour: `den = 1` per cell) or means (conversions per user:
//! `den` = the cell's users) — after dropping each window's burn-in, where the previous
//! window's variant still acts (carry-over).
//!
//! Cells of one unit are correlated (a busy region stays busy, demand drifts slowly), so the
//! variance is cluster-robust over units (Liang & Zeger 1986; Cameron & Miller 2015): the
//! effect `R_t − R_c` with `R_a = Σ_{cells in a} num / Σ_{cells in a} den` is linearised per
//! cell, summed per unit, and
//!
//! `Var = c · Σ_u (s_u,t/D_t − s_u,c/D_c)²`, `s_u,a = Σ_{cells of u in a} (num − R_a·den)`,
//!
//! with `D_a` the denominator total of arm `a` and the CR1 factor
//! `c = G/(G − 1)·(N − 1)/(N − 2)` for `G` units and `N` cells; a t distribution with
//! `G − 1` degrees of freedom gives the p-value and interval. This is the treatment
//! coefficient of `WLS(num/den ~ 1 + treated, weights = den)` with standard errors clustered
//! by unit, as statsmodels computes it (`tests/fixtures/network.json`). Units that switch
//! often contribute both arms to their own `s_u`, so stable unit-level differences cancel.
//!
//! Only the per-unit totals are needed ([`UnitTotals`]), so the aggregator groups by unit.

use serde::Serialize;

use crate::cluster::{robust, ClusteredResult, RobustParts};
use crate::error::{finite, Result, StatsError};

/// The totals of one unit's cells, split by the variant of each window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct UnitTotals {
    /// `Σ num` over the unit's treatment cells.
    pub treatment_num: f64,
    /// `Σ den` over the unit's treatment cells.
    pub treatment_den: f64,
    /// The unit's treatment cells (windows with data).
    pub treatment_cells: u64,
    /// `Σ num` over the unit's control cells.
    pub control_num: f64,
    /// `Σ den` over the unit's control cells.
    pub control_den: f64,
    /// The unit's control cells.
    pub control_cells: u64,
}

impl UnitTotals {
    /// Adds one (unit, window) cell.
    pub fn add(&mut self, treated: bool, num: f64, den: f64) {
        if treated {
            self.treatment_num += num;
            self.treatment_den += den;
            self.treatment_cells += 1;
        } else {
            self.control_num += num;
            self.control_den += den;
            self.control_cells += 1;
        }
    }
}

/// Compares treatment with control in a switchback experiment from the per-unit totals
/// (units without any cell are ignored). Needs at least two units, three cells and a
/// non-zero denominator total in each arm.
pub fn compare_switchback(units: &[UnitTotals], alpha: f64) -> Result<ClusteredResult> {
    let mut totals = UnitTotals::default();
    let mut used = 0u64;
    for (index, u) in units.iter().enumerate() {
        for value in [
            u.treatment_num,
            u.treatment_den,
            u.control_num,
            u.control_den,
        ] {
            if !value.is_finite() {
                return Err(StatsError::InvalidElement {
                    name: "units",
                    index,
                    value,
                    expected: "finite totals",
                });
            }
        }
        if u.treatment_cells + u.control_cells == 0 {
            continue;
        }
        used += 1;
        totals.treatment_num += u.treatment_num;
        totals.treatment_den += u.treatment_den;
        totals.treatment_cells += u.treatment_cells;
        totals.control_num += u.control_num;
        totals.control_den += u.control_den;
        totals.control_cells += u.control_cells;
    }
    if used < 2 {
        return Err(StatsError::TooFewValues {
            name: "units",
            len: used as usize,
            min: 2,
        });
    }
    for (den, arm) in [
        (totals.treatment_den, "treatment"),
        (totals.control_den, "control"),
    ] {
        if den == 0.0 {
            return Err(StatsError::undefined(
                "switchback comparison",
                format!("no {arm} cell has a non-zero denominator"),
            ));
        }
    }
    let r_t = totals.treatment_num / totals.treatment_den;
    let r_c = totals.control_num / totals.control_den;
    let (mut ss_t, mut ss_c, mut cross) = (0.0, 0.0, 0.0);
    for u in units {
        let s_t = u.treatment_num - r_t * u.treatment_den;
        let s_c = u.control_num - r_c * u.control_den;
        ss_t += s_t * s_t;
        ss_c += s_c * s_c;
        cross += s_t * s_c;
    }
    let (d_t, d_c) = (totals.treatment_den, totals.control_den);
    robust(
        RobustParts {
            control_ratio: r_c,
            treatment_ratio: r_t,
            var_control: finite("control variance", ss_c / (d_c * d_c))?,
            var_treatment: finite("treatment variance", ss_t / (d_t * d_t))?,
            covariance: finite("covariance of the arms", cross / (d_t * d_c))?,
            clusters: used,
            observations: totals.treatment_cells + totals.control_cells,
        },
        alpha,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_unit_levels_cancel() {
        // Two units at very different levels, each half treated: the effect is +1 in both.
        let mut units = vec![UnitTotals::default(); 4];
        for (k, (u, level)) in units.iter_mut().zip([10.0, 100.0, 50.0, 20.0]).enumerate() {
            for w in 0..10 {
                let treated = w % 2 == 0;
                let noise =
                    [0.1, -0.1, 0.05, 0.0, -0.05, 0.1, 0.0, -0.1, 0.05, -0.05][(w + 3 * k) % 10];
                u.add(
                    treated,
                    level + noise + if treated { 1.0 } else { 0.0 },
                    1.0,
                );
            }
        }
        let r = compare_switchback(&units, 0.05).unwrap();
        assert!((r.abs_lift - 1.0).abs() < 0.1, "{r:?}");
        assert!(r.se < 0.2, "unit levels should cancel: {r:?}");
        assert_eq!((r.clusters, r.observations, r.df), (4, 40, 3));
    }

    #[test]
    fn bad_input() {
        let one = UnitTotals {
            treatment_num: 1.0,
            treatment_den: 1.0,
            treatment_cells: 1,
            control_num: 1.0,
            control_den: 1.0,
            control_cells: 1,
        };
        assert_eq!(
            compare_switchback(&[one], 0.05).unwrap_err().to_string(),
            "units needs at least 2 values, got 1"
        );
        let nan = UnitTotals {
            control_num: f64::NAN,
            ..one
        };
        assert!(compare_switchback(&[one, nan], 0.05).is_err());
        let untreated = UnitTotals {
            treatment_den: 0.0,
            treatment_num: 0.0,
            ..one
        };
        let e = compare_switchback(&[untreated, untreated], 0.05).unwrap_err();
        assert!(e.to_string().contains("no treatment cell"), "{e}");
    }
}
