//! The experiment registry: every applied version of every experiment definition, stored in
//! the ClickHouse table `experiments` (migration `0003_experiments.sql`), so that past analyses
//! can be reproduced with the definition they used.
//!
//! [`plan`] compares a validated file ([`abacus_assign::Definitions`]) with what is stored and
//! says, per experiment, whether it is new, changed (and which fields, and whether users of the
//! stored version would move) or unchanged; [`apply`] stores the new and changed ones as new
//! versions. An unchanged definition is never stored twice: the SHA-256 of its canonical JSON
//! is compared with the stored checksum.
//!
//! The aggregator and the analysis read definitions back as [`abacus_assign::Experiment`]s,
//! checked again on the way in: [`current`] (latest version of each experiment),
//! [`at_version`], [`as_of`] (what was current at a time) and [`history`].
//!
//! Feature flags are versioned the same way in the table `flags` ([`flags`](mod@flags)), so that
//! `abacus serve --source registry` serves them too.
//!
//! # Layout
//! - [`store`]: the table's rows, the canonical JSON and checksum, and the read functions.
//! - [`flags`](mod@flags): flags' rows, canonical TOML, reading, planning and applying.
//! - [`plan`](mod@plan): comparing a file with the registry, and applying the difference.
//! - [`error`]: the error type, [`RegistryError`].

pub mod error;
pub mod flags;
pub mod plan;
pub mod store;

pub use error::RegistryError;
pub use flags::{apply_flags, current_flags, plan_flags, FlagChange, StoredFlag};
pub use plan::{apply, plan, Action, Change, Plan};
pub use store::{as_of, at_version, current, history, StoredExperiment};
