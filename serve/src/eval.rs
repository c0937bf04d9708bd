//! The pure evaluation behind every endpoint and behind `abacus assign` / `abacus flags eval`,
//! so that the server and the CLI cannot drift: [`AssignRecord`] and [`FlagRecord`] are what
//! the native endpoints answer and what the CLI prints with `--json`; [`OfrepEvaluation`] is an
//! OFREP answer for a flag or an experiment.
//!
//! OFREP reasons: an experiment bucket is `SPLIT` (a user outside the experiment's traffic
//! gets variant and value `excluded` with reason `DEFAULT`); a flag rule is `TARGETING_MATCH`;
//! a flag's rollout is `SPLIT`; a flag without rules and rollout is `STATIC`; a flag whose rules
//! did not match and that has no rollout is `DEFAULT`; a disabled flag is `DISABLED`.

use abacus_assign::{Context, Experiment, Flag, FlagValue, Reason, UnitError, ValueType, EXCLUDED};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::answer::{FlagJson, Prerendered};
use crate::request::EvalContext;
use crate::snapshot::{Snapshot, Target};

/// One user's assignment in one experiment, as `abacus assign --json` prints it and
/// `POST /v1/assign` answers it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AssignRecord<'a> {
    /// Experiment id.
    pub experiment: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// Variant name, or `excluded`.
    pub variant: &'a str,
    /// Whether the user is in the experiment.
    pub in_experiment: bool,
    /// Bucket in the experiment's namespace.
    pub namespace_bucket: u32,
    /// Variant bucket (of the window, for a switchback).
    pub variant_bucket: u32,
    /// What was hashed: the user id, or the value of the experiment's `unit` attribute.
    pub key: String,
    /// The switchback window index (`null` for other designs).
    pub window: Option<i64>,
}

impl<'a> AssignRecord<'a> {
    /// Assigns `user_id` in `experiment` with the attributes of `context` at time `at` (the
    /// unit attribute of a cluster-randomized or switchback experiment comes from the context;
    /// a switchback's window from the time).
    pub fn new(
        experiment: &'a Experiment,
        user_id: &'a str,
        context: &Context,
        at: DateTime<Utc>,
    ) -> Result<Self, UnitError> {
        let a = experiment.assign_in_context(user_id, context, at)?;
        Ok(Self {
            experiment: &experiment.id,
            user_id,
            variant: a.variant.map_or(EXCLUDED, |v| v.name.as_str()),
            in_experiment: a.variant.is_some(),
            namespace_bucket: a.namespace_bucket,
            variant_bucket: a.variant_bucket,
            key: a.key,
            window: a.window,
        })
    }
}

/// One flag evaluation, as `abacus flags eval --json` prints it and `POST /v1/flags/eval`
/// answers it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlagRecord<'a> {
    /// Flag name.
    pub flag: &'a str,
    /// The user.
    pub user_id: &'a str,
    /// The variant.
    pub variant: &'a str,
    /// Its value.
    pub value: &'a FlagValue,
    /// The flag's value type.
    pub value_type: ValueType,
    /// `flag_disabled`, `rule:<name>`, `rollout` or `default`.
    pub reason: String,
    /// The allocation bucket (rule or rollout), if one was used.
    pub bucket: Option<u32>,
}

impl<'a> FlagRecord<'a> {
    /// Evaluates `flag` for `user_id` in `context`.
    pub fn new(flag: &'a Flag, user_id: &'a str, context: &abacus_assign::Context) -> Self {
        let e = flag.evaluate(user_id, context);
        Self {
            flag: &flag.name,
            user_id,
            variant: e.variant,
            value: e.value,
            value_type: flag.value_type,
            reason: e.reason.to_string(),
            bucket: e.bucket,
        }
    }
}

/// OpenFeature resolution reasons that Abacus gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfrepReason {
    /// A flag without rules or rollout.
    Static,
    /// No rule matched and no rollout, or a user outside an experiment.
    Default,
    /// A flag rule matched.
    TargetingMatch,
    /// A percentage split: an experiment's variant or a flag's rollout.
    Split,
    /// The flag is disabled.
    Disabled,
}

impl OfrepReason {
    /// Every reason, in metric order.
    pub const ALL: [OfrepReason; 5] = [
        Self::Static,
        Self::Default,
        Self::TargetingMatch,
        Self::Split,
        Self::Disabled,
    ];

    /// The OpenFeature name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "STATIC",
            Self::Default => "DEFAULT",
            Self::TargetingMatch => "TARGETING_MATCH",
            Self::Split => "SPLIT",
            Self::Disabled => "DISABLED",
        }
    }
}

impl Serialize for OfrepReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A successful OFREP evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfrepEvaluation<'a> {
    /// The flag name or experiment id.
    pub key: &'a str,
    /// The typed value (an experiment's value is the variant name).
    pub value: OfrepValue<'a>,
    /// The variant (always present).
    pub variant: &'a str,
    /// Why.
    pub reason: OfrepReason,
    /// Flat scalars about the evaluation.
    pub metadata: Metadata<'a>,
    /// A flag answer's constant JSON, written when the snapshot was built (`None`: written
    /// field by field). Not part of the answer's serde form.
    #[serde(skip)]
    pub prerendered: Option<Prerendered<'a>>,
}

/// OFREP `metadata` (flat scalars only; absent fields are left out, never `null`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata<'a> {
    /// `flag` or `experiment`.
    pub kind: &'static str,
    /// The experiment id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<&'a str>,
    /// The experiment's layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<&'a str>,
    /// Whether the user is in the experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_experiment: Option<bool>,
    /// The user's namespace bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_bucket: Option<u32>,
    /// The user's variant bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant_bucket: Option<u32>,
    /// A switchback experiment's window index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
    /// A flag's value type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_type: Option<&'static str>,
    /// The flag rule that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    /// The flag allocation bucket used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u32>,
    /// The configuration version that answered.
    pub config_version: &'a str,
}

/// An evaluated value: a flag's typed value or an experiment's variant name.
#[derive(Clone, Debug, PartialEq)]
pub enum OfrepValue<'a> {
    /// A flag's value.
    Flag(&'a FlagValue),
    /// An experiment's variant name (or `excluded`).
    Name(&'a str),
}

impl Serialize for OfrepValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Flag(v) => v.serialize(s),
            Self::Name(n) => s.serialize_str(n),
        }
    }
}

/// The result of evaluating one key: the OFREP answer and, for an experiment the user is in,
/// what an exposure needs.
#[derive(Clone, Debug)]
pub struct Evaluated<'a> {
    /// The answer.
    pub answer: OfrepEvaluation<'a>,
    /// `(experiment, variant)` when the user is in an experiment.
    pub exposure: Option<(&'a Experiment, &'a str)>,
}

/// Evaluates `key` (a flag name or an experiment id) for the context at time `now`; `None`
/// when the key is unknown, an error when an experiment's unit attribute is missing from the
/// context (or a switchback experiment has not started).
pub fn evaluate<'a>(
    snapshot: &'a Snapshot,
    key: &'a str,
    ctx: &'a EvalContext,
    now: DateTime<Utc>,
) -> Option<Result<Evaluated<'a>, UnitError>> {
    Some(match snapshot.lookup(key)? {
        Target::Flag(f, json) => Ok(evaluate_flag(f, json, ctx, &snapshot.version)),
        Target::Experiment(e) => evaluate_experiment(e, ctx, &snapshot.version, now),
    })
}

/// Evaluates a flag; `json` is the constant parts of its answer in the configuration
/// `version` (see [`Snapshot::flags`]).
pub fn evaluate_flag<'a>(
    flag: &'a Flag,
    json: &'a FlagJson,
    ctx: &'a EvalContext,
    version: &'a str,
) -> Evaluated<'a> {
    let e = flag.evaluate(&ctx.targeting_key, &ctx.context);
    let reason = match e.reason {
        Reason::FlagDisabled => OfrepReason::Disabled,
        Reason::Rule(_) => OfrepReason::TargetingMatch,
        Reason::Rollout => OfrepReason::Split,
        Reason::Default if flag.rules.is_empty() && flag.rollout.is_none() => OfrepReason::Static,
        Reason::Default => OfrepReason::Default,
    };
    let metadata = Metadata {
        kind: "flag",
        value_type: Some(flag.value_type.name()),
        rule: match e.reason {
            Reason::Rule(rule) => Some(rule),
            _ => None,
        },
        bucket: e.bucket,
        config_version: version,
        ..Metadata::default()
    };
    // The answer's constant parts, by the variant's and the rule's places in the flag (the
    // general writer for a variant without a value).
    let prerendered = e.variant_index.and_then(|v| json.parts(v, e.rule_index));
    Evaluated {
        answer: OfrepEvaluation {
            key: &flag.name,
            value: OfrepValue::Flag(e.value),
            variant: e.variant,
            reason,
            metadata,
            prerendered,
        },
        exposure: None,
    }
}

/// Evaluates an experiment at time `now`: the user id is hashed, or the value of the
/// experiment's `unit` attribute from the context; a switchback's variant depends on `now`'s
/// window.
pub fn evaluate_experiment<'a>(
    experiment: &'a Experiment,
    ctx: &'a EvalContext,
    version: &'a str,
    now: DateTime<Utc>,
) -> Result<Evaluated<'a>, UnitError> {
    let a = experiment.assign_in_context(&ctx.targeting_key, &ctx.context, now)?;
    let variant = a.variant.map_or(EXCLUDED, |v| v.name.as_str());
    let metadata = Metadata {
        kind: "experiment",
        experiment_id: Some(&experiment.id),
        layer: experiment.layer.as_deref(),
        in_experiment: Some(a.variant.is_some()),
        namespace_bucket: Some(a.namespace_bucket),
        variant_bucket: Some(a.variant_bucket),
        window: a.window,
        config_version: version,
        ..Metadata::default()
    };
    Ok(Evaluated {
        answer: OfrepEvaluation {
            key: &experiment.id,
            value: OfrepValue::Name(variant),
            variant,
            reason: if a.variant.is_some() {
                OfrepReason::Split
            } else {
                OfrepReason::Default
            },
            metadata,
            prerendered: None,
        },
        exposure: a.variant.map(|v| (experiment, v.name.as_str())),
    })
}

/// One entry of a bulk answer: an evaluation, or (OFREP's `evaluationFailure`) why a key could
/// not be evaluated for this context.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BulkItem<'a> {
    /// The evaluation.
    Evaluated(OfrepEvaluation<'a>),
    /// An experiment whose unit attribute the context lacks.
    Failed {
        /// The experiment id.
        key: &'a str,
        /// Always `INVALID_CONTEXT`.
        #[serde(rename = "errorCode")]
        error_code: &'static str,
        /// What is missing.
        #[serde(rename = "errorDetails")]
        error_details: String,
    },
}

/// Every flag (file order) then every experiment (file order), for a bulk evaluation at `now`.
pub fn evaluate_all<'a>(
    snapshot: &'a Snapshot,
    ctx: &'a EvalContext,
    now: DateTime<Utc>,
) -> Vec<BulkItem<'a>> {
    let defs = &snapshot.definitions;
    let flags = snapshot.flags().map(|(f, json)| {
        BulkItem::Evaluated(evaluate_flag(f, json, ctx, &snapshot.version).answer)
    });
    let experiments = defs.experiments.iter().map(|e| {
        match evaluate_experiment(e, ctx, &snapshot.version, now) {
            Ok(evaluated) => BulkItem::Evaluated(evaluated.answer),
            Err(err) => BulkItem::Failed {
                key: &e.id,
                error_code: "INVALID_CONTEXT",
                error_details: err.to_string(),
            },
        }
    });
    flags.chain(experiments).collect()
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
