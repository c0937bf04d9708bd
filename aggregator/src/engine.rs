//! The statistics of one result row under the experiment's engine: the comparison
//! (CUPED-adjusted when the metric uses CUPED, with the unadjusted one beside it), the
//! sequential p-value (tuned to the experiment's plan when it has one), the guardrail verdict
//! and, for `engine = "bayesian"`, chance to win, risk, credible intervals and the Bayesian
//! verdict. Pure: no I/O.
//!
//! Conventions (also in the README and `schema/README.md`):
//! - The main columns (`control_value` … `p_value`) hold the estimate the verdict uses: the
//!   CUPED-adjusted one when `cuped = 1`, whose unadjusted twins are in the `*_unadjusted`
//!   columns.
//! - Bayesian rows keep the (adjusted) fixed-horizon `p_value` for reference, put the posterior
//!   means and credible intervals in the lift and interval columns, and are judged by
//!   `chance_to_win` and the risks; Holm's correction does not apply to them.

use abacus_assign::{Direction, Engine, Experiment, Metric};
use abacus_stats::{
    bayes_decision, sample_size_proportions, BayesConfig, BayesDecision, BayesThresholds, Design,
    Formula, NormalPrior, SequentialConfig, DEFAULT_CHANCE_TO_WIN, DEFAULT_MAX_RISK,
};

use crate::compare::{bayes, compare, guardrail, sequential_p, Comparison};
use crate::model::{ResultRow, Sums};

/// Users of control and `treatment` together at the end of the experiment's plan, for the
/// sequential test's tuning: the plan's `users` times the pair's share of the weights, or the
/// pooled-z-test sample size of control and `treatment` for the plan's baseline, MDE and power
/// (with the experiment's alpha and the pair's split). `Ok(None)` without a plan.
pub fn planned_pair_users(e: &Experiment, treatment: &str) -> Result<Option<u64>, String> {
    let Some(plan) = e.plan else {
        return Ok(None);
    };
    let weight = |name: &str| {
        e.variant(name)
            .map(|v| f64::from(v.weight))
            .ok_or_else(|| format!("no variant {name}"))
    };
    let (w_c, w_t) = (weight(&e.control)?, weight(treatment)?);
    if let Some(users) = plan.users {
        let total: f64 = e.variants.iter().map(|v| f64::from(v.weight)).sum();
        let pair = (users as f64 * (w_c + w_t) / total).round() as u64;
        return Ok(Some(pair.max(1)));
    }
    let (Some(baseline), Some(mde)) = (plan.baseline, plan.mde) else {
        return Ok(None);
    };
    let design = Design {
        alpha: e.alpha,
        power: plan.power.unwrap_or(0.8),
        ratio: w_t / w_c,
        formula: Formula::Pooled,
    };
    sample_size_proportions(baseline, baseline * (1.0 + mde), &design)
        .map(|n| Some(n.total))
        .map_err(|err| format!("the plan gives no sample size: {err}"))
}

/// Fills the statistics of `row` (metric `m`, control `c`, treatment `t`).
pub(crate) fn fill_row(
    row: &mut ResultRow,
    e: &Experiment,
    m: &Metric,
    c: &Sums,
    t: &Sums,
    sequential: &SequentialConfig,
) {
    let adjusted = e.uses_cuped(m);
    row.engine = e.engine.as_str().to_owned();
    row.cuped = u8::from(adjusted);
    row.planned_users = sequential.expected_users.filter(|_| e.sequential);
    let cmp = match compare(m.kind, adjusted, c, t, e.alpha) {
        Ok(cmp) => cmp,
        Err(err) => {
            row.error = err.to_string();
            if m.guardrail {
                row.guardrail_verdict = "inconclusive".to_owned();
            }
            return;
        }
    };
    fill(row, &cmp);
    if adjusted {
        row.cuped_theta = cmp.theta;
        row.variance_reduction = cmp.variance_reduction;
        match compare(m.kind, false, c, t, e.alpha) {
            Ok(plain) => fill_unadjusted(row, &plain),
            Err(err) => row.error = format!("no unadjusted comparison: {err}"),
        }
    }
    if e.sequential {
        match sequential_p(m.kind, adjusted, c, t, sequential) {
            Ok(p) => row.p_value_sequential = Some(p),
            Err(err) => row.error = format!("no sequential test: {err}"),
        }
    }
    if m.guardrail {
        let g = guardrail(
            m.kind,
            adjusted,
            m.direction,
            m.margin.unwrap_or(0.0),
            c,
            t,
            &cmp,
            e.alpha,
        );
        row.guardrail_verdict = g.verdict.to_owned();
        row.guardrail_p_value = g.p_value;
        row.guardrail_bound = g.bound;
    }
    if e.engine == Engine::Bayesian {
        let config = BayesConfig {
            alpha: e.alpha,
            prior: e.prior.map(|p| NormalPrior {
                mean: p.mean,
                sd: p.sd,
            }),
            lower_is_better: m.direction == Direction::Decrease,
        };
        match bayes(m.kind, adjusted, c, t, &config) {
            Ok(b) => {
                row.abs_lift = b.abs_lift;
                row.rel_lift = Some(b.rel_lift);
                row.ci_abs_low = b.ci_abs.low;
                row.ci_abs_high = b.ci_abs.high;
                row.ci_rel_low = Some(b.ci_rel.low);
                row.ci_rel_high = Some(b.ci_rel.high);
                row.chance_to_win = Some(b.chance_to_win);
                row.risk_control = Some(b.risk_control);
                row.risk_treatment = Some(b.risk_treatment);
                let thresholds = BayesThresholds {
                    chance_to_win: e.chance_to_win.unwrap_or(DEFAULT_CHANCE_TO_WIN),
                    max_risk: e.max_risk.unwrap_or(DEFAULT_MAX_RISK),
                };
                let decided = bayes_decision(&b, &thresholds) != BayesDecision::Inconclusive;
                row.significant = u8::from(decided);
            }
            Err(err) => row.error = format!("no Bayesian result: {err}"),
        }
    }
}

fn fill(row: &mut ResultRow, cmp: &Comparison) {
    row.control_value = cmp.control_value;
    row.treatment_value = cmp.treatment_value;
    row.abs_lift = cmp.abs_lift;
    row.rel_lift = cmp.rel_lift;
    row.ci_abs_low = cmp.ci_abs.low;
    row.ci_abs_high = cmp.ci_abs.high;
    row.ci_rel_low = cmp.ci_rel.map(|i| i.low);
    row.ci_rel_high = cmp.ci_rel.map(|i| i.high);
    row.method = cmp.method.to_owned();
    row.p_value = cmp.p_value;
}

fn fill_unadjusted(row: &mut ResultRow, cmp: &Comparison) {
    row.control_value_unadjusted = Some(cmp.control_value);
    row.treatment_value_unadjusted = Some(cmp.treatment_value);
    row.abs_lift_unadjusted = Some(cmp.abs_lift);
    row.rel_lift_unadjusted = cmp.rel_lift;
    row.ci_abs_low_unadjusted = Some(cmp.ci_abs.low);
    row.ci_abs_high_unadjusted = Some(cmp.ci_abs.high);
    row.ci_rel_low_unadjusted = cmp.ci_rel.map(|i| i.low);
    row.ci_rel_high_unadjusted = cmp.ci_rel.map(|i| i.high);
    row.p_value_unadjusted = Some(cmp.p_value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::example;

    #[test]
    fn planned_users_come_from_the_plan() {
        let mut e = example();
        assert_eq!(planned_pair_users(&e, "treatment"), Ok(None));
        e.plan = Some(abacus_assign::Plan {
            users: Some(400_000),
            ..Default::default()
        });
        assert_eq!(planned_pair_users(&e, "treatment"), Ok(Some(400_000)));
        e.plan = Some(abacus_assign::Plan {
            baseline: Some(0.05),
            mde: Some(0.1),
            ..Default::default()
        });
        // 31,234 per variant (pooled z-test, α 0.05, power 0.8).
        assert_eq!(planned_pair_users(&e, "treatment"), Ok(Some(62_468)));
    }
}
