//! `abacus schema`: applies the embedded migrations, reports their status and prints the DDL.

use anyhow::{Context, Result};
use clap::Subcommand;

use abacus_schema::ident::check_ident;
use abacus_schema::migrator::full_script;
use abacus_schema::render::Target;
use abacus_schema::ClickHouse;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Create the database if missing and apply pending migrations in order. Safe to rerun:
    /// prints "up to date" when nothing is pending. Fails, naming the file, when an applied
    /// migration was edited.
    Migrate,
    /// List applied and pending migrations.
    Status,
    /// Print every DDL statement that `migrate` runs on an empty database, rendered for the
    /// configured database (and cluster). Connects to nothing.
    Print {
        /// Render for this cluster instead of the configured one (ON CLUSTER, Replicated
        /// engines, Distributed tables).
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// Print instead the queries ingest, the aggregator and reports run, rendered
        /// with sample values for the experiments of FILE (used by scripts/sqlcheck to check
        /// them on current ClickHouse).
        #[arg(long, value_name = "FILE")]
        runtime: Option<std::path::PathBuf>,
    },
}

pub async fn run(cmd: SchemaCommand, config: &Config) -> Result<()> {
    let migrations = abacus_schema::embedded().context("embedded migrations are invalid")?;
    match cmd {
        SchemaCommand::Print {
            runtime: Some(file),
            ..
        } => {
            check_ident("database", &config.clickhouse.database)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let defs = abacus_assign::parse(&text)
                .with_context(|| format!("invalid experiments file {}", file.display()))?;
            println!("-- runtime statements for {}", file.display());
            println!("USE `{}`;\n", config.clickhouse.database);
            let mut all = abacus_aggregator::statements::common();
            all.extend(abacus_report::statements::common());
            all.extend(ingest_statements());
            // The registry reads that `abacus serve --source registry` polls.
            all.push((
                "registry: every stored experiment version".to_owned(),
                abacus_registry::store::SELECT_ALL.to_owned(),
            ));
            all.push((
                "registry: every stored flag version".to_owned(),
                abacus_registry::flags::SELECT_FLAGS.to_owned(),
            ));
            for e in &defs.experiments {
                all.extend(abacus_aggregator::statements::for_experiment(e));
                all.extend(abacus_report::statements::for_experiment(e));
            }
            for (what, statement) in all {
                println!("-- {what}\n{statement};\n");
            }
            Ok(())
        }
        SchemaCommand::Print { cluster, .. } => {
            let target = Target {
                database: config.clickhouse.database.clone(),
                cluster: cluster.or_else(|| config.clickhouse.cluster().map(str::to_owned)),
            };
            check_ident("database", &target.database)?;
            if let Some(c) = &target.cluster {
                check_ident("cluster", c)?;
            }
            for (file, statements) in full_script(&target, &migrations)? {
                println!("-- {file}");
                for statement in statements {
                    println!("{statement};\n");
                }
            }
            Ok(())
        }
        SchemaCommand::Migrate => {
            let ch = connect(config).await?;
            let applied = abacus_schema::migrate(&ch, &migrations)
                .await
                .with_context(|| format!("failed to migrate database `{}`", ch.database()))?;
            if applied.is_empty() {
                println!(
                    "schema of database `{}` is up to date ({} migrations applied)",
                    ch.database(),
                    migrations.len()
                );
            } else {
                for m in &applied {
                    println!("applied {}", m.file);
                }
                println!(
                    "schema of database `{}` migrated: {} applied now, {} in total",
                    ch.database(),
                    applied.len(),
                    migrations.len()
                );
            }
            Ok(())
        }
        SchemaCommand::Status => {
            let ch = connect(config).await?;
            let status = abacus_schema::status(&ch, &migrations)
                .await
                .with_context(|| {
                    format!("failed to read the schema status of `{}`", ch.database())
                })?;
            println!(
                "database `{}` on ClickHouse {}",
                ch.database(),
                ch.version()
            );
            for a in &status.applied {
                println!("  applied  {}", a.file);
            }
            for p in &status.pending {
                println!("  pending  {}", p.file);
            }
            Ok(())
        }
    }
}

/// Connects to the configured ClickHouse, with the URL in any error.
pub async fn connect(config: &Config) -> Result<ClickHouse> {
    ClickHouse::connect(&config.clickhouse)
        .await
        .with_context(|| {
            format!(
                "failed to connect to clickhouse at {}",
                abacus_schema::redact_url(&config.clickhouse.url)
            )
        })
}

/// Ingest's queries with sample values (its inserts are RowBinary and carry no SQL to check).
fn ingest_statements() -> Vec<(String, String)> {
    use abacus_aggregator::sql::{Statement, Value};
    use abacus_ingest::state::{select_stored, SELECT_QUARANTINED, SELECT_RECENT_IDS};
    let render = |sql: String, values: Vec<Value>| Statement { sql, values }.render();
    let topic = || Value::Str("abacus-events".to_owned());
    let mut out = vec![
        (
            "ingest: dedupe state of a partition".to_owned(),
            render(
                SELECT_RECENT_IDS.to_owned(),
                vec![
                    topic(),
                    Value::Int(0),
                    Value::UInt(21_600),
                    Value::Int(1_000),
                ],
            ),
        ),
        (
            "ingest: quarantined offsets of a partition".to_owned(),
            render(
                SELECT_QUARANTINED.to_owned(),
                vec![topic(), Value::Int(0), Value::Int(1_000)],
            ),
        ),
    ];
    for table in ["events", "quarantine"] {
        out.push((
            format!("ingest: stored offsets in {table}"),
            render(
                select_stored(table),
                vec![topic(), Value::Int(0), Value::Int(1_000), Value::Int(2_000)],
            ),
        ));
    }
    out
}
