//! `abacus stats sample-size | power | mde`: planning for conversion rates and means.

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::json;

use abacus_stats::{
    mde_means, mde_proportions, power_means, power_proportions, runtime_days,
    sample_size_proportions, Design, Formula,
};

use super::table::{num, percent, Table};
use super::{invalid, parse_count, parse_finite, parse_positive, parse_unit, Output};

pub(super) const SAMPLE_SIZE_ABOUT: &str = "Users needed per variant to detect a change of a \
conversion rate with a two-sided test.

By default the plan matches the test `abacus stats proportions` runs, the pooled z-test: the \
critical value uses the pooled variance under the null and the power the unpooled variances \
under the alternative (statsmodels' samplesize_proportions_2indep_onetail). --formula textbook \
uses the unpooled variance throughout, which under-powers unequal splits.";

/// Which variance a proportions plan assumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormulaArg {
    /// Pooled variance under the null (the z-test that is run), unpooled under the
    /// alternative
    Pooled,
    /// Unpooled variance throughout (the textbook formula)
    Textbook,
}

impl From<FormulaArg> for Formula {
    fn from(f: FormulaArg) -> Self {
        match f {
            FormulaArg::Pooled => Formula::Pooled,
            FormulaArg::Textbook => Formula::Textbook,
        }
    }
}

/// Settings shared by the planning commands.
#[derive(Debug, Args)]
pub struct PlanSettings {
    /// Two-sided significance level
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Treatment users per control user; treatment gets ratio × the control users
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    ratio: f64,
    /// Variance assumed for conversion rates
    #[arg(long, value_enum, default_value_t = FormulaArg::Pooled)]
    formula: FormulaArg,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

impl PlanSettings {
    fn design(&self, power: f64) -> Design {
        Design {
            alpha: self.alpha,
            power,
            ratio: self.ratio,
            formula: self.formula.into(),
        }
    }

    fn formula(&self) -> &'static str {
        Formula::from(self.formula).as_str()
    }
}

#[derive(Debug, Args)]
pub struct SampleSizeArgs {
    /// Baseline conversion rate, in (0, 1)
    #[arg(long, value_name = "P", value_parser = parse_unit)]
    baseline: f64,
    /// Minimum detectable effect: relative (0.1 = +10%) unless --mde-absolute
    #[arg(long, value_name = "R", value_parser = parse_finite)]
    mde: f64,
    /// Read --mde as an absolute change of the rate (0.005 = +0.5 points)
    #[arg(long)]
    mde_absolute: bool,
    /// Power (1 − β)
    #[arg(long, default_value_t = 0.8, value_parser = parse_unit)]
    power: f64,
    /// Eligible users per day (all variants together), to estimate the runtime in days
    #[arg(long, value_name = "N", value_parser = parse_count)]
    daily_users: Option<u64>,
    #[command(flatten)]
    settings: PlanSettings,
}

#[derive(Debug, Args)]
pub struct PowerArgs {
    /// Baseline conversion rate, in (0, 1) (conversion metrics)
    #[arg(long, value_name = "P", value_parser = parse_unit,
          required_unless_present = "sd", conflicts_with = "sd", requires = "mde")]
    baseline: Option<f64>,
    /// Effect on the rate: relative (0.1 = +10%) unless --mde-absolute
    #[arg(long, value_name = "R", value_parser = parse_finite, requires = "baseline")]
    mde: Option<f64>,
    /// Read --mde as an absolute change of the rate
    #[arg(long, requires = "mde")]
    mde_absolute: bool,
    /// Standard deviation of the metric per user (continuous metrics)
    #[arg(long, value_name = "S", value_parser = parse_positive, requires = "delta")]
    sd: Option<f64>,
    /// Change of the mean to detect, in the metric's unit (continuous metrics)
    #[arg(long, value_name = "D", value_parser = parse_finite, requires = "sd")]
    delta: Option<f64>,
    /// Users in control
    #[arg(long, value_name = "N", value_parser = parse_count)]
    control_users: u64,
    #[command(flatten)]
    settings: PlanSettings,
}

#[derive(Debug, Args)]
pub struct MdeArgs {
    /// Baseline conversion rate, in (0, 1) (conversion metrics)
    #[arg(long, value_name = "P", value_parser = parse_unit,
          required_unless_present = "sd", conflicts_with = "sd")]
    baseline: Option<f64>,
    /// Standard deviation of the metric per user (continuous metrics)
    #[arg(long, value_name = "S", value_parser = parse_positive)]
    sd: Option<f64>,
    /// Users in control
    #[arg(long, value_name = "N", value_parser = parse_count)]
    control_users: u64,
    /// Power (1 − β)
    #[arg(long, default_value_t = 0.8, value_parser = parse_unit)]
    power: f64,
    #[command(flatten)]
    settings: PlanSettings,
}

fn target(baseline: f64, mde: f64, absolute: bool) -> f64 {
    if absolute {
        baseline + mde
    } else {
        baseline * (1.0 + mde)
    }
}

fn treatment_users(control: u64, ratio: f64) -> u64 {
    (control as f64 * ratio).round() as u64
}

pub(super) fn sample_size(a: &SampleSizeArgs) -> Result<Output> {
    let target = target(a.baseline, a.mde, a.mde_absolute);
    let design = a.settings.design(a.power);
    let n =
        sample_size_proportions(a.baseline, target, &design).or_else(|e| invalid(&e, "--mde"))?;
    let days = a
        .daily_users
        .map(|d| runtime_days(n.total, d))
        .transpose()
        .or_else(|e| invalid(&e, "--daily-users"))?;
    let mut json = json!({
        "per_variant": n.control,
        "total": n.total,
        "control": n.control,
        "treatment": n.treatment,
        "baseline": a.baseline,
        "target": target,
        "alpha": a.settings.alpha,
        "power": a.power,
        "ratio": a.settings.ratio,
        "formula": a.settings.formula(),
    });
    if let Some(days) = days {
        json["days"] = json!(days);
    }
    let mut table = Table::new(a.settings.json);
    table.row("baseline rate", [percent(a.baseline)]);
    let kind = if a.mde_absolute {
        "absolute"
    } else {
        "relative"
    };
    table.note(
        "target rate",
        percent(target),
        format!("(mde {} {kind})", a.mde),
    );
    table.row("alpha", [a.settings.alpha.to_string()]);
    table.note(
        "power",
        a.power.to_string(),
        format!("({} variance)", a.settings.formula()),
    );
    table.gap();
    if a.settings.ratio == 1.0 {
        table.row("per variant", [n.control.to_string()]);
    } else {
        table.row("control users", [n.control.to_string()]);
        let ratio = format!("(ratio {})", a.settings.ratio);
        table.note("treatment users", n.treatment.to_string(), ratio);
    }
    table.row("total", [n.total.to_string()]);
    if let (Some(days), Some(daily)) = (days, a.daily_users) {
        let note = format!("(at {daily} users per day)");
        table.note("days", days.to_string(), note);
    }
    Ok((json, table))
}

pub(super) fn power(a: &PowerArgs) -> Result<Output> {
    let s = &a.settings;
    let mut table = Table::new(s.json);
    let treatment = treatment_users(a.control_users, s.ratio);
    let (json, power) = match (a.baseline, a.mde, a.sd, a.delta) {
        (Some(baseline), Some(mde), _, _) => {
            let target = target(baseline, mde, a.mde_absolute);
            let p = power_proportions(
                baseline,
                target,
                a.control_users,
                s.alpha,
                s.ratio,
                s.formula.into(),
            )
            .or_else(|e| invalid(&e, "--mde"))?;
            table.row("baseline rate", [percent(baseline)]);
            table.row("target rate", [percent(target)]);
            let json = json!({
                "power": p, "baseline": baseline, "target": target, "formula": s.formula(),
                "control_users": a.control_users, "treatment_users": treatment,
                "alpha": s.alpha, "ratio": s.ratio,
            });
            (json, p)
        }
        (_, _, Some(sd), Some(delta)) => {
            let p = power_means(sd, delta, a.control_users, s.alpha, s.ratio)
                .or_else(|e| invalid(&e, "--delta"))?;
            table.row("sd", [num(sd)]);
            table.row("change of the mean", [num(delta)]);
            let json = json!({
                "power": p, "sd": sd, "delta": delta,
                "control_users": a.control_users, "treatment_users": treatment,
                "alpha": s.alpha, "ratio": s.ratio,
            });
            (json, p)
        }
        _ => unreachable_args()?,
    };
    table.row("alpha", [s.alpha.to_string()]);
    table.row("control users", [a.control_users.to_string()]);
    let ratio = format!("(ratio {})", s.ratio);
    table.note("treatment users", treatment.to_string(), ratio);
    table.gap();
    table.row("power", [percent(power)]);
    Ok((json, table))
}

pub(super) fn mde(a: &MdeArgs) -> Result<Output> {
    let s = &a.settings;
    let design = s.design(a.power);
    let mut table = Table::new(s.json);
    let treatment = treatment_users(a.control_users, s.ratio);
    let json = match (a.baseline, a.sd) {
        (Some(baseline), _) => {
            let d = mde_proportions(baseline, a.control_users, &design)
                .or_else(|e| invalid(&e, "--control-users"))?;
            table.row("baseline rate", [percent(baseline)]);
            plan_rows(&mut table, a, treatment);
            table.note("mde", format!("{:+.3} pp", d * 100.0), "(absolute)");
            table.note("", format!("{:+.2}%", d / baseline * 100.0), "(relative)");
            table.row("target rate", [percent(baseline + d)]);
            json!({
                "mde_absolute": d, "mde_relative": d / baseline, "baseline": baseline,
                "target": baseline + d, "formula": s.formula(), "power": a.power,
                "control_users": a.control_users, "treatment_users": treatment,
                "alpha": s.alpha, "ratio": s.ratio,
            })
        }
        (_, Some(sd)) => {
            let d = mde_means(sd, a.control_users, &design)
                .or_else(|e| invalid(&e, "--control-users"))?;
            table.row("sd", [num(sd)]);
            plan_rows(&mut table, a, treatment);
            table.note("mde", num(d), "(change of the mean)");
            json!({
                "mde_absolute": d, "sd": sd, "power": a.power,
                "control_users": a.control_users, "treatment_users": treatment,
                "alpha": s.alpha, "ratio": s.ratio,
            })
        }
        _ => unreachable_args()?,
    };
    Ok((json, table))
}

fn plan_rows(table: &mut Table, a: &MdeArgs, treatment: u64) {
    table.row("alpha", [a.settings.alpha.to_string()]);
    table.row("power", [a.power.to_string()]);
    table.row("control users", [a.control_users.to_string()]);
    let ratio = format!("(ratio {})", a.settings.ratio);
    table.note("treatment users", treatment.to_string(), ratio);
    table.gap();
}

/// clap's `required_unless_present`/`requires` rule this out; fail cleanly if they change.
fn unreachable_args<T>() -> Result<T> {
    super::invalid_flag(
        "--baseline",
        "give --baseline (conversion rates) or --sd (means)",
    )
}
