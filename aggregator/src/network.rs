//! What a pass adds after the user-level analysis of an experiment:
//!
//! - for a **cluster-randomized** experiment (`unit = "company_id"`), the comparison of every
//!   metric at the cluster level ([`crate::clusters`]: ratios of cluster totals,
//!   cluster-robust intervals, t with clusters − 1 degrees of freedom). It replaces the
//!   user-level estimate, interval and p-value of each result row (which are kept in the
//!   `user_level_*` columns, to show how much too narrow they were); the sample ratio is
//!   tested on clusters; the daily series and segment breakdowns, which are per user, are not
//!   written;
//! - for a **switchback** experiment, the comparison at the (unit, window) level
//!   ([`crate::switchback`], clustered by unit), the sample ratio tested on cells;
//! - for every experiment, the **always-valid sample ratio test** (Dirichlet–multinomial
//!   mixture) beside the chi-square one. The chi-square test repeated at every pass of the
//!   daemon raises false alarms over an experiment's life; the always-valid test does not, so
//!   it decides the alert (the warning, the pass's `srm_mismatch`, the report's banner).

use abacus_assign::{Design, Experiment};
use abacus_schema::ClickHouse;
use abacus_stats::{
    srm_sequential, srm_test, ClusteredResult, StatsError, DEFAULT_SRM_CONCENTRATION,
};

use crate::analyze::adjust;
use crate::clusters::{self, ClusterSource, ClusterStats};
use crate::model::{Analysis, ResultRow};
use crate::switchback::{self, SwitchbackSource, SwitchbackStats};
use crate::AggregateError;

/// What the unit analysis of one experiment needs.
#[derive(Clone, Debug)]
pub struct UnitContext<'a> {
    pub experiment: &'a Experiment,
    pub base_run_id: u64,
    pub as_of_ms: i64,
    /// Winsorization caps of the user-level analysis, per metric.
    pub caps: &'a [Option<f64>],
    pub srm_threshold: f64,
}

/// Runs the cluster or switchback analysis when the experiment has a unit, then the SRM
/// tests, and updates `analysis` in place.
pub async fn apply(
    ch: &ClickHouse,
    ctx: &UnitContext<'_>,
    analysis: &mut Analysis,
) -> Result<(), AggregateError> {
    let e = ctx.experiment;
    match (&e.unit, e.design) {
        (Some(unit), Design::Ab) => {
            let stats = clusters::read(
                ch,
                &ClusterSource {
                    experiment: e,
                    unit,
                    base_run_id: ctx.base_run_id,
                    as_of_ms: ctx.as_of_ms,
                    caps: ctx.caps,
                },
            )
            .await?;
            apply_clusters(e, unit, &stats, analysis);
        }
        (Some(unit), Design::Switchback) => {
            let src = SwitchbackSource {
                experiment: e,
                unit,
                window_ms: e.window_ms(),
                burn_in_ms: e.burn_in_ms(),
                as_of_ms: ctx.as_of_ms,
            };
            let stats = switchback::read(ch, &src, |u, w| {
                e.switchback_variant(u, w).map(|v| v.name.as_str())
            })
            .await?;
            apply_switchback(e, unit, &stats, analysis);
        }
        (None, _) => {}
    }
    sample_ratio(e, ctx.srm_threshold, analysis);
    Ok(())
}

/// Replaces the comparison of `row` with a clustered one (keeping the user-level figures).
fn replace(row: &mut ResultRow, unit: &str, result: Result<ClusteredResult, StatsError>) {
    if row.user_level_p_value.is_none() && !row.method.is_empty() {
        row.user_level_ci_abs_low = Some(row.ci_abs_low);
        row.user_level_ci_abs_high = Some(row.ci_abs_high);
        row.user_level_p_value = Some(row.p_value);
    }
    row.analysis_unit = unit.to_owned();
    row.p_value_sequential = None;
    match result {
        Ok(r) => {
            row.control_value = r.control_ratio;
            row.treatment_value = r.treatment_ratio;
            row.abs_lift = r.abs_lift;
            row.rel_lift = r.rel_lift;
            row.ci_abs_low = r.ci_abs.low;
            row.ci_abs_high = r.ci_abs.high;
            row.ci_rel_low = r.ci_rel.map(|i| i.low);
            row.ci_rel_high = r.ci_rel.map(|i| i.high);
            row.p_value = r.p_value;
            row.method = "cluster_robust".to_owned();
            row.error = String::new();
        }
        Err(err) => {
            row.method = String::new();
            row.p_value = 1.0;
            row.error = format!("no cluster-level comparison: {err}");
        }
    }
}

/// The cluster-level analysis of a cluster-randomized experiment.
pub fn apply_clusters(e: &Experiment, unit: &str, stats: &ClusterStats, analysis: &mut Analysis) {
    let order: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
    let per_variant = stats.clusters_per_variant(&order);
    for row in &mut analysis.results {
        let Some(i) = e.metrics.iter().position(|m| m.name == row.metric) else {
            continue;
        };
        let result = stats.compare(i, &e.control, &row.variant, e.alpha);
        replace(row, unit, result);
        row.control_clusters = stats.variants.get(&e.control).map_or(0, |v| v.clusters);
        row.treatment_clusters = stats.variants.get(&row.variant).map_or(0, |v| v.clusters);
        guardrail(row, e);
    }
    adjust(&mut analysis.results, false);
    analysis.series.clear();
    analysis.segments.clear();
    if let Some(run) = analysis.run.as_mut() {
        run.design = "cluster".to_owned();
        run.unit = unit.to_owned();
        run.clusters = stats.clusters();
        run.variant_clusters = per_variant;
        run.unit_missing = stats.missing_unit_users;
        run.srm_unit = "clusters".to_owned();
        run.warnings.push(format!(
            "randomized by {unit}: compared by cluster ({} clusters); daily series and segment breakdowns are per user and not computed",
            stats.clusters()
        ));
        if stats.missing_unit_users > 0 {
            run.warnings.push(format!(
                "{} exposed users had no {unit} in their first exposure's metadata; they are left out of the analysis",
                stats.missing_unit_users
            ));
        }
        if stats.split_clusters > 0 {
            run.warnings.push(format!(
                "{} values of {unit} have users in more than one variant: the producer did not assign by {unit}",
                stats.split_clusters
            ));
        }
    }
}

/// The (unit, window) analysis of a switchback experiment.
pub fn apply_switchback(
    e: &Experiment,
    unit: &str,
    stats: &SwitchbackStats,
    analysis: &mut Analysis,
) {
    let order: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
    let cells = stats.cells_per_variant(&order);
    let exposures = stats.exposures_per_variant(&order);
    let cells_of = |v: &str| order.iter().position(|x| *x == v).map_or(0, |i| cells[i]);
    let exposed_of = |v: &str| {
        order
            .iter()
            .position(|x| *x == v)
            .map_or(0, |i| exposures[i])
    };
    for row in &mut analysis.results {
        let Some(i) = e.metrics.iter().position(|m| m.name == row.metric) else {
            continue;
        };
        let result = stats.compare(i, &e.control, &row.variant, e.alpha);
        replace(row, unit, result);
        // users are not the unit of a switchback: no user-level figures to show
        row.user_level_ci_abs_low = None;
        row.user_level_ci_abs_high = None;
        row.user_level_p_value = None;
        row.control_clusters = cells_of(&e.control);
        row.treatment_clusters = cells_of(&row.variant);
        row.control_users = exposed_of(&e.control);
        row.treatment_users = exposed_of(&row.variant);
        row.control_conversions = 0;
        row.treatment_conversions = 0;
        guardrail(row, e);
    }
    adjust(&mut analysis.results, false);
    analysis.series.clear();
    analysis.segments.clear();
    analysis.balance.clear();
    if let Some(run) = analysis.run.as_mut() {
        run.design = "switchback".to_owned();
        run.unit = unit.to_owned();
        run.clusters = stats.units();
        run.variant_clusters = cells.clone();
        run.unit_missing = stats.missing_unit_events;
        run.burn_in_events = stats.burn_in_events;
        run.srm_unit = "cells".to_owned();
        run.warnings.push(format!(
            "switchback by {unit}: compared by ({unit}, window) cell, clustered by {unit} ({} units, {} cells); {} events in burn-in left out",
            stats.units(),
            cells.iter().sum::<u64>(),
            stats.burn_in_events
        ));
        if stats.missing_unit_events > 0 {
            run.warnings.push(format!(
                "{} events had no {unit} in their metadata; they are left out of the analysis",
                stats.missing_unit_events
            ));
        }
        if stats.mismatched_cells > 0 {
            run.warnings.push(format!(
                "{} cells have exposures naming another variant than the schedule's: check the producer's switchback assignment",
                stats.mismatched_cells
            ));
        }
    }
}

/// A guardrail's verdict from the clustered interval: `fail` when the whole interval is
/// worse than the margin, `pass` when it is entirely better than `−margin`, else
/// `inconclusive` (a one-sided level of 1 − α/2, slightly conservative).
fn guardrail(row: &mut ResultRow, e: &Experiment) {
    if row.is_guardrail == 0 {
        return;
    }
    let margin = e
        .metrics
        .iter()
        .find(|m| m.name == row.metric)
        .and_then(|m| m.margin)
        .unwrap_or(0.0);
    if row.method.is_empty() {
        row.guardrail_verdict = "inconclusive".to_owned();
        row.guardrail_p_value = None;
        row.guardrail_bound = None;
        return;
    }
    let decrease = row.direction == "decrease";
    // the worse end of the interval, with "worse" meaning below for an increase metric
    let (worse, better) = if decrease {
        (row.ci_abs_high, row.ci_abs_low)
    } else {
        (row.ci_abs_low, row.ci_abs_high)
    };
    let beyond = |x: f64| if decrease { x > margin } else { x < -margin };
    row.guardrail_bound = Some(worse);
    row.guardrail_p_value = None;
    row.guardrail_verdict = if !beyond(worse) {
        "pass"
    } else if beyond(better) {
        "fail"
    } else {
        "inconclusive"
    }
    .to_owned();
}

/// The chi-square and always-valid sample ratio tests on the run's counts (users, clusters
/// or cells per variant); the always-valid one decides the alert.
pub fn sample_ratio(e: &Experiment, threshold: f64, analysis: &mut Analysis) {
    let weights: Vec<f64> = e.variants.iter().map(|v| f64::from(v.weight)).collect();
    let Some(run) = analysis.run.as_mut() else {
        return;
    };
    let counts = if run.srm_unit == "users" {
        run.variant_users.clone()
    } else {
        run.variant_clusters.clone()
    };
    if run.srm_unit != "users" {
        match srm_test(&counts, &weights, threshold) {
            Ok(r) => {
                run.srm_chi2 = r.chi2;
                run.srm_p_value = r.p_value;
                run.srm_mismatch = u8::from(r.mismatch);
            }
            Err(err) => {
                run.warnings
                    .push(format!("no sample ratio check on {}: {err}", run.srm_unit));
                run.srm_chi2 = 0.0;
                run.srm_p_value = 1.0;
                run.srm_mismatch = 0;
            }
        }
    }
    match srm_sequential(&counts, &weights, threshold, DEFAULT_SRM_CONCENTRATION) {
        Ok(r) => {
            run.srm_sequential_p_value = r.p_value;
            run.srm_sequential_log_bf = r.log_bayes_factor;
            run.srm_sequential_mismatch = u8::from(r.mismatch);
        }
        Err(_) => {
            run.srm_sequential_p_value = 1.0;
            run.srm_sequential_log_bf = 0.0;
            run.srm_sequential_mismatch = 0;
        }
    }
    if run.srm_sequential_mismatch == 1 {
        run.warnings.push(format!(
            "sample ratio mismatch: {} per variant {counts:?} do not match the weights {weights:?} (always-valid p = {:.3e}, chi-square p = {:.3e})",
            run.srm_unit, run.srm_sequential_p_value, run.srm_p_value
        ));
    } else if run.srm_mismatch == 1 {
        run.warnings.push(format!(
            "the chi-square sample ratio test flags {} per variant {counts:?} (p = {:.3e}), but the always-valid test, which allows for a check at every pass, does not (p = {:.3e}): no alert",
            run.srm_unit, run.srm_p_value, run.srm_sequential_p_value
        ));
    }
    let (p, mismatch) = (run.srm_p_value, run.srm_mismatch);
    for row in &mut analysis.results {
        row.srm_p_value = p;
        row.srm_mismatch = mismatch;
    }
}

#[cfg(test)]
mod tests;
