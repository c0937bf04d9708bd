//! The HTTP floor of `scripts/bench-serve`: a bare axum handler on the same runtime settings as
//! `abacus serve` that reads the same OFREP request body, parses it with serde_json (into the
//! same shape the service decodes) and answers a constant JSON object. Whatever `abacus serve`
//! does beyond this — evaluation, exposure logging, metrics — is what the ratio measures.
//!
//! Usage: `bench_floor 127.0.0.1:18090`

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Body {
    context: Map<String, Value>,
}

const ANSWER: &str =
    r#"{"key":"floor","value":true,"variant":"on","reason":"STATIC","metadata":{}}"#;

async fn evaluate(body: Bytes) -> impl IntoResponse {
    let status = match serde_json::from_slice::<Body>(&body) {
        Ok(b) if b.context.contains_key("targetingKey") => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, [(header::CONTENT_TYPE, "application/json")], ANSWER)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".to_owned());
    let app = Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate))
        .route("/ofrep/v1/evaluate/flags", post(evaluate));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
