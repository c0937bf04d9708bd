//! `abacus stats`: calculators over `abacus-stats` for analysts. Each subcommand parses its
//! flags, calls one library function and prints an aligned table, or one JSON object with
//! `--json`. Invalid input exits with code 2 and a one-line message naming the flag, whether
//! clap or the library finds it; nothing here needs the configuration or a network.
//! Table layout and number formats live in `stats/table.rs`.

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use abacus_stats::{
    adjust_p_values, compare_means, compare_proportions, runtime_days, sample_size_proportions,
    sequential_proportions, srm_test, Arm, Correction, Design, MeanSummary, ProportionSummary,
    SequentialConfig, StatsError, DEFAULT_MIXING_VARIANCE, DEFAULT_SRM_THRESHOLD,
};

mod srm_sequential;
mod table;

use table::{
    confidence, interval_percent, interval_points, num, percent, points, signed_percent, yes_no,
    Table,
};

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Compare conversion rates: z-test (Fisher's exact test when an expected count is below
    /// 5), interval of the absolute difference and of the relative lift.
    #[command(allow_negative_numbers = true)]
    Proportions(ProportionsArgs),
    /// Compare means from n, mean and standard deviation per arm (Welch's t-test).
    #[command(allow_negative_numbers = true)]
    Means(MeansArgs),
    /// Users needed per variant to detect a change of a conversion rate.
    #[command(allow_negative_numbers = true)]
    SampleSize(SampleSizeArgs),
    /// Sample ratio mismatch: chi-square test of users per variant against planned weights.
    #[command(allow_negative_numbers = true)]
    Srm(SrmArgs),
    /// Adjust p-values for many comparisons (output in input order).
    #[command(allow_negative_numbers = true)]
    Adjust(AdjustArgs),
    /// Always-valid (mixture SPRT) p-value and confidence sequence for a difference in
    /// conversion rates; safe to check after every new user.
    #[command(allow_negative_numbers = true)]
    Sequential(SequentialArgs),
    /// Always-valid sample ratio mismatch test (Dirichlet–multinomial mixture, Lindon &
    /// Malek 2022): safe to re-run at every aggregation pass.
    #[command(allow_negative_numbers = true)]
    SrmSequential(srm_sequential::SrmSequentialArgs),
}

#[derive(Debug, Args)]
pub struct ArmCounts {
    /// Users in control
    #[arg(long, value_name = "N", value_parser = parse_count)]
    control_users: u64,
    /// Converted users in control
    #[arg(long, value_name = "X", value_parser = parse_count)]
    control_conversions: u64,
    /// Users in treatment
    #[arg(long, value_name = "N", value_parser = parse_count)]
    treatment_users: u64,
    /// Converted users in treatment
    #[arg(long, value_name = "X", value_parser = parse_count)]
    treatment_conversions: u64,
}

impl ArmCounts {
    fn summaries(&self) -> (ProportionSummary, ProportionSummary) {
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
    /// Two-sided significance level
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Power (1 − β)
    #[arg(long, default_value_t = 0.8, value_parser = parse_unit)]
    power: f64,
    /// Treatment users per control user; per_variant is the control size and treatment
    /// gets ratio × that
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive)]
    ratio: f64,
    /// Eligible users per day (all variants together), to estimate the runtime in days
    #[arg(long, value_name = "N", value_parser = parse_count)]
    daily_users: Option<u64>,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SrmArgs {
    /// Users observed per variant, comma-separated (e.g. 5000,5200)
    #[arg(long, value_name = "N,N,..", value_delimiter = ',', required = true, value_parser = parse_count)]
    observed: Vec<u64>,
    /// Planned allocation weights, comma-separated, any scale (e.g. 50,50)
    #[arg(long, value_name = "W,W,..", value_delimiter = ',', required = true, value_parser = parse_positive)]
    weights: Vec<f64>,
    /// Flag a mismatch when the p-value is below this
    #[arg(long, default_value_t = DEFAULT_SRM_THRESHOLD, value_parser = parse_unit)]
    threshold: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

/// Multiple-comparison correction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Holm's step-down (family-wise error rate)
    Holm,
    /// Benjamini–Hochberg (false discovery rate)
    Bh,
    /// Bonferroni (family-wise error rate)
    Bonferroni,
}

#[derive(Debug, Args)]
pub struct AdjustArgs {
    /// P-values, comma-separated (e.g. 0.01,0.04,0.03)
    #[arg(long, value_name = "P,P,..", value_delimiter = ',', required = true, value_parser = parse_p_value)]
    p_values: Vec<f64>,
    /// Correction
    #[arg(long, value_enum)]
    method: Method,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SequentialArgs {
    #[command(flatten)]
    counts: ArmCounts,
    /// Significance level (the false-positive rate over all looks)
    #[arg(long, default_value_t = 0.05, value_parser = parse_unit)]
    alpha: f64,
    /// Variance of the normal mixing distribution in units of the per-user variance (τ²/σ²)
    #[arg(long, default_value_t = DEFAULT_MIXING_VARIANCE, value_parser = parse_positive)]
    mixing_variance: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: StatsCommand) -> Result<()> {
    let (json, table) = match cmd {
        StatsCommand::Proportions(a) => proportions(&a)?,
        StatsCommand::Means(a) => means(&a)?,
        StatsCommand::SampleSize(a) => sample_size(&a)?,
        StatsCommand::Srm(a) => srm(&a)?,
        StatsCommand::Adjust(a) => adjust(&a)?,
        StatsCommand::Sequential(a) => sequential(&a)?,
        StatsCommand::SrmSequential(a) => srm_sequential::run(&a)?,
    };
    if table.json {
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

type Output = (Value, Table);

fn proportions(a: &ProportionsArgs) -> Result<Output> {
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

fn means(a: &MeansArgs) -> Result<Output> {
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
    let ci_abs = format!("{level} CI [{}, {}]", num(r.ci_abs.low), num(r.ci_abs.high));
    table.note("absolute lift", num(r.abs_lift), ci_abs);
    match (r.rel_lift, r.ci_rel) {
        (Some(lift), Some(ci)) => {
            let ci = format!("{level} CI {}", interval_percent(ci));
            table.note("relative lift", signed_percent(lift), ci);
        }
        _ => table.note("relative lift", "n/a", "(control mean is 0)"),
    }
    table.note("t", num(r.t), format!("(Welch, df {})", num(r.df)));
    table.row("p-value", [num(r.p_value)]);
    let alpha = format!("(alpha {})", a.alpha);
    table.note("significant", yes_no(r.significant), alpha);
    Ok((json, table))
}

fn sample_size(a: &SampleSizeArgs) -> Result<Output> {
    let target = if a.mde_absolute {
        a.baseline + a.mde
    } else {
        a.baseline * (1.0 + a.mde)
    };
    let design = Design {
        alpha: a.alpha,
        power: a.power,
        ratio: a.ratio,
    };
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
        "alpha": a.alpha,
        "power": a.power,
        "ratio": a.ratio,
    });
    if let Some(days) = days {
        json["days"] = json!(days);
    }
    let mut table = Table::new(a.json);
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
    table.row("alpha", [a.alpha.to_string()]);
    table.row("power", [a.power.to_string()]);
    table.gap();
    if a.ratio == 1.0 {
        table.row("per variant", [n.control.to_string()]);
    } else {
        table.row("control users", [n.control.to_string()]);
        let ratio = format!("(ratio {})", a.ratio);
        table.note("treatment users", n.treatment.to_string(), ratio);
    }
    table.row("total", [n.total.to_string()]);
    if let (Some(days), Some(daily)) = (days, a.daily_users) {
        let note = format!("(at {daily} users per day)");
        table.note("days", days.to_string(), note);
    }
    Ok((json, table))
}

fn srm(a: &SrmArgs) -> Result<Output> {
    let r =
        srm_test(&a.observed, &a.weights, a.threshold).or_else(|e| invalid(&e, "--observed"))?;
    let json = json!({
        "chi2": r.chi2,
        "p_value": r.p_value,
        "mismatch": r.mismatch,
        "df": r.df,
        "expected": r.expected,
        "threshold": r.threshold,
    });
    let mut table = Table::new(a.json);
    table.row("variant", ["observed", "expected"]);
    for (i, (o, e)) in a.observed.iter().zip(&r.expected).enumerate() {
        table.row(&(i + 1).to_string(), [o.to_string(), format!("{e:.1}")]);
    }
    table.gap();
    table.note("chi2", num(r.chi2), format!("(df {})", r.df));
    table.row("p-value", [num(r.p_value)]);
    let threshold = format!("(threshold {})", r.threshold);
    table.note("mismatch", yes_no(r.mismatch), threshold);
    Ok((json, table))
}

fn adjust(a: &AdjustArgs) -> Result<Output> {
    let (method, name) = match a.method {
        Method::Holm => (Correction::Holm, "holm"),
        Method::Bh => (Correction::BenjaminiHochberg, "bh"),
        Method::Bonferroni => (Correction::Bonferroni, "bonferroni"),
    };
    let adjusted = adjust_p_values(&a.p_values, method).or_else(|e| invalid(&e, "--p-values"))?;
    let json = json!({ "adjusted": adjusted, "method": name });
    let mut table = Table::new(a.json);
    table.row("p-value", [format!("adjusted ({name})")]);
    for (p, adj) in a.p_values.iter().zip(&adjusted) {
        table.row(&num(*p), [num(*adj)]);
    }
    Ok((json, table))
}

fn sequential(a: &SequentialArgs) -> Result<Output> {
    let (c, t) = a.counts.summaries();
    let config = SequentialConfig {
        alpha: a.alpha,
        mixing_variance: a.mixing_variance,
    };
    let r = sequential_proportions(&c, &t, &config).or_else(|e| invalid(&e, "--control-users"))?;
    let json = json!({
        "p_value": r.p_value,
        "ci_abs_low": r.ci.low,
        "ci_abs_high": r.ci.high,
        "significant": r.significant,
        "abs_lift": r.estimate,
        "z": r.z,
        "alpha": r.alpha,
        "mixing_variance": r.mixing_variance,
    });
    let mut table = Table::new(a.json);
    arms_section(&mut table, &c, &t);
    table.gap();
    let level = confidence(a.alpha);
    let ci = format!("{level} confidence sequence {}", interval_points(r.ci));
    table.note("absolute lift", points(r.estimate), ci);
    table.row("always-valid p", [num(r.p_value)]);
    let settings = format!("(alpha {}, mixing variance {})", a.alpha, a.mixing_variance);
    table.note("significant", yes_no(r.significant), settings);
    Ok((json, table))
}

fn arms_section(table: &mut Table, c: &ProportionSummary, t: &ProportionSummary) {
    table.row("", ["control", "treatment"]);
    table.row("users", [c.users.to_string(), t.users.to_string()]);
    let conversions = [c.conversions.to_string(), t.conversions.to_string()];
    table.row("conversions", conversions);
}

// ----------------------------------------------------------------------------- errors

/// Exits with code 2 and one line naming the flag behind a library validation error.
fn invalid<T>(err: &StatsError, fallback: &'static str) -> Result<T> {
    let flag = flag_for(err).unwrap_or_else(|| fallback.to_string());
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!("invalid value for '{flag}': {err}\n"),
    )
    .exit()
}

/// The command-line flag a library error is about, when it names one.
fn flag_for(err: &StatsError) -> Option<String> {
    let arm_flag = |arm: &Arm, field: &str| format!("--{arm}-{field}");
    Some(match err {
        StatsError::ConversionsExceedUsers { arm, .. } => arm_flag(arm, "conversions"),
        StatsError::ZeroUsers { arm } => arm_flag(arm, "users"),
        StatsError::TooFewObservations { arm, .. } => arm_flag(arm, "n"),
        StatsError::InvalidField { arm, field, .. } => arm_flag(arm, field),
        StatsError::OutOfRange { name, .. } => match *name {
            "target rate" | "minimum detectable effect" => "--mde".into(),
            other => format!("--{}", other.replace(' ', "-")),
        },
        StatsError::InvalidElement { name, .. } | StatsError::TooFewValues { name, .. } => {
            format!("--{name}")
        }
        StatsError::LengthMismatch { right, .. } => format!("--{right}"),
        _ => return None,
    })
}

// ----------------------------------------------------------------------------- parsers

fn parse_count(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| "must be a non-negative whole number".to_string())
}

fn parse_finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err("must be a finite number".to_string()),
    }
}

fn parse_unit(s: &str) -> Result<f64, String> {
    match parse_finite(s) {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err("must be between 0 and 1 (exclusive)".to_string()),
    }
}

fn parse_p_value(s: &str) -> Result<f64, String> {
    match parse_finite(s) {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("must be between 0 and 1".to_string()),
    }
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match parse_finite(s) {
        Ok(v) if v > 0.0 => Ok(v),
        _ => Err("must be a positive number".to_string()),
    }
}

fn parse_non_negative(s: &str) -> Result<f64, String> {
    match parse_finite(s) {
        Ok(v) if v >= 0.0 => Ok(v),
        _ => Err("must be a non-negative number".to_string()),
    }
}
