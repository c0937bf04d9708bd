//! The aggregator: turns the event store into experiment results.
//!
//! A pass ([`pass`]) takes every experiment of the registry (or one), brings its user-level
//! table `experiment_users` up to date — fully or incrementally, see [`materialize`] — reads
//! per-variant sufficient statistics from it ([`collect`]), computes the comparisons
//! ([`analyze`], using `abacus-stats`) and writes one run to the result tables
//! (`experiment_runs`, `results`, `results_series`, `results_segments`, `results_balance`, and
//! its inputs to `results_inputs`;
//! `results_latest` shows the newest run per experiment). [`run`] repeats passes as a daemon.
//! Passes that go through [`lease::exclusive`] (the daemon and `abacus aggregate`) never
//! overlap on one database: they hold the aggregation lease ([`lease`]).
//! Reading runs back and rendering them is the `abacus-report` crate's job.
//!
//! # Layout
//! - [`config`]: the `[aggregate]` configuration section.
//! - [`sql`]: the statement that computes the user-level rows (the attribution rules).
//! - [`materialize`]: full or incremental pass, watermark state, progress.
//! - [`collect`]: sufficient statistics per variant and day, per segment, caps.
//! - [`exact`]: order-independent float sums and the exact quantile (winsorization).
//! - [`compare`]: one metric comparison by the metric's kind (CUPED-adjusted or not);
//!   guardrails; the Bayesian reading.
//! - [`engine`]: the statistics of one result row under the experiment's engine.
//! - [`analyze`]: all result rows of one experiment (SRM, Holm, Simpson, balance, series).
//! - [`model`]: the rows of the result tables.
//! - [`store`]: writing a run.
//! - [`inputs`]: the sufficient statistics a run was computed from (`results_inputs`), so a
//!   run can be analysed again against another baseline.
//! - [`lease`]: the aggregation lease (one pass at a time per database).
//! - [`statements`]: every statement rendered with sample values, for the SQL check.
//! - [`error`](mod@error): the error type, [`AggregateError`].

pub mod analyze;
mod breakdown;
pub mod clusters;
pub mod collect;
pub mod compare;
pub mod config;
pub mod engine;
pub mod error;
pub mod exact;
pub mod inputs;
pub mod interactions;
pub mod lease;
pub mod materialize;
pub mod model;
pub mod network;
pub mod sql;
pub mod statements;
pub mod store;
pub mod switchback;

#[cfg(test)]
mod testing {
    use abacus_assign::Experiment;

    /// `checkout-redesign` of `examples/experiments.toml` (several metric kinds, segments).
    pub fn example() -> Experiment {
        abacus_assign::parse(include_str!("../../examples/experiments.toml"))
            .unwrap()
            .experiments
            .into_iter()
            .find(|e| e.id == "checkout-redesign")
            .unwrap()
    }
}

use std::future::Future;
use std::time::{Duration, Instant};

use abacus_registry::StoredExperiment;
use abacus_schema::ClickHouse;
use chrono::{DateTime, Utc};

pub use config::AggregateConfig;
pub use error::AggregateError;

use crate::analyze::{Context, Inputs};
use crate::collect::Source;
use crate::materialize::{Mode, State};

/// What one pass covers.
#[derive(Clone, Debug, Default)]
pub struct PassOptions {
    /// Analysis time (events before it count); `None` = now.
    pub as_of: Option<DateTime<Utc>>,
    /// Only this experiment.
    pub experiment: Option<String>,
    /// Recompute every user instead of only the touched ones.
    pub full: bool,
}

/// What a pass did for one experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentPass {
    /// Experiment.
    pub experiment_id: String,
    /// The run id written.
    pub run_id: u64,
    /// `full` or `incremental`.
    pub mode: &'static str,
    /// Why a full pass was made.
    pub reason: Option<&'static str>,
    /// User rows written.
    pub recomputed_users: u64,
    /// Users analysed.
    pub users: u64,
    /// Whether the always-valid sample ratio test flags a mismatch (the daemon's alert).
    pub srm_mismatch: bool,
    /// The base run of the experiment's user rows after this pass.
    pub base_run_id: u64,
    /// Time taken in all.
    pub elapsed: Duration,
    /// Of which: writing the user rows.
    pub materialize: Duration,
    /// Of which: reading the sufficient statistics back.
    pub statistics: Duration,
}

/// One pass over the selected experiments.
pub async fn pass(
    ch: &ClickHouse,
    config: &AggregateConfig,
    options: &PassOptions,
) -> Result<Vec<ExperimentPass>, AggregateError> {
    config.validate()?;
    let as_of = options.as_of.unwrap_or_else(Utc::now);
    let mut experiments = abacus_registry::current(ch).await?;
    if experiments.is_empty() {
        return Err(AggregateError::NoExperiment(
            "the registry holds no experiment: apply definitions with `abacus experiments apply FILE` first".into(),
        ));
    }
    if let Some(id) = &options.experiment {
        let known: Vec<String> = experiments
            .iter()
            .map(|s| s.experiment.id.clone())
            .collect();
        experiments.retain(|s| &s.experiment.id == id);
        if experiments.is_empty() {
            return Err(AggregateError::NoExperiment(format!(
                "experiment `{id}` is not in the registry (known: {})",
                known.join(", ")
            )));
        }
    }
    let mut out = Vec::new();
    let mut due = Vec::new();
    for stored in &experiments {
        if stored.experiment.start > as_of {
            tracing::info!(
                experiment = %stored.experiment.id,
                start = %stored.experiment.start,
                "skipped: the experiment starts after the analysis time"
            );
            continue;
        }
        due.push(stored);
    }
    // Two experiments at a time: much of a pass is single-threaded on the server (`FINAL`
    // reads, small incremental statements), so a second one uses the other cores.
    for pair in due.chunks(2) {
        match pair {
            [a, b] => {
                let (ra, rb) = tokio::join!(
                    pass_one(ch, config, a, as_of, options.full),
                    pass_one(ch, config, b, as_of, options.full)
                );
                out.push(ra?);
                out.push(rb?);
            }
            [a] => out.push(pass_one(ch, config, a, as_of, options.full).await?),
            _ => {}
        }
    }
    if config.interactions
        && options.experiment.is_none()
        && (options.full || interactions::due(ch, config.interactions_every_secs).await?)
    {
        interactions::after_pass(ch, config, &due, &out, as_of).await?;
    }
    Ok(out)
}

async fn pass_one(
    ch: &ClickHouse,
    config: &AggregateConfig,
    stored: &StoredExperiment,
    as_of: DateTime<Utc>,
    force_full: bool,
) -> Result<ExperimentPass, AggregateError> {
    let started = Instant::now();
    let e = &stored.experiment;
    let as_of_ms = as_of.timestamp_millis();
    let previous = materialize::state(ch, &e.id).await?;
    let mode = materialize::choose_mode(previous.as_ref(), &stored.checksum, as_of_ms, force_full);
    let watermark = materialize::server_now(ch).await?;
    let scope = materialize::scope(mode, previous.as_ref(), as_of_ms, config.overlap_secs);
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let run_id = now_ms.max(previous.as_ref().map_or(0, |s| s.run_id + 1));
    let base_run_id = match (mode, &previous) {
        (Mode::Incremental, Some(s)) => s.base_run_id,
        _ => run_id,
    };
    tracing::info!(
        experiment = %e.id,
        run_id,
        mode = mode.as_str(),
        reason = match mode { Mode::Full(r) => r, Mode::Incremental => "" },
        as_of = %as_of.to_rfc3339(),
        "aggregation pass started"
    );
    let recomputed =
        materialize::write_users(ch, e, scope, as_of_ms, run_id, config.progress_secs).await?;
    let materialized = started.elapsed();
    let src = Source {
        experiment: e,
        base_run_id,
        as_of_ms,
    };
    let cells = collect::cells(ch, &src).await?;
    let inputs = Inputs {
        days: cells.days,
        segments: cells.segments,
        multiple_exposure_users: cells.multiple_exposure_users,
        caps: cells.caps,
    };
    let statistics = started.elapsed() - materialized;
    let ctx = Context {
        experiment: e,
        definition_version: stored.version,
        run_id,
        computed_at: u32::try_from(Utc::now().timestamp()).unwrap_or(0),
        as_of_ms,
        mode: mode.as_str(),
        recomputed_users: recomputed,
        srm_threshold: config.srm_threshold,
        mixing_variance: config.mixing_variance,
    };
    let mut analysis = analyze::analyze(&ctx, &inputs);
    let unit_ctx = network::UnitContext {
        experiment: e,
        base_run_id,
        as_of_ms,
        caps: &inputs.caps,
        srm_threshold: config.srm_threshold,
    };
    network::apply(ch, &unit_ctx, &mut analysis).await?;
    let elapsed = started.elapsed();
    let mut users = 0;
    let mut srm_mismatch = false;
    if let Some(run) = analysis.run.as_mut() {
        run.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        users = run.users;
        // the always-valid test decides the alert (see `network`)
        srm_mismatch = run.srm_sequential_mismatch == 1;
        for warning in &run.warnings {
            tracing::warn!(experiment = %e.id, "{warning}");
        }
    }
    // The inputs first, the run row last: a visible run can always be analysed again.
    crate::inputs::write(ch, &crate::inputs::rows(run_id, &e.id, &inputs)).await?;
    store::write(ch, &analysis).await?;
    materialize::save_state(
        ch,
        &State {
            experiment_id: e.id.clone(),
            definition_version: stored.version,
            definition_checksum: stored.checksum.clone(),
            base_run_id,
            run_id,
            watermark,
            as_of_ms,
        },
    )
    .await?;
    tracing::info!(
        experiment = %e.id,
        run_id,
        mode = mode.as_str(),
        recomputed_users = recomputed,
        users,
        srm_mismatch,
        elapsed_s = format!("{:.1}", elapsed.as_secs_f64()),
        materialize_s = format!("{:.1}", materialized.as_secs_f64()),
        statistics_s = format!("{:.1}", statistics.as_secs_f64()),
        "aggregation pass finished"
    );
    Ok(ExperimentPass {
        experiment_id: e.id.clone(),
        run_id,
        mode: mode.as_str(),
        reason: match mode {
            Mode::Full(r) => Some(r),
            Mode::Incremental => None,
        },
        recomputed_users: recomputed,
        users,
        srm_mismatch,
        base_run_id,
        elapsed,
        materialize: materialized,
        statistics,
    })
}

/// Runs a pass every `every` until `shutdown` completes, each under the aggregation lease
/// ([`lease::exclusive`]): a tick whose lease another aggregator holds is skipped with a log
/// line. A failed pass is logged and retried at the next tick; the daemon never exits on a pass
/// error. The analysis time of each pass is "now" (a fixed `as_of` makes no sense for a
/// daemon).
pub async fn run(
    ch: &ClickHouse,
    config: &AggregateConfig,
    options: PassOptions,
    every: Duration,
    lease: &lease::LeaseSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AggregateError> {
    config.validate()?;
    tokio::pin!(shutdown);
    let mut first = options.full;
    loop {
        let opts = PassOptions {
            as_of: None,
            experiment: options.experiment.clone(),
            full: first,
        };
        let stop = &mut shutdown;
        let outcome = lease::exclusive(ch, lease, lease::WhenBusy::Skip, || async move {
            tokio::select! {
                result = pass(ch, config, &opts) => result.map(Some),
                () = stop => Ok(None),
            }
        })
        .await;
        match outcome {
            Ok(Some(Some(_))) => first = false,
            Ok(Some(None)) => {
                tracing::info!(
                    "shutdown requested during a pass; stopping (the next pass redoes it)"
                );
                return Ok(());
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(error = %err, "aggregation pass failed; retrying at the next tick")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = &mut shutdown => {
                tracing::info!("shutdown requested; stopping");
                return Ok(());
            }
        }
    }
}
