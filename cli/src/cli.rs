//! Command-line arguments of `abacus` (clap derive). Help texts here are the user manual of
//! each flag, so they say what a flag does, its default and where else it can be set.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

/// A/B-testing analytics over Kafka and ClickHouse.
///
/// Configuration is read from defaults, then the config file (`--config`, else ./abacus.toml
/// when present), then `ABACUS_<SECTION>_<KEY>` environment variables (e.g.
/// ABACUS_CLICKHOUSE_URL), then the flags below; later sources win. `abacus config show`
/// prints the result. Set RUST_LOG (e.g. `debug`, `abacus_schema=debug`) for more logging.
#[derive(Debug, Parser)]
#[command(
    name = "abacus",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file to read [default: ./abacus.toml when it exists] [env: ABACUS_CONFIG]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "ABACUS_CONFIG",
        hide_env = true
    )]
    pub config: Option<PathBuf>,
    /// ClickHouse HTTP URL (clickhouse.url) [default: http://127.0.0.1:8123]
    #[arg(long, global = true, value_name = "URL")]
    pub clickhouse_url: Option<String>,
    /// ClickHouse database for all Abacus tables (clickhouse.database) [default: abacus]
    #[arg(long, global = true, value_name = "NAME")]
    pub database: Option<String>,
    /// Kafka bootstrap servers, comma-separated (kafka.brokers) [default: 127.0.0.1:9092]
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub kafka_brokers: Option<String>,
    /// Kafka topic(s) of experiment events, comma-separated (kafka.topic) [default: abacus-events]
    #[arg(long, global = true, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Kafka consumer group of ingest (kafka.group) [default: abacus-ingest]
    #[arg(long, global = true, value_name = "GROUP")]
    pub group: Option<String>,
    /// Log line format on stderr [env: ABACUS_LOG_FORMAT]
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ABACUS_LOG_FORMAT", hide_env = true)]
    pub log_format: LogFormat,
}

impl GlobalArgs {
    /// The flags that override configuration keys, as `(section.key, value)`.
    pub fn flag_overrides(&self) -> Vec<(&'static str, String)> {
        [
            ("clickhouse.url", &self.clickhouse_url),
            ("clickhouse.database", &self.database),
            ("kafka.brokers", &self.kafka_brokers),
            ("kafka.topic", &self.topic),
            ("kafka.group", &self.group),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the effective configuration.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Create and migrate the ClickHouse schema.
    #[command(subcommand)]
    Schema(commands::schema::SchemaCommand),
    /// Consume events from Kafka into ClickHouse (validate, dedupe, quarantine).
    #[command(long_about = commands::ingest::LONG_ABOUT)]
    Ingest(Box<commands::ingest::IngestArgs>),
    /// Publish synthetic experiment events to Kafka with known ground truth (load generator).
    #[command(long_about = commands::produce::LONG_ABOUT)]
    Produce(Box<commands::produce::ProduceArgs>),
    /// Compute experiment results from the event store (one pass, or a pass every --every).
    #[command(long_about = commands::aggregate::LONG_ABOUT)]
    Aggregate(Box<commands::aggregate::AggregateArgs>),
    /// Show the newest results per experiment as a table, JSON or a self-contained HTML page.
    #[command(long_about = commands::report::LONG_ABOUT)]
    Report(commands::report::ReportArgs),
    /// Serve the analysts' dashboard (web UI over the results; live updates).
    #[command(long_about = commands::dashboard::LONG_ABOUT)]
    Dashboard(commands::dashboard::DashboardArgs),
    /// Validate experiment definitions and store, list and show them in the registry.
    #[command(subcommand)]
    Experiments(commands::experiments::ExperimentsCommand),
    Assign(commands::assign::AssignArgs),
    /// Evaluate feature flags (from a file; no ClickHouse needed).
    #[command(subcommand)]
    Flags(commands::flags::FlagsCommand),
    /// Serve assignments and feature flags over HTTP (OpenFeature OFREP), logging exposures.
    #[command(long_about = commands::serve::LONG_ABOUT)]
    Serve(Box<commands::serve::ServeArgs>),
    /// Statistics calculators: compare arms, plan sample sizes, check sample ratios, adjust
    /// p-values, sequential tests. Needs no configuration.
    #[command(subcommand)]
    Stats(commands::stats::StatsCommand),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
