//! Rows of the `experiments` table, the canonical JSON of a definition and its checksum, and
//! reading definitions back.
//!
//! A definition is stored as the JSON of the validated [`Experiment`] (fields in declaration
//! order, so the text is canonical), with its SHA-256 as `checksum`. Reading parses the JSON and
//! runs [`Experiment::checked`], so a row edited by hand that breaks the rules (or whose bucket
//! ranges disagree with its weights) is reported instead of assigning users differently.

use abacus_assign::Experiment;
use abacus_schema::{ClickHouse, SchemaError};
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::RegistryError;

/// Reads every stored version, optionally of one experiment, in (id, version) order.
/// `FINAL` collapses a version stored twice by concurrent applies.
pub const SELECT_ALL: &str =
    "SELECT experiment_id, version, toUInt32(applied_at) AS applied_at, checksum, definition \
     FROM experiments FINAL ORDER BY experiment_id, version";

/// Reads every stored version of one experiment (`?` = experiment id).
pub const SELECT_ONE: &str =
    "SELECT experiment_id, version, toUInt32(applied_at) AS applied_at, checksum, definition \
     FROM experiments FINAL WHERE experiment_id = ? ORDER BY version";

/// One row of `experiments`.
#[derive(Clone, Debug, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct ExperimentRow {
    /// Experiment id.
    pub experiment_id: String,
    /// Version, 1 for the first.
    pub version: u32,
    /// When the version was applied, Unix seconds.
    pub applied_at: u32,
    /// SHA-256 (hex) of `definition`.
    pub checksum: String,
    /// The validated definition as canonical JSON.
    pub definition: String,
}

/// A stored version of an experiment definition.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredExperiment {
    /// The definition, checked.
    pub experiment: Experiment,
    /// Its version.
    pub version: u32,
    /// When it was applied.
    pub applied_at: DateTime<Utc>,
    /// SHA-256 (hex) of its canonical JSON.
    pub checksum: String,
}

/// The canonical JSON of a definition (what is stored and checksummed).
pub fn canonical_json(e: &Experiment) -> Result<String, RegistryError> {
    serde_json::to_string(e).map_err(|err| RegistryError::Encode {
        id: e.id.clone(),
        message: err.to_string(),
    })
}

/// Hex SHA-256 of `text`.
pub fn checksum(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl StoredExperiment {
    /// Decodes and checks a row.
    pub fn from_row(row: ExperimentRow) -> Result<Self, RegistryError> {
        let corrupt = |message: String| RegistryError::Corrupt {
            id: row.experiment_id.clone(),
            version: row.version,
            message,
        };
        let parsed: Experiment = serde_json::from_str(&row.definition)
            .map_err(|e| corrupt(format!("invalid JSON: {e}")))?;
        if parsed.id != row.experiment_id {
            return Err(corrupt(format!("the definition has id \"{}\"", parsed.id)));
        }
        let experiment = parsed.checked().map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            experiment,
            version: row.version,
            applied_at: DateTime::from_timestamp(i64::from(row.applied_at), 0).unwrap_or_default(),
            checksum: row.checksum,
        })
    }
}

/// Every stored row, or those of experiment `id`.
pub async fn rows(ch: &ClickHouse, id: Option<&str>) -> Result<Vec<ExperimentRow>, RegistryError> {
    let query = match id {
        Some(id) => ch.client().query(SELECT_ONE).bind(id),
        None => ch.client().query(SELECT_ALL),
    };
    query
        .fetch_all::<ExperimentRow>()
        .await
        .map_err(|e| SchemaError::query("read the experiment registry", &e).into())
}

/// The latest row of each experiment (rows in (id, version) order).
fn latest(rows: Vec<ExperimentRow>) -> Vec<ExperimentRow> {
    let mut out: Vec<ExperimentRow> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some(last) if last.experiment_id == row.experiment_id => *last = row,
            _ => out.push(row),
        }
    }
    out
}

/// The current (highest) version of every stored experiment, ordered by id.
pub async fn current(ch: &ClickHouse) -> Result<Vec<StoredExperiment>, RegistryError> {
    latest(rows(ch, None).await?)
        .into_iter()
        .map(StoredExperiment::from_row)
        .collect()
}

/// The version of every experiment that was current at `at` (applied at or before it),
/// for reproducing an analysis made then. Experiments applied later are absent.
pub async fn as_of(
    ch: &ClickHouse,
    at: DateTime<Utc>,
) -> Result<Vec<StoredExperiment>, RegistryError> {
    let rows = rows(ch, None)
        .await?
        .into_iter()
        .filter(|r| i64::from(r.applied_at) <= at.timestamp())
        .collect();
    latest(rows)
        .into_iter()
        .map(StoredExperiment::from_row)
        .collect()
}

/// Version `version` of experiment `id`, if stored.
pub async fn at_version(
    ch: &ClickHouse,
    id: &str,
    version: u32,
) -> Result<Option<StoredExperiment>, RegistryError> {
    rows(ch, Some(id))
        .await?
        .into_iter()
        .find(|r| r.version == version)
        .map(StoredExperiment::from_row)
        .transpose()
}

/// Every stored version of experiment `id`, oldest first (empty when unknown).
pub async fn history(ch: &ClickHouse, id: &str) -> Result<Vec<StoredExperiment>, RegistryError> {
    rows(ch, Some(id))
        .await?
        .into_iter()
        .map(StoredExperiment::from_row)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, version: u32) -> ExperimentRow {
        ExperimentRow {
            experiment_id: id.into(),
            version,
            applied_at: 0,
            checksum: String::new(),
            definition: String::new(),
        }
    }

    #[test]
    fn latest_keeps_the_highest_version_of_each_id() {
        let rows = vec![
            row("a", 1),
            row("a", 2),
            row("b", 1),
            row("c", 1),
            row("c", 3),
        ];
        let got: Vec<(String, u32)> = latest(rows)
            .into_iter()
            .map(|r| (r.experiment_id, r.version))
            .collect();
        assert_eq!(got, [("a".into(), 2), ("b".into(), 1), ("c".into(), 3)]);
    }

    #[test]
    fn checksum_is_hex_sha256() {
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
