//! `abacus stats`: calculators over `abacus-stats` for analysts. Each subcommand parses its
//! flags, calls one library function and prints an aligned table, or one JSON object with
//! `--json`. Invalid input exits with code 2 and a one-line message naming the flag, whether
//! clap or the library finds it; nothing here needs the configuration or a network.
//!
//! Layout: `compare.rs` (proportions, means, ratio, cuped), `bayes.rs`, `plan.rs`
//! (sample-size, power, mde), `checks.rs` (srm, adjust, sequential), `srm_sequential.rs`, `table.rs` (table layout
//! and number formats); flag parsers and error reporting are here.

use anyhow::Result;
use clap::error::ErrorKind;
use clap::Subcommand;
use serde_json::Value;

use abacus_stats::{Arm, StatsError};

mod bayes;
mod checks;
mod compare;
mod plan;
mod srm_sequential;
mod table;

use table::Table;

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Compare conversion rates: z-test (Fisher's exact test when an expected count is below
    /// 5), interval of the absolute difference and of the relative lift.
    #[command(allow_negative_numbers = true)]
    Proportions(compare::ProportionsArgs),
    /// Compare means from n, mean and standard deviation per arm (Welch's t-test).
    #[command(allow_negative_numbers = true)]
    Means(compare::MeansArgs),
    /// Compare ratio metrics (revenue per order, clicks per session) from per-arm sums, by
    /// the delta method.
    #[command(allow_negative_numbers = true)]
    Ratio(compare::RatioArgs),
    /// Variance reduction (CUPED): compare means adjusted by a pre-exposure covariate, from
    /// per-arm sums of the outcome y and the covariate x.
    #[command(allow_negative_numbers = true, long_about = compare::CUPED_ABOUT)]
    Cuped(compare::CupedArgs),
    /// Bayesian comparison (GrowthBook's effect model): chance to win, risk, credible
    /// intervals, for conversions (--control-users …) or means (--control-n …).
    #[command(allow_negative_numbers = true, long_about = bayes::LONG_ABOUT)]
    Bayes(bayes::BayesArgs),
    /// Users needed per variant to detect a change of a conversion rate.
    #[command(allow_negative_numbers = true, long_about = plan::SAMPLE_SIZE_ABOUT)]
    SampleSize(plan::SampleSizeArgs),
    /// Power of the test for a given number of users: conversion rates (--baseline …) or
    /// means (--sd …).
    #[command(allow_negative_numbers = true)]
    Power(plan::PowerArgs),
    /// Minimum detectable effect for a given number of users: conversion rates (--baseline …)
    /// or means (--sd …).
    #[command(allow_negative_numbers = true)]
    Mde(plan::MdeArgs),
    /// Sample ratio mismatch: chi-square test of users per variant against planned weights.
    #[command(allow_negative_numbers = true)]
    Srm(checks::SrmArgs),
    /// Adjust p-values for many comparisons (output in input order).
    #[command(allow_negative_numbers = true)]
    Adjust(checks::AdjustArgs),
    /// Always-valid (mixture SPRT) p-value and confidence sequence for a difference in
    /// conversion rates; safe to check after every new user.
    #[command(allow_negative_numbers = true)]
    Sequential(checks::SequentialArgs),
    /// Always-valid sample ratio mismatch test (Dirichlet–multinomial mixture, Lindon &
    /// Malek 2022): safe to re-run at every aggregation pass.
    #[command(allow_negative_numbers = true)]
    SrmSequential(srm_sequential::SrmSequentialArgs),
}

pub fn run(cmd: StatsCommand) -> Result<()> {
    let (json, table) = match cmd {
        StatsCommand::Proportions(a) => compare::proportions(&a)?,
        StatsCommand::Means(a) => compare::means(&a)?,
        StatsCommand::Ratio(a) => compare::ratio(&a)?,
        StatsCommand::Cuped(a) => compare::cuped(&a)?,
        StatsCommand::Bayes(a) => bayes::run(&a)?,
        StatsCommand::SampleSize(a) => plan::sample_size(&a)?,
        StatsCommand::Power(a) => plan::power(&a)?,
        StatsCommand::Mde(a) => plan::mde(&a)?,
        StatsCommand::Srm(a) => checks::srm(&a)?,
        StatsCommand::Adjust(a) => checks::adjust(&a)?,
        StatsCommand::Sequential(a) => checks::sequential(&a)?,
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

// ----------------------------------------------------------------------------- errors

/// Exits with code 2 and one line naming the flag behind a library validation error.
fn invalid<T>(err: &StatsError, fallback: &'static str) -> Result<T> {
    let flag = flag_for(err).unwrap_or_else(|| fallback.to_string());
    invalid_flag(&flag, &err.to_string())
}

/// Like [`invalid`] for commands that take each arm as one list (`--control N,S1,…`):
/// an error about an arm names that arm's flag.
fn invalid_arm_list<T>(err: &StatsError, fallback: &'static str) -> Result<T> {
    let flag = match err {
        StatsError::ConversionsExceedUsers { arm, .. }
        | StatsError::ZeroUsers { arm }
        | StatsError::TooFewObservations { arm, .. }
        | StatsError::InvalidField { arm, .. } => format!("--{arm}"),
        _ => flag_for(err).unwrap_or_else(|| fallback.to_string()),
    };
    invalid_flag(&flag, &err.to_string())
}

/// Exits with code 2 and one line naming `flag`.
fn invalid_flag<T>(flag: &str, message: &str) -> Result<T> {
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!("invalid value for '{flag}': {message}\n"),
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

/// Per-arm sums written `N,S1,S2,…`: a user count and `K − 1` finite sums.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ArmSums<const K: usize> {
    n: u64,
    sums: [f64; K],
}

fn parse_sums<const K: usize>(s: &str, names: &str) -> Result<ArmSums<K>, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != K + 1 {
        return Err(format!(
            "must be {} comma-separated numbers {names} (got {})",
            K + 1,
            parts.len()
        ));
    }
    let n = parse_count(parts[0]).map_err(|e| format!("N {e}"))?;
    let mut sums = [0.0; K];
    for (i, part) in parts[1..].iter().enumerate() {
        sums[i] = parse_finite(part).map_err(|e| format!("value {} {e}", i + 2))?;
    }
    Ok(ArmSums { n, sums })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_sums_parse_and_name_what_is_wrong() {
        let a: ArmSums<2> = parse_sums("10, 2.5,-3", "N,A,B").unwrap();
        assert_eq!(
            a,
            ArmSums {
                n: 10,
                sums: [2.5, -3.0]
            }
        );
        let e = parse_sums::<2>("10,1", "N,A,B").unwrap_err();
        assert_eq!(e, "must be 3 comma-separated numbers N,A,B (got 2)");
        assert!(parse_sums::<2>("x,1,2", "N,A,B")
            .unwrap_err()
            .starts_with("N must"));
        assert!(parse_sums::<2>("1,1,inf", "N,A,B")
            .unwrap_err()
            .starts_with("value 3"));
    }
}
