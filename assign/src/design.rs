//! Randomization units and designs beyond "one user, one variant":
//!
//! - **Cluster-randomized** (`unit = "company_id"`): the experiment hashes the value of the
//!   unit's attribute instead of the user id — the same namespace and variant hashes, the same
//!   buckets — so every user of a company gets the company's variant. The attribute comes from
//!   the request context (`--attr company_id=acme`) and must be in every exposure's metadata.
//! - **Switchback** (`design = "switchback"`, `unit = "region"`, `window = "1h"`, optional
//!   `burn_in = "10m"`): a unit takes part when its namespace bucket lies in the experiment's
//!   slice (like a user), and its variant changes every window: window `w = ⌊(t − start) /
//!   window⌋` gets the variant whose range holds
//!   `bucket(murmur3_x86_32("namespace:w:unit_value", seed 3))`. Reproducible anywhere from
//!   the namespace, the unit value and the time. Events in the first `burn_in` of a window are
//!   left out of the analysis (the previous variant may still act on them).
//!
//! `assign/README.md` specifies both for ports; `tests/vectors.tsv` pins them.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::conditions::{AttrValue, Context};
use crate::error::Problem;
use crate::experiment::{Experiment, Metric, MetricKind, Variant, Window};
use crate::file::RawExperiment;
use crate::hash::{namespace_bucket, switchback_bucket, variant_bucket};

/// How variants are assigned over time.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// One variant per randomization unit (the user, or the `unit` attribute) for the whole
    /// experiment.
    #[default]
    Ab,
    /// The unit's variant changes every `window`.
    Switchback,
}

impl Design {
    /// The names accepted in files, for messages.
    pub const ALL: [(&'static str, Design); 2] =
        [("ab", Design::Ab), ("switchback", Design::Switchback)];

    /// Whether this is the default (not written to stored definitions).
    pub fn is_default(&self) -> bool {
        *self == Design::Ab
    }

    /// The name used in files and results.
    pub fn as_str(&self) -> &'static str {
        match self {
            Design::Ab => "ab",
            Design::Switchback => "switchback",
        }
    }
}

/// Why a user could not be assigned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The experiment randomizes by an attribute the context does not have.
    #[error("experiment \"{experiment}\" is randomized by \"{unit}\": give its value (e.g. --attr {unit}=…)")]
    MissingUnit {
        /// The experiment.
        experiment: String,
        /// The attribute.
        unit: String,
    },
    /// A switchback experiment needs the time of the assignment.
    #[error("experiment \"{experiment}\" is a switchback experiment: its variant depends on the time, which is before its start ({start})")]
    BeforeStart {
        /// The experiment.
        experiment: String,
        /// Its start.
        start: DateTime<Utc>,
    },
}

/// The outcome of [`Experiment::assign_in_context`], with the hashed key and buckets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitAssignment<'a> {
    /// What was hashed: the user id or the unit attribute's value.
    pub key: String,
    /// The key's bucket in the namespace.
    pub namespace_bucket: u32,
    /// The variant bucket (of the window, for a switchback).
    pub variant_bucket: u32,
    /// The switchback window index.
    pub window: Option<i64>,
    /// The variant, or `None` when the unit is outside the experiment's slice.
    pub variant: Option<&'a Variant>,
}

/// An attribute value as the text that is hashed: strings as they are, booleans as
/// `true`/`false`, integral numbers without a fraction (`42`), other numbers as Rust prints
/// them (`2.5`).
pub fn attr_text(value: &AttrValue) -> Cow<'_, str> {
    match value {
        AttrValue::Str(s) => Cow::Borrowed(s),
        AttrValue::Bool(b) => Cow::Owned(b.to_string()),
        AttrValue::Num(x) if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 => {
            Cow::Owned(format!("{}", *x as i64))
        }
        AttrValue::Num(x) => Cow::Owned(x.to_string()),
    }
}

impl Experiment {
    /// Whether the experiment randomizes something else than the user (a cluster attribute or
    /// a switchback unit).
    pub fn randomizes_units(&self) -> bool {
        self.unit.is_some()
    }

    /// The text hashed for `user_id` in `context`: the user id, or the unit attribute's value.
    pub fn unit_key<'c>(
        &self,
        user_id: &'c str,
        context: &'c Context,
    ) -> Result<Cow<'c, str>, UnitError> {
        match &self.unit {
            None => Ok(Cow::Borrowed(user_id)),
            Some(unit) => context
                .get(unit)
                .map(attr_text)
                .ok_or_else(|| UnitError::MissingUnit {
                    experiment: self.id.clone(),
                    unit: unit.clone(),
                }),
        }
    }

    /// The switchback window holding `at` (`⌊(at − start)/window⌋`), or `None` for an
    /// experiment without windows or a time before the start.
    pub fn window_index(&self, at: DateTime<Utc>) -> Option<i64> {
        let window = i64::try_from(self.window?.seconds())
            .ok()?
            .checked_mul(1000)?;
        let since = at.timestamp_millis() - self.start.timestamp_millis();
        (since >= 0).then(|| since / window)
    }

    /// The variant of switchback unit `unit_value` in window `window` (`None` when the unit
    /// is outside the experiment's slice).
    pub fn switchback_variant(&self, unit_value: &str, window: i64) -> Option<&Variant> {
        if !self
            .buckets
            .contains(namespace_bucket(&self.namespace, unit_value))
        {
            return None;
        }
        self.variant_at(switchback_bucket(&self.namespace, window, unit_value))
    }

    /// Assigns `user_id` with its `context` at time `at`: hashes the unit attribute's value
    /// when the experiment has a `unit`, and the window of `at` for a switchback.
    pub fn assign_in_context(
        &self,
        user_id: &str,
        context: &Context,
        at: DateTime<Utc>,
    ) -> Result<UnitAssignment<'_>, UnitError> {
        let key = self.unit_key(user_id, context)?.into_owned();
        let namespace = namespace_bucket(&self.namespace, &key);
        if self.design == Design::Switchback {
            let window = self
                .window_index(at)
                .ok_or_else(|| UnitError::BeforeStart {
                    experiment: self.id.clone(),
                    start: self.start,
                })?;
            let bucket = switchback_bucket(&self.namespace, window, &key);
            let variant = if self.buckets.contains(namespace) {
                self.variant_at(bucket)
            } else {
                None
            };
            return Ok(UnitAssignment {
                key,
                namespace_bucket: namespace,
                variant_bucket: bucket,
                window: Some(window),
                variant,
            });
        }
        let bucket = variant_bucket(&self.id, &key);
        let variant = if self.buckets.contains(namespace) {
            self.variant_at(bucket)
        } else {
            None
        };
        Ok(UnitAssignment {
            key,
            namespace_bucket: namespace,
            variant_bucket: bucket,
            window: None,
            variant,
        })
    }

    /// The burn-in in milliseconds (0 without one).
    pub fn burn_in_ms(&self) -> i64 {
        self.burn_in.map_or(0, |w| {
            i64::try_from(w.seconds().saturating_mul(1000)).unwrap_or(i64::MAX)
        })
    }

    /// The switchback window in milliseconds (0 without one).
    pub fn window_ms(&self) -> i64 {
        self.window.map_or(0, |w| {
            i64::try_from(w.seconds().saturating_mul(1000)).unwrap_or(i64::MAX)
        })
    }
}

/// The validated design fields of a definition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResolvedDesign {
    pub unit: Option<String>,
    pub design: Design,
    pub window: Option<Window>,
    pub burn_in: Option<Window>,
}

/// Validates `unit`, `design`, `window` and `burn_in` of `r` (and, for a switchback, that its
/// metrics can be measured per (unit, window)), adding what is wrong to `problems`.
pub(crate) fn resolve(
    r: &RawExperiment,
    metrics: &[Metric],
    subject: &str,
    problems: &mut Vec<Problem>,
) -> Option<ResolvedDesign> {
    let before = problems.len();
    let design = match r.design.as_deref() {
        None => Design::Ab,
        Some(text) => match Design::ALL.iter().find(|(name, _)| *name == text) {
            Some((_, d)) => *d,
            None => {
                problems.push(Problem::new(
                    subject,
                    "design",
                    format!(
                        "must be \"ab\" or \"switchback\" (got \"{}\")",
                        text.escape_debug()
                    ),
                ));
                Design::Ab
            }
        },
    };
    let mut window_of = |field: &'static str, text: &Option<String>| {
        text.as_deref().and_then(|t| {
            Window::parse(t)
                .map_err(|e| problems.push(Problem::new(subject, field, e)))
                .ok()
        })
    };
    let window = window_of("window", &r.window);
    let burn_in = window_of("burn_in", &r.burn_in);
    for (field, reason) in check_design(design, r.unit.as_deref(), window, burn_in) {
        problems.push(Problem::new(subject, field, reason));
    }
    if r.unit.is_some() {
        let cuped = r.cuped || r.metric.iter().any(|m| m.cuped == Some(true));
        let bayesian = r.engine.as_deref() == Some("bayesian");
        for (on, field, what) in [
            (
                r.sequential,
                "sequential",
                "must be false: sequential tests are",
            ),
            (cuped, "cuped", "must be false: CUPED is"),
            (
                bayesian,
                "engine",
                "must be \"frequentist\": the Bayesian engine is",
            ),
        ] {
            if on {
                problems.push(Problem::new(
                    subject,
                    field,
                    format!("{what} not available with a unit (the analysis compares clusters or (unit, window) cells with cluster-robust intervals)"),
                ));
            }
        }
    }
    if design == Design::Switchback {
        for m in metrics {
            let metric = format!("{subject}, metric \"{}\"", m.name);
            if m.kind == MetricKind::Retention {
                problems.push(Problem::new(
                    &metric,
                    "kind",
                    "retention is measured per user from the first exposure, which a switchback experiment does not have (use conversion, revenue, count or ratio)",
                ));
            }
            if m.window.is_some() {
                problems.push(Problem::new(
                    &metric,
                    "window",
                    "does not apply to a switchback experiment (its metrics are measured per unit and window)",
                ));
            }
        }
    }
    (problems.len() == before).then(|| ResolvedDesign {
        unit: r.unit.clone(),
        design,
        window,
        burn_in,
    })
}

/// The switchback window of a definition, checked: set exactly for switchbacks, burn-in
/// shorter than the window.
pub(crate) fn check_design(
    design: Design,
    unit: Option<&str>,
    window: Option<Window>,
    burn_in: Option<Window>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(u) = unit {
        if u.trim().is_empty() || u.len() > 64 {
            out.push((
                "unit",
                format!(
                    "must be a metadata key of 1 to 64 bytes (got \"{}\")",
                    u.escape_debug()
                ),
            ));
        }
    }
    match design {
        Design::Ab => {
            if window.is_some() {
                out.push((
                    "window",
                    "only applies to design = \"switchback\"".to_owned(),
                ));
            }
            if burn_in.is_some() {
                out.push((
                    "burn_in",
                    "only applies to design = \"switchback\"".to_owned(),
                ));
            }
        }
        Design::Switchback => {
            if unit.is_none() {
                out.push((
                    "unit",
                    "is required for design = \"switchback\" (the attribute that names the unit, e.g. \"region\")".to_owned(),
                ));
            }
            match (window, burn_in) {
                (None, _) => out.push((
                    "window",
                    "is required for design = \"switchback\" (e.g. \"1h\")".to_owned(),
                )),
                (Some(w), Some(b)) if b.seconds() >= w.seconds() => out.push((
                    "burn_in",
                    format!("must be shorter than the window ({w}) (got {b})"),
                )),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_hash_as_text() {
        assert_eq!(attr_text(&AttrValue::Str("acme".into())), "acme");
        assert_eq!(attr_text(&AttrValue::Num(42.0)), "42");
        assert_eq!(attr_text(&AttrValue::Num(-3.0)), "-3");
        assert_eq!(attr_text(&AttrValue::Num(2.5)), "2.5");
        assert_eq!(attr_text(&AttrValue::Bool(true)), "true");
    }

    #[test]
    fn design_checks() {
        let h = Window::parse("1h").ok();
        let m = Window::parse("10m").ok();
        assert!(check_design(Design::Switchback, Some("region"), h, m).is_empty());
        let e = check_design(Design::Switchback, None, None, None);
        assert_eq!(
            e.iter().map(|p| p.0).collect::<Vec<_>>(),
            ["unit", "window"]
        );
        let e = check_design(Design::Switchback, Some("r"), m, h);
        assert_eq!(e[0].1, "must be shorter than the window (10m) (got 1h)");
        let e = check_design(Design::Ab, Some(""), h, None);
        assert_eq!(
            e.iter().map(|p| p.0).collect::<Vec<_>>(),
            ["unit", "window"]
        );
    }
}
