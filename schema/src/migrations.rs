//! The migrations embedded in the binary, and their rendering for a deployment.
//!
//! Files live in `schema/migrations/NNNN_name.sql` and are applied in version order.
//! An applied file must never change: its SHA-256 is recorded in the ledger and checked on
//! every run. Change the schema by adding a new file (and listing it in [`EMBEDDED`]).

use sha2::{Digest, Sha256};

use crate::render::{render_statement, split_statements, Target};
use crate::SchemaError;

/// `(file name, contents)` of every migration, in version order.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "0001_events.sql",
        include_str!("../migrations/0001_events.sql"),
    ),
    (
        "0002_quarantine.sql",
        include_str!("../migrations/0002_quarantine.sql"),
    ),
    (
        "0003_experiments.sql",
        include_str!("../migrations/0003_experiments.sql"),
    ),
    (
        "0004_ingested_at_default.sql",
        include_str!("../migrations/0004_ingested_at_default.sql"),
    ),
    (
        "0005_results.sql",
        include_str!("../migrations/0005_results.sql"),
    ),
    (
        "0006_cuped_bayesian.sql",
        include_str!("../migrations/0006_cuped_bayesian.sql"),
    ),
    (
        "0007_flags.sql",
        include_str!("../migrations/0007_flags.sql"),
    ),
    (
        "0008_network.sql",
        include_str!("../migrations/0008_network.sql"),
    ),
    (
        "0009_results_inputs.sql",
        include_str!("../migrations/0009_results_inputs.sql"),
    ),
];

/// One migration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Version number from the file name prefix.
    pub version: u32,
    /// File name, e.g. `0001_events.sql`.
    pub file: String,
    /// The template text.
    pub sql: String,
}

impl Migration {
    /// Parses the version from `file` (`NNNN_name.sql`).
    pub fn new(file: &str, sql: &str) -> Result<Self, SchemaError> {
        let invalid = |reason: &str| SchemaError::InvalidMigration {
            file: file.to_owned(),
            reason: reason.to_owned(),
        };
        let stem = file
            .strip_suffix(".sql")
            .ok_or_else(|| invalid("file name must end in .sql"))?;
        let (number, name) = stem
            .split_once('_')
            .ok_or_else(|| invalid("file name must look like NNNN_name.sql"))?;
        if name.is_empty() || number.len() != 4 {
            return Err(invalid("file name must look like NNNN_name.sql"));
        }
        let version = number
            .parse::<u32>()
            .map_err(|_| invalid("file name must start with a 4-digit version"))?;
        Ok(Self {
            version,
            file: file.to_owned(),
            sql: sql.to_owned(),
        })
    }

    /// Hex SHA-256 of the file's text (what the ledger records).
    pub fn checksum(&self) -> String {
        let digest = Sha256::digest(self.sql.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The statements this migration runs on `target`, in order.
    pub fn render(&self, target: &Target) -> Result<Vec<String>, SchemaError> {
        let mut out = Vec::new();
        for statement in split_statements(&self.sql) {
            let rendered = render_statement(&statement, target).map_err(|reason| {
                SchemaError::InvalidMigration {
                    file: self.file.clone(),
                    reason,
                }
            })?;
            out.extend(rendered);
        }
        Ok(out)
    }
}

/// The embedded migrations, parsed and checked for strictly increasing versions.
pub fn embedded() -> Result<Vec<Migration>, SchemaError> {
    let files: Vec<(String, String)> = EMBEDDED
        .iter()
        .map(|(f, s)| ((*f).to_owned(), (*s).to_owned()))
        .collect();
    from_files(&files)
}

/// Parses a set of `(file name, contents)` pairs into migrations in version order.
pub fn from_files(files: &[(String, String)]) -> Result<Vec<Migration>, SchemaError> {
    let mut migrations = files
        .iter()
        .map(|(file, sql)| Migration::new(file, sql))
        .collect::<Result<Vec<_>, _>>()?;
    migrations.sort_by_key(|m| m.version);
    for pair in migrations.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(SchemaError::InvalidMigration {
                file: pair[1].file.clone(),
                reason: format!(
                    "version {} is also used by {}",
                    pair[1].version, pair[0].file
                ),
            });
        }
    }
    Ok(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_folder_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = EMBEDDED.iter().map(|(f, _)| *f).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn embedded_migrations_render_for_both_targets() {
        for cluster in [None, Some("prod".to_owned())] {
            let target = Target {
                database: "abacus".into(),
                cluster: cluster.clone(),
            };
            for m in embedded().unwrap() {
                let statements = m.render(&target).unwrap();
                assert!(!statements.is_empty(), "{}", m.file);
                for s in &statements {
                    assert!(!s.contains("{db}") && !s.contains("{local:"), "{s}");
                    if cluster.is_some() && s.starts_with("CREATE") {
                        assert!(s.contains("ON CLUSTER `prod`"), "{s}");
                    }
                }
            }
        }
    }

    #[test]
    fn cluster_events_have_a_distributed_table_over_replicated_storage() {
        let target = Target {
            database: "abacus".into(),
            cluster: Some("prod".into()),
        };
        let events = &embedded().unwrap()[0];
        let statements = events.render(&target).unwrap();
        assert_eq!(statements.len(), 2);
        assert!(statements[0].contains(
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/abacus/events_local'"
        ));
        assert!(statements[1]
            .contains("Distributed(`prod`, `abacus`, events_local, cityHash64(user_id))"));
    }

    #[test]
    fn file_names_are_checked() {
        for bad in ["1_x.sql", "0001.sql", "0001_x.txt", "abcd_x.sql"] {
            assert!(Migration::new(bad, "").is_err(), "{bad}");
        }
        let dup = from_files(&[
            ("0001_a.sql".into(), String::new()),
            ("0001_b.sql".into(), String::new()),
        ])
        .unwrap_err();
        assert!(dup.to_string().contains("0001_b.sql"), "{dup}");
    }

    #[test]
    fn checksum_changes_with_the_text() {
        let a = Migration::new("0001_a.sql", "SELECT 1").unwrap();
        let b = Migration::new("0001_a.sql", "SELECT 2").unwrap();
        assert_eq!(a.checksum().len(), 64);
        assert_ne!(a.checksum(), b.checksum());
    }
}
