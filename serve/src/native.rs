//! The native endpoints, whose answers equal what the CLI prints for the same inputs:
//!
//! - `POST /v1/assign` `{"user_id", "experiments"?: [ids], "attributes"?: {}}` →
//!   `{"assignments": [...]}`, one [`AssignRecord`] per experiment, each the line
//!   `abacus assign --json` prints. Naming experiments logs their exposures (unless
//!   `X-Abacus-Track: false`); asking for all of them logs none (it would enroll the user in
//!   every experiment). A named experiment whose unit attribute (`unit = "company_id"`) the
//!   attributes lack is refused (400 `INVALID_CONTEXT`); asking for all of them answers
//!   `{"experiment", "error": "INVALID_CONTEXT", "details"}` in that experiment's place.
//! - `POST /v1/flags/eval` `{"flag", "user_id", "attributes"?: {}}` → the [`FlagRecord`] that
//!   `abacus flags eval --json` prints.
//! - `POST /v1/exposures` `{"exposures": [...]}`: exposures of clients that assign locally (from
//!   assign/README.md), validated with ingest's event contract and published like the server's
//!   own. `event_type` defaults to `exposure`, `timestamp` to now and `event_id` to the
//!   deterministic id of (experiment, variant, user, UTC day of the timestamp). The experiment
//!   and variant must exist. A batch with any invalid exposure is refused whole (400, every
//!   problem listed) and nothing of it is published.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::eval::{AssignRecord, FlagRecord};
use crate::exposure::{event_id, Outcome};
use crate::http::{headers_and_body, json_response, timed, tracking_off, AppState, Refusal};
use crate::metrics::Endpoint;
use crate::request::{context_from, BadRequest, ErrorCode};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    user_id: String,
    #[serde(default)]
    experiments: Option<Vec<String>>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagBody {
    flag: String,
    user_id: String,
    #[serde(default)]
    attributes: Map<String, Value>,
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], shape: &str) -> Result<T, Refusal> {
    serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            ErrorCode::InvalidContext
        } else {
            ErrorCode::ParseError
        };
        Refusal::bad_request(BadRequest::new(
            code,
            format!("the body must be {shape} ({e})"),
        ))
    })
}

/// One entry of a `/v1/assign` answer: the record, or why the experiment could not be assigned
/// for this context.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum AssignEntry<'a> {
    Assigned(AssignRecord<'a>),
    Failed {
        experiment: &'a str,
        error: &'static str,
        details: String,
    },
}

/// `POST /v1/assign`.
pub(crate) async fn assign(State(state): State<AppState>, request: Request) -> Response {
    let (headers, body) = headers_and_body(request);
    let inner = state.inner();
    timed(
        &inner.metrics,
        Endpoint::Assign,
        None,
        assign_inner(&state, &headers, body),
    )
    .await
}

async fn assign_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let inner = state.inner();
    let bytes = inner.read_json(headers, body).await?;
    let req: AssignBody = parse(
        &bytes,
        r#"{"user_id": "...", "experiments": ["id", ...] (optional), "attributes": {...} (optional)}"#,
    )?;
    let ctx = context_from(
        req.user_id,
        &req.attributes,
        inner.limits.max_attributes,
        None,
    )
    .map_err(Refusal::bad_request)?;
    let snapshot = inner.snapshot()?;
    let defs = &snapshot.definitions;
    let experiments = match &req.experiments {
        None => defs.experiments.iter().collect::<Vec<_>>(),
        Some(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(defs.experiment(id).ok_or_else(|| {
                    Refusal::new(
                        StatusCode::NOT_FOUND,
                        ErrorCode::FlagNotFound,
                        format!(
                            "no experiment \"{id}\" (configuration {})",
                            snapshot.version
                        ),
                    )
                })?);
            }
            out
        }
    };
    let track = req.experiments.is_some() && !tracking_off(headers);
    let now = chrono::Utc::now();
    // Named experiments must all be assignable (400 INVALID_CONTEXT naming the missing unit
    // attribute); asking for all of them answers an error entry for those the context cannot
    // be assigned in (an experiment by `company_id` when the caller sent none).
    let mut entries = Vec::with_capacity(experiments.len());
    for e in &experiments {
        match AssignRecord::new(e, &ctx.targeting_key, &ctx.context, now) {
            Ok(record) => entries.push(AssignEntry::Assigned(record)),
            Err(err) if req.experiments.is_some() => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidContext,
                    err.to_string(),
                ))
            }
            Err(err) => entries.push(AssignEntry::Failed {
                experiment: &e.id,
                error: "INVALID_CONTEXT",
                details: err.to_string(),
            }),
        }
    }
    if track {
        for (e, entry) in experiments.iter().zip(&entries) {
            if let AssignEntry::Assigned(r) = entry {
                if r.in_experiment {
                    inner
                        .exposures
                        .expose(e, r.variant, &ctx.targeting_key, &ctx.context, now);
                }
            }
        }
    }
    // A struct, not `json!`: the records keep the field order `abacus assign --json` prints.
    #[derive(serde::Serialize)]
    struct Assignments<'a> {
        assignments: Vec<AssignEntry<'a>>,
    }
    let body = serde_json::to_vec(&Assignments {
        assignments: entries,
    })
    .unwrap_or_default();
    Ok(json_response(StatusCode::OK, body))
}

/// `POST /v1/flags/eval`.
pub(crate) async fn flags_eval(State(state): State<AppState>, request: Request) -> Response {
    let (headers, body) = headers_and_body(request);
    let inner = state.inner();
    timed(
        &inner.metrics,
        Endpoint::FlagsEval,
        None,
        flags_inner(&state, &headers, body),
    )
    .await
}

async fn flags_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let inner = state.inner();
    let bytes = inner.read_json(headers, body).await?;
    let req: FlagBody = parse(
        &bytes,
        r#"{"flag": "...", "user_id": "...", "attributes": {...} (optional)}"#,
    )?;
    let ctx = context_from(
        req.user_id,
        &req.attributes,
        inner.limits.max_attributes,
        None,
    )
    .map_err(Refusal::bad_request)?;
    let snapshot = inner.snapshot()?;
    let Some(flag) = snapshot.definitions.flag(&req.flag) else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            ErrorCode::FlagNotFound,
            format!(
                "no flag \"{}\" (configuration {})",
                req.flag, snapshot.version
            ),
        ));
    };
    let record = FlagRecord::new(flag, &ctx.targeting_key, &ctx.context);
    let body = serde_json::to_vec(&record).unwrap_or_default();
    Ok(json_response(StatusCode::OK, body))
}

/// `POST /v1/exposures`.
pub(crate) async fn exposures(State(state): State<AppState>, request: Request) -> Response {
    let (headers, body) = headers_and_body(request);
    let inner = state.inner();
    timed(
        &inner.metrics,
        Endpoint::Exposures,
        None,
        exposures_inner(&state, &headers, body),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExposuresBody {
    exposures: Vec<Value>,
}

async fn exposures_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let inner = state.inner();
    let bytes = inner.read_json(headers, body).await?;
    let req: ExposuresBody = parse(&bytes, r#"{"exposures": [{...}, ...]}"#)?;
    let max = inner.limits.max_exposure_batch;
    if req.exposures.len() > max {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidContext,
            format!(
                "the batch has {} exposures, the limit is {max} (serve.max_exposure_batch)",
                req.exposures.len()
            ),
        ));
    }
    let snapshot = inner.snapshot()?;
    let now = chrono::Utc::now();
    let mut ready = Vec::with_capacity(req.exposures.len());
    let mut problems = Vec::new();
    for (index, item) in req.exposures.into_iter().enumerate() {
        match prepare(item, &snapshot, now) {
            Ok(p) => ready.push(p),
            Err((code, detail)) => {
                problems.push(json!({"index": index, "code": code, "detail": detail}))
            }
        }
    }
    if !problems.is_empty() {
        let body = json!({
            "errorCode": "INVALID_EVENT",
            "errorDetails": format!("{} of {} exposures are invalid; nothing was published", problems.len(), problems.len() + ready.len()),
            "problems": problems,
        });
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            body.to_string().into_bytes(),
        ));
    }
    let (mut queued, mut deduplicated, mut dropped) = (0u64, 0u64, 0u64);
    for (key, user, payload) in &ready {
        match inner.exposures.publish(*key, user, payload) {
            Outcome::Queued => queued += 1,
            Outcome::Deduplicated => deduplicated += 1,
            Outcome::Dropped(_) => dropped += 1,
        }
    }
    let body = json!({
        "accepted": ready.len(),
        "queued": queued,
        "deduplicated": deduplicated,
        "dropped": dropped,
    });
    Ok(json_response(
        StatusCode::ACCEPTED,
        body.to_string().into_bytes(),
    ))
}

/// Completes and validates one exposure: `(cache key, user, payload)` or `(code, detail)`.
fn prepare(
    item: Value,
    snapshot: &crate::snapshot::Snapshot,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(u64, String, Vec<u8>), (&'static str, String)> {
    let Value::Object(mut map) = item else {
        return Err(("not_an_object", "an exposure must be a JSON object".into()));
    };
    match map.get("event_type") {
        None | Some(Value::Null) => {
            map.insert("event_type".into(), "exposure".into());
        }
        Some(Value::String(t)) if t == "exposure" => {}
        Some(other) => {
            return Err((
                "invalid_field",
                format!(
                "`event_type` must be \"exposure\" here (got {other}); send conversions to Kafka"
            ),
            ))
        }
    }
    if map.get("timestamp").is_none_or(Value::is_null) {
        map.insert("timestamp".into(), now.timestamp_millis().into());
    }
    let given_id = map.get("event_id").is_some_and(|v| !v.is_null());
    if !given_id {
        map.insert("event_id".into(), "pending".into());
    }
    let origin = abacus_ingest::event::Origin {
        topic: "",
        partition: 0,
        offset: 0,
        ingested_at: 0,
    };
    let encoded = serde_json::to_vec(&map).unwrap_or_default();
    let row = abacus_ingest::event::decode(Some(&encoded), 1 << 20, origin)
        .map_err(|r| (r.code, r.detail))?;
    let Some(experiment) = snapshot.definitions.experiment(&row.experiment_id) else {
        return Err((
            "unknown_experiment",
            format!(
                "no experiment \"{}\" (configuration {})",
                row.experiment_id, snapshot.version
            ),
        ));
    };
    if experiment.variant(&row.variant).is_none() {
        let names: Vec<&str> = experiment
            .variants
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        return Err((
            "unknown_variant",
            format!(
                "experiment \"{}\" has no variant \"{}\" (it has {})",
                experiment.id,
                row.variant,
                names.join(", ")
            ),
        ));
    }
    let key = if given_id {
        crate::exposure::id_key(&row.event_id)
    } else {
        let day = chrono::DateTime::from_timestamp_millis(row.timestamp_ms)
            .unwrap_or(now)
            .date_naive();
        let (id, key) = event_id(&row.experiment_id, &row.variant, &row.user_id, day);
        map.insert("event_id".into(), id.into());
        key
    };
    let payload = serde_json::to_vec(&map).unwrap_or_default();
    Ok((key, row.user_id, payload))
}
