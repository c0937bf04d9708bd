//! The user-level table of each experiment and the incremental state behind it.
//!
//! A pass either recomputes every user of an experiment (full) or only the users touched
//! since the last pass (incremental), and writes their rows to `experiment_users` stamped
//! with its `run_id`. Reads keep the newest row per user (`FINAL`) and ignore rows older than
//! the experiment's `base_run_id`, the last full recompute, so a full pass replaces
//! everything without deleting anything.
//!
//! A pass is full when `--full` is given, the experiment has no state yet, its definition
//! changed (checksum), or the analysis time went back. Otherwise it is incremental: the
//! watermark is the server time when the previous pass started, and the pass reads users
//! with events written since `watermark − overlap` (ingest's rows get `ingested_at` from the
//! server at write time) or whose event time fell between the previous and the new analysis
//! time. Because a touched user is recomputed from all of their events, late events that move
//! a user's `t0` or variant are handled, and the result equals a full recompute.

use std::time::{Duration, Instant};

use abacus_assign::Experiment;
use abacus_schema::ClickHouse;
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::sql::{self, Scope};
use crate::AggregateError;

/// Reads the state of one experiment.
pub const SELECT_STATE: &str = "SELECT experiment_id, definition_version, definition_checksum, \
     base_run_id, run_id, toUInt32(watermark) AS watermark, as_of_ms \
     FROM aggregation_state FINAL WHERE experiment_id = ?";

/// One row of `aggregation_state`.
#[derive(Clone, Debug, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct State {
    /// Experiment.
    pub experiment_id: String,
    /// Registry version of the definition the rows were computed with.
    pub definition_version: u32,
    /// Its checksum.
    pub definition_checksum: String,
    /// Run id of the last full recompute; older user rows are stale.
    pub base_run_id: u64,
    /// Run id of the last pass.
    pub run_id: u64,
    /// Server time (Unix seconds) when the last pass started.
    pub watermark: u32,
    /// Analysis time of the last pass, epoch ms.
    pub as_of_ms: i64,
}

/// The stored state of `experiment`, if any.
pub async fn state(ch: &ClickHouse, experiment: &str) -> Result<Option<State>, AggregateError> {
    ch.client()
        .query(SELECT_STATE)
        .bind(experiment)
        .fetch_optional::<State>()
        .await
        .map_err(|e| AggregateError::query("read the aggregation state", &e))
}

/// Stores `state`.
pub async fn save_state(ch: &ClickHouse, state: &State) -> Result<(), AggregateError> {
    let context = "write the aggregation state";
    let mut insert = ch
        .client()
        .insert::<State>("aggregation_state")
        .await
        .map_err(|e| AggregateError::query(context, &e))?;
    insert
        .write(state)
        .await
        .map_err(|e| AggregateError::query(context, &e))?;
    insert
        .end()
        .await
        .map_err(|e| AggregateError::query(context, &e))
}

/// The server's clock, Unix seconds (the watermark must come from the clock that stamps
/// `ingested_at`).
pub async fn server_now(ch: &ClickHouse) -> Result<u32, AggregateError> {
    ch.client()
        .query("SELECT toUInt32(now())")
        .fetch_one::<u32>()
        .await
        .map_err(|e| AggregateError::query("read the server clock", &e))
}

/// How a pass treats one experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every user recomputed; the reason is logged.
    Full(&'static str),
    /// Only touched users recomputed.
    Incremental,
}

impl Mode {
    /// `full` or `incremental`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Full(_) => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// Decides between a full and an incremental pass.
pub fn choose_mode(
    previous: Option<&State>,
    checksum: &str,
    as_of_ms: i64,
    force_full: bool,
) -> Mode {
    match previous {
        _ if force_full => Mode::Full("--full was given"),
        None => Mode::Full("first pass for this experiment"),
        Some(s) if s.definition_checksum != checksum => Mode::Full("the definition changed"),
        Some(s) if as_of_ms < s.as_of_ms => {
            Mode::Full("the analysis time is before the previous pass's")
        }
        Some(_) => Mode::Incremental,
    }
}

/// The users' scope for `mode`.
pub fn scope(mode: Mode, previous: Option<&State>, as_of_ms: i64, overlap_secs: u64) -> Scope {
    match (mode, previous) {
        (Mode::Incremental, Some(s)) => Scope::Touched {
            written_since: s
                .watermark
                .saturating_sub(u32::try_from(overlap_secs).unwrap_or(u32::MAX)),
            time_from_ms: s.as_of_ms,
            time_to_ms: as_of_ms,
        },
        _ => Scope::Full,
    }
}

/// Writes the user rows of `e` for `scope`; returns how many rows were written.
/// Logs progress (rows read, elapsed, rate) every `progress_secs` while the statement runs.
pub async fn write_users(
    ch: &ClickHouse,
    e: &Experiment,
    scope: Scope,
    as_of_ms: i64,
    run_id: u64,
    progress_secs: u64,
) -> Result<u64, AggregateError> {
    let statement = sql::materialize(e, scope, as_of_ms, run_id);
    let query_id = format!("abacus-aggregate-{run_id}-{}", e.id);
    let started = Instant::now();
    let run = statement
        .query(ch.client())
        .with_setting("query_id", query_id.clone())
        .with_setting("distributed_product_mode", "local")
        .execute();
    tokio::pin!(run);
    let every = Duration::from_secs(progress_secs.max(1));
    loop {
        tokio::select! {
            done = &mut run => {
                done.map_err(|err| AggregateError::query(
                    format!("materialize the users of experiment {}", e.id), &err))?;
                break;
            }
            () = tokio::time::sleep(every), if progress_secs > 0 => {
                log_progress(ch, &e.id, &query_id, started).await;
            }
        }
    }
    ch.client()
        .query("SELECT count() FROM experiment_users WHERE experiment_id = ? AND run_id = ?")
        .bind(&e.id)
        .bind(run_id)
        .fetch_one::<u64>()
        .await
        .map_err(|err| AggregateError::query("count the users written", &err))
}

#[derive(Row, Deserialize)]
struct Progress {
    read_rows: u64,
    elapsed: f64,
}

async fn log_progress(ch: &ClickHouse, experiment: &str, query_id: &str, started: Instant) {
    let answer = ch
        .client()
        .query("SELECT read_rows, elapsed FROM system.processes WHERE query_id = ?")
        .bind(query_id)
        .fetch_optional::<Progress>()
        .await;
    match answer {
        Ok(Some(p)) => {
            let rate = p.read_rows as f64 / p.elapsed.max(0.001);
            tracing::info!(
                experiment,
                rows_scanned = p.read_rows,
                elapsed_s = format!("{:.1}", started.elapsed().as_secs_f64()),
                rows_per_s = rate.round() as u64,
                "materializing users"
            );
        }
        Ok(None) => {}
        Err(err) => tracing::debug!(error = %err, "progress query failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            experiment_id: "e".into(),
            definition_version: 1,
            definition_checksum: "abc".into(),
            base_run_id: 1,
            run_id: 2,
            watermark: 1_000,
            as_of_ms: 5_000,
        }
    }

    #[test]
    fn full_when_forced_new_changed_or_back_in_time() {
        let s = state();
        assert_eq!(
            choose_mode(Some(&s), "abc", 6_000, false),
            Mode::Incremental
        );
        assert!(matches!(
            choose_mode(Some(&s), "abc", 6_000, true),
            Mode::Full(_)
        ));
        assert!(matches!(
            choose_mode(None, "abc", 6_000, false),
            Mode::Full(_)
        ));
        assert!(matches!(
            choose_mode(Some(&s), "xyz", 6_000, false),
            Mode::Full(_)
        ));
        assert!(matches!(
            choose_mode(Some(&s), "abc", 4_000, false),
            Mode::Full(_)
        ));
    }

    #[test]
    fn incremental_scope_rereads_the_overlap_and_the_new_time_range() {
        let s = state();
        assert_eq!(
            scope(Mode::Incremental, Some(&s), 9_000, 300),
            Scope::Touched {
                written_since: 700,
                time_from_ms: 5_000,
                time_to_ms: 9_000
            }
        );
        assert_eq!(scope(Mode::Full("x"), Some(&s), 9_000, 300), Scope::Full);
    }
}
