//! Typed flag values: what a flag's variant means to the application (a boolean, a string, a
//! number or a JSON object), validated when the file is loaded.
//!
//! A `[[flag]]` may give each variant a value with `values = { on = true, off = false }` and,
//! optionally, `type = "boolean" | "string" | "integer" | "float" | "object"`. Without `type` the
//! type is inferred: all booleans, all strings, all integers, numbers with at least one float
//! (`float`; the integers become floats), or all tables (`object`). Every variant needs a value
//! and all values have the flag's one type. A flag without `values` keeps the untyped behaviour:
//! its value is the variant name (type `string`).
//!
//! Objects are TOML tables converted to JSON objects; nested arrays and tables are kept, TOML
//! datetimes become RFC 3339 strings, and non-finite floats are refused (JSON cannot carry them).

use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value as Json};

/// The type of a flag's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// `true` / `false`.
    Boolean,
    /// Text (also the type of an untyped flag, whose value is the variant name).
    String,
    /// A whole number (64-bit signed).
    Integer,
    /// A floating-point number (always written with a fraction or exponent in JSON).
    Float,
    /// A JSON object.
    Object,
}

impl ValueType {
    /// Every type with its name in the file.
    pub const ALL: [(&'static str, ValueType); 5] = [
        ("boolean", Self::Boolean),
        ("string", Self::String),
        ("integer", Self::Integer),
        ("float", Self::Float),
        ("object", Self::Object),
    ];

    /// The name used in the file and in JSON.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("string", |(n, _)| n)
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The value of one flag variant.
#[derive(Clone, Debug, PartialEq)]
pub enum FlagValue {
    /// A boolean.
    Bool(bool),
    /// Text.
    Str(String),
    /// A whole number.
    Int(i64),
    /// A finite float.
    Float(f64),
    /// A JSON object.
    Object(Map<String, Json>),
}

impl FlagValue {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Self::Bool(_) => ValueType::Boolean,
            Self::Str(_) => ValueType::String,
            Self::Int(_) => ValueType::Integer,
            Self::Float(_) => ValueType::Float,
            Self::Object(_) => ValueType::Object,
        }
    }

    /// The value as JSON (a float stays a JSON float: `1.0`, not `1`).
    pub fn to_json(&self) -> Json {
        match self {
            Self::Bool(b) => Json::Bool(*b),
            Self::Str(s) => Json::String(s.clone()),
            Self::Int(i) => Json::Number((*i).into()),
            Self::Float(x) => Number::from_f64(*x).map_or(Json::Null, Json::Number),
            Self::Object(m) => Json::Object(m.clone()),
        }
    }
}

impl Serialize for FlagValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Str(v) => s.serialize_str(v),
            Self::Int(i) => s.serialize_i64(*i),
            Self::Float(x) => s.serialize_f64(*x),
            Self::Object(m) => m.serialize(s),
        }
    }
}

impl std::fmt::Display for FlagValue {
    /// Compact JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// A value as written in the file, converted; `Err` says why it cannot be a flag value.
pub(crate) fn from_toml(value: &toml::Value) -> Result<FlagValue, String> {
    Ok(match value {
        toml::Value::Boolean(b) => FlagValue::Bool(*b),
        toml::Value::String(s) => FlagValue::Str(s.clone()),
        toml::Value::Integer(i) => FlagValue::Int(*i),
        toml::Value::Float(x) if x.is_finite() => FlagValue::Float(*x),
        toml::Value::Float(x) => return Err(format!("must be a finite number (got {x})")),
        toml::Value::Table(t) => FlagValue::Object(object(t)?),
        toml::Value::Array(_) => {
            return Err("must be a boolean, string, number or table (an array is not a flag value; put it in a table)".to_owned())
        }
        toml::Value::Datetime(d) => {
            return Err(format!(
                "must be a boolean, string, number or table (got the datetime {d}; quote it to make it a string)"
            ))
        }
    })
}

fn object(table: &toml::Table) -> Result<Map<String, Json>, String> {
    table
        .iter()
        .map(|(k, v)| Ok((k.clone(), json(v).map_err(|e| format!("key \"{k}\" {e}"))?)))
        .collect()
}

fn json(value: &toml::Value) -> Result<Json, String> {
    Ok(match value {
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::Number((*i).into()),
        toml::Value::Float(x) => Json::Number(
            Number::from_f64(*x).ok_or_else(|| format!("must be a finite number (got {x})"))?,
        ),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(json).collect::<Result<_, _>>()?),
        toml::Value::Table(t) => Json::Object(object(t)?),
    })
}

/// The flag's type from the explicit `type` (when given) or the values, converting integers of
/// a float flag to floats. `Err` says what is inconsistent.
pub(crate) fn unify(
    declared: Option<ValueType>,
    values: &mut [(String, FlagValue)],
) -> Result<ValueType, String> {
    let inferred = match declared {
        Some(t) => t,
        None => {
            let types: Vec<ValueType> = values.iter().map(|(_, v)| v.value_type()).collect();
            let numeric = |t: &ValueType| matches!(t, ValueType::Integer | ValueType::Float);
            match types.first() {
                None => ValueType::String,
                Some(first) if types.iter().all(|t| t == first) => *first,
                Some(_) if types.iter().all(numeric) => ValueType::Float,
                Some(_) => {
                    let described: Vec<String> = values
                        .iter()
                        .map(|(k, v)| format!("{} for \"{k}\"", v.value_type()))
                        .collect();
                    return Err(format!(
                        "must all have one type (got {}); set `type` or make them agree",
                        described.join(", ")
                    ));
                }
            }
        }
    };
    for (variant, value) in values.iter_mut() {
        match (inferred, &*value) {
            (ValueType::Float, FlagValue::Int(i)) => *value = FlagValue::Float(*i as f64),
            (t, v) if v.value_type() == t => {}
            (t, v) => {
                return Err(format!(
                    "must all be of type {t} (\"{variant}\" is {})",
                    v.value_type()
                ))
            }
        }
    }
    Ok(inferred)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, FlagValue)> {
        let t: toml::Table = text.parse().unwrap();
        t.iter()
            .map(|(k, v)| (k.clone(), from_toml(v).unwrap()))
            .collect()
    }

    #[test]
    fn types_are_inferred_and_integers_widen_to_floats() {
        let mut v = values("a = true\nb = false");
        assert_eq!(unify(None, &mut v), Ok(ValueType::Boolean));
        let mut v = values("a = 1\nb = 2.5");
        assert_eq!(unify(None, &mut v), Ok(ValueType::Float));
        assert_eq!(v[0].1, FlagValue::Float(1.0));
        assert_eq!(v[0].1.to_string(), "1.0");
        let mut v = values("a = 1\nb = 2");
        assert_eq!(unify(None, &mut v), Ok(ValueType::Integer));
        let mut v = values("a = 1\nb = 2");
        assert_eq!(unify(Some(ValueType::Float), &mut v), Ok(ValueType::Float));
        assert_eq!(v[1].1.to_string(), "2.0");
        let mut v = values("a = { color = \"blue\", sizes = [1, 2] }\nb = {}");
        assert_eq!(unify(None, &mut v), Ok(ValueType::Object));
        assert_eq!(v[0].1.to_string(), r#"{"color":"blue","sizes":[1,2]}"#);
    }

    #[test]
    fn mixed_or_unsupported_values_are_refused() {
        let mut v = values("a = true\nb = \"x\"");
        let err = unify(None, &mut v).unwrap_err();
        assert!(
            err.contains("boolean for \"a\"") && err.contains("string for \"b\""),
            "{err}"
        );
        let mut v = values("a = 1.5");
        assert!(unify(Some(ValueType::Integer), &mut v).is_err());
        let t: toml::Table = "a = [1]\nb = nan\nc = 2026-01-01".parse().unwrap();
        for (k, v) in &t {
            assert!(from_toml(v).is_err(), "{k}");
        }
        let t: toml::Table = "a = { x = inf }".parse().unwrap();
        assert!(from_toml(&t["a"]).is_err());
    }
}
