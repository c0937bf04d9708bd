//! Experiment definitions, deterministic assignment and feature flags for Abacus.
//!
//! Producers' services, the load generator and the analysis all use this crate to put a user
//! into the same variant. It is pure: no I/O, no async, no ClickHouse. Definitions come from
//! an `experiments.toml` text ([`parse`]) or from the registry (stored [`Experiment`]s, checked
//! with [`Experiment::checked`]).
//!
//! ```
//! let defs = abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap();
//! let exp = defs.experiment("checkout-redesign").unwrap();
//! let variant = exp.assign("user-42").map_or("excluded", |v| v.name.as_str());
//! assert_eq!(variant, exp.assign("user-42").map_or("excluded", |v| v.name.as_str()));
//! ```
//!
//! The hash (MurmurHash3 x86_32 over colon-joined UTF-8 keys), the bucket layout and why
//! raising traffic only adds users are specified in `assign/README.md`, with test vectors in
//! `assign/tests/vectors.tsv` for ports to other languages.
//!
//! # Layout
//! - [`hash`]: MurmurHash3 x86_32, the key layout and the mapping to 10,000 buckets.
//! - [`file`]: the file as written (serde structs) and TOML parsing with line numbers.
//! - [`chunks`]: splitting a file at its top-level tables, so large files parse in bounded memory.
//! - [`validate`]: validation into [`Definitions`], layer slices and variant ranges.
//! - [`metrics`]: validation of metric definitions.
//! - [`analysis`]: how an experiment is analysed: engine, prior, CUPED, plan.
//! - [`experiment`]: the validated [`Experiment`] and assignment.
//! - [`design`]: randomization units (cluster-randomized experiments) and switchback designs.
//! - [`flags`]: feature flags and their evaluation.
//! - [`value`]: typed flag values (boolean, string, integer, float, object).
//! - [`conditions`]: rule conditions and the attribute [`Context`].
//! - [`error`]: [`DefinitionError`] and [`Problem`].

pub mod analysis;
pub mod chunks;
pub mod conditions;
pub mod design;
pub mod error;
pub mod experiment;
pub mod file;
pub mod flags;
pub mod hash;
pub mod metrics;
pub mod validate;
pub mod value;

pub use analysis::{supports_cuped, Engine, Plan, Prior, DEFAULT_PRE_PERIOD_DAYS};
pub use conditions::{AttrValue, Condition, Context, Op};
pub use design::{Design, UnitAssignment, UnitError};
pub use error::{DefinitionError, Problem};
pub use experiment::{
    Assignment, BucketRange, Direction, Experiment, Metric, MetricKind, Variant, Window,
};
pub use flags::{Evaluation, Flag, Reason};
pub use hash::BUCKETS;
pub use validate::{parse, parse_date_time, validate, Definitions, EXCLUDED};
pub use value::{FlagValue, ValueType};
