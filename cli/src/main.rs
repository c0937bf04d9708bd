//! `abacus`: the command-line entry point. It only parses arguments, loads the configuration,
//! sets up logging and calls the library crates; every capability lives in a library.
//!
//! # Layout
//! - [`cli`]: the argument definitions (what `--help` shows).
//! - [`config`]: configuration layering (defaults, file, environment, flags).
//! - `commands/`: one module per subcommand group.

mod cli;
mod commands;
mod config;

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // `abacus stats` is pure computation: it neither needs nor loads the configuration.
    let cli = match cli.command {
        Command::Stats(cmd) => return commands::stats::run(cmd),
        command => Cli { command, ..cli },
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut flags = cli.global.flag_overrides();
    match &cli.command {
        Command::Ingest(args) => flags.extend(args.overrides()),
        Command::Aggregate(args) => flags.extend(args.overrides()),
        Command::Dashboard(args) => flags.extend(args.overrides()),
        Command::Serve(args) => flags.extend(args.overrides()),
        _ => {}
    }
    let loaded = config::load(cli.global.config.as_deref(), &env, &flags)?;
    for name in &loaded.env_unknown {
        tracing::warn!(variable = %name, "ignoring environment variable that matches no setting");
    }
    match cli.command {
        Command::Config(cmd) => commands::config::run(cmd, &loaded),
        Command::Schema(cmd) => runtime()?.block_on(commands::schema::run(cmd, &loaded.config)),
        Command::Experiments(cmd) => {
            runtime()?.block_on(commands::experiments::run(cmd, &loaded.config))
        }
        Command::Assign(args) => commands::assign::run(args),
        Command::Flags(cmd) => commands::flags::run(cmd),
        Command::Ingest(args) => runtime()?.block_on(commands::ingest::run(*args, &loaded.config)),
        Command::Produce(args) => {
            runtime()?.block_on(commands::produce::run(*args, &loaded.config))
        }
        Command::Aggregate(args) => {
            runtime()?.block_on(commands::aggregate::run(*args, &loaded.config))
        }
        Command::Report(args) => runtime()?.block_on(commands::report::run(args, &loaded.config)),
        Command::Dashboard(args) => {
            runtime()?.block_on(commands::dashboard::run(args, &loaded.config))
        }
        Command::Serve(args) => runtime()?.block_on(commands::serve::run(*args, &loaded.config)),
        Command::Stats(cmd) => commands::stats::run(cmd),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("failed to start the async runtime: {e}"))
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a journal or log file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
