//! Errors of parsing and validating an experiments file.

use std::fmt;

/// One thing wrong with a definition: what it belongs to, which field, and why.
///
/// Displays as `experiment "checkout-redesign", variant "treatment": weight must be positive
/// (got 0)`: the subject, then the field and a predicate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What the field belongs to, e.g. `experiment "checkout-redesign"`, `layer "checkout"`,
    /// `flag "new-search", rule "staff"`.
    pub subject: String,
    /// The field, e.g. `weight`, `control`, `metric.window`.
    pub field: String,
    /// What is wrong, as a predicate (`must be positive (got 0)`).
    pub reason: String,
}

impl Problem {
    /// A problem of `field` of `subject`.
    pub fn new(
        subject: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.subject, self.field, self.reason)
    }
}

/// Why an experiments file (or a stored definition) was refused.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The text is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("line {line}, column {column}{within}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// ` (in experiment "x")` when the error lies inside an `[[experiment]]` or `[[flag]]`.
        within: String,
        /// The parser's message.
        message: String,
    },
    /// The file parses but breaks rules; every problem found is listed.
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
    /// A stored definition (JSON) could not be read back.
    #[error("stored definition of experiment \"{id}\" is unreadable: {message}")]
    Stored {
        /// The experiment id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

impl DefinitionError {
    /// The problems of an [`DefinitionError::Invalid`] error (empty for other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

fn list(problems: &[Problem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let lines: Vec<String> = many.iter().map(|p| format!("  - {p}")).collect();
            format!(
                "{} problems in experiments file:\n{}",
                many.len(),
                lines.join("\n")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_is_one_line() {
        let err = DefinitionError::Invalid(vec![Problem::new(
            "experiment \"checkout-redesign\", variant \"treatment\"",
            "weight",
            "must be positive (got 0)",
        )]);
        assert_eq!(
            err.to_string(),
            "experiment \"checkout-redesign\", variant \"treatment\": weight must be positive (got 0)"
        );
    }

    #[test]
    fn several_problems_are_listed() {
        let p = Problem::new("experiment \"a\"", "control", "is missing");
        let err = DefinitionError::Invalid(vec![p.clone(), p]);
        assert!(err.to_string().starts_with("2 problems"), "{err}");
    }
}
