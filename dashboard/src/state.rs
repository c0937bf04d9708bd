//! The dashboard's data: an immutable [`Snapshot`] of the registry and the newest run of every
//! experiment (with its other baselines, run list and primary-metric history), swapped
//! atomically by the loader ([`refresh`]) when ClickHouse has something new. Requests read the
//! snapshot and never wait for ClickHouse, except for an older run picked from the history
//! (read once, then cached).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use abacus_aggregator::model::{ResultRow, RunRow};
use abacus_aggregator::AggregateConfig;
use abacus_assign::Experiment;
use abacus_report::{baseline, read, Report};
use abacus_schema::ClickHouse;
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};

use crate::auth::Auth;
use crate::DashboardError;

/// Everything known about one experiment's newest run.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The newest run against the control.
    pub report: Report,
    /// The newest run against every other variant (experiments with more than two), or why
    /// it could not be computed.
    pub baselines: BTreeMap<String, Result<Report, String>>,
    /// Every run, newest first.
    pub runs: Vec<RunRow>,
    /// Primary metrics of every run, oldest first.
    pub history: Vec<ResultRow>,
}

/// What the pages are rendered from.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Increases with every change (the pages' ETag).
    pub version: u64,
    /// When the loader last succeeded.
    pub loaded_at: Option<DateTime<Utc>>,
    /// The loader's last error, shown on the pages while it persists.
    pub error: Option<String>,
    /// The current definition of every experiment in the registry.
    pub registry: Vec<Experiment>,
    /// Newest run per experiment id.
    pub experiments: BTreeMap<String, Arc<Loaded>>,
}

impl Snapshot {
    /// The newest reports (against the control) by experiment id.
    pub fn latest(&self) -> BTreeMap<String, Report> {
        self.experiments
            .iter()
            .map(|(k, v)| (k.clone(), v.report.clone()))
            .collect()
    }
}

const OLDER_CACHE: usize = 64;

/// An older run in the cache: experiment, run, baseline (`None` = the control).
type OlderKey = (String, u64, Option<String>);

/// The service's shared state.
pub struct AppState {
    /// ClickHouse (a user with SELECT is enough).
    pub ch: ClickHouse,
    /// Settings the baselines are computed with (SRM threshold, sequential test).
    pub aggregate: AggregateConfig,
    /// Access control.
    pub auth: Auth,
    /// Seconds between loader passes.
    pub refresh_secs: u64,
    snapshot: ArcSwap<Snapshot>,
    older: Mutex<HashMap<OlderKey, Arc<Report>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("auth", &self.auth)
            .field("version", &self.snapshot.load().version)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state with an empty snapshot; [`refresh`] fills it.
    pub fn new(
        ch: ClickHouse,
        aggregate: AggregateConfig,
        config: &crate::DashboardConfig,
    ) -> Self {
        Self {
            ch,
            aggregate,
            auth: Auth::from_config(config),
            refresh_secs: config.refresh_secs,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            older: Mutex::new(HashMap::new()),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot (tests and benches build their own).
    pub fn replace(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    /// An older run of an experiment, read from ClickHouse once and cached.
    pub async fn older_run(
        &self,
        loaded: &Loaded,
        run_id: u64,
    ) -> Result<Option<Arc<Report>>, DashboardError> {
        let id = loaded.report.run.experiment_id.clone();
        let key = (id, run_id, None);
        if let Some(r) = self.cached(&key) {
            return Ok(Some(r));
        }
        let Some(run) = loaded.runs.iter().find(|r| r.run_id == run_id).cloned() else {
            return Ok(None);
        };
        let report =
            Arc::new(read::load_run(&self.ch, run, loaded.report.definition.as_ref()).await?);
        self.cache(key, report.clone());
        Ok(Some(report))
    }

    /// An older run compared against `baseline` (from the inputs the aggregator kept for
    /// it), computed once and cached.
    pub async fn older_run_against(
        &self,
        older: &Report,
        baseline: &str,
    ) -> Result<Arc<Report>, abacus_report::ReportError> {
        let key = (
            older.run.experiment_id.clone(),
            older.run.run_id,
            Some(baseline.to_owned()),
        );
        if let Some(r) = self.cached(&key) {
            return Ok(r);
        }
        let report = Arc::new(baseline::rebase(&self.ch, older, baseline, &self.aggregate).await?);
        self.cache(key, report.clone());
        Ok(report)
    }

    fn cached(&self, key: &OlderKey) -> Option<Arc<Report>> {
        self.older.lock().ok().and_then(|c| c.get(key).cloned())
    }

    fn cache(&self, key: OlderKey, report: Arc<Report>) {
        if let Ok(mut cache) = self.older.lock() {
            if cache.len() >= OLDER_CACHE {
                cache.clear();
            }
            cache.insert(key, report);
        }
    }
}

/// One loader pass: reads the registry and the newest runs, loads what changed and swaps the
/// snapshot. Returns whether anything changed.
pub async fn refresh(state: &AppState) -> Result<bool, DashboardError> {
    let old = state.snapshot();
    let registry: Vec<Experiment> = abacus_registry::current(&state.ch)
        .await?
        .into_iter()
        .map(|s| s.experiment)
        .collect();
    let latest = read::latest_runs(&state.ch).await?;
    let mut experiments = BTreeMap::new();
    let mut changed = registry != old.registry || old.error.is_some();
    for run in latest {
        let id = run.experiment_id.clone();
        let def = registry.iter().find(|e| e.id == id);
        if let Some(prev) = old.experiments.get(&id) {
            if prev.report.run.run_id == run.run_id && prev.report.definition.as_ref() == def {
                experiments.insert(id, prev.clone());
                continue;
            }
        }
        changed = true;
        let report = read::load_run(&state.ch, run, def).await?;
        let mut baselines = BTreeMap::new();
        if report.run.variants.len() > 2 {
            for v in report.run.variants.iter().filter(|v| **v != report.control) {
                let rebased = baseline::rebase(&state.ch, &report, v, &state.aggregate)
                    .await
                    .map_err(|e| e.to_string());
                if let Err(err) = &rebased {
                    tracing::warn!(experiment = %id, baseline = %v, error = %err, "baseline not computed");
                }
                baselines.insert(v.clone(), rebased);
            }
        }
        let runs = read::runs_of(&state.ch, &id).await?;
        let history = read::primary_history(&state.ch, &id).await?;
        tracing::info!(experiment = %id, run_id = report.run.run_id, "new run loaded");
        experiments.insert(
            id,
            Arc::new(Loaded {
                report,
                baselines,
                runs,
                history,
            }),
        );
    }
    changed |= experiments.len() != old.experiments.len();
    let version = if changed {
        old.version + 1
    } else {
        old.version
    };
    state.replace(Snapshot {
        version,
        loaded_at: Some(Utc::now()),
        error: None,
        registry,
        experiments,
    });
    Ok(changed)
}

/// Records a failed loader pass on the snapshot (the pages show it; the data stays).
pub fn record_error(state: &AppState, err: &DashboardError) {
    let old = state.snapshot();
    let message = err.to_string();
    if old.error.as_deref() == Some(message.as_str()) {
        return;
    }
    let mut next = (*old).clone();
    next.error = Some(message);
    next.version += 1;
    state.replace(next);
}
