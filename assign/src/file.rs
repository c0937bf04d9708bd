//! The experiments file as written (`experiments.toml`): serde structs that mirror the TOML,
//! and parsing with errors that carry the line and the experiment or flag they are in.
//!
//! These structs only check syntax and types; [`crate::validate`] turns them into the
//! validated [`crate::Experiment`] and [`crate::Flag`].

use serde::{Deserialize, Serialize};

use crate::DefinitionError;

/// The whole file: `[[experiment]]` and `[[flag]]` tables.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Experiments, in file order (the order matters for layer slices).
    #[serde(default)]
    pub experiment: Vec<RawExperiment>,
    /// Feature flags.
    #[serde(default)]
    pub flag: Vec<RawFlag>,
}

/// One `[[experiment]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    /// Unique id, `[a-z0-9_-]{1,64}`; part of the variant hash key.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// What the experiment is expected to show.
    #[serde(default)]
    pub hypothesis: String,
    /// Hashing namespace, `[a-z0-9_-]{1,64}` [default: the layer, else the id].
    #[serde(default)]
    pub namespace: Option<String>,
    /// Mutual-exclusion layer: experiments in one layer get disjoint bucket slices.
    #[serde(default)]
    pub layer: Option<String>,
    /// First bucket (0..9999) of this experiment's slice of its layer [default: right after
    /// the previous experiment of the layer in file order]. Pin it to keep the slice in place
    /// when earlier experiments of the layer change or are removed.
    #[serde(default)]
    pub layer_start: Option<i64>,
    /// Share of the namespace's users in the experiment, in (0, 1], a multiple of 0.0001.
    #[serde(default = "default_traffic")]
    pub traffic: f64,
    /// Name of the control variant.
    pub control: String,
    /// Start time, RFC 3339 (`2026-11-01T00:00:00Z`) or a date (midnight UTC).
    pub start: DateText,
    /// Optional end time, like `start`.
    #[serde(default)]
    pub end: Option<DateText>,
    /// Significance level in (0, 1).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Always-valid (sequential) results.
    #[serde(default)]
    pub sequential: bool,
    /// Event metadata keys for breakdowns and balance checks.
    #[serde(default)]
    pub segments: Vec<String>,
    /// Variants, in order (their bucket ranges follow this order).
    #[serde(default)]
    pub variant: Vec<RawVariant>,
    /// Metrics.
    #[serde(default)]
    pub metric: Vec<RawMetric>,
    /// Randomization unit: a context attribute (and exposure metadata key) whose value is
    /// hashed instead of the user id, e.g. `company_id` [default: the user].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `ab` [default] or `switchback` (needs `unit` and `window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<String>,
    /// Switchback window, e.g. `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Switchback burn-in at the start of every window, e.g. `10m` [default: none].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_in: Option<String>,
    /// Variance reduction (CUPED) for every conversion, revenue and count metric.
    #[serde(default, skip_serializing_if = "crate::experiment::is_false")]
    pub cuped: bool,
    /// History window before the first exposure read by CUPED, e.g. `14d` [default: 14d].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_period: Option<String>,
    /// `frequentist` [default] or `bayesian`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Bayesian engine: normal prior on relative effects, `{ mean = 0.0, sd = 0.1 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<crate::analysis::Prior>,
    /// Bayesian engine: chance to win needed for a winner [default: 0.95].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance_to_win: Option<f64>,
    /// Bayesian engine: largest acceptable risk, relative to control [default: 0.0025].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_risk: Option<f64>,
    /// Planned users (`{ users = 400000 }`) or `{ baseline, mde, power }` to derive them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::analysis::Plan>,
}

fn default_traffic() -> f64 {
    1.0
}

fn default_alpha() -> f64 {
    0.05
}

/// One `[[experiment.variant]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    /// Variant name, `[A-Za-z0-9_-]{1,64}`, not `excluded`.
    pub name: String,
    /// Relative weight, a positive integer.
    pub weight: i64,
}

/// One `[[experiment.metric]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// Metric name, unique in the experiment.
    pub name: String,
    /// `conversion`, `revenue`, `count`, `retention` or `ratio`.
    pub kind: String,
    /// Event name the metric counts (the numerator of a ratio).
    pub event: String,
    /// Denominator event of a `ratio` metric.
    #[serde(default)]
    pub denominator: Option<String>,
    /// The decision metric (at most one per experiment).
    #[serde(default)]
    pub primary: bool,
    /// A non-inferiority check with `margin`.
    #[serde(default)]
    pub guardrail: bool,
    /// Desired direction: `increase` [default] or `decrease`.
    #[serde(default)]
    pub direction: Option<String>,
    /// Non-inferiority margin of a guardrail (absolute, in the metric's unit).
    #[serde(default)]
    pub margin: Option<f64>,
    /// Only events within this time after first exposure: `<n><s|m|h|d|w>`, e.g. `7d`.
    #[serde(default)]
    pub window: Option<String>,
    /// Upper cap at this pooled percentile, in (0, 1] (revenue, count, ratio).
    #[serde(default)]
    pub winsorize: Option<f64>,
    /// First day after exposure of a `retention` metric.
    #[serde(default)]
    pub from_day: Option<i64>,
    /// Last day after exposure of a `retention` metric (≥ `from_day`).
    #[serde(default)]
    pub to_day: Option<i64>,
    /// CUPED for this metric, overriding the experiment's `cuped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<bool>,
}

/// One `[[flag]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlag {
    /// Flag name, `[a-z0-9_-]{1,64}`; part of the allocation hash key.
    pub name: String,
    /// What the flag controls.
    #[serde(default)]
    pub description: String,
    /// When false, every user gets `default` (reason `flag_disabled`).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The flag's variants [default: the variants named in `default` and the allocations].
    #[serde(default)]
    pub variants: Vec<String>,
    /// Variant for users no rule or rollout allocates.
    pub default: String,
    /// Value type: `boolean`, `string`, `integer`, `float` or `object` [default: inferred from
    /// `values`]. Needs `values`.
    #[serde(default, rename = "type")]
    pub value_type: Option<String>,
    /// The value of each variant, e.g. `{ on = true, off = false }` [default: none, so the value
    /// is the variant name]. Keys not listed in `variants` add variants.
    #[serde(default)]
    pub values: Option<toml::Table>,
    /// Allocation for users that match no rule [default: none, so they get `default`].
    #[serde(default)]
    pub rollout: Vec<RawAllocation>,
    /// Rules, evaluated in order; the first whose conditions all hold allocates the user.
    #[serde(default)]
    pub rule: Vec<RawRule>,
}

fn default_enabled() -> bool {
    true
}

/// One `[[flag.rule]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Rule name, `[a-z0-9_-]{1,64}`, unique in the flag; part of the hash key.
    pub name: String,
    /// Conditions on context attributes; all must hold (none: every user matches).
    #[serde(default)]
    pub conditions: Vec<RawCondition>,
    /// Variant weights for users that match.
    pub allocation: Vec<RawAllocation>,
}

/// One condition: `{ attr = "country", op = "in", value = ["DE", "FR"] }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// Context attribute name.
    pub attr: String,
    /// `eq`, `ne`, `in`, `not_in`, `gt`, `gte`, `lt`, `lte` or `exists`.
    pub op: String,
    /// Value to compare with (an array for `in`/`not_in`, none for `exists`).
    #[serde(default)]
    pub value: Option<toml::Value>,
}

/// One variant weight: `{ variant = "on", weight = 10 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAllocation {
    /// Variant name.
    pub variant: String,
    /// Relative weight, a positive integer.
    pub weight: i64,
}

/// A time as written: a TOML string or an unquoted TOML datetime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DateText {
    /// `"2026-11-01T00:00:00Z"`.
    Text(String),
    /// `2026-11-01T00:00:00Z` (unquoted).
    Toml(toml::value::Datetime),
}

impl std::fmt::Display for DateText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Toml(d) => write!(f, "{d}"),
        }
    }
}

/// Parses the TOML text into [`RawFile`]. Errors carry the line and column and, when the error
/// lies inside an `[[experiment]]` or `[[flag]]` table, that table's id or name.
///
/// The text is parsed one top-level table at a time ([`crate::chunks`]), so memory grows with
/// the largest table, not with the file; the result is that of parsing the whole text.
pub fn parse_raw(text: &str) -> Result<RawFile, DefinitionError> {
    let mut file = RawFile::default();
    for chunk in crate::chunks::split(text) {
        let part = toml::from_str::<RawFile>(chunk.text).map_err(|err| {
            let offset = chunk.start + err.span().map_or(0, |s| s.start);
            let (line, column) = line_column(text, offset);
            DefinitionError::Syntax {
                line,
                column,
                within: enclosing_table(text, offset)
                    .map(|t| format!(" (in {t})"))
                    .unwrap_or_default(),
                message: err.message().trim().to_owned(),
            }
        })?;
        file.experiment.extend(part.experiment);
        file.flag.extend(part.flag);
    }
    Ok(file)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// `experiment "id"` or `flag "name"` of the `[[experiment]]`/`[[flag]]` table that contains
/// `offset`, found by counting table headers (and the id from an untyped parse, when the text
/// is valid TOML).
fn enclosing_table(text: &str, offset: usize) -> Option<String> {
    let mut counts = [0usize; 2];
    let mut current: Option<(usize, usize)> = None;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if line_start > offset {
            break;
        }
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        for (kind, header) in ["[[experiment]]", "[[flag]]"].iter().enumerate() {
            if compact.starts_with(header) {
                current = Some((kind, counts[kind]));
                counts[kind] += 1;
            }
        }
        line_start += line.len();
    }
    let (kind, index) = current?;
    let (table, key) = if kind == 0 {
        ("experiment", "id")
    } else {
        ("flag", "name")
    };
    // The id from an untyped parse of the table's own chunk (not the whole file, which may
    // be large); chunks start at top-level headers, so the table is the chunk's last one.
    let chunks = crate::chunks::split(text);
    let chunk = chunks
        .iter()
        .rev()
        .find(|c| c.start <= offset)
        .copied()
        .unwrap_or(crate::chunks::Chunk { start: 0, text });
    let whole = chunk.start == 0 && chunk.text.len() == text.len();
    let name = chunk.text.parse::<toml::Table>().ok().and_then(|doc| {
        let tables = doc.get(table)?.as_array()?;
        let entry = if whole {
            tables.get(index)?
        } else {
            tables.last()?
        };
        entry.get(key)?.as_str().map(str::to_owned)
    });
    Some(match name {
        Some(name) => format!("{table} \"{name}\""),
        None => format!("{table} #{}", index + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_the_line_and_the_experiment() {
        let text = "[[experiment]]\nid = \"a\"\nname = \"A\"\ncontrol = \"c\"\nstart = \"2026-01-01\"\n\n[[experiment]]\nid = \"b\"\nname = \"B\"\ncontrol = \"c\"\nstart = \"2026-01-01\"\n  [[experiment.variant]]\n  name = \"c\"\n  wieght = 5\n";
        let err = parse_raw(text).unwrap_err().to_string();
        assert!(err.contains("line 14"), "{err}");
        assert!(err.contains("experiment \"b\""), "{err}");
        assert!(err.contains("wieght"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse_raw("[[experiment]]\nid = \"a\nname = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn dates_may_be_strings_or_toml_datetimes() {
        let text = "[[experiment]]\nid = \"a\"\nname = \"A\"\ncontrol = \"c\"\nstart = 2026-11-01T00:00:00Z\nend = \"2026-11-15T00:00:00Z\"\n";
        let raw = parse_raw(text).unwrap();
        assert_eq!(raw.experiment[0].start.to_string(), "2026-11-01T00:00:00Z");
        assert_eq!(
            raw.experiment[0].end.as_ref().unwrap().to_string(),
            "2026-11-15T00:00:00Z"
        );
    }
}
