//! `abacus stats bayes`: the Bayesian reading of conversions or means.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use abacus_stats::{
    bayes_decision, bayes_means, bayes_proportions, BayesConfig, BayesDecision, BayesThresholds,
    MeanSummary, NormalPrior, ProportionSummary, DEFAULT_CHANCE_TO_WIN, DEFAULT_MAX_RISK,
};

use super::compare::arms_section;
use super::table::{confidence, interval_percent, num, percent, signed_percent, Table};
use super::Output;
use super::{invalid, parse_count, parse_finite, parse_non_negative, parse_positive, parse_unit};

pub(super) const LONG_ABOUT: &str = "Bayesian comparison of two arms with the model of \
GrowthBook's gbstats (EffectBayesianABTest): the lift is approximately normal (the relative \
lift by the delta method), with a flat prior by default or a normal prior on the relative \
effect (--prior-mean, --prior-sd).

Reports the chance that treatment beats control, the risk (expected loss, relative to the \
control value) of choosing each arm, and credible intervals of the relative and absolute lift. \
Give conversions (--control-users, --control-conversions, --treatment-users, \
--treatment-conversions) or means (--control-n, --control-mean, --control-sd, --treatment-n, \
--treatment-mean, --treatment-sd). The decision: treatment better when its chance to win is at \
least --chance-to-win and the risk of choosing it at most --max-risk; control better in the \
mirror case; else inconclusive.";

const COUNTS: [&str; 3] = [
    "control_conversions",
    "treatment_users",
    "treatment_conversions",
];
const MEANS: [&str; 5] = [
    "control_mean",
    "control_sd",
    "treatment_n",
    "treatment_mean",
    "treatment_sd",
];

#[derive(Debug, Args)]
pub struct BayesArgs {
    /// Users in control (conversions)
    #[arg(long, value_name = "N", value_parser = parse_count,
          required_unless_present = "control_n", conflicts_with = "control_n", requires_all = COUNTS)]
    control_users: Option<u64>,
    /// Converted users in control
    #[arg(long, value_name = "X", value_parser = parse_count)]
    control_conversions: Option<u64>,
    /// Users in treatment
    #[arg(long, value_name = "N", value_parser = parse_count)]
    treatment_users: Option<u64>,
    /// Converted users in treatment
    #[arg(long, value_name = "X", value_parser = parse_count)]
    treatment_conversions: Option<u64>,
    /// Units (users) in control (means)
    #[arg(long, value_name = "N", value_parser = parse_count, requires_all = MEANS)]
    control_n: Option<u64>,
    /// Mean in control
    #[arg(long, value_name = "M", value_parser = parse_finite)]
    control_mean: Option<f64>,
    /// Sample standard deviation in control
    #[arg(long, value_name = "S", value_parser = parse_non_negative)]
    control_sd: Option<f64>,
    /// Units (users) in treatment
    #[arg(long, value_name = "N", value_parser = parse_count)]
    treatment_n: Option<u64>,
    /// Mean in treatment
    #[arg(long, value_name = "M", value_parser = parse_finite)]
    treatment_mean: Option<f64>,
    /// Sample standard deviation in treatment
    #[arg(long, value_name = "S", value_parser = parse_non_negative)]
    treatment_sd: Option<f64>,
    /// Prior mean of the relative effect (a proper normal prior; flat when not given)
    #[arg(long, value_name = "M", value_parser = parse_finite, requires = "prior_sd")]
    prior_mean: Option<f64>,
    /// Prior standard deviation of the relative effect (0.1: effects of ±10% are plausible)
    #[arg(long, value_name = "S", value_parser = parse_positive, requires = "prior_mean")]
    prior_sd: Option<f64>,
    /// Credible intervals at level 1 − alpha
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Lower values are better (chance to win is the chance that treatment is lower)
    #[arg(long)]
    lower_is_better: bool,
    /// Chance to win needed to call a winner (and 1 − it, a loser)
    #[arg(long, default_value_t = DEFAULT_CHANCE_TO_WIN, value_parser = parse_unit)]
    chance_to_win: f64,
    /// Largest acceptable risk of the chosen arm, relative to the control value
    #[arg(long, default_value_t = DEFAULT_MAX_RISK, value_parser = parse_non_negative)]
    max_risk: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub(super) fn run(a: &BayesArgs) -> Result<Output> {
    let config = BayesConfig {
        alpha: a.alpha,
        prior: a
            .prior_mean
            .zip(a.prior_sd)
            .map(|(mean, sd)| NormalPrior { mean, sd }),
        lower_is_better: a.lower_is_better,
    };
    let thresholds = BayesThresholds {
        chance_to_win: a.chance_to_win,
        max_risk: a.max_risk,
    }
    .checked()
    .or_else(|e| invalid(&e, "--chance-to-win"))?;
    let mut table = Table::new(a.json);
    let r = if let (Some(cu), Some(cc), Some(tu), Some(tc)) = (
        a.control_users,
        a.control_conversions,
        a.treatment_users,
        a.treatment_conversions,
    ) {
        let (c, t) = (
            ProportionSummary::new(cu, cc),
            ProportionSummary::new(tu, tc),
        );
        arms_section(&mut table, &c, &t);
        let rate = |s: &ProportionSummary| percent(s.rate().unwrap_or(0.0));
        table.row("rate", [rate(&c), rate(&t)]);
        bayes_proportions(&c, &t, &config).or_else(|e| invalid(&e, "--control-users"))?
    } else if let (Some(cn), Some(cm), Some(cs), Some(tn), Some(tm), Some(ts)) = (
        a.control_n,
        a.control_mean,
        a.control_sd,
        a.treatment_n,
        a.treatment_mean,
        a.treatment_sd,
    ) {
        let (c, t) = (MeanSummary::new(cn, cm, cs), MeanSummary::new(tn, tm, ts));
        table.row("", ["control", "treatment"]);
        table.row("n", [c.n.to_string(), t.n.to_string()]);
        table.row("mean", [num(c.mean), num(t.mean)]);
        table.row("sd", [num(c.sd), num(t.sd)]);
        bayes_means(&c, &t, &config).or_else(|e| invalid(&e, "--control-sd"))?
    } else {
        return super::invalid_flag(
            "--control-users",
            "give conversions (--control-users …) or means (--control-n …) for both arms",
        );
    };
    let decision = match bayes_decision(&r, &thresholds) {
        BayesDecision::TreatmentBetter => "treatment_better",
        BayesDecision::ControlBetter => "control_better",
        BayesDecision::Inconclusive => "inconclusive",
    };
    let json = json!({
        "chance_to_win": r.chance_to_win,
        "risk_control": r.risk_control,
        "risk_treatment": r.risk_treatment,
        "rel_lift": r.rel_lift,
        "ci_rel_low": r.ci_rel.low,
        "ci_rel_high": r.ci_rel.high,
        "abs_lift": r.abs_lift,
        "ci_abs_low": r.ci_abs.low,
        "ci_abs_high": r.ci_abs.high,
        "rel_sd": r.rel_sd,
        "abs_sd": r.abs_sd,
        "decision": decision,
        "alpha": r.alpha,
        "prior_mean": a.prior_mean,
        "prior_sd": a.prior_sd,
    });
    let level = confidence(a.alpha);
    table.gap();
    let ci = format!("{level} credible interval {}", interval_percent(r.ci_rel));
    table.note("relative lift", signed_percent(r.rel_lift), ci);
    let ci = format!(
        "{level} credible interval [{}, {}]",
        num(r.ci_abs.low),
        num(r.ci_abs.high)
    );
    table.note("absolute lift", num(r.abs_lift), ci);
    table.row("chance to win", [percent(r.chance_to_win)]);
    table.note(
        "risk",
        percent(r.risk_control),
        "of keeping control (expected relative loss)",
    );
    table.note("", percent(r.risk_treatment), "of choosing treatment");
    let prior = match config.prior {
        Some(p) => format!(
            "normal prior on the relative effect, mean {}, sd {}",
            p.mean, p.sd
        ),
        None => "flat prior".to_owned(),
    };
    table.note("prior", "", prior);
    let rule = format!(
        "(chance to win ≥ {}, risk ≤ {})",
        percent(a.chance_to_win),
        percent(a.max_risk)
    );
    table.note("decision", decision.replace('_', " "), rule);
    Ok((json, table))
}
