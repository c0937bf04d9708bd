//! Applies migrations in order and keeps the ledger (`schema_migrations`): which version ran,
//! from which file, with which checksum and when.

use clickhouse::Row;
use serde::Deserialize;

use crate::migrations::Migration;
use crate::render::{render_statement, Target};
use crate::{ClickHouse, SchemaError};

/// Ledger table DDL (a template like the migrations).
pub const LEDGER_DDL: &str =
    "CREATE TABLE IF NOT EXISTS {db}.{table:schema_migrations} {on_cluster}
(
    version    UInt32,
    file       String,
    checksum   String,
    applied_at DateTime
)
ENGINE = {engine:ReplacingMergeTree()}
ORDER BY version";

/// Database DDL.
pub const DATABASE_DDL: &str = "CREATE DATABASE IF NOT EXISTS {db} {on_cluster}";

/// A row of the ledger.
#[derive(Clone, Debug, Row, Deserialize, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Migration version.
    pub version: u32,
    /// File name at the time it was applied.
    pub file: String,
    /// SHA-256 of the file then.
    pub checksum: String,
}

/// Where each migration stands on a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Already applied (and unchanged).
    pub applied: Vec<AppliedMigration>,
    /// Not applied yet, in the order they would run.
    pub pending: Vec<Migration>,
}

/// The statements that create the database and the ledger, for `target`.
pub fn bootstrap_statements(target: &Target) -> Result<Vec<String>, SchemaError> {
    [DATABASE_DDL, LEDGER_DDL]
        .iter()
        .filter_map(|t| render_statement(t, target).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| SchemaError::InvalidMigration {
            file: "ledger".into(),
            reason,
        })
}

/// Every statement `migrate` would run on an empty database, in order (for `schema print`).
pub fn full_script(
    target: &Target,
    migrations: &[Migration],
) -> Result<Vec<(String, Vec<String>)>, SchemaError> {
    let mut out = vec![("bootstrap".to_owned(), bootstrap_statements(target)?)];
    for m in migrations {
        out.push((m.file.clone(), m.render(target)?));
    }
    Ok(out)
}

/// Reads the ledger and compares it with `migrations`. The database must exist.
pub async fn status(
    ch: &ClickHouse,
    migrations: &[Migration],
) -> Result<SchemaStatus, SchemaError> {
    let target = ch.target();
    for statement in bootstrap_statements(&target)? {
        ch.execute(&statement, "create database and ledger").await?;
    }
    let applied = read_ledger(ch).await?;
    for row in &applied {
        let Some(m) = migrations.iter().find(|m| m.version == row.version) else {
            return Err(SchemaError::UnknownMigration {
                database: ch.database().to_owned(),
                version: row.version,
            });
        };
        let current = m.checksum();
        if current != row.checksum {
            return Err(SchemaError::ChecksumMismatch {
                file: m.file.clone(),
                applied: row.checksum.clone(),
                current,
            });
        }
    }
    let pending = migrations
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .cloned()
        .collect();
    Ok(SchemaStatus { applied, pending })
}

/// Creates the database if needed and applies every pending migration in order.
/// Returns the migrations it applied (empty when the schema was up to date).
pub async fn migrate(
    ch: &ClickHouse,
    migrations: &[Migration],
) -> Result<Vec<Migration>, SchemaError> {
    let SchemaStatus { pending, .. } = status(ch, migrations).await?;
    let target = ch.target();
    for m in &pending {
        let statements = m.render(&target)?;
        for (i, statement) in statements.iter().enumerate() {
            let context = format!("migration {} statement {}", m.file, i + 1);
            match ch.execute(statement, &context).await {
                Err(e) if column_already_added(statement, &e) => tracing::info!(
                    file = %m.file, statement = i + 1,
                    "column already added (by an interrupted run of this migration)"
                ),
                other => other?,
            }
        }
        let insert = format!(
            "INSERT INTO {}.schema_migrations (version, file, checksum, applied_at) VALUES (?, ?, ?, now())",
            crate::ident::quote(ch.database())
        );
        ch.server_client()
            .query(&insert)
            .bind(m.version)
            .bind(&m.file)
            .bind(m.checksum())
            .execute()
            .await
            .map_err(|e| {
                SchemaError::query(format!("record migration {} in the ledger", m.file), &e)
            })?;
        tracing::info!(file = %m.file, statements = statements.len(), database = ch.database(), "migration applied");
    }
    Ok(pending)
}

/// ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: migrations add one column per statement,
/// and a rerun after an interruption meets the columns already added. That error means the
/// statement's work is done.
fn column_already_added(statement: &str, err: &SchemaError) -> bool {
    let code: String = statement
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ");
    code.contains("ALTER TABLE")
        && code.matches("ADD COLUMN").count() == 1
        && err
            .to_string()
            .contains("column with this name already exists")
}

async fn read_ledger(ch: &ClickHouse) -> Result<Vec<AppliedMigration>, SchemaError> {
    let sql = format!(
        "SELECT version, file, checksum FROM {}.schema_migrations FINAL ORDER BY version",
        crate::ident::quote(ch.database())
    );
    ch.server_client()
        .query(&sql)
        .fetch_all::<AppliedMigration>()
        .await
        .map_err(|e| SchemaError::query("read the migration ledger", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_may_meet_the_columns_it_added() {
        let duplicate = SchemaError::Query {
            context: "migration 0006 statement 3".into(),
            message: "Code: 44, e.displayText() = DB::Exception: Cannot add column cuped: column with this name already exists".into(),
        };
        let add = "-- why\nALTER TABLE `abacus`.results  ADD COLUMN cuped UInt8";
        assert!(column_already_added(add, &duplicate));
        let other = SchemaError::Query {
            context: "x".into(),
            message: "Code: 60, Table abacus.results doesn't exist".into(),
        };
        assert!(!column_already_added(add, &other));
        let two = "ALTER TABLE t ADD COLUMN a UInt8, ADD COLUMN b UInt8";
        assert!(!column_already_added(two, &duplicate));
        assert!(!column_already_added(
            "CREATE TABLE t (a UInt8)",
            &duplicate
        ));
    }
}
