//! One module per subcommand group; each exposes its clap enum and a `run` function.

pub mod aggregate;
pub mod assign;
pub mod config;
pub mod dashboard;
pub mod experiments;
pub mod flags;
pub mod ingest;
pub mod produce;
pub mod report;
pub mod schema;
pub mod serve;
pub mod stats;
