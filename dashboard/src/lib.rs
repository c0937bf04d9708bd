//! The analysts' dashboard (`abacus dashboard`): a small HTTP service over the result tables
//! the aggregator writes. It lists every experiment of the registry, shows one experiment's
//! decision and evidence, its run history and exports, and updates open pages when a new
//! aggregation run arrives. Pages are rendered by `abacus-report` (the same code as
//! `abacus report`); this crate only serves them.
//!
//! Reads only (`SELECT`): a ClickHouse user with read access is enough. A Content-Security-Policy
//! allows nothing but the dashboard's own origin; pages load one stylesheet and one small
//! script, both served by the binary.
//!
//! # Layout
//! - [`config`]: the `[dashboard]` configuration section.
//! - [`auth`]: optional bearer token or basic auth.
//! - [`state`]: the snapshot swapped atomically by the loader; older runs on demand.
//! - [`http`]: routes, handlers, security headers, ETags.
//! - [`error`](mod@error): the error type, [`DashboardError`].

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::DashboardConfig;
pub use error::DashboardError;
pub use state::{AppState, Snapshot};

/// Serves the dashboard on `listener` until `shutdown` completes, with a loader that checks
/// ClickHouse for new runs every `refresh_secs`. The first load happens before the first
/// request is answered; a failing load is logged and shown on the pages, and retried.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DashboardError> {
    load_once(&state).await;
    let loader = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(state.refresh_secs.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                load_once(&state).await;
            }
        })
    };
    let addr = listener.local_addr().map_err(DashboardError::Io)?;
    tracing::info!(%addr, auth = !state.auth.is_open(), "dashboard listening");
    let served = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(DashboardError::Io);
    loader.abort();
    tracing::info!("dashboard stopped");
    served
}

async fn load_once(state: &AppState) {
    match state::refresh(state).await {
        Ok(true) => tracing::debug!(version = state.snapshot().version, "snapshot updated"),
        Ok(false) => {}
        Err(err) => {
            tracing::error!(error = %err, "cannot load results; serving the previous data");
            state::record_error(state, &err);
        }
    }
}
