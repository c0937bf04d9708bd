//! `abacus report`: the newest aggregation run of each experiment as a table, JSON or HTML.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use abacus_report::{self as report, html, json, table};

use crate::commands::schema::connect;
use crate::config::Config;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text table per experiment: users, values, lift with CI, p-values, verdicts, SRM banner.
    Table,
    /// The JSON contract (an object with --experiment, else an array of objects).
    Json,
    /// One self-contained HTML page with charts (forest plot, cumulative lift), SRM, balance
    /// and segment tables.
    Html,
}

/// The long description of `abacus report --help`.
pub const LONG_ABOUT: &str =
    "Show the newest results of `abacus aggregate` (the results_latest run of each \
experiment): per metric and variant the users, values, lift with confidence interval, p-value \
(Holm-adjusted) and verdict, an SRM warning when the sample ratio check fails, and guardrail \
verdicts. --format json follows a stable contract (see the README); --format html writes one \
self-contained page with charts.";

/// Flags of `abacus report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this experiment [default: every experiment with results].
    #[arg(long, value_name = "ID")]
    pub experiment: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Compare against this variant instead of the control (experiments with more than two
    /// variants). Recomputed with the aggregator's methods from the statistics the run was
    /// computed from.
    #[arg(long, value_name = "VARIANT", requires = "experiment")]
    pub baseline: Option<String>,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub async fn run(args: ReportArgs, config: &Config) -> Result<()> {
    let ch = connect(config).await?;
    let mut reports = report::load(&ch, args.experiment.as_deref())
        .await
        .context("cannot build the report")?;
    if let Some(baseline) = &args.baseline {
        for r in &mut reports {
            *r = report::baseline::rebase(&ch, r, baseline, &config.aggregate)
                .await
                .context("cannot compare against the baseline")?;
        }
    }
    let text = match args.format {
        Format::Table => reports
            .iter()
            .map(table::render)
            .collect::<Vec<_>>()
            .join("\n"),
        Format::Json => {
            let values: Vec<serde_json::Value> = reports.iter().map(json::to_json).collect();
            let value = match (&args.experiment, values.as_slice()) {
                (Some(_), [one]) => one.clone(),
                _ => serde_json::Value::Array(values),
            };
            format!("{}\n", serde_json::to_string_pretty(&value)?)
        }
        Format::Html => html::render(&reports),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("report written to {}", path.display());
        }
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error.
            if let Err(err) = stdout.write_all(text.as_bytes()) {
                if err.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(err).context("cannot write the report");
                }
            }
        }
    }
    Ok(())
}
