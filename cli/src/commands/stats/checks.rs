//! `abacus stats srm | adjust | sequential`: sample ratio check, many comparisons, peeking.

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::json;

use abacus_stats::{
    adjust_p_values, sequential_proportions, srm_test, Correction, SequentialConfig,
    DEFAULT_MIXING_VARIANCE, DEFAULT_SRM_THRESHOLD,
};

use super::compare::{arms_section, ArmCounts};
use super::table::{confidence, interval_points, num, points, yes_no, Table};
use super::{invalid, parse_count, parse_p_value, parse_positive, parse_unit, Output};

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
    #[arg(long, default_value_t = DEFAULT_MIXING_VARIANCE, value_parser = parse_positive,
          conflicts_with = "expected_users")]
    mixing_variance: f64,
    /// Planned users of both arms together at the end: tunes the mixing distribution so the
    /// confidence sequence is narrowest there (gbstats' sequential tuning parameter)
    #[arg(long, value_name = "N", value_parser = parse_count)]
    expected_users: Option<u64>,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub(super) fn srm(a: &SrmArgs) -> Result<Output> {
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

pub(super) fn adjust(a: &AdjustArgs) -> Result<Output> {
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

pub(super) fn sequential(a: &SequentialArgs) -> Result<Output> {
    let (c, t) = a.counts.summaries();
    let config = SequentialConfig {
        alpha: a.alpha,
        mixing_variance: a.mixing_variance,
        expected_users: a.expected_users,
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
        "expected_users": a.expected_users,
    });
    let mut table = Table::new(a.json);
    arms_section(&mut table, &c, &t);
    table.gap();
    let level = confidence(a.alpha);
    let ci = format!("{level} confidence sequence {}", interval_points(r.ci));
    table.note("absolute lift", points(r.estimate), ci);
    table.row("always-valid p", [num(r.p_value)]);
    let settings = match a.expected_users {
        Some(n) => format!(
            "(alpha {}, tuned to {n} planned users: mixing variance {})",
            a.alpha,
            num(r.mixing_variance)
        ),
        None => format!("(alpha {}, mixing variance {})", a.alpha, a.mixing_variance),
    };
    table.note("significant", yes_no(r.significant), settings);
    Ok((json, table))
}
