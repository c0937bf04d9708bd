//! Validated experiment definitions and deterministic assignment.
//!
//! An [`Experiment`] carries everything needed to assign a user on its own: its namespace,
//! its resolved slice of the namespace's buckets ([`Experiment::buckets`]) and each variant's
//! range of variant buckets ([`Variant::buckets`]). It is also the form the registry stores as
//! JSON, so a stored version assigns exactly like the file it came from.
//!
//! Assignment of `user_id`:
//! 1. `b = namespace_bucket(namespace, user_id)`; the user is in the experiment iff
//!    `b ∈ buckets` (the layer slice, `traffic × 10000` buckets wide).
//! 2. `v = variant_bucket(id, user_id)`; the variant is the one whose range holds `v`.
//!
//! The two hashes are independent, so raising `traffic` only adds users (their variant does
//! not depend on the slice) and changing weights moves only this experiment's users.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::{Engine, Plan, Prior};
use crate::design::Design;
use crate::hash::{namespace_bucket, variant_bucket};

/// A half-open range of buckets `[start, end)` in `0..10000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketRange {
    /// First bucket.
    pub start: u32,
    /// One past the last bucket.
    pub end: u32,
}

impl BucketRange {
    /// Whether `bucket` lies in the range.
    #[inline]
    pub fn contains(&self, bucket: u32) -> bool {
        self.start <= bucket && bucket < self.end
    }

    /// Number of buckets.
    pub fn len(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the two ranges share a bucket.
    pub fn overlaps(&self, other: &BucketRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether every bucket of `self` is in `other`.
    pub fn within(&self, other: &BucketRange) -> bool {
        other.start <= self.start && self.end <= other.end
    }
}

impl std::fmt::Display for BucketRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// A validated experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Unique id.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// What the experiment is expected to show.
    pub hypothesis: String,
    /// Hashing namespace.
    pub namespace: String,
    /// Mutual-exclusion layer, if any.
    pub layer: Option<String>,
    /// Share of the namespace's users in the experiment.
    pub traffic: f64,
    /// The experiment's slice of the namespace's buckets (`traffic × 10000` wide).
    pub buckets: BucketRange,
    /// Name of the control variant.
    pub control: String,
    /// Start time.
    pub start: DateTime<Utc>,
    /// End time, if planned.
    pub end: Option<DateTime<Utc>>,
    /// Significance level.
    pub alpha: f64,
    /// Always-valid (sequential) results.
    pub sequential: bool,
    /// Event metadata keys for breakdowns and balance checks.
    pub segments: Vec<String>,
    /// Variants, in bucket order.
    pub variants: Vec<Variant>,
    /// Metrics.
    pub metrics: Vec<Metric>,
    /// Randomization unit: the attribute whose value is hashed instead of the user id (a
    /// cluster such as `company_id`, or the unit of a switchback such as `region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `ab` (one variant per unit) or `switchback` (the variant changes every `window`).
    #[serde(default, skip_serializing_if = "Design::is_default")]
    pub design: Design,
    /// Switchback window length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Switchback burn-in: the start of every window left out of the analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_in: Option<Window>,
    /// CUPED for every conversion, revenue and count metric (a metric's `cuped` overrides).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cuped: bool,
    /// History window before the first exposure read by CUPED (default 14 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_period: Option<Window>,
    /// Statistics engine.
    #[serde(default, skip_serializing_if = "Engine::is_default")]
    pub engine: Engine,
    /// Normal prior on relative effects (Bayesian engine; flat when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Prior>,
    /// Chance to win needed for a Bayesian winner (default 0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance_to_win: Option<f64>,
    /// Largest acceptable Bayesian risk (default 0.0025).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_risk: Option<f64>,
    /// Planned users, or what to derive them from (tunes sequential tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// A variant and its range of variant buckets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Variant name.
    pub name: String,
    /// Relative weight.
    pub weight: u32,
    /// Variant buckets `[start, end)` of this variant (proportional to the weight).
    pub buckets: BucketRange,
}

/// What a metric measures per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Whether the user had the event (0/1).
    Conversion,
    /// Sum of `event_value` of the event.
    Revenue,
    /// Number of events.
    Count,
    /// Whether the user had the event between `from_day` and `to_day` after first exposure.
    Retention,
    /// Events of `event` over events of `denominator`.
    Ratio,
}

impl MetricKind {
    /// Every kind, for messages.
    pub const ALL: [(&'static str, MetricKind); 5] = [
        ("conversion", Self::Conversion),
        ("revenue", Self::Revenue),
        ("count", Self::Count),
        ("retention", Self::Retention),
        ("ratio", Self::Ratio),
    ];
}

/// The direction in which a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is better.
    Increase,
    /// Lower is better.
    Decrease,
}

/// A validated metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Metric name.
    pub name: String,
    /// What is measured.
    pub kind: MetricKind,
    /// Event name (numerator of a ratio).
    pub event: String,
    /// Denominator event of a ratio.
    pub denominator: Option<String>,
    /// The decision metric.
    pub primary: bool,
    /// A non-inferiority check with `margin`.
    pub guardrail: bool,
    /// The direction in which the metric is better.
    pub direction: Direction,
    /// Non-inferiority margin of a guardrail.
    pub margin: Option<f64>,
    /// Only events within this time after first exposure.
    pub window: Option<Window>,
    /// Upper cap at this pooled percentile.
    pub winsorize: Option<f64>,
    /// First day after exposure (retention).
    pub from_day: Option<u32>,
    /// Last day after exposure (retention).
    pub to_day: Option<u32>,
    /// CUPED for this metric, overriding the experiment's `cuped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<bool>,
}

/// A time window written `<n><unit>` with unit `s`, `m`, `h`, `d` or `w` (e.g. `7d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Window {
    seconds: u64,
}

const UNITS: [(char, u64); 5] = [
    ('w', 604_800),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

impl Window {
    /// A window of `seconds` (> 0).
    pub(crate) const fn from_seconds(seconds: u64) -> Self {
        Self { seconds }
    }

    /// The window in seconds.
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    /// Parses `7d`, `12h`, `90m`, `3600s`, `2w`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!("must look like 7d, 12h, 90m, 30s or 2w (a positive whole number and a unit) (got \"{text}\")")
        };
        let unit = text.chars().last().ok_or_else(bad)?;
        let (_, scale) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?;
        let number: u64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
        if number == 0 {
            return Err(bad());
        }
        let seconds = number.checked_mul(*scale).ok_or_else(bad)?;
        Ok(Self { seconds })
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Weeks are accepted on input but printed as days.
        let (unit, scale) = UNITS[1..]
            .iter()
            .find(|(_, s)| self.seconds % s == 0)
            .copied()
            .unwrap_or(('s', 1));
        write!(f, "{}{unit}", self.seconds / scale)
    }
}

impl TryFrom<String> for Window {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<Window> for String {
    fn from(w: Window) -> String {
        w.to_string()
    }
}

/// The full result of assigning one user, with the buckets (for debugging other ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment<'a> {
    /// The user's bucket in the experiment's namespace.
    pub namespace_bucket: u32,
    /// The user's variant bucket in the experiment.
    pub variant_bucket: u32,
    /// The variant, or `None` when the namespace bucket is outside the experiment's slice.
    pub variant: Option<&'a Variant>,
}

impl Experiment {
    /// The user's variant, or `None` when the user is not in the experiment.
    ///
    /// Independent of time: check [`Experiment::is_running`] separately if needed.
    #[inline]
    pub fn assign(&self, user_id: &str) -> Option<&Variant> {
        if !self
            .buckets
            .contains(namespace_bucket(&self.namespace, user_id))
        {
            return None;
        }
        self.variant_at(variant_bucket(&self.id, user_id))
    }

    /// Like [`Experiment::assign`], with both buckets.
    pub fn assignment(&self, user_id: &str) -> Assignment<'_> {
        let nb = namespace_bucket(&self.namespace, user_id);
        let vb = variant_bucket(&self.id, user_id);
        Assignment {
            namespace_bucket: nb,
            variant_bucket: vb,
            variant: if self.buckets.contains(nb) {
                self.variant_at(vb)
            } else {
                None
            },
        }
    }

    /// The variant whose range holds variant bucket `bucket`.
    #[inline]
    pub fn variant_at(&self, bucket: u32) -> Option<&Variant> {
        self.variants.iter().find(|v| v.buckets.contains(bucket))
    }

    /// The variant named `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Whether `at` lies in `[start, end)`.
    pub fn is_running(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && self.end.is_none_or(|end| at < end)
    }

    /// The primary metric, if one is marked.
    pub fn primary_metric(&self) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.primary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_print() {
        for (text, secs, back) in [
            ("7d", 604_800, "7d"),
            ("12h", 43_200, "12h"),
            ("90m", 5_400, "90m"),
            ("30s", 30, "30s"),
            ("2w", 1_209_600, "14d"),
            ("3d", 259_200, "3d"),
        ] {
            let w = Window::parse(text).unwrap();
            assert_eq!(w.seconds(), secs, "{text}");
            assert_eq!(w.to_string(), back);
        }
        for bad in ["", "7", "d", "0d", "-1d", "1.5h", "7 days", "7D"] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let r = BucketRange { start: 10, end: 20 };
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert_eq!(r.len(), 10);
        assert!(r.overlaps(&BucketRange { start: 19, end: 30 }));
        assert!(!r.overlaps(&BucketRange { start: 20, end: 30 }));
        assert!(r.within(&BucketRange { start: 0, end: 20 }));
    }
}
