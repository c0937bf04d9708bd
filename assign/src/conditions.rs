//! Conditions of flag rules on context attributes, and the context they are evaluated in.
//!
//! Every operator except `exists` is false when the attribute is missing. `eq`, `ne`, `in`,
//! `not_in` compare strings, numbers and booleans; a string attribute equals a number or
//! boolean when it parses as that value (`"42"` equals `42`, `"true"` equals `true`). `gt`,
//! `gte`, `lt`, `lte` compare numbers and are false when the attribute is not a number (or a
//! string that parses as one).

use std::collections::BTreeMap;

use crate::file::RawCondition;
use crate::Problem;

/// A condition on one context attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Attribute name.
    pub attr: String,
    /// Operator and operand.
    pub op: Op,
}

/// A condition's operator with its operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Equal.
    Eq(AttrValue),
    /// Present and not equal.
    Ne(AttrValue),
    /// Equal to one of.
    In(Vec<AttrValue>),
    /// Present and equal to none of.
    NotIn(Vec<AttrValue>),
    /// Greater than.
    Gt(f64),
    /// Greater than or equal.
    Gte(f64),
    /// Less than.
    Lt(f64),
    /// Less than or equal.
    Lte(f64),
    /// Present.
    Exists,
}

/// A context attribute value (or a condition operand).
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Text.
    Str(String),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<f64> for AttrValue {
    fn from(x: f64) -> Self {
        Self::Num(x)
    }
}

impl From<i64> for AttrValue {
    fn from(x: i64) -> Self {
        Self::Num(x as f64)
    }
}

impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl AttrValue {
    fn number(&self) -> Option<f64> {
        match self {
            Self::Num(x) => Some(*x),
            Self::Str(s) => s.trim().parse().ok(),
            Self::Bool(_) => None,
        }
    }

    fn loose_eq(&self, other: &AttrValue) -> bool {
        use AttrValue::*;
        match (self, other) {
            (Str(a), Str(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Str(s), Bool(b)) | (Bool(b), Str(s)) => s.trim().parse::<bool>() == Ok(*b),
            (Num(_), _) | (_, Num(_)) => self
                .number()
                .zip(other.number())
                .is_some_and(|(a, b)| a == b),
        }
    }
}

/// Attributes of the user or request a flag is evaluated for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    attrs: BTreeMap<String, AttrValue>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<AttrValue>) {
        self.attrs.insert(key.into(), value.into());
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.attrs.get(key)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<AttrValue> {
        self.attrs.remove(key)
    }

    /// How many attributes are set.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// Whether no attribute is set.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }
}

impl Condition {
    /// Whether the condition holds in `context`.
    pub fn holds(&self, context: &Context) -> bool {
        let Some(value) = context.get(&self.attr) else {
            return false;
        };
        match &self.op {
            Op::Exists => true,
            Op::Eq(want) => value.loose_eq(want),
            Op::Ne(want) => !value.loose_eq(want),
            Op::In(set) => set.iter().any(|w| value.loose_eq(w)),
            Op::NotIn(set) => !set.iter().any(|w| value.loose_eq(w)),
            Op::Gt(x) => value.number().is_some_and(|v| v > *x),
            Op::Gte(x) => value.number().is_some_and(|v| v >= *x),
            Op::Lt(x) => value.number().is_some_and(|v| v < *x),
            Op::Lte(x) => value.number().is_some_and(|v| v <= *x),
        }
    }
}

/// Parses one condition of a rule, adding problems to `problems`.
pub(crate) fn condition(
    c: &RawCondition,
    subject: &str,
    problems: &mut Vec<Problem>,
) -> Option<Condition> {
    let subj = format!("{subject}, condition on \"{}\"", c.attr);
    let mut bad = |field: &str, reason: String| {
        problems.push(Problem::new(&subj, field, reason));
        None
    };
    if c.attr.trim().is_empty() {
        return bad("attr", "must not be empty".to_owned());
    }
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(AttrValue::Str(s.clone())),
        toml::Value::Integer(i) => Some(AttrValue::Num(*i as f64)),
        toml::Value::Float(x) => Some(AttrValue::Num(*x)),
        toml::Value::Boolean(b) => Some(AttrValue::Bool(*b)),
        _ => None,
    };
    let op = c.op.as_str();
    let op = match (op, &c.value) {
        ("exists", None) => Op::Exists,
        ("exists", Some(_)) => return bad("value", "must not be set for op exists".to_owned()),
        (_, None) if ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"].contains(&op) => {
            return bad("value", format!("is required for op {op}"));
        }
        ("eq" | "ne", Some(v)) => match scalar(v) {
            Some(x) if op == "eq" => Op::Eq(x),
            Some(x) => Op::Ne(x),
            None => {
                return bad(
                    "value",
                    format!("must be a string, number or boolean for op {op}"),
                )
            }
        },
        ("in" | "not_in", Some(toml::Value::Array(items))) => {
            let Some(set) = items.iter().map(scalar).collect::<Option<Vec<_>>>() else {
                return bad(
                    "value",
                    format!("must hold only strings, numbers or booleans for op {op}"),
                );
            };
            if op == "in" {
                Op::In(set)
            } else {
                Op::NotIn(set)
            }
        }
        ("in" | "not_in", Some(_)) => return bad("value", format!("must be an array for op {op}")),
        ("gt" | "gte" | "lt" | "lte", Some(v)) => {
            let Some(x) = scalar(v).as_ref().and_then(|v| {
                if let AttrValue::Num(x) = v {
                    Some(*x)
                } else {
                    None
                }
            }) else {
                return bad("value", format!("must be a number for op {op}"));
            };
            match op {
                "gt" => Op::Gt(x),
                "gte" => Op::Gte(x),
                "lt" => Op::Lt(x),
                _ => Op::Lte(x),
            }
        }
        (other, _) => {
            return bad(
                "op",
                format!(
                    "must be one of eq, ne, in, not_in, gt, gte, lt, lte, exists (got \"{other}\")"
                ),
            )
        }
    };
    Some(Condition {
        attr: c.attr.clone(),
        op,
    })
}
