//! `abacus assign`: prints the variant of users in one experiment of an experiments file,
//! exactly as producers' services assign them. Connects to nothing.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use abacus_assign::Experiment;
use abacus_serve::eval::AssignRecord;
use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};

use crate::commands::experiments::load_file;

/// Assign users to a variant of an experiment (from a file; no ClickHouse needed).
///
/// Prints the variant name, or `excluded` when the user is outside the experiment's traffic
/// (or layer slice). With --users-file, prints `user<TAB>variant` for each non-empty input
/// line. Assignment does not depend on ClickHouse: it hashes the user id as documented in
/// assign/README.md — or, for an experiment with a `unit` (cluster-randomized, switchback),
/// the value of that attribute given with --attr (e.g. --attr company_id=acme); a switchback's
/// variant also depends on the time (--at, default now).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("who").required(true).args(["user", "users_file"])))]
pub struct AssignArgs {
    /// The experiments file (TOML with [[experiment]] tables).
    #[arg(long, value_name = "FILE")]
    pub experiments: PathBuf,
    /// Experiment id.
    #[arg(long, value_name = "ID")]
    pub experiment: String,
    /// One user id.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// File with one user id per line (`-` reads standard input); empty lines are skipped.
    #[arg(long, value_name = "PATH")]
    pub users_file: Option<PathBuf>,
    /// One JSON object per user, with the buckets: {"experiment", "user_id", "variant",
    /// "in_experiment", "namespace_bucket", "variant_bucket", "key" (what was hashed),
    /// "window" (switchback window index or null)}.
    #[arg(long)]
    pub json: bool,
    /// Context attribute, repeatable: --attr company_id=acme. An experiment with a `unit`
    /// hashes that attribute's value instead of the user id.
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
    pub attrs: Vec<(String, String)>,
    /// Time of the assignment (RFC 3339 or a date), for switchback experiments [default: now].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse_attr(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE (got \"{text}\")")),
    }
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    abacus_assign::parse_date_time(text)
}

pub fn run(args: AssignArgs) -> Result<()> {
    let defs = load_file(&args.experiments)?;
    let Some(exp) = defs.experiment(&args.experiment) else {
        let known: Vec<&str> = defs.experiments.iter().map(|e| e.id.as_str()).collect();
        bail!(
            "experiment \"{}\" is not in {} (it has: {})",
            args.experiment,
            args.experiments.display(),
            known.join(", ")
        );
    };
    let mut context = abacus_assign::Context::new();
    for (key, value) in &args.attrs {
        context.insert(key.clone(), value.clone());
    }
    let at = args.at.unwrap_or_else(chrono::Utc::now);
    let how = How {
        context: &context,
        at,
        json: args.json,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Some(user) = &args.user {
        write_one(&mut out, exp, user, &how, false)?;
    } else if let Some(path) = &args.users_file {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(path)
                .with_context(|| format!("failed to open users file {}", path.display()))?;
            Box::new(std::io::BufReader::new(file))
        };
        for (i, line) in reader.lines().enumerate() {
            let line = line.with_context(|| {
                format!(
                    "failed to read line {} of users file {}",
                    i + 1,
                    path.display()
                )
            })?;
            let user = line.strip_suffix('\r').unwrap_or(&line);
            if !user.is_empty() {
                write_one(&mut out, exp, user, &how, true)?;
            }
        }
    }
    out.flush().context("failed to write to standard output")
}

/// The context and time of the assignments, and the output format.
struct How<'a> {
    context: &'a abacus_assign::Context,
    at: chrono::DateTime<chrono::Utc>,
    json: bool,
}

fn write_one(
    out: &mut impl Write,
    exp: &Experiment,
    user: &str,
    how: &How<'_>,
    with_user: bool,
) -> Result<()> {
    // The record `POST /v1/assign` of `abacus serve` answers too.
    let record = AssignRecord::new(exp, user, how.context, how.at)?;
    let variant = record.variant;
    let written = if how.json {
        let value = serde_json::to_string(&record).context("failed to encode JSON")?;
        writeln!(out, "{value}")
    } else if with_user {
        writeln!(out, "{user}\t{variant}")
    } else {
        writeln!(out, "{variant}")
    };
    written.context("failed to write to standard output")
}
