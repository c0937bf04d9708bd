//! `abacus stats proportions | means | ratio | cuped`: fixed-horizon comparisons of two arms.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use abacus_stats::{
    compare_cuped, compare_means, compare_proportions, compare_ratios, CupedSummary, MeanSummary,
    ProportionSummary, RatioSummary, ValueKind,
};

use super::table::{
    confidence, interval_percent, interval_points, num, percent, points, signed_percent, yes_no,
    Table,
};
use super::{
    invalid, invalid_arm_list, parse_count, parse_finite, parse_non_negative, parse_sums,
    parse_unit, ArmSums, Output,
};

#[derive(Debug, Args)]
pub struct ArmCounts {
    /// Users in control
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub(super) control_users: u64,
    /// Converted users in control
    #[arg(long, value_name = "X", value_parser = parse_count)]
    pub(super) control_conversions: u64,
    /// Users in treatment
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub(super) treatment_users: u64,
    /// Converted users in treatment
    #[arg(long, value_name = "X", value_parser = parse_count)]
    pub(super) treatment_conversions: u64,
}

impl ArmCounts {
    pub(super) fn summaries(&self) -> (ProportionSummary, ProportionSummary) {
        (
            ProportionSummary::new(self.control_users, self.control_conversions),
            ProportionSummary::new(self.treatment_users, self.treatment_conversions),
        )
    }
}

#[derive(Debug, Args)]
pub struct ProportionsArgs {
    #[command(flatten)]
    counts: ArmCounts,
    /// Two-sided significance level
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct MeansArgs {
    /// Units (users) in control
    #[arg(long, value_name = "N", value_parser = parse_count)]
    control_n: u64,
    /// Mean in control
    #[arg(long, value_name = "M", value_parser = parse_finite)]
    control_mean: f64,
    /// Sample standard deviation in control
    #[arg(long, value_name = "S", value_parser = parse_non_negative)]
    control_sd: f64,
    /// Units (users) in treatment
    #[arg(long, value_name = "N", value_parser = parse_count)]
    treatment_n: u64,
    /// Mean in treatment
    #[arg(long, value_name = "M", value_parser = parse_finite)]
    treatment_mean: f64,
    /// Sample standard deviation in treatment
    #[arg(long, value_name = "S", value_parser = parse_non_negative)]
    treatment_sd: f64,
    /// Two-sided significance level
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

const RATIO_SUMS: &str = "N,SUM_NUM,SUM_DEN,SUM_NUM2,SUM_DEN2,SUM_NUM_DEN";

fn parse_ratio_sums(s: &str) -> Result<ArmSums<5>, String> {
    parse_sums(s, RATIO_SUMS)
}

#[derive(Debug, Args)]
pub struct RatioArgs {
    /// Control: users, Σ numerator, Σ denominator, Σ numerator², Σ denominator²,
    /// Σ numerator·denominator (per-user values)
    #[arg(long, value_name = RATIO_SUMS, value_parser = parse_ratio_sums)]
    control: ArmSums<5>,
    /// Treatment, as --control
    #[arg(long, value_name = RATIO_SUMS, value_parser = parse_ratio_sums)]
    treatment: ArmSums<5>,
    /// Two-sided significance level
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub(super) const CUPED_ABOUT: &str = "Variance reduction (CUPED): compare the means of a \
metric adjusted by a covariate measured before exposure (usually the same metric over the weeks \
before the user's first exposure; 0 for users without history).

Each arm is given as sums over its users of the outcome y and the covariate x: \
N,SUM_Y,SUM_Y2,SUM_X,SUM_X2,SUM_XY. The regression coefficient theta = cov(x, y) / var(x) is \
pooled over both arms, the adjusted difference is (mean y_t - theta mean x_t) - (mean y_c - theta \
mean x_c), tested with Welch's t-test on the adjusted variances (the same computation as \
GrowthBook's gbstats). The adjusted means are centred on the pooled covariate mean; \
variance_reduction is 1 - (adjusted / unadjusted standard error)^2, about rho^2 for a pre/post \
correlation rho.";

const CUPED_SUMS: &str = "N,SUM_Y,SUM_Y2,SUM_X,SUM_X2,SUM_XY";

pub(super) type CupedArm = ArmSums<5>;

pub(super) fn parse_cuped_sums(s: &str) -> Result<CupedArm, String> {
    parse_sums(s, CUPED_SUMS)
}

pub(super) fn cuped_summary(s: &CupedArm) -> CupedSummary {
    CupedSummary {
        n: s.n,
        sum_y: s.sums[0],
        sum_y2: s.sums[1],
        sum_x: s.sums[2],
        sum_x2: s.sums[3],
        sum_xy: s.sums[4],
    }
}

#[derive(Debug, Args)]
pub struct CupedArgs {
    /// Control: users, Σy, Σy², Σx, Σx², Σx·y (y the outcome, x the pre-exposure covariate)
    #[arg(long, value_name = CUPED_SUMS, value_parser = parse_cuped_sums)]
    control: CupedArm,
    /// Treatment, as --control
    #[arg(long, value_name = CUPED_SUMS, value_parser = parse_cuped_sums)]
    treatment: CupedArm,
    /// The values are 0/1 (conversions): variances p(1 − p), as gbstats' ProportionStatistic
    #[arg(long)]
    binary: bool,
    /// Two-sided significance level
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub(super) fn value_kind(binary: bool) -> ValueKind {
    if binary {
        ValueKind::Binary
    } else {
        ValueKind::Continuous
    }
}

pub(super) fn cuped(a: &CupedArgs) -> Result<Output> {
    let (c, t) = (cuped_summary(&a.control), cuped_summary(&a.treatment));
    let r = compare_cuped(&c, &t, value_kind(a.binary), a.alpha)
        .or_else(|e| invalid_arm_list(&e, "--control"))?;
    let json = json!({
        "theta": r.theta,
        "control_mean": r.control_mean,
        "treatment_mean": r.treatment_mean,
        "abs_lift": r.abs_lift,
        "rel_lift": r.rel_lift,
        "ci_abs_low": r.ci_abs.low,
        "ci_abs_high": r.ci_abs.high,
        "ci_rel_low": r.ci_rel.map(|i| i.low),
        "ci_rel_high": r.ci_rel.map(|i| i.high),
        "p_value": r.p_value,
        "variance_reduction": r.variance_reduction,
        "significant": r.significant,
        "control_mean_unadjusted": r.control_mean_unadjusted,
        "treatment_mean_unadjusted": r.treatment_mean_unadjusted,
        "t": r.t,
        "df": r.df,
        "se": r.se,
        "se_unadjusted": r.se_unadjusted,
        "alpha": r.alpha,
    });
    let level = confidence(a.alpha);
    let mut table = Table::new(a.json);
    table.row("", ["control", "treatment"]);
    table.row("users", [c.n.to_string(), t.n.to_string()]);
    table.row(
        "mean",
        [
            num(r.control_mean_unadjusted),
            num(r.treatment_mean_unadjusted),
        ],
    );
    table.row(
        "adjusted mean",
        [num(r.control_mean), num(r.treatment_mean)],
    );
    table.gap();
    lift_rows(
        &mut table,
        &level,
        r.abs_lift,
        r.ci_abs,
        r.rel_lift.zip(r.ci_rel),
    );
    table.note("t", num(r.t), format!("(Welch, df {})", num(r.df)));
    table.row("p-value", [num(r.p_value)]);
    let alpha = format!("(alpha {})", a.alpha);
    table.note("significant", yes_no(r.significant), alpha);
    table.gap();
    table.note("theta", num(r.theta), "(pooled over both arms)");
    let se = format!(
        "(standard error {} instead of {})",
        num(r.se),
        num(r.se_unadjusted)
    );
    table.note("variance reduction", percent(r.variance_reduction), se);
    Ok((json, table))
}

pub(super) fn proportions(a: &ProportionsArgs) -> Result<Output> {
    let (c, t) = a.counts.summaries();
    let r = compare_proportions(&c, &t, a.alpha).or_else(|e| invalid(&e, "--control-users"))?;
    let json = json!({
        "control_rate": r.control_rate,
        "treatment_rate": r.treatment_rate,
        "abs_lift": r.abs_lift,
        "rel_lift": r.rel_lift,
        "z": r.z,
        "p_value": r.p_value,
        "ci_abs_low": r.ci_abs.low,
        "ci_abs_high": r.ci_abs.high,
        "ci_rel_low": r.ci_rel.map(|i| i.low),
        "ci_rel_high": r.ci_rel.map(|i| i.high),
        "significant": r.significant,
        "method": r.method.as_str(),
        "min_expected": r.min_expected,
        "alpha": r.alpha,
    });
    let level = confidence(a.alpha);
    let mut table = Table::new(a.json);
    arms_section(&mut table, &c, &t);
    table.row("rate", [percent(r.control_rate), percent(r.treatment_rate)]);
    table.gap();
    let ci_abs = format!("{level} CI {}", interval_points(r.ci_abs));
    table.note("absolute lift", points(r.abs_lift), ci_abs);
    match (r.rel_lift, r.ci_rel) {
        (Some(lift), Some(ci)) => {
            let ci = format!("{level} CI {}", interval_percent(ci));
            table.note("relative lift", signed_percent(lift), ci);
        }
        _ => table.note("relative lift", "n/a", "(control rate is 0)"),
    }
    table.row("z", [num(r.z)]);
    let method = format!("({})", r.method.as_str().replace('_', " "));
    table.note("p-value", num(r.p_value), method);
    let alpha = format!("(alpha {})", a.alpha);
    table.note("significant", yes_no(r.significant), alpha);
    Ok((json, table))
}

pub(super) fn means(a: &MeansArgs) -> Result<Output> {
    let c = MeanSummary::new(a.control_n, a.control_mean, a.control_sd);
    let t = MeanSummary::new(a.treatment_n, a.treatment_mean, a.treatment_sd);
    let r = compare_means(&c, &t, a.alpha).or_else(|e| invalid(&e, "--control-sd"))?;
    let json = json!({
        "abs_lift": r.abs_lift,
        "rel_lift": r.rel_lift,
        "t": r.t,
        "df": r.df,
        "p_value": r.p_value,
        "ci_abs_low": r.ci_abs.low,
        "ci_abs_high": r.ci_abs.high,
        "ci_rel_low": r.ci_rel.map(|i| i.low),
        "ci_rel_high": r.ci_rel.map(|i| i.high),
        "significant": r.significant,
        "control_mean": r.control_mean,
        "treatment_mean": r.treatment_mean,
        "alpha": r.alpha,
    });
    let level = confidence(a.alpha);
    let mut table = Table::new(a.json);
    table.row("", ["control", "treatment"]);
    table.row("n", [c.n.to_string(), t.n.to_string()]);
    table.row("mean", [num(c.mean), num(t.mean)]);
    table.row("sd", [num(c.sd), num(t.sd)]);
    table.gap();
    lift_rows(
        &mut table,
        &level,
        r.abs_lift,
        r.ci_abs,
        r.rel_lift.zip(r.ci_rel),
    );
    table.note("t", num(r.t), format!("(Welch, df {})", num(r.df)));
    table.row("p-value", [num(r.p_value)]);
    let alpha = format!("(alpha {})", a.alpha);
    table.note("significant", yes_no(r.significant), alpha);
    Ok((json, table))
}

pub(super) fn ratio(a: &RatioArgs) -> Result<Output> {
    let summary = |s: &ArmSums<5>| RatioSummary {
        n: s.n,
        sum_num: s.sums[0],
        sum_den: s.sums[1],
        sum_num_sq: s.sums[2],
        sum_den_sq: s.sums[3],
        sum_num_den: s.sums[4],
    };
    let (c, t) = (summary(&a.control), summary(&a.treatment));
    let r = compare_ratios(&c, &t, a.alpha).or_else(|e| invalid_arm_list(&e, "--control"))?;
    let json = json!({
        "control_ratio": r.control_ratio,
        "treatment_ratio": r.treatment_ratio,
        "abs_lift": r.abs_lift,
        "rel_lift": r.rel_lift,
        "z": r.z,
        "p_value": r.p_value,
        "se": r.se,
        "ci_abs_low": r.ci_abs.low,
        "ci_abs_high": r.ci_abs.high,
        "ci_rel_low": r.ci_rel.map(|i| i.low),
        "ci_rel_high": r.ci_rel.map(|i| i.high),
        "significant": r.significant,
        "alpha": r.alpha,
    });
    let level = confidence(a.alpha);
    let mut table = Table::new(a.json);
    table.row("", ["control", "treatment"]);
    table.row("users", [c.n.to_string(), t.n.to_string()]);
    table.row("ratio", [num(r.control_ratio), num(r.treatment_ratio)]);
    table.gap();
    lift_rows(
        &mut table,
        &level,
        r.abs_lift,
        r.ci_abs,
        r.rel_lift.zip(r.ci_rel),
    );
    table.note("z", num(r.z), "(delta method)");
    table.row("p-value", [num(r.p_value)]);
    let alpha = format!("(alpha {})", a.alpha);
    table.note("significant", yes_no(r.significant), alpha);
    Ok((json, table))
}

/// Absolute and relative lift rows with their intervals (numbers, not percentage points).
pub(super) fn lift_rows(
    table: &mut Table,
    level: &str,
    abs: f64,
    ci_abs: abacus_stats::Interval,
    rel: Option<(f64, abacus_stats::Interval)>,
) {
    let ci = format!("{level} CI [{}, {}]", num(ci_abs.low), num(ci_abs.high));
    table.note("absolute lift", num(abs), ci);
    match rel {
        Some((lift, ci)) => {
            let ci = format!("{level} CI {}", interval_percent(ci));
            table.note("relative lift", signed_percent(lift), ci);
        }
        None => table.note("relative lift", "n/a", "(control is 0)"),
    }
}

pub(super) fn arms_section(table: &mut Table, c: &ProportionSummary, t: &ProportionSummary) {
    table.row("", ["control", "treatment"]);
    table.row("users", [c.users.to_string(), t.users.to_string()]);
    let conversions = [c.conversions.to_string(), t.conversions.to_string()];
    table.row("conversions", conversions);
}
