//! Errors returned by the schema crate.

/// What can go wrong while connecting to ClickHouse or migrating the schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A name from configuration is not a plain identifier.
    #[error("invalid {what} name `{name}`: use letters, digits and `_`, starting with a letter or `_`, at most 64 characters")]
    InvalidIdentifier {
        /// Which setting held the name.
        what: &'static str,
        /// The offending name.
        name: String,
    },
    /// A setting is out of its range.
    #[error("invalid setting {name}: {reason}")]
    InvalidSetting {
        /// The setting, as `section.key`.
        name: &'static str,
        /// What is allowed and what was given.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("clickhouse at {url} did not answer within {secs} s")]
    Timeout {
        /// The configured URL.
        url: String,
        /// The timeout that expired.
        secs: u64,
    },
    /// The server could not be reached or refused the request.
    #[error("cannot reach clickhouse at {url}: {message}")]
    Unreachable {
        /// The configured URL.
        url: String,
        /// The client's error, see [`describe`].
        message: String,
    },
    /// A statement failed.
    #[error("clickhouse query failed ({context}): {message}")]
    Query {
        /// What was being done.
        context: String,
        /// The client's error, see [`describe`].
        message: String,
    },
    /// A migration file that was already applied has been edited since.
    #[error("migration {file} was changed after it was applied (applied checksum {applied}, file checksum {current}); add a new migration instead of editing an applied one")]
    ChecksumMismatch {
        /// File name of the migration.
        file: String,
        /// Checksum recorded in the ledger.
        applied: String,
        /// Checksum of the file now.
        current: String,
    },
    /// The ledger lists a migration this binary does not know (a newer binary migrated the database).
    #[error("database `{database}` has migration {version} applied, which this binary does not know; upgrade abacus")]
    UnknownMigration {
        /// Database name.
        database: String,
        /// Version number in the ledger.
        version: u32,
    },
    /// A migration file is malformed (bad name or template).
    #[error("migration {file} is invalid: {reason}")]
    InvalidMigration {
        /// File name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// One line describing a `clickhouse` client error. The crate's messages repeat their sources
/// (`network error: client error (Connect): network error: …`); repeated segments are dropped.
///
/// A read or write that timed out (see `query_timeout_secs` in [`crate::ClickHouseConfig`])
/// is said in words, with the setting that controls it.
pub fn describe(err: &clickhouse::error::Error) -> String {
    let mut texts = vec![err.to_string()];
    let mut timed_out = false;
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        texts.push(inner.to_string());
        timed_out |= inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
        source = inner.source();
    }

    let mut seen: Vec<&str> = Vec::new();
    for segment in texts.iter().flat_map(|t| t.split(": ")) {
        if !seen.contains(&segment) {
            seen.push(segment);
        }
    }
    let text = seen.join(": ");
    if timed_out {
        format!(
            "the server sent no answer within the query timeout \
             (clickhouse.query_timeout_secs); it may be hung or overloaded ({text})"
        )
    } else {
        text
    }
}

impl SchemaError {
    /// Wraps a failed query, naming what was being done.
    pub fn query(context: impl Into<String>, err: &clickhouse::error::Error) -> Self {
        Self::Query {
            context: context.into(),
            message: describe(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_drops_repeated_segments() {
        let err = clickhouse::error::Error::Custom(
            "network error: client error (Connect): network error: client error (Connect): tcp connect error: refused".into(),
        );
        assert_eq!(
            describe(&err),
            "a custom error message from serde: network error: client error (Connect): tcp connect error: refused"
        );
    }
}
