//! Feature flags: validation of `[[flag]]` tables and evaluation for one user and context.
//!
//! [`Flag::evaluate`] returns the variant and why:
//! - `flag_disabled`: `enabled = false`, so the `default` variant;
//! - `rule:<name>`: the first rule whose conditions all hold allocated the variant;
//! - `rollout`: no rule matched and the flag's `rollout` allocated the variant;
//! - `default`: no rule matched and there is no rollout.
//!
//! An allocation splits the buckets `0..10000` into contiguous ranges proportional to its
//! weights, in order; the user's bucket is `flag_bucket(flag, rule, user)` (see
//! [`crate::hash`]), so each rule and the rollout hash users independently.
//!
//! Conditions compare a context attribute with a value. Every operator except `exists` is
//! false when the attribute is missing. `eq`, `ne`, `in`, `not_in` compare strings, numbers and
//! booleans; a string attribute equals a number or boolean when it parses as that value
//! (`"42"` equals `42`, `"true"` equals `true`). `gt`, `gte`, `lt`, `lte` compare numbers and
//! are false when the attribute is not a number (or a string that parses as one).

use std::collections::{BTreeMap, HashSet};

use crate::experiment::BucketRange;
use crate::file::{RawAllocation, RawCondition, RawFlag};
use crate::hash::flag_bucket;
use crate::validate::{check_id, check_variant_name, weight_ranges};
use crate::Problem;

/// A validated feature flag.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    /// Flag name.
    pub name: String,
    /// What the flag controls.
    pub description: String,
    /// When false, every user gets `default`.
    pub enabled: bool,
    /// The flag's variants.
    pub variants: Vec<String>,
    /// Variant for users no rule or rollout allocates.
    pub default: String,
    /// Allocation for users that match no rule.
    pub rollout: Option<Allocation>,
    /// Rules in evaluation order.
    pub rules: Vec<Rule>,
}

/// A rule: conditions that must all hold, and the allocation for users that match.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Rule name.
    pub name: String,
    /// Conditions (all must hold).
    pub conditions: Vec<Condition>,
    /// Variant split of matching users.
    pub allocation: Allocation,
}

/// Variants with contiguous bucket ranges proportional to their weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    /// `(variant, weight, buckets)` in order.
    pub entries: Vec<(String, u32, BucketRange)>,
}

impl Allocation {
    /// The variant whose range holds `bucket`.
    pub fn variant_at(&self, bucket: u32) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, _, r)| r.contains(bucket))
            .map(|(v, _, _)| v.as_str())
    }
}

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
}

/// Why a flag evaluated to its variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason<'a> {
    /// The flag is disabled.
    FlagDisabled,
    /// The named rule matched.
    Rule(&'a str),
    /// No rule matched; the rollout allocated the variant.
    Rollout,
    /// No rule matched and there is no rollout.
    Default,
}

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FlagDisabled => f.write_str("flag_disabled"),
            Self::Rule(name) => write!(f, "rule:{name}"),
            Self::Rollout => f.write_str("rollout"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// The result of [`Flag::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evaluation<'a> {
    /// The variant.
    pub variant: &'a str,
    /// Why.
    pub reason: Reason<'a>,
    /// The allocation bucket used (for a rule or the rollout).
    pub bucket: Option<u32>,
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

impl Flag {
    /// The variant of `user_id` in `context`, and why.
    pub fn evaluate<'a>(&'a self, user_id: &str, context: &Context) -> Evaluation<'a> {
        if !self.enabled {
            return Evaluation {
                variant: &self.default,
                reason: Reason::FlagDisabled,
                bucket: None,
            };
        }
        for rule in &self.rules {
            if rule.conditions.iter().all(|c| c.holds(context)) {
                let bucket = flag_bucket(&self.name, Some(&rule.name), user_id);
                if let Some(variant) = rule.allocation.variant_at(bucket) {
                    return Evaluation {
                        variant,
                        reason: Reason::Rule(&rule.name),
                        bucket: Some(bucket),
                    };
                }
            }
        }
        if let Some(rollout) = &self.rollout {
            let bucket = flag_bucket(&self.name, None, user_id);
            if let Some(variant) = rollout.variant_at(bucket) {
                return Evaluation {
                    variant,
                    reason: Reason::Rollout,
                    bucket: Some(bucket),
                };
            }
        }
        Evaluation {
            variant: &self.default,
            reason: Reason::Default,
            bucket: None,
        }
    }
}

/// Validates the `[[flag]]` tables, adding problems to `problems`.
pub(crate) fn validate_flags(raw: &[RawFlag], problems: &mut Vec<Problem>) -> Vec<Flag> {
    let mut seen = HashSet::new();
    let mut flags = Vec::new();
    for f in raw {
        let before = problems.len();
        let subj = format!("flag \"{}\"", f.name);
        if let Err(e) = check_id(&f.name) {
            problems.push(Problem::new(&subj, "name", e));
        } else if !seen.insert(f.name.as_str()) {
            problems.push(Problem::new(
                &subj,
                "name",
                "must be unique (used by an earlier flag)",
            ));
        }
        let variants = flag_variants(f);
        for v in &variants {
            if let Err(e) = check_variant_name(v) {
                problems.push(Problem::new(&subj, "variants", e));
            }
        }
        let known = |name: &str| variants.iter().any(|v| v == name);
        if !known(&f.default) {
            problems.push(Problem::new(
                &subj,
                "default",
                format!(
                    "must name one of the variants ({}) (got \"{}\")",
                    variants.join(", "),
                    f.default
                ),
            ));
        }
        let rollout = if f.rollout.is_empty() {
            None
        } else {
            allocation(&f.rollout, &subj, "rollout", &variants, problems)
        };
        let mut rule_names = HashSet::new();
        let mut rules = Vec::new();
        for r in &f.rule {
            let rsubj = format!("{subj}, rule \"{}\"", r.name);
            if let Err(e) = check_id(&r.name) {
                problems.push(Problem::new(&rsubj, "name", e));
            } else if !rule_names.insert(r.name.as_str()) {
                problems.push(Problem::new(&rsubj, "name", "must be unique in the flag"));
            }
            let conditions: Vec<Condition> = r
                .conditions
                .iter()
                .filter_map(|c| condition(c, &rsubj, problems))
                .collect();
            if r.allocation.is_empty() {
                problems.push(Problem::new(
                    &rsubj,
                    "allocation",
                    "must list at least one variant",
                ));
            }
            if let Some(allocation) =
                allocation(&r.allocation, &rsubj, "allocation", &variants, problems)
            {
                rules.push(Rule {
                    name: r.name.clone(),
                    conditions,
                    allocation,
                });
            }
        }
        if problems.len() == before {
            flags.push(Flag {
                name: f.name.clone(),
                description: f.description.clone(),
                enabled: f.enabled,
                variants,
                default: f.default.clone(),
                rollout,
                rules,
            });
        }
    }
    flags
}

/// The declared variants, or those named by `default` and the allocations in first-use order.
fn flag_variants(f: &RawFlag) -> Vec<String> {
    if !f.variants.is_empty() {
        return f.variants.clone();
    }
    let mut out: Vec<String> = vec![f.default.clone()];
    let named = f
        .rollout
        .iter()
        .chain(f.rule.iter().flat_map(|r| r.allocation.iter()));
    for a in named {
        if !out.contains(&a.variant) {
            out.push(a.variant.clone());
        }
    }
    out
}

fn allocation(
    raw: &[RawAllocation],
    subject: &str,
    field: &str,
    variants: &[String],
    problems: &mut Vec<Problem>,
) -> Option<Allocation> {
    let before = problems.len();
    let mut seen = HashSet::new();
    for a in raw {
        if !variants.contains(&a.variant) {
            problems.push(Problem::new(
                subject,
                format!("{field}.variant"),
                format!(
                    "must name one of the variants ({}) (got \"{}\")",
                    variants.join(", "),
                    a.variant
                ),
            ));
        } else if !seen.insert(a.variant.as_str()) {
            problems.push(Problem::new(
                subject,
                format!("{field}.variant"),
                format!("must be unique (\"{}\" repeats)", a.variant),
            ));
        }
    }
    let weights: Vec<(&str, i64)> = raw.iter().map(|a| (a.variant.as_str(), a.weight)).collect();
    let ranges = weight_ranges(&weights, subject, &format!("{field} variant"), problems)?;
    (problems.len() == before).then(|| Allocation {
        entries: raw
            .iter()
            .zip(ranges)
            .map(|(a, r)| (a.variant.clone(), a.weight as u32, r))
            .collect(),
    })
}

fn condition(c: &RawCondition, subject: &str, problems: &mut Vec<Problem>) -> Option<Condition> {
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
