//! The HTTP endpoints of `--metrics-addr` (axum): `GET /metrics` (Prometheus text),
//! `GET /healthz` (liveness: the process answers) and `GET /readyz` (readiness: 503 while a
//! partition is stalled, naming it).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// The endpoints' routes.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(metrics)
}

/// Serves [`router`] on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<()> {
    axum::serve(listener, router(metrics)).await
}

async fn render(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

async fn ready(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    let stalled = metrics.stalled_partitions();
    if stalled.is_empty() {
        return (StatusCode::OK, "ready\n".to_owned());
    }
    let names: Vec<String> = stalled
        .iter()
        .map(|(topic, partition)| format!("{topic}/{partition}"))
        .collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "not ready: stalled partitions (topic/partition): {}\n",
            names.join(", ")
        ),
    )
}
