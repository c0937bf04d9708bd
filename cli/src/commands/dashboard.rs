//! `abacus dashboard`: the analysts' web UI over the result tables (see the dashboard crate).

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use abacus_dashboard::AppState;

use crate::commands::schema::connect;
use crate::config::Config;

/// The long description of `abacus dashboard --help`.
pub const LONG_ABOUT: &str = "Serve the analysts' dashboard: every experiment of the registry \
with its status, decision and health, one page per experiment (decision banner with reasons, \
health strip, metrics with intervals, baseline picker, cumulative lift, segments, balance, CSV and \
JSON exports), the run history, and live updates when `abacus aggregate` writes a new run. \
Listens on 127.0.0.1 by default; reads with SELECT only (a read-only ClickHouse user is enough). \
Set dashboard.token (ABACUS_DASHBOARD_TOKEN) or dashboard.basic_user/basic_password to require \
credentials; they are never logged. Stops on SIGINT/SIGTERM.";

/// Flags of `abacus dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Address to listen on [default: 127.0.0.1:8090] [config: dashboard.listen]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Seconds between checks for new runs [default: 5] [config: dashboard.refresh_secs]
    #[arg(long, value_name = "SECS")]
    pub refresh_secs: Option<String>,
}

impl DashboardArgs {
    /// `(section.key, value)` overrides from the flags.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        [
            ("dashboard.listen", &self.listen),
            ("dashboard.refresh_secs", &self.refresh_secs),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

pub async fn run(_args: DashboardArgs, config: &Config) -> Result<()> {
    let dc = &config.dashboard;
    dc.validate()?;
    let ch = connect(config).await?;
    let listener = tokio::net::TcpListener::bind(&dc.listen)
        .await
        .with_context(|| format!("cannot listen on {}", dc.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    eprintln!("dashboard: http://{addr}/ (stop with Ctrl-C)");
    let state = Arc::new(AppState::new(ch, config.aggregate.clone(), dc));
    abacus_dashboard::run(listener, state, crate::shutdown_signal()).await?;
    Ok(())
}
