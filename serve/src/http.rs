//! The HTTP layer shared by every endpoint: the application state, the router, API-key checks,
//! reading a JSON body within the size limit, JSON responses, and the health, readiness and
//! metrics endpoints. The evaluation endpoints are in [`crate::ofrep`] and [`crate::native`].
//!
//! Every answer of the OFREP and native endpoints, errors included, is
//! `Content-Type: application/json`; errors carry `errorCode` and `errorDetails` (and `key` on
//! the single-flag endpoint), as the OFREP specification writes them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::config::Limits;
use crate::exposure::Exposures;
use crate::metrics::{Endpoint, Metrics};
use crate::request::{check_content_type, BadRequest, ErrorCode};
use crate::snapshot::{ConfigStore, Snapshot};
use crate::{native, ofrep};

/// Everything a request needs: the configuration store, the exposure publisher, the metrics and
/// the limits. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<ConfigStore>,
    pub(crate) exposures: Arc<Exposures>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: Limits,
    pub(crate) shutdown_timeout: Duration,
}

impl AppState {
    /// The state of one server.
    pub fn new(
        store: Arc<ConfigStore>,
        exposures: Arc<Exposures>,
        metrics: Arc<Metrics>,
        limits: Limits,
        shutdown_timeout: Duration,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            exposures,
            metrics,
            limits,
            shutdown_timeout,
        }))
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }

    /// The exposure publisher.
    pub fn exposures(&self) -> &Arc<Exposures> {
        &self.0.exposures
    }
}

/// The router with every endpoint.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(ofrep::single))
        .route("/ofrep/v1/evaluate/flags", post(ofrep::bulk))
        .route("/v1/assign", post(native::assign))
        .route("/v1/flags/eval", post(native::flags_eval))
        .route("/v1/exposures", post(native::exposures))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    ErrorCode::General,
                    "internal error (logged by the server)",
                )
            },
        ))
        .with_state(state)
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An OFREP-shaped error: `{"key"?, "errorCode", "errorDetails"}`.
pub(crate) fn error_response(
    status: StatusCode,
    key: Option<&str>,
    code: ErrorCode,
    detail: &str,
) -> Response {
    let body = match key {
        Some(key) => json!({"key": key, "errorCode": code.as_str(), "errorDetails": detail}),
        None => json!({"errorCode": code.as_str(), "errorDetails": detail}),
    };
    json_response(status, body.to_string().into_bytes())
}

/// A refused request: its status, code and message.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) bad: BadRequest,
}

impl Refusal {
    pub(crate) fn bad_request(bad: BadRequest) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            bad,
        }
    }

    pub(crate) fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            bad: BadRequest::new(code, detail),
        }
    }

    pub(crate) fn into_response(self, key: Option<&str>, metrics: &Metrics) -> Response {
        metrics.error(self.bad.code);
        error_response(self.status, key, self.bad.code, &self.bad.detail)
    }
}

impl Inner {
    /// Checks the API key, the content type and the size, and reads the body.
    pub(crate) async fn read_json(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<axum::body::Bytes, Refusal> {
        self.authorize(headers)?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)"));
        check_content_type(content_type).map_err(|bad| Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            bad,
        })?;
        let limit = self.limits.max_body_bytes;
        let too_large = |size: &str| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::ParseError,
                format!("the body is {size} bytes, the limit is {limit} (serve.max_body_bytes)"),
            )
        };
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > limit as u64 {
                return Err(too_large(&len.to_string()));
            }
        }
        axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large("more than"))
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let keys = &self.limits.api_keys;
        if keys.is_empty() {
            return Ok(());
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim);
        match given {
            Some(key)
                if keys
                    .iter()
                    .any(|k| constant_time_eq(k.as_bytes(), key.as_bytes())) =>
            {
                Ok(())
            }
            Some(_) => Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::General,
                "the API key is not valid",
            )),
            None => Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::General,
                "an API key is required (send `Authorization: Bearer <key>` or `X-API-Key: <key>`)",
            )),
        }
    }

    /// The snapshot serving now, or 503 before the first load.
    pub(crate) fn snapshot(&self) -> Result<Arc<Snapshot>, Refusal> {
        self.store.load().ok_or_else(|| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::General,
                "no configuration is loaded yet (see /readyz)",
            )
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request asks not to log an exposure (`X-Abacus-Track: false`).
pub(crate) fn tracking_off(headers: &HeaderMap) -> bool {
    headers
        .get("x-abacus-track")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "off"
            )
        })
}

/// The request's headers and body, taken apart without copying (axum's `HeaderMap` extractor
/// clones the headers).
pub(crate) fn headers_and_body(request: axum::extract::Request) -> (HeaderMap, Body) {
    let (parts, body) = request.into_parts();
    (parts.headers, body)
}

/// Runs `handler`, answers a refusal as an OFREP error (naming `key`, if any), and counts the
/// request and its latency under `endpoint`.
pub(crate) async fn timed(
    metrics: &Metrics,
    endpoint: Endpoint,
    key: Option<&str>,
    handler: impl std::future::Future<Output = Result<Response, Refusal>>,
) -> Response {
    let start = Instant::now();
    let response = handler
        .await
        .unwrap_or_else(|refusal| refusal.into_response(key, metrics));
    metrics.request(endpoint, response.status().as_u16(), start.elapsed());
    response
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

async fn readyz(State(state): State<AppState>) -> Response {
    let inner = state.inner();
    let error = inner.store.last_error().map(|e| {
        json!({
            "message": e.message,
            "at": chrono::DateTime::<chrono::Utc>::from(e.at).to_rfc3339(),
        })
    });
    let (status, body) = match inner.store.load() {
        Some(s) => {
            let age = SystemTime::now()
                .duration_since(s.loaded_at)
                .unwrap_or_default()
                .as_secs();
            (
                StatusCode::OK,
                json!({
                    "status": "ready",
                    "version": s.version,
                    "source": s.source,
                    "loaded_at": chrono::DateTime::<chrono::Utc>::from(s.loaded_at).to_rfc3339(),
                    "age_secs": age,
                    "experiments": s.definitions.experiments.len(),
                    "flags": s.definitions.flags.len(),
                    "last_reload_error": error,
                }),
            )
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "loading", "last_reload_error": error}),
        ),
    };
    json_response(status, body.to_string().into_bytes())
}

async fn metrics(State(state): State<AppState>) -> Response {
    let inner = state.inner();
    inner.metrics.queue_depth.store(
        inner.exposures.queue_depth(),
        std::sync::atomic::Ordering::Relaxed,
    );
    let text = inner.metrics.render(&inner.store);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        None,
        ErrorCode::General,
        &format!(
            "no endpoint at {} (see /ofrep/v1/evaluate/flags/{{key}}, /v1/assign, /v1/flags/eval, /v1/exposures, /healthz, /readyz, /metrics)",
            uri.path()
        ),
    )
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        ErrorCode::General,
        "method not allowed (evaluation endpoints take POST, health endpoints GET)",
    )
}
