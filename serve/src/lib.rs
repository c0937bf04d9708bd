//! `abacus serve`: the online assignment and feature-flag service.
//!
//! Product backends in any language ask it for a user's variant or a flag's value over HTTP —
//! through any OpenFeature SDK with its OFREP provider, or the native endpoints — and it logs an
//! `exposure` event to Kafka for each experiment evaluation, in the format `abacus ingest`
//! reads, with a deterministic id so that ingest keeps one per user, experiment and day.
//!
//! The definitions are an immutable snapshot swapped atomically on reload (arc-swap); a
//! request never waits for a lock, for Kafka or for ClickHouse. Handlers decode the request,
//! call the pure evaluation of [`eval`] (which the CLI's `assign` and `flags eval` call too)
//! and encode the answer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), abacus_serve::ServeError> {
//! use std::sync::Arc;
//! use abacus_serve::{config::Limits, exposure::Exposures, metrics::Metrics, snapshot::ConfigStore};
//! let snapshot = abacus_serve::source::load_file("experiments.toml".as_ref())?;
//! let metrics = Arc::new(Metrics::default());
//! let state = abacus_serve::AppState::new(
//!     Arc::new(ConfigStore::with(snapshot)),
//!     Arc::new(Exposures::disabled(metrics.clone())),
//!     metrics,
//!     Limits::default(),
//!     std::time::Duration::from_secs(10),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! abacus_serve::run(listener, state, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: the `[serve]` configuration section and the request limits.
//! - [`snapshot`]: the immutable configuration snapshot and the store that swaps it.
//! - [`source`]: loading and reloading from the experiments file or the registry.
//! - [`request`]: decoding request bodies into an evaluation context (OFREP error codes).
//! - `wire`: the OFREP context object read in one pass into an evaluation context.
//! - [`eval`]: the pure evaluation shared with the CLI, and the answer shapes.
//! - [`answer`]: the JSON of OFREP answers, written straight into the response buffer.
//! - [`exposure`]: deterministic exposure events and the non-blocking Kafka publisher.
//! - [`recent`]: the bounded set of recently published exposure ids.
//! - [`metrics`]: counters and histograms, Prometheus text.
//! - `http`: state, router, API keys, body limits, health/readiness/metrics endpoints.
//! - `ofrep`: the OFREP single and bulk endpoints; `native`: `/v1/assign`, `/v1/flags/eval`,
//!   `/v1/exposures`.

pub mod answer;
pub mod config;
pub mod eval;
pub mod exposure;
mod http;
pub mod metrics;
mod native;
mod ofrep;
pub mod recent;
pub mod request;
pub mod snapshot;
pub mod source;
mod wire;

use std::future::Future;

use tokio::net::TcpListener;

pub use config::ServeConfig;
pub use http::{router, AppState};
pub use ofrep::etag;

/// What can stop the service or a reload.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Invalid configuration.
    #[error("invalid serve configuration: {0}")]
    Config(String),
    /// The definitions could not be loaded.
    #[error("cannot load definitions from {source_name}: {message}")]
    Source {
        /// The file or `registry`.
        source_name: String,
        /// Why.
        message: String,
    },
    /// The Kafka producer could not be created.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The HTTP server failed.
    #[error("http server failed: {0}")]
    Http(#[from] std::io::Error),
}

/// Serves HTTP on `listener` until `shutdown` resolves, then finishes open requests (for at most
/// the shutdown timeout) and waits up to the shutdown timeout again for queued exposures to
/// reach Kafka.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    use std::future::IntoFuture;
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "serving");
    let timeout = state.inner().shutdown_timeout;
    let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing open requests");
            let _ = signalled.send(());
        })
        .into_future();
    // Connections that stay busy past the timeout are closed.
    let deadline = async move {
        match on_signal.await {
            Ok(()) => tokio::time::sleep(timeout).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = server => served?,
        _ = deadline => tracing::warn!(
            timeout_secs = timeout.as_secs(),
            "open requests did not finish within the shutdown timeout; closing them"
        ),
    }
    let left = state.exposures().flush(timeout).await;
    if left > 0 {
        tracing::warn!(
            unsent = left,
            "stopped with exposures Kafka has not acknowledged (they are lost)"
        );
    } else {
        tracing::info!("stopped; every queued exposure was delivered");
    }
    Ok(())
}
