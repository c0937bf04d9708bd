//! Feature flags in the registry: every applied version of every flag, in the table `flags`
//! (migration `0007_flags.sql`), so that `abacus serve --source registry` serves flags too.
//!
//! A flag is stored as its `[[flag]]` TOML table ([`abacus_assign::Flag::to_raw`]), with the
//! SHA-256 of that text as checksum; reading parses and validates it again. An unchanged flag is
//! never stored twice. [`plan_flags`] compares the file's flags with the current versions;
//! [`apply_flags`] stores the new and changed ones.

use std::collections::BTreeMap;

use abacus_assign::file::RawFile;
use abacus_assign::{Definitions, Flag};
use abacus_schema::{ClickHouse, SchemaError};
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::store::checksum;
use crate::{Action, RegistryError};

/// Reads every stored version of every flag, in (name, version) order.
pub const SELECT_FLAGS: &str =
    "SELECT flag_name, version, toUInt32(applied_at) AS applied_at, checksum, definition \
     FROM flags FINAL ORDER BY flag_name, version";

/// One row of `flags`.
#[derive(Clone, Debug, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct FlagRow {
    /// Flag name.
    pub flag_name: String,
    /// Version, 1 for the first.
    pub version: u32,
    /// When the version was applied, Unix seconds.
    pub applied_at: u32,
    /// SHA-256 (hex) of `definition`.
    pub checksum: String,
    /// The flag as a `[[flag]]` TOML table.
    pub definition: String,
}

/// A stored version of a flag.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredFlag {
    /// The flag, validated again.
    pub flag: Flag,
    /// Its version.
    pub version: u32,
    /// When it was applied.
    pub applied_at: DateTime<Utc>,
    /// SHA-256 (hex) of its definition.
    pub checksum: String,
}

/// The canonical text of a flag: its `[[flag]]` table as TOML. Fails when the text would not
/// read back as the same flag.
pub fn canonical_toml(flag: &Flag) -> Result<String, RegistryError> {
    let encode = |message: String| RegistryError::EncodeFlag {
        name: flag.name.clone(),
        message,
    };
    let raw = RawFile {
        experiment: Vec::new(),
        flag: vec![flag.to_raw()],
    };
    let text = toml::to_string(&raw).map_err(|e| encode(e.to_string()))?;
    match decode(&text) {
        Ok(back) if &back == flag => Ok(text),
        Ok(_) => Err(encode("it does not read back unchanged".into())),
        Err(e) => Err(encode(e)),
    }
}

fn decode(text: &str) -> Result<Flag, String> {
    let mut defs = abacus_assign::parse(text).map_err(|e| e.to_string())?;
    match (
        defs.flags.pop(),
        defs.flags.is_empty(),
        defs.experiments.is_empty(),
    ) {
        (Some(flag), true, true) => Ok(flag),
        _ => Err("the definition must hold exactly one [[flag]] table".into()),
    }
}

impl StoredFlag {
    /// Decodes and checks a row.
    pub fn from_row(row: FlagRow) -> Result<Self, RegistryError> {
        let corrupt = |message: String| RegistryError::CorruptFlag {
            name: row.flag_name.clone(),
            version: row.version,
            message,
        };
        let flag = decode(&row.definition).map_err(corrupt)?;
        if flag.name != row.flag_name {
            return Err(corrupt(format!(
                "the definition has name \"{}\"",
                flag.name
            )));
        }
        Ok(Self {
            flag,
            version: row.version,
            applied_at: DateTime::from_timestamp(i64::from(row.applied_at), 0).unwrap_or_default(),
            checksum: row.checksum,
        })
    }
}

/// The current (highest) version of every stored flag, ordered by name.
pub async fn current_flags(ch: &ClickHouse) -> Result<Vec<StoredFlag>, RegistryError> {
    let rows = ch
        .client()
        .query(SELECT_FLAGS)
        .fetch_all::<FlagRow>()
        .await
        .map_err(|e| SchemaError::query("read the flag registry", &e))?;
    let mut latest: Vec<FlagRow> = Vec::new();
    for row in rows {
        match latest.last_mut() {
            Some(last) if last.flag_name == row.flag_name => *last = row,
            _ => latest.push(row),
        }
    }
    latest.into_iter().map(StoredFlag::from_row).collect()
}

/// What applying the file does to one flag.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagChange {
    /// The validated flag from the file.
    pub flag: Flag,
    /// New, changed or unchanged.
    pub action: Action,
    /// Canonical TOML to store.
    pub definition: String,
    /// Its SHA-256.
    pub checksum: String,
}

impl FlagChange {
    /// The version this change stores, if it stores one.
    pub fn new_version(&self) -> Option<u32> {
        match self.action {
            Action::New => Some(1),
            Action::Changed { from } => Some(from + 1),
            Action::Unchanged { .. } => None,
        }
    }
}

/// Compares the flags of `definitions` with the current versions in the registry.
pub async fn plan_flags(
    ch: &ClickHouse,
    definitions: &Definitions,
) -> Result<Vec<FlagChange>, RegistryError> {
    let stored: BTreeMap<String, StoredFlag> = current_flags(ch)
        .await?
        .into_iter()
        .map(|s| (s.flag.name.clone(), s))
        .collect();
    definitions
        .flags
        .iter()
        .map(|f| {
            let definition = canonical_toml(f)?;
            let sum = checksum(&definition);
            let action = match stored.get(&f.name) {
                None => Action::New,
                Some(s) if s.checksum == sum => Action::Unchanged { version: s.version },
                Some(s) => Action::Changed { from: s.version },
            };
            Ok(FlagChange {
                flag: f.clone(),
                action,
                definition,
                checksum: sum,
            })
        })
        .collect()
}

/// Stores every new and changed flag as a new version, in one INSERT, and returns the
/// `(name, version)` pairs stored.
pub async fn apply_flags(
    ch: &ClickHouse,
    changes: &[FlagChange],
) -> Result<Vec<(String, u32)>, RegistryError> {
    let stored: Vec<(&FlagChange, u32)> = changes
        .iter()
        .filter_map(|c| c.new_version().map(|v| (c, v)))
        .collect();
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let tuples = vec!["(?, ?, now(), ?, ?)"; stored.len()].join(", ");
    let sql = format!(
        "INSERT INTO flags (flag_name, version, applied_at, checksum, definition) VALUES {tuples}"
    );
    let mut query = ch.client().query(&sql);
    for (c, version) in &stored {
        query = query
            .bind(c.flag.name.as_str())
            .bind(*version)
            .bind(c.checksum.as_str())
            .bind(c.definition.as_str());
    }
    query
        .execute()
        .await
        .map_err(|e| SchemaError::query("store flag definitions", &e))?;
    let out: Vec<(String, u32)> = stored
        .iter()
        .map(|(c, v)| (c.flag.name.clone(), *v))
        .collect();
    for (name, version) in &out {
        tracing::info!(flag = %name, version, database = ch.database(), "flag definition stored");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_flag_has_a_canonical_text_that_reads_back() {
        let defs = abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap();
        for f in &defs.flags {
            let text = canonical_toml(f).unwrap();
            assert_eq!(canonical_toml(&decode(&text).unwrap()).unwrap(), text);
        }
    }
}
