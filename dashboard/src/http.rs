//! Routes and handlers. Handlers are thin: read the snapshot, call a rendering function of
//! `abacus-report`, answer. Every answer carries the security headers (a Content-Security-Policy
//! that allows only the dashboard's own origin); pages carry an ETag (the snapshot version) so
//! the live updater's polls cost a 304 until something changes.

use std::sync::Arc;

use abacus_report::pages::{self, experiment, history, list, ExperimentQuery, ListQuery};
use abacus_report::view;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;

use crate::state::{AppState, Loaded};

/// The Content-Security-Policy of every answer: nothing but the dashboard's own origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The live-update script (vendored: written for Abacus, no dependency).
pub const LIVE_JS: &str = include_str!("../assets/live.js");

/// The router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(list_page))
        .route("/experiments/{id}", get(experiment_page))
        .route("/experiments/{id}/history", get(history_page))
        .route("/experiments/{id}/export.csv", get(export_csv))
        .route("/experiments/{id}/export.json", get(export_json))
        .route(pages::CSS_PATH, get(css))
        .route(pages::SCRIPT_PATH, get(script))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::from_fn(headers))
        .with_state(state)
}

async fn headers(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Method, path and status only: never headers (credentials) or query strings.
    tracing::debug!(%method, path, status = res.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    res
}

async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "read-only: GET only\n").into_response();
    }
    if !state.auth.allows(req.headers()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"abacus dashboard\", charset=\"UTF-8\"",
            )],
            "authentication required\n",
        )
            .into_response();
    }
    next.run(req).await
}

fn etag(version: u64) -> String {
    format!("W/\"v{version}\"")
}

/// A page answer with the snapshot's ETag, or 304 when the client has it.
fn page_response(headers: &HeaderMap, version: u64, render: impl FnOnce() -> String) -> Response {
    let tag = etag(version);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let cache = [
        (header::ETAG, tag),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        render(),
    )
        .into_response()
}

async fn list_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let snap = state.snapshot();
    page_response(&headers, snap.version, || {
        let entries = list::entries(&snap.registry, &snap.latest(), Utc::now());
        let mut html = list::render(&entries, &q, &snap.version.to_string()).into_string();
        if let Some(err) = &snap.error {
            html = pages::with_alert(html, err);
        }
        html
    })
}

fn unknown(id: &str) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        &format!("No results for experiment `{id}` yet: it is not in the registry or `abacus aggregate` has not run for it."),
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        pages::error_page(status.as_u16(), message).into_string(),
    )
        .into_response()
}

/// The report a page shows for `q`, with a note when the baseline could not be applied.
async fn pick(
    state: &AppState,
    loaded: &Loaded,
    q: &ExperimentQuery,
) -> Result<(Arc<abacus_report::Report>, Option<String>), Response> {
    let newest = loaded.report.run.run_id;
    let baseline = q
        .baseline
        .as_deref()
        .filter(|b| *b != loaded.report.control);
    match q.run {
        Some(run) if run != newest => {
            let older = state
                .older_run(loaded, run)
                .await
                .map_err(|e| error_page(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?
                .ok_or_else(|| {
                    error_page(
                        StatusCode::NOT_FOUND,
                        &format!("Run {run} does not exist for this experiment."),
                    )
                })?;
            match baseline {
                None => Ok((older, None)),
                Some(b) if !older.run.variants.iter().any(|v| v == b) => Ok((
                    older,
                    Some(format!(
                        "`{b}` is not a variant of this experiment; shown against the control."
                    )),
                )),
                Some(b) => match state.older_run_against(&older, b).await {
                    Ok(rebased) => Ok((rebased, None)),
                    Err(err) => Ok((
                        older,
                        Some(format!(
                            "Baseline `{b}` could not be computed for this run ({err}); shown against the control."
                        )),
                    )),
                },
            }
        }
        _ => match baseline {
            None => Ok((Arc::new(loaded.report.clone()), None)),
            Some(b) => match loaded.baselines.get(b) {
                Some(Ok(r)) => Ok((Arc::new(r.clone()), None)),
                Some(Err(err)) => Ok((
                    Arc::new(loaded.report.clone()),
                    Some(format!(
                        "Baseline `{b}` could not be computed ({err}); shown against the control."
                    )),
                )),
                None => Ok((
                    Arc::new(loaded.report.clone()),
                    Some(format!(
                        "`{b}` is not a variant of this experiment; shown against the control."
                    )),
                )),
            },
        },
    }
}

async fn experiment_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ExperimentQuery>,
) -> Response {
    let snap = state.snapshot();
    let Some(loaded) = snap.experiments.get(&id) else {
        return unknown(&id);
    };
    let (report, note) = match pick(&state, loaded, &q).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    page_response(&headers, snap.version, || {
        experiment::render(experiment::Input {
            report: &report,
            runs: &loaded.runs,
            query: &q,
            note: note.as_deref(),
            now: Utc::now(),
            version: &snap.version.to_string(),
        })
        .into_string()
    })
}

async fn history_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ExperimentQuery>,
) -> Response {
    let snap = state.snapshot();
    let Some(loaded) = snap.experiments.get(&id) else {
        return unknown(&id);
    };
    page_response(&headers, snap.version, || {
        history::render(history::Input {
            id: &id,
            name: &loaded.report.name,
            runs: &loaded.runs,
            history: &loaded.history,
            query: &q,
            version: &snap.version.to_string(),
        })
        .into_string()
    })
}

async fn export(
    state: &AppState,
    id: &str,
    q: &ExperimentQuery,
) -> Result<(Arc<abacus_report::Report>, experiment::Shown), Response> {
    let snap = state.snapshot();
    let Some(loaded) = snap.experiments.get(id) else {
        return Err(unknown(id));
    };
    let (report, _) = pick(state, loaded, q).await?;
    let shown = experiment::shown(&report, Utc::now());
    Ok((report, shown))
}

fn attachment(id: &str, run: u64, ext: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}-run{run}.{ext}\"")
}

async fn export_csv(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<ExperimentQuery>,
) -> Response {
    match export(&state, &id, &q).await {
        Ok((report, shown)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    attachment(&id, report.run.run_id, "csv"),
                ),
            ],
            view::csv(&shown.columns, &shown.rows),
        )
            .into_response(),
        Err(res) => res,
    }
}

async fn export_json(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<ExperimentQuery>,
) -> Response {
    match export(&state, &id, &q).await {
        Ok((report, shown)) => {
            let value = view::export_json(
                &report,
                &shown.decision,
                &shown.checks,
                &shown.columns,
                &shown.rows,
            );
            (
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string_pretty(&value).unwrap_or_default(),
            )
                .into_response()
        }
        Err(res) => res,
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        pages::CSS,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        LIVE_JS,
    )
        .into_response()
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "No such page.")
}
