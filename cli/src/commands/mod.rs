//! One module per subcommand group; each exposes its clap enum and a `run` function.

pub mod config;
pub mod ingest;
pub mod schema;
pub mod stats;
