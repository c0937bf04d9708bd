//! The configuration being served: an immutable [`Snapshot`] of validated definitions, swapped
//! atomically by [`ConfigStore::install`] (arc-swap), and the reload status that `/readyz` and
//! `/metrics` show. Requests load the current snapshot without taking a lock; a reload that
//! fails leaves the snapshot in place and records why.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use abacus_assign::{Definitions, Experiment, Flag};
use arc_swap::ArcSwapOption;
use sha2::{Digest, Sha256};

use crate::answer::FlagJson;

/// One validated configuration, never changed after it is built.
#[derive(Debug)]
pub struct Snapshot {
    /// The definitions.
    pub definitions: Definitions,
    /// Content version: 12 hex digits of the SHA-256 of the source (the same on every replica
    /// that loaded the same definitions).
    pub version: String,
    /// Where it came from (`file:PATH` or `registry`).
    pub source: String,
    /// When it was installed.
    pub loaded_at: SystemTime,
    index: HashMap<String, Entry>,
    /// The constant parts of each flag's OFREP answer (parallel to `definitions.flags`),
    /// written once here instead of on every answer.
    flag_json: Vec<FlagJson>,
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    Flag(usize),
    Experiment(usize),
}

/// What a key names.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// A feature flag, and the constant parts of its answer.
    Flag(&'a Flag, &'a FlagJson),
    /// An experiment.
    Experiment(&'a Experiment),
}

impl Snapshot {
    /// Builds a snapshot; `content` is what the version is computed from.
    pub fn new(definitions: Definitions, content: &[u8], source: impl Into<String>) -> Self {
        let mut index = HashMap::new();
        for (i, e) in definitions.experiments.iter().enumerate() {
            index.insert(e.id.clone(), Entry::Experiment(i));
        }
        for (i, f) in definitions.flags.iter().enumerate() {
            // Validation refuses a flag named like an experiment; the flag wins otherwise.
            index.insert(f.name.clone(), Entry::Flag(i));
        }
        let version = content_version(content);
        let flag_json = definitions
            .flags
            .iter()
            .map(|f| FlagJson::new(f, &version))
            .collect();
        Self {
            definitions,
            version,
            source: source.into(),
            loaded_at: SystemTime::now(),
            index,
            flag_json,
        }
    }

    /// Every flag with the constant parts of its answer, in definition order.
    pub fn flags(&self) -> impl Iterator<Item = (&Flag, &FlagJson)> {
        self.definitions.flags.iter().zip(&self.flag_json)
    }

    /// The flag or experiment named `key`.
    pub fn lookup(&self, key: &str) -> Option<Target<'_>> {
        match self.index.get(key)? {
            Entry::Flag(i) => Some(Target::Flag(
                self.definitions.flags.get(*i)?,
                self.flag_json.get(*i)?,
            )),
            Entry::Experiment(i) => self.definitions.experiments.get(*i).map(Target::Experiment),
        }
    }
}

/// 12 hex digits of the SHA-256 of `content`.
pub fn content_version(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The last failed reload, shown until a reload succeeds.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadError {
    /// Why it failed.
    pub message: String,
    /// When.
    pub at: SystemTime,
}

/// The current snapshot and the reload history.
#[derive(Debug, Default)]
pub struct ConfigStore {
    current: ArcSwapOption<Snapshot>,
    last_error: Mutex<Option<ReloadError>>,
    /// Successful reloads (the first load included).
    pub reloads: crate::metrics::Counter,
    /// Failed reloads.
    pub reload_failures: crate::metrics::Counter,
}

impl ConfigStore {
    /// A store with nothing loaded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store serving `snapshot`.
    pub fn with(snapshot: Snapshot) -> Self {
        let store = Self::default();
        store.install(snapshot);
        store
    }

    /// The snapshot serving now, if one was ever loaded.
    #[inline]
    pub fn load(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// Swaps in `snapshot` (in one step) and clears the last error.
    pub fn install(&self, snapshot: Snapshot) {
        self.current.store(Some(Arc::new(snapshot)));
        self.reloads.inc();
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    /// Records a failed reload; the current snapshot keeps serving.
    pub fn fail(&self, message: String) {
        self.reload_failures.inc();
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(ReloadError {
                message,
                at: SystemTime::now(),
            });
        }
    }

    /// Forgets the last failure (the source is valid again and unchanged).
    pub fn clear_error(&self) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    /// The last failed reload since the last successful one.
    pub fn last_error(&self) -> Option<ReloadError> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}
