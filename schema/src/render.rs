//! Renders migration templates into executable SQL for a single server or a cluster.
//!
//! Migration files are plain ClickHouse SQL with a few placeholders, so that one file serves
//! both deployments:
//!
//! | placeholder | single server | cluster `c` |
//! |---|---|---|
//! | `{db}` | `` `abacus` `` | `` `abacus` `` |
//! | `{on_cluster}` | (nothing) | `` ON CLUSTER `c` `` |
//! | `{local:events}` | `events` | `events_local` (one shard's part) |
//! | `{table:experiments}` | `experiments` | `experiments` (full copy on every node) |
//! | `{engine:ReplacingMergeTree(v)}` | `ReplacingMergeTree(v)` | `ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/abacus/events_local', '{replica}', v)` |
//! | statement `{distributed:events:cityHash64(user_id)}` | (skipped) | `CREATE TABLE … events AS … events_local ENGINE = Distributed(c, abacus, events_local, cityHash64(user_id))` |
//! | statement starting `{cluster_only}` | (skipped) | the statement without the marker |
//!
//! `{engine:…}` takes its table from the `{local:…}` or `{table:…}` of the same statement:
//! sharded tables replicate within a shard, `{table:…}` tables replicate to every node
//! (path `/clickhouse/tables/all/…`). Reads and writes always use the plain table name,
//! which is the Distributed table on a cluster and the table itself on one server.
//!
//! Statements end with `;` at the end of a line. Comments (`-- …`) are kept in the output.

use crate::ident::quote;

/// Where the rendered SQL will run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Database name (already checked with [`crate::ident::check_ident`]).
    pub database: String,
    /// Cluster name (already checked), or `None` for a single server.
    pub cluster: Option<String>,
}

/// A template problem, reported with the migration's file name by the caller.
pub type RenderError = String;

/// Splits a migration into statements (see the module docs for the rule).
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        current.push_str(line);
        current.push('\n');
        let code = line.split("--").next().unwrap_or("").trim_end();
        if code.ends_with(';') {
            push_statement(&mut statements, &current);
            current.clear();
        }
    }
    push_statement(&mut statements, &current);
    statements
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    let has_code = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"));
    if has_code {
        let trimmed = text.trim();
        let without_semicolon = trimmed.strip_suffix(';').unwrap_or(trimmed).trim_end();
        statements.push(without_semicolon.to_owned());
    }
}

/// Renders one statement for `target`; `Ok(None)` means the statement does not apply there
/// (a `{distributed:…}` statement on a single server).
pub fn render_statement(statement: &str, target: &Target) -> Result<Option<String>, RenderError> {
    if let Some(spec) = whole_placeholder(statement, "distributed") {
        return render_distributed(spec, target);
    }
    let marked = statement.replacen(CLUSTER_ONLY, "", 1);
    let statement = if first_line(statement).starts_with(CLUSTER_ONLY) {
        if target.cluster.is_none() {
            return Ok(None);
        }
        marked.as_str()
    } else {
        statement
    };
    let table = statement_table(statement)?;
    let mut out = String::with_capacity(statement.len() + 64);
    let mut rest = statement;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|i| open + i)
            .ok_or_else(|| format!("unclosed `{{` in: {}", first_line(statement)))?;
        let placeholder = &rest[open + 1..close];
        out.push_str(&render_placeholder(placeholder, table.as_ref(), target)?);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// Marks a statement that only runs on a cluster (e.g. an ALTER of a Distributed table, which is
/// the table itself on one server).
const CLUSTER_ONLY: &str = "{cluster_only}";

/// The table a statement defines, from its `{local:…}` or `{table:…}` placeholder.
#[derive(Clone, Debug)]
struct TableRef {
    name: String,
    sharded: bool,
}

fn statement_table(statement: &str) -> Result<Option<TableRef>, RenderError> {
    let mut found: Option<TableRef> = None;
    for (kind, sharded) in [("{local:", true), ("{table:", false)] {
        if let Some(start) = statement.find(kind) {
            let name_start = start + kind.len();
            let end = statement[name_start..]
                .find('}')
                .ok_or_else(|| format!("unclosed `{kind}`"))?;
            let name = &statement[name_start..name_start + end];
            if found.is_some() {
                return Err(format!(
                    "statement names more than one table definition: {}",
                    first_line(statement)
                ));
            }
            check_name(name)?;
            found = Some(TableRef {
                name: name.to_owned(),
                sharded,
            });
        }
    }
    Ok(found)
}

fn render_placeholder(
    placeholder: &str,
    table: Option<&TableRef>,
    target: &Target,
) -> Result<String, RenderError> {
    let (key, arg) = match placeholder.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (placeholder, None),
    };
    match (key, arg) {
        ("db", None) => Ok(quote(&target.database)),
        ("on_cluster", None) => Ok(match &target.cluster {
            Some(c) => format!("ON CLUSTER {}", quote(c)),
            None => String::new(),
        }),
        ("local", Some(name)) => Ok(match target.cluster {
            Some(_) => format!("{name}_local"),
            None => name.to_owned(),
        }),
        ("table", Some(name)) => Ok(name.to_owned()),
        ("engine", Some(engine)) => render_engine(engine, table, target),
        _ => Err(format!("unknown placeholder `{{{placeholder}}}`")),
    }
}

fn render_engine(
    engine: &str,
    table: Option<&TableRef>,
    target: &Target,
) -> Result<String, RenderError> {
    let engine = engine.trim();
    let (name, args) = match engine.find('(') {
        Some(i) if engine.ends_with(')') => (&engine[..i], &engine[i + 1..engine.len() - 1]),
        _ => (engine, ""),
    };
    if !name.ends_with("MergeTree") {
        return Err(format!(
            "`{{engine:…}}` needs a MergeTree-family engine, got `{name}`"
        ));
    }
    if target.cluster.is_none() {
        return Ok(format!("{name}({args})"));
    }
    let table =
        table.ok_or("`{engine:…}` needs a `{local:…}` or `{table:…}` in the same statement")?;
    let (shard, table_name) = if table.sharded {
        ("{shard}", format!("{}_local", table.name))
    } else {
        ("all", table.name.clone())
    };
    let path = format!(
        "'/clickhouse/tables/{shard}/{}/{table_name}'",
        target.database
    );
    let mut replicated = format!("Replicated{name}({path}, '{{replica}}'");
    if !args.trim().is_empty() {
        replicated.push_str(", ");
        replicated.push_str(args.trim());
    }
    replicated.push(')');
    Ok(replicated)
}

fn render_distributed(spec: &str, target: &Target) -> Result<Option<String>, RenderError> {
    let (name, sharding_key) = spec
        .split_once(':')
        .ok_or("`{distributed:NAME:SHARDING_KEY}` needs a name and a sharding key")?;
    check_name(name)?;
    let Some(cluster) = &target.cluster else {
        return Ok(None);
    };
    let db = quote(&target.database);
    Ok(Some(format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {cq} AS {db}.{name}_local\n\
         ENGINE = Distributed({cq}, {db}, {name}_local, {sharding_key})",
        cq = quote(cluster),
    )))
}

/// If the whole statement is `{kind:…}`, returns what follows the colon.
fn whole_placeholder<'a>(statement: &'a str, kind: &str) -> Option<&'a str> {
    let code: Vec<&str> = statement
        .lines()
        .filter(|l| !l.trim_start().starts_with("--") && !l.trim().is_empty())
        .collect();
    if code.len() != 1 {
        return None;
    }
    let inner = code[0].trim().strip_prefix('{')?.strip_suffix('}')?;
    inner.strip_prefix(kind)?.strip_prefix(':')
}

fn check_name(name: &str) -> Result<(), RenderError> {
    crate::ident::check_ident("table", name).map_err(|e| e.to_string())
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single() -> Target {
        Target {
            database: "abacus".into(),
            cluster: None,
        }
    }

    fn cluster() -> Target {
        Target {
            database: "abacus".into(),
            cluster: Some("prod".into()),
        }
    }

    const EVENTS: &str = "CREATE TABLE IF NOT EXISTS {db}.{local:events} {on_cluster} (\n  id String\n) ENGINE = {engine:ReplacingMergeTree(ingested_at)}\nORDER BY id";

    #[test]
    fn splits_on_line_ending_semicolons_and_drops_comment_only_chunks() {
        let sql = "-- header\nCREATE TABLE a (x String) ENGINE = Memory;\n\n-- only a comment\nSELECT 'a;b' -- trailing;\n;\n";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 2, "{statements:?}");
        assert!(statements[0].ends_with("ENGINE = Memory"));
        assert!(statements[1].contains("SELECT 'a;b'"));
    }

    #[test]
    fn single_server_rendering_is_plain_sql() {
        let sql = render_statement(EVENTS, &single()).unwrap().unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE IF NOT EXISTS `abacus`.events  (\n  id String\n) ENGINE = ReplacingMergeTree(ingested_at)\nORDER BY id"
        );
    }

    #[test]
    fn cluster_rendering_uses_on_cluster_and_replicated_engines() {
        let sql = render_statement(EVENTS, &cluster()).unwrap().unwrap();
        assert!(
            sql.contains("`abacus`.events_local ON CLUSTER `prod`"),
            "{sql}"
        );
        assert!(
            sql.contains("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/abacus/events_local', '{replica}', ingested_at)"),
            "{sql}"
        );
    }

    #[test]
    fn engines_without_arguments_get_only_path_and_replica() {
        let stmt = "CREATE TABLE {db}.{table:ledger} {on_cluster} (v UInt32) ENGINE = {engine:MergeTree()} ORDER BY v";
        let sql = render_statement(stmt, &cluster()).unwrap().unwrap();
        assert!(
            sql.contains(
                "ReplicatedMergeTree('/clickhouse/tables/all/abacus/ledger', '{replica}')"
            ),
            "{sql}"
        );
        let sql = render_statement(stmt, &single()).unwrap().unwrap();
        assert!(
            sql.contains("`abacus`.ledger  (v UInt32) ENGINE = MergeTree()"),
            "{sql}"
        );
    }

    #[test]
    fn distributed_statements_exist_only_on_clusters() {
        let stmt = "-- reads go through this\n{distributed:events:cityHash64(user_id)}";
        assert_eq!(render_statement(stmt, &single()).unwrap(), None);
        let sql = render_statement(stmt, &cluster()).unwrap().unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE IF NOT EXISTS `abacus`.events ON CLUSTER `prod` AS `abacus`.events_local\nENGINE = Distributed(`prod`, `abacus`, events_local, cityHash64(user_id))"
        );
    }

    #[test]
    fn cluster_only_statements_are_skipped_on_one_server() {
        let stmt = "-- the Distributed table\n{cluster_only} ALTER TABLE {db}.{table:t} {on_cluster} ADD COLUMN c UInt8";
        assert_eq!(render_statement(stmt, &single()).unwrap(), None);
        let sql = render_statement(stmt, &cluster()).unwrap().unwrap();
        assert_eq!(
            sql,
            "-- the Distributed table\n ALTER TABLE `abacus`.t ON CLUSTER `prod` ADD COLUMN c UInt8"
        );
    }

    #[test]
    fn template_mistakes_are_reported() {
        for (stmt, needle) in [
            ("SELECT {nope}", "unknown placeholder"),
            ("SELECT {db", "unclosed"),
            (
                "CREATE TABLE {db}.x (a UInt8) ENGINE = {engine:Memory}",
                "MergeTree",
            ),
            (
                "CREATE TABLE {db}.{local:a-b} (a UInt8) ENGINE = Memory",
                "invalid table name",
            ),
        ] {
            let err = render_statement(stmt, &single()).unwrap_err();
            assert!(err.contains(needle), "{stmt}: {err}");
        }
        let err = render_statement(
            "CREATE TABLE {db}.x (a UInt8) ENGINE = {engine:MergeTree()}",
            &cluster(),
        )
        .unwrap_err();
        assert!(err.contains("needs a `{local:…}`"), "{err}");
    }
}
