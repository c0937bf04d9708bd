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

/// mimalloc instead of the system allocator: `abacus serve` allocates and frees a few small
/// buffers per request on two threads, and glibc's malloc cost about 10% of its CPU there
/// (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set to a number of seconds, a thread panics after that long (for the test that a panic in
/// any thread ends the process). Not a setting; never set it in production.
pub const DEBUG_PANIC_VAR: &str = "ABACUS_DEBUG_PANIC_AFTER_SECS";

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.log_format);
    exit_on_panic();
    if let Some(secs) = std::env::var(DEBUG_PANIC_VAR)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(secs));
            panic!("{DEBUG_PANIC_VAR}: a panic on purpose after {secs} s");
        });
    }
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

/// A panic in any thread ends the process (SIGABRT, after the usual message and an ERROR log
/// line): a thread that died may hold work the rest waits for (the ingest consumer thread did),
/// and a supervisor (systemd, Kubernetes) restarts a process that exits, not one that hangs.
fn exit_on_panic() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        print(info);
        tracing::error!(
            panic = %info,
            "internal error: a thread panicked; abacus stops (this is a bug, please report it)"
        );
        std::process::abort();
    }));
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
