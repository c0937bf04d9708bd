//! Comparisons against another baseline than the design's control, for experiments with more
//! than two variants. The aggregator writes every treatment against the control; to compare
//! against another variant, the run's per-variant statistics are read again and analysed by
//! the aggregator's own pure function
//! ([`abacus_aggregator::analyze::analyze`]) with that variant as control: same methods, same
//! Holm family (metrics × the other variants), same sequential test.
//!
//! The statistics are those the run was computed from, kept by the aggregator in
//! `results_inputs` ([`abacus_aggregator::inputs`]), so any run, not only the newest, can be
//! compared against another baseline and gives what the aggregator would have given. Runs
//! written before that table existed (migration 0009) are read again from the user rows in
//! `experiment_users`, which are those of the newest pass: for them only the newest run can be
//! rebased. Cluster-randomized and switchback experiments are not rebased: their comparisons
//! are per cluster or cell (the aggregator's `network` step), not per user.

use abacus_aggregator::analyze::{analyze, Context, Inputs};
use abacus_aggregator::collect::{cells, Source};
use abacus_aggregator::AggregateConfig;
use abacus_assign::Experiment;
use abacus_schema::ClickHouse;

use crate::read::sort_results;
use crate::{Report, ReportError};

/// `r` compared against `baseline` (a clone when it is the design's control).
pub async fn rebase(
    ch: &ClickHouse,
    r: &Report,
    baseline: &str,
    config: &AggregateConfig,
) -> Result<Report, ReportError> {
    if baseline == r.control {
        return Ok(r.clone());
    }
    recompute(ch, r, baseline, config).await
}

/// Recomputes the comparisons of `r` against `baseline` from the user rows, even for the
/// control (the tests check that this reproduces the stored rows).
pub async fn recompute(
    ch: &ClickHouse,
    r: &Report,
    baseline: &str,
    config: &AggregateConfig,
) -> Result<Report, ReportError> {
    let run = &r.run;
    let id = &run.experiment_id;
    if matches!(run.design.as_str(), "cluster" | "switchback") {
        // Its comparisons are per cluster or (unit, window) cell, which the kept per-user
        // statistics cannot give: a user-level rebase would show intervals that are too narrow.
        return Err(ReportError::Baseline {
            experiment: id.clone(),
            reason: format!(
                "the run is randomized by `{}` ({}); only the aggregator's comparisons against \
                 the control are available",
                run.unit, run.design
            ),
        });
    }
    let stored = abacus_registry::store::at_version(ch, id, run.definition_version)
        .await?
        .ok_or_else(|| ReportError::Baseline {
            experiment: id.clone(),
            reason: format!(
                "definition version {} is not in the registry",
                run.definition_version
            ),
        })?;
    let mut def = stored.experiment;
    if !def.variants.iter().any(|v| v.name == baseline) {
        return Err(ReportError::Baseline {
            experiment: id.clone(),
            reason: format!(
                "`{baseline}` is not a variant (variants: {})",
                def.variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let kept = abacus_aggregator::inputs::read(ch, id, run.run_id).await?;
    let inputs = if kept.is_empty() {
        newest_inputs(ch, r, &def).await?
    } else {
        let caps = def
            .metrics
            .iter()
            .map(|m| {
                r.results
                    .iter()
                    .find(|x| x.metric == m.name)
                    .and_then(|x| x.winsorize_cap)
            })
            .collect();
        abacus_aggregator::inputs::to_inputs(&kept, run.multiple_exposure_users, caps)
    };
    def.control = baseline.to_owned();
    let ctx = Context {
        experiment: &def,
        definition_version: run.definition_version,
        run_id: run.run_id,
        computed_at: run.computed_at,
        as_of_ms: run.as_of_ms,
        mode: if run.mode == "full" {
            "full"
        } else {
            "incremental"
        },
        recomputed_users: run.recomputed_users,
        srm_threshold: config.srm_threshold,
        mixing_variance: config.mixing_variance,
    };
    let analysis = analyze(&ctx, &inputs);
    let mut results = analysis.results;
    sort_results(&mut results, r.definition.as_ref());
    Ok(Report {
        baseline: baseline.to_owned(),
        results,
        series: analysis.series,
        segments: analysis.segments,
        ..r.clone()
    })
}

/// The inputs of a run written before `results_inputs` existed (migration 0009): read again
/// from the user rows, which are those of the newest run only.
async fn newest_inputs(
    ch: &ClickHouse,
    r: &Report,
    def: &Experiment,
) -> Result<Inputs, ReportError> {
    let run = &r.run;
    let id = &run.experiment_id;
    let state = abacus_aggregator::materialize::state(ch, id).await?;
    let base_run_id = match state {
        Some(s) if s.run_id == run.run_id => s.base_run_id,
        _ => {
            return Err(ReportError::Baseline {
                experiment: id.clone(),
                reason: format!(
                    "run {} predates the stored run inputs (migration 0009) and is not the newest run: it can be shown against `{}` only",
                    run.run_id, r.control
                ),
            })
        }
    };
    let statistics = cells(
        ch,
        &Source {
            experiment: def,
            base_run_id,
            as_of_ms: run.as_of_ms,
        },
    )
    .await?;
    Ok(Inputs {
        days: statistics.days,
        segments: statistics.segments,
        multiple_exposure_users: statistics.multiple_exposure_users,
        caps: statistics.caps,
    })
}
