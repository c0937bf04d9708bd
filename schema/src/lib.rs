//! ClickHouse connection settings, DDL and versioned migrations for Abacus.
//!
//! Every table Abacus reads or writes is created here, by numbered SQL files embedded in the
//! binary and applied in order by [`migrate`]. Each applied file is recorded in the
//! `schema_migrations` ledger with its SHA-256; editing an applied file is an error, so the
//! schema of every deployment can be reproduced from the files. The same files render for a
//! single server or, with a cluster name, with `ON CLUSTER`, Replicated engines and
//! Distributed tables (see [`render`]). All SQL runs on ClickHouse 18.16 and on current
//! releases.
//!
//! # Layout
//! - [`config`]: the `[clickhouse]` configuration section.
//! - [`client`]: connecting, with a timeout, and learning the server version.
//! - [`ident`]: checking and quoting identifiers that come from configuration.
//! - [`render`]: the migration template language and its cluster rendering.
//! - [`migrations`]: the embedded migration files.
//! - [`migrator`]: the ledger, status and applying pending migrations.
//! - [`redact`]: keeping passwords in URLs and secret settings out of output.
//! - [`error`]: the crate's error type, [`SchemaError`].
//!
//! The tables themselves are documented in `schema/README.md`.

pub mod client;
pub mod config;
pub mod error;
pub mod ident;
pub mod migrations;
pub mod migrator;
pub mod redact;
pub mod render;

pub use client::{ClickHouse, ServerVersion};
pub use config::ClickHouseConfig;
pub use error::SchemaError;
pub use migrations::{embedded, Migration};
pub use migrator::{migrate, status, SchemaStatus};
pub use redact::{is_secret_key, redact_url};
