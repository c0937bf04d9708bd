//! Integration tests of migrations against the real ClickHouse server of the local stack.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use abacus_schema::{migrate, status, Migration, SchemaError};
use abacus_testkit::TestDatabase;

fn migration(file: &str, sql: &str) -> Migration {
    Migration::new(file, sql).unwrap()
}

#[tokio::test]
async fn embedded_migrations_apply_once_and_then_are_up_to_date() {
    let db = TestDatabase::create_empty("embedded_migrations").await;
    let migrations = abacus_schema::embedded().unwrap();
    let applied = migrate(db.clickhouse(), &migrations).await.unwrap();
    assert_eq!(applied.len(), migrations.len());
    let again = migrate(db.clickhouse(), &migrations).await.unwrap();
    assert!(again.is_empty(), "second run applied {again:?}");
    let st = status(db.clickhouse(), &migrations).await.unwrap();
    assert_eq!(st.applied.len(), migrations.len());
    assert!(st.pending.is_empty());
    // The tables exist and are empty.
    for table in ["events", "quarantine", "experiments"] {
        assert_eq!(db.count(&format!("SELECT count() FROM {table}")).await, 0);
    }
    assert_eq!(
        db.count("SELECT count() FROM schema_migrations").await,
        migrations.len() as u64
    );
    db.drop().await;
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused_with_its_file_name() {
    let db = TestDatabase::create_empty("edited_migration").await;
    let v1 = vec![migration(
        "0001_first.sql",
        "CREATE TABLE IF NOT EXISTS {db}.{table:t} {on_cluster} (x UInt8) ENGINE = {engine:MergeTree()} ORDER BY x;",
    )];
    migrate(db.clickhouse(), &v1).await.unwrap();
    let edited = vec![migration(
        "0001_first.sql",
        "CREATE TABLE IF NOT EXISTS {db}.{table:t} {on_cluster} (x UInt16) ENGINE = {engine:MergeTree()} ORDER BY x;",
    )];
    let err = migrate(db.clickhouse(), &edited).await.unwrap_err();
    assert!(matches!(err, SchemaError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("0001_first.sql"), "{err}");

    // A new migration on top of the original is applied; nothing else runs again.
    let mut v2 = v1.clone();
    v2.push(migration(
        "0002_second.sql",
        "CREATE TABLE IF NOT EXISTS {db}.{table:u} {on_cluster} (y String) ENGINE = {engine:MergeTree()} ORDER BY y;",
    ));
    let applied = migrate(db.clickhouse(), &v2).await.unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].file, "0002_second.sql");
    db.drop().await;
}

#[tokio::test]
async fn a_failing_statement_names_the_migration_and_is_not_recorded() {
    let db = TestDatabase::create_empty("failing_migration").await;
    let bad = vec![migration(
        "0001_bad.sql",
        "CREATE TABLE {db}.broken (x NoSuchType) ENGINE = Memory;",
    )];
    let err = migrate(db.clickhouse(), &bad).await.unwrap_err();
    assert!(err.to_string().contains("0001_bad.sql"), "{err}");
    let st = status(db.clickhouse(), &bad).await.unwrap();
    assert_eq!(st.pending.len(), 1);
    db.drop().await;
}

#[tokio::test]
async fn a_ledger_entry_this_binary_does_not_know_is_an_error() {
    let db = TestDatabase::create_empty("unknown_migration").await;
    let two = vec![
        migration("0001_a.sql", "SELECT 1;"),
        migration("0002_b.sql", "SELECT 2;"),
    ];
    migrate(db.clickhouse(), &two).await.unwrap();
    let err = migrate(db.clickhouse(), &two[..1]).await.unwrap_err();
    assert!(
        matches!(err, SchemaError::UnknownMigration { version: 2, .. }),
        "{err}"
    );
    db.drop().await;
}
