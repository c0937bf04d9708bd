//! Where definitions come from, and reloading them: the experiments file ([`load_file`],
//! [`watch_file`]) or the registry in ClickHouse ([`load_registry`], [`poll_registry`]).
//!
//! A reload reads and fully validates the new definitions, then installs them in one step
//! ([`ConfigStore::install`]). A file that does not parse or validate, or a registry that cannot
//! be read, keeps the previous configuration serving; the failure is logged, counted and shown
//! by `/readyz` until a reload succeeds. A `reload` notification (the binary sends one on
//! SIGHUP) reloads at once.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use abacus_assign::Definitions;
use abacus_schema::ClickHouse;
use tokio::sync::Notify;

use crate::snapshot::{content_version, ConfigStore, Snapshot};
use crate::ServeError;

/// Reads and validates the experiments file.
pub fn load_file(path: &Path) -> Result<Snapshot, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|e| ServeError::Source {
        source_name: path.display().to_string(),
        message: format!("cannot read it: {e}"),
    })?;
    let defs = abacus_assign::parse(&text).map_err(|e| ServeError::Source {
        source_name: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(Snapshot::new(
        defs,
        text.as_bytes(),
        format!("file:{}", path.display()),
    ))
}

/// How long a changed file must stay unchanged after it was read to be trusted.
const SETTLE: Duration = Duration::from_millis(20);

/// What identifies a version of the file on disk without reading it.
fn stat(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// Reloads `path` into `store` when it changes (checked every `every`) or when `reload` is
/// notified, until `shutdown` resolves.
pub async fn watch_file(
    store: Arc<ConfigStore>,
    path: PathBuf,
    every: Duration,
    reload: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut seen = stat(&path);
    loop {
        let forced = tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(every) => false,
            _ = reload.notified() => true,
        };
        let now = stat(&path);
        if !forced && now == seen {
            continue;
        }
        let loaded = load_file(&path);
        // A file caught while being written (truncated, then written) changes again right away;
        // such a read is not trusted, whether it validates (an empty file does) or not: the
        // next check reads the finished file.
        tokio::time::sleep(SETTLE).await;
        if stat(&path) != now {
            continue;
        }
        match loaded {
            Ok(snapshot) => {
                seen = now;
                let same = store.load().is_some_and(|s| s.version == snapshot.version);
                if same {
                    store.clear_error();
                    if forced {
                        tracing::info!(path = %path.display(), version = %snapshot.version, "reload requested: the file is unchanged");
                    }
                    continue;
                }
                tracing::info!(
                    path = %path.display(),
                    version = %snapshot.version,
                    experiments = snapshot.definitions.experiments.len(),
                    flags = snapshot.definitions.flags.len(),
                    "loaded a new version of the experiments file"
                );
                store.install(snapshot);
            }
            Err(e) => {
                seen = now;
                let serving = store
                    .load()
                    .map_or("nothing".to_owned(), |s| format!("version {}", s.version));
                tracing::warn!(error = %e, serving = %serving, "reload failed; the previous configuration keeps serving");
                store.fail(e.to_string());
            }
        }
    }
}

/// Reads the newest applied version of every experiment and flag from the registry.
pub async fn load_registry(ch: &ClickHouse) -> Result<Snapshot, ServeError> {
    let failed = |e: abacus_registry::RegistryError| ServeError::Source {
        source_name: "registry".into(),
        message: e.to_string(),
    };
    let stored = abacus_registry::current(ch).await.map_err(failed)?;
    let flags = abacus_registry::current_flags(ch).await.map_err(failed)?;
    let mut content: String = stored
        .iter()
        .map(|s| {
            format!(
                "experiment:{}:{}:{}\n",
                s.experiment.id, s.version, s.checksum
            )
        })
        .collect();
    content.extend(
        flags
            .iter()
            .map(|f| format!("flag:{}:{}:{}\n", f.flag.name, f.version, f.checksum)),
    );
    let definitions = Definitions {
        experiments: stored.into_iter().map(|s| s.experiment).collect(),
        flags: flags.into_iter().map(|f| f.flag).collect(),
    };
    Ok(Snapshot::new(definitions, content.as_bytes(), "registry"))
}

/// Reads the registry into `store` every `every` (and when `reload` is notified), until
/// `shutdown` resolves. The first read happens at once.
pub async fn poll_registry(
    store: Arc<ConfigStore>,
    ch: ClickHouse,
    every: Duration,
    reload: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => {}
                _ = reload.notified() => {}
            }
        }
        first = false;
        let read = tokio::select! {
            _ = &mut shutdown => return,
            r = load_registry(&ch) => r,
        };
        match read {
            Ok(snapshot) => {
                if store.load().is_some_and(|s| s.version == snapshot.version) {
                    store.clear_error();
                    continue;
                }
                tracing::info!(
                    version = %snapshot.version,
                    experiments = snapshot.definitions.experiments.len(),
                    "loaded a new version of the registry"
                );
                store.install(snapshot);
            }
            Err(e) => {
                let was_failing = store.last_error().is_some();
                if !was_failing {
                    let serving = store
                        .load()
                        .map_or("nothing".to_owned(), |s| format!("version {}", s.version));
                    tracing::warn!(error = %e, serving = %serving, "reading the registry failed; the previous configuration keeps serving (retrying)");
                }
                store.fail(e.to_string());
            }
        }
    }
}

/// The content version of a text (what [`load_file`] computes), for tests and logs.
pub fn version_of(text: &str) -> String {
    content_version(text.as_bytes())
}
