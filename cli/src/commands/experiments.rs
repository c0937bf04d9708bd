//! `abacus experiments`: validates an experiments file and stores, lists and shows experiment
//! definitions in the registry (the `experiments` table in ClickHouse).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;

use abacus_assign::{Definitions, Experiment};
use abacus_registry::{Action, Plan, StoredExperiment};
use abacus_report::text::terminal;
use abacus_schema::ClickHouse;

use crate::commands::schema::connect;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ExperimentsCommand {
    /// Check an experiments file and print its experiments, slices and flags. Connects to
    /// nothing. Every problem is listed with the experiment (or layer, or flag) and field.
    Validate {
        /// The experiments file (TOML with [[experiment]] and [[flag]] tables).
        file: PathBuf,
    },
    /// Validate an experiments file and store every new or changed experiment as a new
    /// version (with the time it was applied). Unchanged experiments are not stored again.
    /// Prints, per experiment, what happens and, for changed ones, which fields changed and
    /// whether users already assigned would move. Needs `abacus schema migrate` to have run.
    Apply {
        /// The experiments file.
        file: PathBuf,
        /// Show what would change without storing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the current version of every experiment in the registry.
    List {
        /// One JSON object per experiment, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Show the current (or a given) version of one experiment.
    #[command(disable_version_flag = true)]
    Show {
        /// Experiment id.
        id: String,
        /// Show this version instead of the current one.
        #[arg(long, value_name = "N")]
        version: Option<u32>,
        /// Print the stored definition as JSON (with version, applied_at and checksum).
        #[arg(long)]
        json: bool,
    },
}

/// Reads and validates an experiments file, naming the file in errors.
pub fn load_file(path: &Path) -> Result<Definitions> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read experiments file {}", path.display()))?;
    abacus_assign::parse(&text)
        .with_context(|| format!("invalid experiments file {}", path.display()))
}

pub async fn run(cmd: ExperimentsCommand, config: &Config) -> Result<()> {
    match cmd {
        ExperimentsCommand::Validate { file } => {
            let defs = load_file(&file)?;
            println!(
                "{}: {} experiments, {} flags, valid",
                file.display(),
                defs.experiments.len(),
                defs.flags.len()
            );
            for e in &defs.experiments {
                println!("  {}", summary(e));
            }
            for f in &defs.flags {
                println!(
                    "  flag {} ({}, {} values, {} rules, default {})",
                    f.name,
                    if f.enabled { "enabled" } else { "disabled" },
                    f.value_type,
                    f.rules.len(),
                    terminal(&f.default)
                );
            }
            Ok(())
        }
        ExperimentsCommand::Apply { file, dry_run } => {
            let defs = load_file(&file)?;
            let ch = connect(config).await?;
            let plan = abacus_registry::plan(&ch, &defs)
                .await
                .with_context(|| registry_context(&ch))?;
            let flag_plan = abacus_registry::plan_flags(&ch, &defs)
                .await
                .with_context(|| registry_context(&ch))?;
            print_plan(&plan, dry_run);
            for c in &flag_plan {
                let what = match (&c.action, c.new_version()) {
                    (abacus_registry::Action::Unchanged { version }, _) => {
                        format!("unchanged (version {version})")
                    }
                    (_, Some(v)) if dry_run => format!("would store version {v}"),
                    (_, Some(v)) => format!("stores version {v}"),
                    (_, None) => String::new(),
                };
                println!("  flag {}: {what}", c.flag.name);
            }
            if dry_run {
                println!("dry run: nothing stored");
                return Ok(());
            }
            let mut stored = abacus_registry::apply(&ch, &plan)
                .await
                .with_context(|| format!("failed to store definitions in `{}`", ch.database()))?;
            stored.extend(
                abacus_registry::apply_flags(&ch, &flag_plan)
                    .await
                    .with_context(|| format!("failed to store flags in `{}`", ch.database()))?,
            );
            if stored.is_empty() {
                println!("registry is up to date: nothing stored");
            } else {
                println!(
                    "stored {} new versions in database `{}`",
                    stored.len(),
                    ch.database()
                );
            }
            Ok(())
        }
        ExperimentsCommand::List { json } => {
            let ch = connect(config).await?;
            let all = abacus_registry::current(&ch)
                .await
                .with_context(|| registry_context(&ch))?;
            if json {
                for s in &all {
                    println!("{}", stored_json(s, false));
                }
            } else if all.is_empty() {
                println!(
                    "no experiments in database `{}` (store some with `abacus experiments apply FILE`)",
                    ch.database()
                );
            } else {
                println!(
                    "{:<32} {:>7}  {:<20} {:<12} {:>7}  VARIANTS",
                    "ID", "VERSION", "APPLIED (UTC)", "LAYER", "TRAFFIC"
                );
                for s in &all {
                    let e = &s.experiment;
                    println!(
                        "{:<32} {:>7}  {:<20} {:<12} {:>7}  {}",
                        e.id,
                        s.version,
                        s.applied_at.format("%Y-%m-%d %H:%M:%S"),
                        e.layer.as_deref().unwrap_or("-"),
                        e.traffic,
                        variant_list(e)
                    );
                }
            }
            Ok(())
        }
        ExperimentsCommand::Show { id, version, json } => {
            let ch = connect(config).await?;
            let history = abacus_registry::history(&ch, &id)
                .await
                .with_context(|| registry_context(&ch))?;
            let Some(latest) = history.last() else {
                bail!(
                    "experiment \"{id}\" is not in the registry of database `{}`",
                    ch.database()
                );
            };
            let shown = match version {
                None => latest,
                Some(v) => match history.iter().find(|s| s.version == v) {
                    Some(s) => s,
                    None => bail!(
                        "experiment \"{id}\" has no version {v} (stored versions: 1 to {})",
                        latest.version
                    ),
                },
            };
            if json {
                println!("{:#}", stored_json(shown, shown.version == latest.version));
            } else {
                print_experiment(shown, latest.version);
            }
            Ok(())
        }
    }
}

fn registry_context(ch: &ClickHouse) -> String {
    format!(
        "failed to read the experiment registry in database `{}` (has `abacus schema migrate` run?)",
        ch.database()
    )
}

fn variant_list(e: &Experiment) -> String {
    e.variants
        .iter()
        .map(|v| format!("{}:{}", v.name, v.weight))
        .collect::<Vec<_>>()
        .join(" ")
}

fn summary(e: &Experiment) -> String {
    format!(
        "{} (namespace {}, {}slice {}, traffic {}, variants {})",
        e.id,
        e.namespace,
        e.layer
            .as_ref()
            .map(|l| format!("layer {l}, "))
            .unwrap_or_default(),
        e.buckets,
        e.traffic,
        variant_list(e)
    )
}

fn stored_json(s: &StoredExperiment, current: bool) -> serde_json::Value {
    json!({
        "id": s.experiment.id,
        "version": s.version,
        "current": current,
        "applied_at": s.applied_at.to_rfc3339(),
        "checksum": s.checksum,
        "definition": s.experiment,
    })
}

fn print_plan(plan: &Plan, dry_run: bool) {
    let verb = if dry_run { "would store" } else { "stores" };
    for c in &plan.changes {
        let id = &c.experiment.id;
        match &c.action {
            Action::New => println!("new        {id}: {verb} version 1"),
            Action::Unchanged { version } => {
                println!("unchanged  {id}: version {version} is current")
            }
            Action::Changed { from } => {
                println!(
                    "changed    {id}: {verb} version {} (was {from}); fields: {}",
                    from + 1,
                    c.changed_fields.join(", ")
                );
                for m in &c.moves {
                    println!("           warning: {m}");
                }
            }
        }
    }
    for id in &plan.not_in_file {
        println!("kept       {id}: stored, not in this file (left as it is)");
    }
}

fn print_experiment(s: &StoredExperiment, latest: u32) {
    let e = &s.experiment;
    let state = if s.version == latest {
        "current".to_owned()
    } else {
        format!("current is {latest}")
    };
    println!("{} — {}", e.id, terminal(&e.name));
    println!(
        "  version     {} ({state}), applied {}",
        s.version,
        s.applied_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if !e.hypothesis.is_empty() {
        println!("  hypothesis  {}", terminal(&e.hypothesis));
    }
    println!(
        "  assignment  namespace {}, {}slice {} of 10000 buckets (traffic {})",
        e.namespace,
        e.layer
            .as_ref()
            .map(|l| format!("layer {l}, "))
            .unwrap_or_default(),
        e.buckets,
        e.traffic
    );
    let end = e.end.map_or("open".to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    });
    println!(
        "  period      {} to {end}",
        e.start.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let mut analysis = vec![
        format!("alpha {}", e.alpha),
        if e.sequential {
            "sequential".to_owned()
        } else {
            "fixed horizon".to_owned()
        },
        e.engine.as_str().to_owned(),
    ];
    if let Some(p) = e.prior {
        analysis.push(format!(
            "prior N({}, {}²) on relative effects",
            p.mean, p.sd
        ));
    }
    let cuped: Vec<&str> = e
        .metrics
        .iter()
        .filter(|m| e.uses_cuped(m))
        .map(|m| m.name.as_str())
        .collect();
    if !cuped.is_empty() {
        analysis.push(format!(
            "CUPED over {} before exposure on {}",
            e.pre_period(),
            cuped.join(", ")
        ));
    }
    if let Some(plan) = e.plan {
        analysis.push(match plan.users {
            Some(n) => format!("planned users {n}"),
            None => format!(
                "plan: baseline {}, mde {}, power {}",
                plan.baseline.unwrap_or(0.0),
                plan.mde.unwrap_or(0.0),
                plan.power.unwrap_or(0.8)
            ),
        });
    }
    println!("  analysis    {}", analysis.join(", "));
    if !e.segments.is_empty() {
        println!("  segments    {}", terminal(&e.segments.join(", ")));
    }
    println!("  variants");
    for v in &e.variants {
        let control = if v.name == e.control {
            " (control)"
        } else {
            ""
        };
        println!(
            "    {:<20} weight {:<6} variant buckets {}{control}",
            v.name, v.weight, v.buckets
        );
    }
    println!("  metrics");
    for m in &e.metrics {
        let mut notes = vec![
            format!("{:?}", m.kind).to_lowercase(),
            format!("event {}", terminal(&m.event)),
        ];
        if let Some(d) = &m.denominator {
            notes.push(format!("per {}", terminal(d)));
        }
        if m.primary {
            notes.push("primary".into());
        }
        if m.guardrail {
            notes.push(
                format!(
                    "guardrail ({:?}, margin {})",
                    m.direction,
                    m.margin.unwrap_or_default()
                )
                .to_lowercase(),
            );
        }
        if let Some(w) = m.window {
            notes.push(format!("window {w}"));
        }
        if let Some(w) = m.winsorize {
            notes.push(format!("winsorize {w}"));
        }
        if let (Some(f), Some(t)) = (m.from_day, m.to_day) {
            notes.push(format!("days {f}..={t}"));
        }
        println!("    {:<20} {}", m.name, notes.join(", "));
    }
}
