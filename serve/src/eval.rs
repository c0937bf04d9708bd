//! The pure evaluation behind every endpoint and behind `abacus assign` / `abacus flags eval`,
//! so that the server and the CLI cannot drift: [`AssignRecord`] and [`FlagRecord`] are what
//! the native endpoints answer and what the CLI prints with `--json`; [`OfrepEvaluation`] is an
//! OFREP answer for a flag or an experiment.
//!
//! OFREP reasons: an experiment bucket is `SPLIT` (a user outside the experiment's traffic
//! gets variant and value `excluded` with reason `DEFAULT`); a flag rule is `TARGETING_MATCH`;
//! a flag's rollout is `SPLIT`; a flag without rules and rollout is `STATIC`; a flag whose rules
//! did not match and that has no rollout is `DEFAULT`; a disabled flag is `DISABLED`.

use abacus_assign::{Experiment, Flag, FlagValue, Reason, ValueType, EXCLUDED};
use serde::Serialize;

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
    /// Variant bucket.
    pub variant_bucket: u32,
}

impl<'a> AssignRecord<'a> {
    /// Assigns `user_id` in `experiment`.
    pub fn new(experiment: &'a Experiment, user_id: &'a str) -> Self {
        let a = experiment.assignment(user_id);
        Self {
            experiment: &experiment.id,
            user_id,
            variant: a.variant.map_or(EXCLUDED, |v| v.name.as_str()),
            in_experiment: a.variant.is_some(),
            namespace_bucket: a.namespace_bucket,
            variant_bucket: a.variant_bucket,
        }
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

/// Evaluates `key` (a flag name or an experiment id) for the context; `None` when the key is
/// unknown.
pub fn evaluate<'a>(
    snapshot: &'a Snapshot,
    key: &'a str,
    ctx: &'a EvalContext,
) -> Option<Evaluated<'a>> {
    Some(match snapshot.lookup(key)? {
        Target::Flag(f) => evaluate_flag(f, ctx, &snapshot.version),
        Target::Experiment(e) => evaluate_experiment(e, ctx, &snapshot.version),
    })
}

/// Evaluates a flag.
pub fn evaluate_flag<'a>(flag: &'a Flag, ctx: &'a EvalContext, version: &'a str) -> Evaluated<'a> {
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
    Evaluated {
        answer: OfrepEvaluation {
            key: &flag.name,
            value: OfrepValue::Flag(e.value),
            variant: e.variant,
            reason,
            metadata,
        },
        exposure: None,
    }
}

/// Evaluates an experiment.
pub fn evaluate_experiment<'a>(
    experiment: &'a Experiment,
    ctx: &'a EvalContext,
    version: &'a str,
) -> Evaluated<'a> {
    let a = experiment.assignment(&ctx.targeting_key);
    let variant = a.variant.map_or(EXCLUDED, |v| v.name.as_str());
    let metadata = Metadata {
        kind: "experiment",
        experiment_id: Some(&experiment.id),
        layer: experiment.layer.as_deref(),
        in_experiment: Some(a.variant.is_some()),
        namespace_bucket: Some(a.namespace_bucket),
        variant_bucket: Some(a.variant_bucket),
        config_version: version,
        ..Metadata::default()
    };
    Evaluated {
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
        },
        exposure: a.variant.map(|v| (experiment, v.name.as_str())),
    }
}

/// Every flag (file order) then every experiment (file order), for a bulk evaluation.
pub fn evaluate_all<'a>(snapshot: &'a Snapshot, ctx: &'a EvalContext) -> Vec<OfrepEvaluation<'a>> {
    let defs = &snapshot.definitions;
    let flags = defs
        .flags
        .iter()
        .map(|f| evaluate_flag(f, ctx, &snapshot.version).answer);
    let experiments = defs
        .experiments
        .iter()
        .map(|e| evaluate_experiment(e, ctx, &snapshot.version).answer);
    flags.chain(experiments).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use abacus_assign::Context;

    fn snapshot() -> Snapshot {
        let text = include_str!("../../examples/experiments.toml");
        Snapshot::new(abacus_assign::parse(text).unwrap(), text.as_bytes(), "test")
    }

    fn ctx(user: &str, context: Context) -> EvalContext {
        EvalContext {
            targeting_key: user.into(),
            context,
        }
    }

    #[test]
    fn reasons_and_values() {
        let s = snapshot();
        let staff = ctx("u1", Context::new().with("email_domain", "abacus.example"));
        let e = evaluate(&s, "dark-mode", &staff).unwrap();
        assert_eq!(e.answer.reason, OfrepReason::TargetingMatch);
        assert_eq!(
            serde_json::to_value(&e.answer).unwrap()["value"],
            serde_json::Value::Bool(true)
        );
        assert!(e.exposure.is_none());
        let plain = ctx("u1", Context::new());
        let e = evaluate(&s, "free-shipping-threshold", &plain).unwrap();
        assert_eq!(e.answer.reason, OfrepReason::Default);
        let json = serde_json::to_string(&e.answer).unwrap();
        assert!(json.contains(r#""value":50.0"#), "{json}");
        let e = evaluate(&s, "search-ranking", &plain).unwrap();
        assert_eq!(e.answer.reason, OfrepReason::Split);
        assert!(evaluate(&s, "nope", &plain).is_none());
    }

    #[test]
    fn experiments_answer_the_cli_variant() {
        let s = snapshot();
        let exp = s.definitions.experiment("checkout-redesign").unwrap();
        let (mut inside, mut outside) = (0, 0);
        for i in 0..200 {
            let user = format!("user-{i}");
            let c = ctx(&user, Context::new());
            let e = evaluate(&s, "checkout-redesign", &c).unwrap();
            let cli = AssignRecord::new(exp, &user);
            assert_eq!(e.answer.variant, cli.variant);
            assert_eq!(e.exposure.is_some(), cli.in_experiment);
            if cli.in_experiment {
                inside += 1;
                assert_eq!(e.answer.reason, OfrepReason::Split);
            } else {
                outside += 1;
                assert_eq!(e.answer.reason, OfrepReason::Default);
                assert_eq!(e.answer.value, OfrepValue::Name("excluded"));
            }
        }
        assert!(inside > 0 && outside > 0);
        assert_eq!(evaluate_all(&s, &ctx("u", Context::new())).len(), 8);
    }
}
