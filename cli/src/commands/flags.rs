//! `abacus flags`: evaluates a feature flag of an experiments file for one user and context.
//! Connects to nothing.

use std::path::PathBuf;

use abacus_assign::Context;
use abacus_serve::eval::FlagRecord;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use crate::commands::experiments::load_file;

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// Evaluate a flag for one user and print `variant<TAB>reason<TAB>value`.
    ///
    /// The value is printed as JSON: `true`, `29.9`, `{"model":"bm25"}`, or the variant name in
    /// quotes for a flag without typed `values`. The reason is `flag_disabled`, `rule:<name>` (the first rule whose conditions all
    /// hold), `rollout` (no rule matched; the flag's rollout allocated the variant) or
    /// `default`. Attributes are given as text; conditions compare them as numbers or
    /// booleans when the condition's value is one (`--attr app_version=42` matches
    /// `op = "gte", value = 40`).
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The experiments file (TOML with [[flag]] tables).
    #[arg(long, value_name = "FILE")]
    pub experiments: PathBuf,
    /// Flag name.
    #[arg(long, value_name = "NAME")]
    pub flag: String,
    /// User id (hashed for rule and rollout allocations).
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// Context attribute, repeatable: --attr region=eu-west --attr app_version=42.
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
    pub attrs: Vec<(String, String)>,
    /// Print {"flag", "user_id", "variant", "value", "value_type", "reason", "bucket"} as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_attr(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE (got \"{text}\")")),
    }
}

pub fn run(cmd: FlagsCommand) -> Result<()> {
    let FlagsCommand::Eval(args) = cmd;
    let defs = load_file(&args.experiments)?;
    let Some(flag) = defs.flag(&args.flag) else {
        let known: Vec<&str> = defs.flags.iter().map(|f| f.name.as_str()).collect();
        bail!(
            "flag \"{}\" is not in {} (it has: {})",
            args.flag,
            args.experiments.display(),
            if known.is_empty() {
                "no flags".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let mut context = Context::new();
    for (key, value) in &args.attrs {
        context.insert(key.clone(), value.clone());
    }
    // The record `POST /v1/flags/eval` of `abacus serve` answers too.
    let record = FlagRecord::new(flag, &args.user, &context);
    if args.json {
        println!("{}", serde_json::to_string(&record)?);
    } else {
        println!("{}\t{}\t{}", record.variant, record.reason, record.value);
    }
    Ok(())
}
