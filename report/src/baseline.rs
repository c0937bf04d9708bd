//! Comparisons against another baseline than the design's control, for experiments with more
//! than two variants. The aggregator writes every treatment against the control; to compare
//! against another variant, the run's per-variant statistics are read again from
//! `experiment_users` with the aggregator's own statement ([`abacus_aggregator::collect`], a
//! SELECT) and analysed by the aggregator's own pure function
//! ([`abacus_aggregator::analyze::analyze`]) with that variant as control: same methods, same
//! Holm family (metrics × the other variants), same sequential test.
//!
//! The user rows in `experiment_users` are those of the newest pass, so this is exact for the
//! newest run of an experiment only; an older run can be shown against its control.

use abacus_aggregator::analyze::{analyze, Context, Inputs};
use abacus_aggregator::collect::{cells, Source};
use abacus_aggregator::AggregateConfig;
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
    let state = abacus_aggregator::materialize::state(ch, id).await?;
    let base_run_id = match state {
        Some(s) if s.run_id == run.run_id => s.base_run_id,
        _ => {
            return Err(ReportError::Baseline {
                experiment: id.clone(),
                reason: format!(
                    "run {} is not the newest run: another baseline than `{}` can be computed for the newest run only",
                    run.run_id, r.control
                ),
            })
        }
    };
    let statistics = cells(
        ch,
        &Source {
            experiment: &def,
            base_run_id,
            as_of_ms: run.as_of_ms,
        },
    )
    .await?;
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
    let analysis = analyze(
        &ctx,
        &Inputs {
            days: statistics.days,
            segments: statistics.segments,
            multiple_exposure_users: statistics.multiple_exposure_users,
            caps: statistics.caps,
        },
    );
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
