//! The OpenFeature Remote Evaluation Protocol endpoints (OFREP 0.3, `service/openapi.yaml` of
//! open-feature/protocol):
//!
//! - `POST /ofrep/v1/evaluate/flags/{key}`: one flag or experiment. 200 with
//!   `{key, value, variant, reason, metadata}`; 400 `{key, errorCode, errorDetails}` with
//!   `PARSE_ERROR`, `TARGETING_KEY_MISSING` or `INVALID_CONTEXT`; 404 `FLAG_NOT_FOUND`. An
//!   experiment the user is in publishes an exposure unless `X-Abacus-Track: false`.
//! - `POST /ofrep/v1/evaluate/flags`: every flag and experiment, `{"flags": [...], "metadata":
//!   {"configVersion"}}`, with an `ETag` that is a hash of that body (so a changed context or
//!   configuration never gets a stale 304) and 304 when `If-None-Match` matches it. Bulk
//!   evaluation logs no exposures (it would enroll every user in every experiment). An
//!   experiment randomized by an attribute the context lacks is an `evaluationFailure` entry
//!   (`INVALID_CONTEXT`) in a bulk answer, and a 400 `INVALID_CONTEXT` for a single one.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::answer::{write_bulk, write_evaluation};
use crate::eval::{evaluate, evaluate_all, BulkItem, OfrepReason};
use crate::http::{headers_and_body, json_response, timed, tracking_off, AppState, Refusal};
use crate::metrics::Endpoint;
use crate::request::{decode_ofrep, ErrorCode};

/// `POST /ofrep/v1/evaluate/flags/{key}`.
pub(crate) async fn single(
    State(state): State<AppState>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    let (headers, body) = headers_and_body(request);
    let inner = state.inner();
    timed(
        &inner.metrics,
        Endpoint::OfrepFlag,
        Some(&key),
        single_inner(&state, &key, &headers, body),
    )
    .await
}

async fn single_inner(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let inner = state.inner();
    let bytes = inner.read_json(headers, body).await?;
    let ctx = decode_ofrep(&bytes, inner.limits.max_attributes).map_err(Refusal::bad_request)?;
    let snapshot = inner.snapshot()?;
    let now = chrono::Utc::now();
    let Some(evaluated) = evaluate(&snapshot, key, &ctx, now) else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            ErrorCode::FlagNotFound,
            format!(
                "no flag or experiment is named \"{key}\" (configuration {})",
                snapshot.version
            ),
        ));
    };
    let evaluated = evaluated.map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidContext,
            e.to_string(),
        )
    })?;
    inner.metrics.evaluation(evaluated.answer.reason);
    if let Some((experiment, variant)) = evaluated.exposure {
        if !tracking_off(headers) {
            inner
                .exposures
                .expose(experiment, variant, &ctx.targeting_key, &ctx.context, now);
        }
    }
    let mut body = Vec::with_capacity(384);
    write_evaluation(&mut body, &evaluated.answer);
    Ok(json_response(StatusCode::OK, body))
}

/// `POST /ofrep/v1/evaluate/flags`.
pub(crate) async fn bulk(State(state): State<AppState>, request: Request) -> Response {
    let (headers, body) = headers_and_body(request);
    let inner = state.inner();
    timed(
        &inner.metrics,
        Endpoint::OfrepBulk,
        None,
        bulk_inner(&state, &headers, body),
    )
    .await
}

async fn bulk_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let inner = state.inner();
    let bytes = inner.read_json(headers, body).await?;
    let ctx = decode_ofrep(&bytes, inner.limits.max_attributes).map_err(Refusal::bad_request)?;
    let snapshot = inner.snapshot()?;
    let flags = evaluate_all(&snapshot, &ctx, chrono::Utc::now());
    let mut reasons = [0; OfrepReason::ALL.len()];
    for f in &flags {
        match f {
            BulkItem::Evaluated(e) => reasons[e.reason as usize] += 1,
            BulkItem::Failed { .. } => inner.metrics.error(ErrorCode::InvalidContext),
        }
    }
    inner.metrics.evaluations(&reasons);
    let mut body = Vec::with_capacity(256 * (flags.len() + 1));
    write_bulk(&mut body, &flags, &snapshot.version);
    let etag = etag(&body);
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    let mut response = if matches {
        json_response(StatusCode::NOT_MODIFIED, Vec::new())
    } else {
        json_response(StatusCode::OK, body)
    };
    response.headers_mut().insert(header::ETAG, etag_value);
    Ok(response)
}

/// A strong ETag: the 64-bit XXH3 of the body as 16 hex digits, quoted. A change detector,
/// not a secret: a fast non-cryptographic hash is enough (the body is 4 KB for 20 flags, and
/// SHA-256 of it cost as much as serializing it).
pub fn etag(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let h = twox_hash::XxHash3_64::oneshot(body);
    let mut tag = String::with_capacity(18);
    tag.push('"');
    tag.extend(
        (0..16)
            .rev()
            .map(|i| char::from(HEX[((h >> (i * 4)) & 0xf) as usize])),
    );
    tag.push('"');
    tag
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_are_the_quoted_hex_of_xxh3() {
        for body in [&b""[..], b"x", b"{\"flags\":[]}", &[7u8; 5000]] {
            let h = twox_hash::XxHash3_64::oneshot(body);
            assert_eq!(super::etag(body), format!("\"{h:016x}\""));
        }
    }
}
