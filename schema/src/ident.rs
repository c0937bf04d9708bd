//! Checks identifiers that come from configuration (database, table and cluster names)
//! before they are written into SQL, and quotes them.

use crate::SchemaError;

/// Longest identifier Abacus accepts from configuration.
pub const MAX_IDENT_LEN: usize = 64;

/// Checks that `name` is a plain identifier: an ASCII letter or `_` followed by letters,
/// digits or `_`, at most [`MAX_IDENT_LEN`] characters. `what` names the setting in the error.
pub fn check_ident(what: &'static str, name: &str) -> Result<(), SchemaError> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid_start && valid_rest && name.len() <= MAX_IDENT_LEN {
        Ok(())
    } else {
        Err(SchemaError::InvalidIdentifier {
            what,
            name: name.to_owned(),
        })
    }
}

/// Backquotes an identifier that [`check_ident`] accepted.
pub fn quote(name: &str) -> String {
    format!("`{name}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for name in ["abacus", "abacus_test_1", "_x", "A1"] {
            assert!(check_ident("database", name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_anything_that_could_escape_a_quote() {
        for name in [
            "",
            "1abc",
            "a-b",
            "a`b",
            "a b",
            "a;drop",
            "é",
            &"x".repeat(65),
        ] {
            let err = check_ident("database", name).unwrap_err();
            assert!(err.to_string().contains("database"), "{err}");
        }
    }
}
