//! The error type of every fallible function in this crate, and the input checks that
//! produce it. Messages are lowercase and name the input that is wrong, so the CLI can show
//! them as they are.

use std::fmt;

use serde::Serialize;

/// Result with [`StatsError`] as the error.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// Which side of a two-arm comparison an input belongs to; error messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The baseline arm (variant "A").
    Control,
    /// The arm compared against control.
    Treatment,
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arm::Control => "control",
            Arm::Treatment => "treatment",
        })
    }
}

/// Why a computation was refused. Every variant names the input (and arm) at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// More conversions than users in one arm.
    #[error("conversions ({conversions}) exceed users ({users}) in {arm}")]
    ConversionsExceedUsers {
        arm: Arm,
        users: u64,
        conversions: u64,
    },
    /// An arm without any users (a rate is undefined).
    #[error("zero users in {arm}")]
    ZeroUsers { arm: Arm },
    /// An arm with fewer observations than the method needs (e.g. a standard deviation
    /// needs two).
    #[error("{arm} needs at least {min} observations, got {n}")]
    TooFewObservations { arm: Arm, n: u64, min: u64 },
    /// A scalar parameter outside its domain (alpha, power, baseline rate, …).
    #[error("{name} must be {expected}, got {value}")]
    OutOfRange {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
    /// A per-arm summary field outside its domain (a negative standard deviation, …).
    #[error("{arm} {field} must be {expected}, got {value}")]
    InvalidField {
        arm: Arm,
        field: &'static str,
        value: f64,
        expected: &'static str,
    },
    /// One element of a list input outside its domain (`index` counts from 0).
    #[error("{name}[{index}] must be {expected}, got {value}")]
    InvalidElement {
        name: &'static str,
        index: usize,
        value: f64,
        expected: &'static str,
    },
    /// Two list inputs that must have the same length do not.
    #[error("{left} has {left_len} values but {right} has {right_len}")]
    LengthMismatch {
        left: &'static str,
        left_len: usize,
        right: &'static str,
        right_len: usize,
    },
    /// A table whose rows have different lengths: `row` (counting from 0) is the first
    /// that differs from row 0.
    #[error("{name} row {row} has {len} values but row 0 has {expected}")]
    RaggedTable {
        name: &'static str,
        row: usize,
        len: usize,
        expected: usize,
    },
    /// One count of a table input outside its domain (`row` and `column` count from 0).
    #[error("{name}[{row}][{column}] must be {expected}, got {value}")]
    InvalidCell {
        name: &'static str,
        row: usize,
        column: usize,
        value: u64,
        expected: &'static str,
    },
    /// A list input with too few values.
    #[error("{name} needs at least {min} values, got {len}")]
    TooFewValues {
        name: &'static str,
        len: usize,
        min: usize,
    },
    /// The inputs are valid one by one but the quantity is undefined for them (for
    /// example a t statistic when both arms have zero variance and different means).
    #[error("{what} is undefined: {reason}")]
    Undefined { what: &'static str, reason: String },
}

impl StatsError {
    pub(crate) fn undefined(what: &'static str, reason: impl Into<String>) -> Self {
        StatsError::Undefined {
            what,
            reason: reason.into(),
        }
    }
}

/// Checks a significance level: finite and strictly between 0 and 1.
pub(crate) fn check_alpha(alpha: f64) -> Result<f64> {
    check_open_unit("alpha", alpha)
}

/// Checks that `value` is finite and strictly between 0 and 1.
pub(crate) fn check_open_unit(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(StatsError::OutOfRange {
            name,
            value,
            expected: "between 0 and 1 (exclusive)",
        })
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(StatsError::OutOfRange {
            name,
            value,
            expected: "a positive finite number",
        })
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn check_non_negative(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(StatsError::OutOfRange {
            name,
            value,
            expected: "a non-negative finite number",
        })
    }
}

/// Checks a per-arm summary field for finiteness.
pub(crate) fn check_field_finite(arm: Arm, field: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::InvalidField {
            arm,
            field,
            value,
            expected: "finite",
        })
    }
}

/// Checks a per-arm summary field: finite and not negative.
pub(crate) fn check_field_non_negative(arm: Arm, field: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(StatsError::InvalidField {
            arm,
            field,
            value,
            expected: "non-negative and finite",
        })
    }
}

/// The last line of defence for "results never contain NaN or infinity": every result
/// value passes through here, and a non-finite one (an overflow on extreme inputs) turns
/// into an error naming the quantity.
pub(crate) fn finite(what: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::undefined(
            what,
            "the computation overflowed (inputs too extreme)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input() {
        let e = StatsError::ConversionsExceedUsers {
            arm: Arm::Control,
            users: 10,
            conversions: 12,
        };
        assert_eq!(
            e.to_string(),
            "conversions (12) exceed users (10) in control"
        );
        let e = check_alpha(1.5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "alpha must be between 0 and 1 (exclusive), got 1.5"
        );
        let e = check_field_non_negative(Arm::Treatment, "sd", -1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "treatment sd must be non-negative and finite, got -1"
        );
    }

    #[test]
    fn checks_reject_non_finite() {
        assert!(check_alpha(f64::NAN).is_err());
        assert!(check_positive("ratio", f64::INFINITY).is_err());
        assert!(check_non_negative("margin", -0.1).is_err());
        assert!(finite("z", f64::NAN).is_err());
        assert_eq!(finite("z", 1.0), Ok(1.0));
    }
}
