//! `abacus stats srm-sequential`: the always-valid sample ratio mismatch test
//! (Dirichlet–multinomial mixture of Lindon & Malek) for the counts as one look.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use abacus_stats::{srm_sequential, DEFAULT_SRM_CONCENTRATION, DEFAULT_SRM_THRESHOLD};

use super::table::{num, yes_no, Table};
use super::{invalid, parse_count, parse_positive, parse_unit, Output};

#[derive(Debug, Args)]
pub struct SrmSequentialArgs {
    /// Users observed per variant so far, comma-separated (e.g. 5000,5200)
    #[arg(long, value_name = "N,N,..", value_delimiter = ',', required = true, value_parser = parse_count)]
    observed: Vec<u64>,
    /// Planned allocation weights, comma-separated, any scale (e.g. 50,50)
    #[arg(long, value_name = "W,W,..", value_delimiter = ',', required = true, value_parser = parse_positive)]
    weights: Vec<f64>,
    /// Flag a mismatch when the always-valid p-value is below this; the chance of a false
    /// alarm over all looks of an experiment is at most this
    #[arg(long, default_value_t = DEFAULT_SRM_THRESHOLD, value_parser = parse_unit)]
    threshold: f64,
    /// Concentration of the Dirichlet mixture around the planned split (larger looks for
    /// smaller mismatches)
    #[arg(long, default_value_t = DEFAULT_SRM_CONCENTRATION, value_parser = parse_positive)]
    concentration: f64,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub(super) fn run(a: &SrmSequentialArgs) -> Result<Output> {
    let r = srm_sequential(&a.observed, &a.weights, a.threshold, a.concentration)
        .or_else(|e| invalid(&e, "--observed"))?;
    let json = json!({
        "p_value": r.p_value,
        "mismatch": r.mismatch,
        "log_bayes_factor": r.log_bayes_factor,
        "expected": r.expected,
        "threshold": r.threshold,
        "concentration": r.concentration,
    });
    let mut table = Table::new(a.json);
    table.row("variant", ["observed", "expected"]);
    for (i, (o, e)) in a.observed.iter().zip(&r.expected).enumerate() {
        table.row(&(i + 1).to_string(), [o.to_string(), format!("{e:.1}")]);
    }
    table.gap();
    table.note(
        "log Bayes factor",
        num(r.log_bayes_factor),
        format!("(Dirichlet concentration {})", r.concentration),
    );
    table.note(
        "always-valid p",
        num(r.p_value),
        "(valid at every look)".to_string(),
    );
    let threshold = format!("(threshold {})", r.threshold);
    table.note("mismatch", yes_no(r.mismatch), threshold);
    Ok((json, table))
}
