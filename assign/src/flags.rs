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
//! The value of the variant is typed when the flag gives `values` ([`crate::value`]), else it is
//! the variant name. Rule conditions and the evaluation context live in [`crate::conditions`].

use std::collections::HashSet;

use crate::conditions::{condition, AttrValue, Condition, Context, Op};
use crate::experiment::BucketRange;
use crate::file::{RawAllocation, RawCondition, RawFlag, RawRule};
use crate::hash::flag_bucket;
use crate::validate::{check_id, check_variant_name, weight_ranges};
use crate::value::{from_toml, unify, FlagValue, ValueType};
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
    /// The type of the values (`string` for a flag without `values`).
    pub value_type: ValueType,
    /// The value of each variant, parallel to `variants` (the variant name when untyped).
    pub values: Vec<FlagValue>,
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
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation<'a> {
    /// The variant.
    pub variant: &'a str,
    /// The variant's value.
    pub value: &'a FlagValue,
    /// Why.
    pub reason: Reason<'a>,
    /// The allocation bucket used (for a rule or the rollout).
    pub bucket: Option<u32>,
    /// Where the variant and its value are in the flag's `variants` and `values` (`None` only
    /// for a hand-built flag whose `values` are shorter than its `variants`).
    pub variant_index: Option<usize>,
    /// Where the matching rule is in the flag's `rules` (with [`Reason::Rule`]).
    pub rule_index: Option<usize>,
}

impl Flag {
    /// The variant of `user_id` in `context`, its value, and why.
    pub fn evaluate<'a>(&'a self, user_id: &str, context: &Context) -> Evaluation<'a> {
        // Validation gives every variant a value; only a hand-built flag with `values` shorter
        // than `variants` gets the empty string.
        static MISSING: FlagValue = FlagValue::Str(String::new());
        let (variant, reason, bucket, rule_index) = self.choose(user_id, context);
        let variant_index = self
            .variants
            .iter()
            .position(|v| v == variant)
            .filter(|&i| i < self.values.len());
        Evaluation {
            variant,
            value: variant_index.map_or(&MISSING, |i| &self.values[i]),
            reason,
            bucket,
            variant_index,
            rule_index,
        }
    }

    /// The value of `variant`, if it is one of the flag's variants.
    pub fn value(&self, variant: &str) -> Option<&FlagValue> {
        self.variants
            .iter()
            .position(|v| v == variant)
            .and_then(|i| self.values.get(i))
    }

    fn choose<'a>(
        &'a self,
        user_id: &str,
        context: &Context,
    ) -> (&'a str, Reason<'a>, Option<u32>, Option<usize>) {
        if !self.enabled {
            return (&self.default, Reason::FlagDisabled, None, None);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.conditions.iter().all(|c| c.holds(context)) {
                let bucket = flag_bucket(&self.name, Some(&rule.name), user_id);
                if let Some(variant) = rule.allocation.variant_at(bucket) {
                    return (variant, Reason::Rule(&rule.name), Some(bucket), Some(i));
                }
            }
        }
        if let Some(rollout) = &self.rollout {
            let bucket = flag_bucket(&self.name, None, user_id);
            if let Some(variant) = rollout.variant_at(bucket) {
                return (variant, Reason::Rollout, Some(bucket), None);
            }
        }
        (&self.default, Reason::Default, None, None)
    }
}

impl Flag {
    /// The flag as it would be written in a file (what the registry stores, as TOML).
    ///
    /// `values` is left out when every value is its variant name (an untyped flag).
    pub fn to_raw(&self) -> RawFlag {
        let untyped = self
            .variants
            .iter()
            .zip(&self.values)
            .all(|(v, value)| *value == FlagValue::Str(v.clone()));
        let values = (!untyped).then(|| {
            self.variants
                .iter()
                .zip(&self.values)
                .map(|(v, value)| (v.clone(), to_toml(value)))
                .collect()
        });
        let allocation = |a: &Allocation| {
            a.entries
                .iter()
                .map(|(variant, weight, _)| RawAllocation {
                    variant: variant.clone(),
                    weight: i64::from(*weight),
                })
                .collect()
        };
        RawFlag {
            name: self.name.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            variants: self.variants.clone(),
            default: self.default.clone(),
            value_type: (!untyped).then(|| self.value_type.name().to_owned()),
            values,
            rollout: self.rollout.as_ref().map(allocation).unwrap_or_default(),
            rule: self
                .rules
                .iter()
                .map(|r| RawRule {
                    name: r.name.clone(),
                    conditions: r.conditions.iter().map(condition_to_raw).collect(),
                    allocation: allocation(&r.allocation),
                })
                .collect(),
        }
    }
}

fn to_toml(value: &FlagValue) -> toml::Value {
    match value {
        FlagValue::Bool(b) => toml::Value::Boolean(*b),
        FlagValue::Str(s) => toml::Value::String(s.clone()),
        FlagValue::Int(i) => toml::Value::Integer(*i),
        FlagValue::Float(x) => toml::Value::Float(*x),
        // Objects came from TOML tables, so they convert back (a hand-built object that does
        // not is caught by the registry's round-trip check).
        FlagValue::Object(m) => {
            toml::Value::try_from(m).unwrap_or_else(|_| toml::Value::Table(Default::default()))
        }
    }
}

fn condition_to_raw(c: &Condition) -> RawCondition {
    let scalar = |v: &AttrValue| match v {
        AttrValue::Str(s) => toml::Value::String(s.clone()),
        AttrValue::Bool(b) => toml::Value::Boolean(*b),
        AttrValue::Num(x) => toml::Value::Float(*x),
    };
    let set = |vs: &[AttrValue]| toml::Value::Array(vs.iter().map(scalar).collect());
    let (op, value) = match &c.op {
        Op::Eq(v) => ("eq", Some(scalar(v))),
        Op::Ne(v) => ("ne", Some(scalar(v))),
        Op::In(vs) => ("in", Some(set(vs))),
        Op::NotIn(vs) => ("not_in", Some(set(vs))),
        Op::Gt(x) => ("gt", Some(toml::Value::Float(*x))),
        Op::Gte(x) => ("gte", Some(toml::Value::Float(*x))),
        Op::Lt(x) => ("lt", Some(toml::Value::Float(*x))),
        Op::Lte(x) => ("lte", Some(toml::Value::Float(*x))),
        Op::Exists => ("exists", None),
    };
    RawCondition {
        attr: c.attr.clone(),
        op: op.to_owned(),
        value,
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
        let (value_type, values) = flag_values(f, &variants, &subj, problems);
        if problems.len() == before {
            flags.push(Flag {
                name: f.name.clone(),
                description: f.description.clone(),
                enabled: f.enabled,
                variants,
                value_type,
                values,
                default: f.default.clone(),
                rollout,
                rules,
            });
        }
    }
    flags
}

/// The declared variants, or those named by `default`, the allocations (in first-use order) and
/// the keys of `values`.
fn flag_variants(f: &RawFlag) -> Vec<String> {
    if !f.variants.is_empty() {
        return f.variants.clone();
    }
    let mut out: Vec<String> = vec![f.default.clone()];
    let named = f
        .rollout
        .iter()
        .chain(f.rule.iter().flat_map(|r| r.allocation.iter()))
        .map(|a| &a.variant)
        .chain(f.values.iter().flat_map(|v| v.keys()));
    for name in named {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The type and the value of every variant (the variant names when `values` is absent).
fn flag_values(
    f: &RawFlag,
    variants: &[String],
    subject: &str,
    problems: &mut Vec<Problem>,
) -> (ValueType, Vec<FlagValue>) {
    let declared = match f.value_type.as_deref() {
        None => None,
        Some(name) => match ValueType::ALL.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => Some(*t),
            None => {
                problems.push(Problem::new(
                    subject,
                    "type",
                    format!(
                        "must be one of boolean, string, integer, float, object (got \"{name}\")"
                    ),
                ));
                return (ValueType::String, Vec::new());
            }
        },
    };
    let Some(raw) = &f.values else {
        if declared.is_some() {
            problems.push(Problem::new(
                subject,
                "type",
                "needs `values` (the value of each variant)",
            ));
        }
        let names = variants.iter().map(|v| FlagValue::Str(v.clone())).collect();
        return (ValueType::String, names);
    };
    let before = problems.len();
    for key in raw.keys() {
        if !variants.contains(key) {
            problems.push(Problem::new(
                subject,
                "values",
                format!(
                    "names no variant (\"{key}\"; the variants are {})",
                    variants.join(", ")
                ),
            ));
        }
    }
    let mut values = Vec::new();
    for variant in variants {
        match raw.get(variant).map(from_toml) {
            None => problems.push(Problem::new(
                subject,
                "values",
                format!("must give every variant a value (\"{variant}\" has none)"),
            )),
            Some(Err(e)) => {
                problems.push(Problem::new(subject, format!("values.{variant}"), e));
            }
            Some(Ok(v)) => values.push((variant.clone(), v)),
        }
    }
    if problems.len() > before {
        return (ValueType::String, Vec::new());
    }
    match unify(declared, &mut values) {
        Ok(t) => (t, values.into_iter().map(|(_, v)| v).collect()),
        Err(e) => {
            problems.push(Problem::new(subject, "values", e));
            (ValueType::String, Vec::new())
        }
    }
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
