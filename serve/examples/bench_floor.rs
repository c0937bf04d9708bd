//! The HTTP floor of `scripts/bench-serve`: a bare axum handler on the same runtime settings as
//! `abacus serve` that reads the same OFREP request body, parses it with serde_json (into the
//! same shape the service decodes) and answers a constant JSON object. Whatever `abacus serve`
//! does beyond this — evaluation, exposure logging, metrics — is what the ratio measures.
//!
//! The bulk route answers the contents of `BULK_ANSWER_FILE` when one is given (the bench saves
//! one real bulk answer of `abacus serve` there): a 20-flag answer is about 4 KB, and moving
//! 4 KB through the kernel costs more than moving 80 bytes, so the bulk floor answers a constant
//! of the same size. Without the file both routes answer the short constant.
//!
//! Usage: `bench_floor [ADDR [BULK_ANSWER_FILE]]` (ADDR defaults to 127.0.0.1:18090)

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The allocator of the `abacus` binary, so the ratio compares the work and not allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Deserialize)]
struct Body {
    context: Map<String, Value>,
}

const ANSWER: &str =
    r#"{"key":"floor","value":true,"variant":"on","reason":"STATIC","metadata":{}}"#;

fn status(body: &[u8]) -> StatusCode {
    match serde_json::from_slice::<Body>(body) {
        Ok(b) if b.context.contains_key("targetingKey") => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    }
}

async fn evaluate(body: Bytes) -> impl IntoResponse {
    (
        status(&body),
        [(header::CONTENT_TYPE, "application/json")],
        ANSWER,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18090".to_owned());
    let bulk = match args.next() {
        Some(path) => Bytes::from(std::fs::read(&path)?),
        None => Bytes::from_static(ANSWER.as_bytes()),
    };
    let app = Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate))
        .route(
            "/ofrep/v1/evaluate/flags",
            post(move |body: Bytes| {
                let bulk = bulk.clone();
                async move {
                    (
                        status(&body),
                        [(header::CONTENT_TYPE, "application/json")],
                        bulk,
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
