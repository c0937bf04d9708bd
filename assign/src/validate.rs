//! Validation: turns the file as written ([`crate::file`]) into [`Definitions`], resolving
//! every experiment's layer slice and variant ranges, and collects every problem with the
//! experiment (or layer, or flag) and field it concerns.
//!
//! Layer slices: the experiments of one layer are placed in file order; each takes
//! `traffic × 10000` buckets starting at its `layer_start` when set, else right after the
//! previous experiment of the layer (the first starts at 0). Slices must not overlap and must
//! end by bucket 10000. An experiment without a layer takes `[0, traffic × 10000)`.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::analysis::resolve_analysis;
use crate::experiment::{BucketRange, Experiment, Variant};
use crate::file::{parse_raw, DateText, RawExperiment, RawFile, RawVariant};
use crate::flags::{validate_flags, Flag};
use crate::hash::BUCKETS;
use crate::metrics::{metric_to_raw, resolve_metric};
use crate::{DefinitionError, Problem};

/// Largest weight of a variant or allocation (keeps the bucket arithmetic exact).
pub const MAX_WEIGHT: i64 = 1_000_000;

/// The name `assign` prints for users outside an experiment; no variant may use it.
pub const EXCLUDED: &str = "excluded";

/// A validated experiments file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Definitions {
    /// Experiments, in file order.
    pub experiments: Vec<Experiment>,
    /// Feature flags, in file order.
    pub flags: Vec<Flag>,
}

impl Definitions {
    /// The experiment with `id`.
    pub fn experiment(&self, id: &str) -> Option<&Experiment> {
        self.experiments.iter().find(|e| e.id == id)
    }

    /// The flag named `name`.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }
}

/// Parses and validates an experiments file.
pub fn parse(text: &str) -> Result<Definitions, DefinitionError> {
    validate(&parse_raw(text)?)
}

/// Validates a parsed file; the error lists every problem found.
pub fn validate(raw: &RawFile) -> Result<Definitions, DefinitionError> {
    let mut problems = Vec::new();
    let mut experiments = Vec::new();
    let mut seen = HashSet::new();
    for r in &raw.experiment {
        if !seen.insert(r.id.as_str()) {
            problems.push(Problem::new(
                subject(&r.id),
                "id",
                "must be unique (used by an earlier experiment)",
            ));
        }
        if let Some(e) = resolve_experiment(r, &mut problems) {
            experiments.push((e, r.layer_start));
        }
    }
    place_slices(&mut experiments, &mut problems);
    let flags = validate_flags(&raw.flag, &mut problems);
    for f in &flags {
        if seen.contains(f.name.as_str()) {
            problems.push(Problem::new(
                format!("flag \"{}\"", f.name),
                "name",
                "must differ from every experiment id (a flag or experiment is looked up by one key)",
            ));
        }
    }
    if problems.is_empty() {
        Ok(Definitions {
            experiments: experiments.into_iter().map(|(e, _)| e).collect(),
            flags,
        })
    } else {
        Err(DefinitionError::Invalid(problems))
    }
}

impl Experiment {
    /// Checks a definition read back from storage (the registry stores it as JSON): it must
    /// be one [`validate`] could have produced, with the same rules, and its bucket ranges
    /// must agree with its traffic and weights. Returns it unchanged when it does.
    pub fn checked(self) -> Result<Experiment, DefinitionError> {
        let mut problems = Vec::new();
        let again = resolve_experiment(&self.to_raw(), &mut problems).map(|mut e| {
            e.buckets = BucketRange {
                start: self.buckets.start,
                end: self.buckets.start + e.buckets.len(),
            };
            e
        });
        let slice_ok =
            self.buckets.end <= BUCKETS && (self.layer.is_some() || self.buckets.start == 0);
        match again {
            Some(e) if problems.is_empty() && slice_ok && e == self => Ok(self),
            _ => Err(DefinitionError::Stored {
                id: self.id.clone(),
                message: if problems.is_empty() {
                    "its bucket ranges disagree with its layer, traffic and weights".to_owned()
                } else {
                    DefinitionError::Invalid(problems).to_string()
                },
            }),
        }
    }

    /// The definition as it would be written in a file (with `layer_start` pinned).
    pub fn to_raw(&self) -> RawExperiment {
        RawExperiment {
            id: self.id.clone(),
            name: self.name.clone(),
            hypothesis: self.hypothesis.clone(),
            namespace: Some(self.namespace.clone()),
            layer: self.layer.clone(),
            layer_start: self.layer.as_ref().map(|_| i64::from(self.buckets.start)),
            traffic: self.traffic,
            control: self.control.clone(),
            start: DateText::Text(self.start.to_rfc3339()),
            end: self.end.map(|e| DateText::Text(e.to_rfc3339())),
            alpha: self.alpha,
            sequential: self.sequential,
            segments: self.segments.clone(),
            variant: self
                .variants
                .iter()
                .map(|v| RawVariant {
                    name: v.name.clone(),
                    weight: i64::from(v.weight),
                })
                .collect(),
            metric: self.metrics.iter().map(metric_to_raw).collect(),
            unit: self.unit.clone(),
            design: (!self.design.is_default()).then(|| self.design.as_str().to_owned()),
            window: self.window.map(|w| w.to_string()),
            burn_in: self.burn_in.map(|w| w.to_string()),
            cuped: self.cuped,
            pre_period: self.pre_period.map(|w| w.to_string()),
            engine: (!self.engine.is_default()).then(|| self.engine.as_str().to_owned()),
            prior: self.prior,
            chance_to_win: self.chance_to_win,
            max_risk: self.max_risk,
            plan: self.plan,
        }
    }
}

pub(crate) fn subject(id: &str) -> String {
    format!("experiment \"{id}\"")
}

/// Checks `[a-z0-9_-]{1,64}` (ids, namespaces, layers, flags, rules, metrics).
pub(crate) fn check_id(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must match [a-z0-9_-]{{1,64}} (got \"{}\")",
            value.escape_debug()
        ))
    }
}

/// Checks `[A-Za-z0-9_-]{1,64}` and not `excluded` (variant names).
pub(crate) fn check_variant_name(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        Err(format!(
            "must match [A-Za-z0-9_-]{{1,64}} (got \"{}\")",
            value.escape_debug()
        ))
    } else if value == EXCLUDED {
        Err(format!(
            "must not be \"{EXCLUDED}\" (it means not in the experiment)"
        ))
    } else {
        Ok(())
    }
}

/// Checks weights and splits `0..10000` into contiguous ranges proportional to them, in
/// order: range `i` is `[⌊10000·W(i-1)/W⌋, ⌊10000·W(i)/W⌋)` with `W(i)` the sum of the first
/// `i + 1` weights and `W` the total. Each range must hold at least one bucket.
pub(crate) fn weight_ranges(
    weights: &[(&str, i64)],
    subject: &str,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<BucketRange>> {
    let before = problems.len();
    for (name, w) in weights {
        if *w <= 0 || *w > MAX_WEIGHT {
            problems.push(Problem::new(
                format!("{subject}, {what} \"{name}\""),
                "weight",
                if *w <= 0 {
                    format!("must be positive (got {w})")
                } else {
                    format!("must be at most {MAX_WEIGHT} (got {w})")
                },
            ));
        }
    }
    if problems.len() > before || weights.is_empty() {
        return None;
    }
    let total: i64 = weights.iter().map(|(_, w)| w).sum();
    let mut ranges = Vec::with_capacity(weights.len());
    let (mut cumulative, mut start) = (0i64, 0u32);
    for (name, w) in weights {
        cumulative += w;
        let end = (cumulative * i64::from(BUCKETS) / total) as u32;
        if end == start {
            problems.push(Problem::new(
                format!("{subject}, {what} \"{name}\""),
                "weight",
                format!("is too small: {w} of {total} gets no bucket of {BUCKETS} (use at least 1/{BUCKETS} of the total)"),
            ));
        }
        ranges.push(BucketRange { start, end });
        start = end;
    }
    (problems.len() == before).then_some(ranges)
}

fn parse_time(text: &DateText) -> Result<DateTime<Utc>, String> {
    parse_date_time(&text.to_string())
}

/// Parses a time as experiment files write it: RFC 3339 with an offset, or a date (UTC
/// midnight). The error says what is accepted.
pub fn parse_date_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(t) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(format!("must be an RFC 3339 time with offset, e.g. 2026-11-01T00:00:00Z, or a date, e.g. 2026-11-01 (got \"{s}\")"))
}

/// Validates one experiment on its own. The slice is `[0, width)` until [`place_slices`].
fn resolve_experiment(r: &RawExperiment, problems: &mut Vec<Problem>) -> Option<Experiment> {
    let before = problems.len();
    let subj = subject(&r.id);
    let mut bad = |field: &str, reason: String| problems.push(Problem::new(&subj, field, reason));
    if let Err(e) = check_id(&r.id) {
        bad("id", e);
    }
    if r.name.trim().is_empty() {
        bad("name", "must not be empty".to_owned());
    }
    let namespace = r
        .namespace
        .clone()
        .or_else(|| r.layer.clone())
        .unwrap_or_else(|| r.id.clone());
    if let Err(e) = check_id(&namespace) {
        bad("namespace", e);
    }
    if let Some(layer) = &r.layer {
        if let Err(e) = check_id(layer) {
            bad("layer", e);
        }
    }
    match (r.layer_start, &r.layer) {
        (Some(_), None) => bad(
            "layer_start",
            "only applies to an experiment with a layer".to_owned(),
        ),
        (Some(s), Some(_)) if !(0..i64::from(BUCKETS)).contains(&s) => bad(
            "layer_start",
            format!("must be a bucket in 0..{BUCKETS} (got {s})"),
        ),
        _ => {}
    }
    let width = r.traffic * f64::from(BUCKETS);
    let traffic_ok = r.traffic.is_finite() && r.traffic > 0.0 && r.traffic <= 1.0;
    if !traffic_ok {
        bad("traffic", format!("must be in (0, 1] (got {})", r.traffic));
    } else if (width - width.round()).abs() > 1e-6 {
        bad(
            "traffic",
            format!(
                "must be a multiple of 0.0001 (1 of {BUCKETS} buckets) (got {})",
                r.traffic
            ),
        );
    }
    if !(r.alpha.is_finite() && r.alpha > 0.0 && r.alpha < 1.0) {
        bad("alpha", format!("must be in (0, 1) (got {})", r.alpha));
    }
    let start = parse_time(&r.start).map_err(|e| bad("start", e)).ok();
    let end = match &r.end {
        Some(t) => parse_time(t).map_err(|e| bad("end", e)).ok(),
        None => None,
    };
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            bad("end", format!("must be after start ({s}) (got {e})"));
        }
    }
    let mut segments = HashSet::new();
    for s in &r.segments {
        if s.trim().is_empty() || s.len() > 64 {
            bad(
                "segments",
                format!("must be non-empty keys of at most 64 bytes (got \"{s}\")"),
            );
        } else if !segments.insert(s.as_str()) {
            bad("segments", format!("must be unique (\"{s}\" repeats)"));
        }
    }
    // Variants.
    if r.variant.len() < 2 {
        bad(
            "variant",
            format!("must list at least two variants (got {})", r.variant.len()),
        );
    }
    let mut names = HashSet::new();
    for v in &r.variant {
        if let Err(e) = check_variant_name(&v.name) {
            problems.push(Problem::new(&subj, "variant.name", e));
        } else if !names.insert(v.name.as_str()) {
            problems.push(Problem::new(
                &subj,
                "variant.name",
                format!("must be unique (\"{}\" repeats)", v.name),
            ));
        }
    }
    if !r.variant.is_empty() && !names.contains(r.control.as_str()) {
        let known: Vec<&str> = r.variant.iter().map(|v| v.name.as_str()).collect();
        problems.push(Problem::new(
            &subj,
            "control",
            format!(
                "must name one of the variants ({}) (got \"{}\")",
                known.join(", "),
                r.control
            ),
        ));
    }
    let weights: Vec<(&str, i64)> = r
        .variant
        .iter()
        .map(|v| (v.name.as_str(), v.weight))
        .collect();
    let ranges = weight_ranges(&weights, &subj, "variant", problems);
    // Metrics.
    if r.metric.is_empty() {
        problems.push(Problem::new(
            &subj,
            "metric",
            "must list at least one metric",
        ));
    }
    let mut metric_names = HashSet::new();
    let mut metrics = Vec::new();
    for m in &r.metric {
        if !metric_names.insert(m.name.as_str()) {
            problems.push(Problem::new(
                &subj,
                "metric.name",
                format!("must be unique (\"{}\" repeats)", m.name),
            ));
        }
        if let Some(metric) = resolve_metric(m, &subj, problems) {
            metrics.push(metric);
        }
    }
    let primaries: Vec<&str> = metrics
        .iter()
        .filter(|m| m.primary)
        .map(|m| m.name.as_str())
        .collect();
    if primaries.len() > 1 {
        problems.push(Problem::new(
            &subj,
            "metric.primary",
            format!(
                "must be set on at most one metric (set on {})",
                primaries.join(", ")
            ),
        ));
    }
    let design = crate::design::resolve(r, &metrics, &subj, problems);
    let analysis = resolve_analysis(r, &metrics, &subj, problems);
    if problems.len() > before {
        return None;
    }
    let (start, ranges, design) = (start?, ranges?, design?);
    Some(Experiment {
        id: r.id.clone(),
        name: r.name.clone(),
        hypothesis: r.hypothesis.clone(),
        namespace,
        layer: r.layer.clone(),
        traffic: r.traffic,
        buckets: BucketRange {
            start: 0,
            end: width.round() as u32,
        },
        control: r.control.clone(),
        start,
        end,
        alpha: r.alpha,
        sequential: r.sequential,
        segments: r.segments.clone(),
        variants: r
            .variant
            .iter()
            .zip(ranges)
            .map(|(v, buckets)| Variant {
                name: v.name.clone(),
                weight: v.weight as u32,
                buckets,
            })
            .collect(),
        metrics,
        unit: design.unit,
        design: design.design,
        window: design.window,
        burn_in: design.burn_in,
        cuped: analysis.cuped,
        pre_period: analysis.pre_period,
        engine: analysis.engine,
        prior: analysis.prior,
        chance_to_win: analysis.chance_to_win,
        max_risk: analysis.max_risk,
        plan: analysis.plan,
    })
}

/// Places the slices of layered experiments (see the module docs) and checks each layer:
/// one namespace, combined traffic at most 1, no overlap.
fn place_slices(experiments: &mut [(Experiment, Option<i64>)], problems: &mut Vec<Problem>) {
    let mut layers: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (e, _)) in experiments.iter().enumerate() {
        if let Some(layer) = &e.layer {
            layers.entry(layer.clone()).or_default().push(i);
        }
    }
    for (layer, members) in layers {
        let lsubj = format!("layer \"{layer}\"");
        let first_ns = experiments[members[0]].0.namespace.clone();
        for &i in &members[1..] {
            let e = &experiments[i].0;
            if e.namespace != first_ns {
                problems.push(Problem::new(subject(&e.id), "namespace", format!("must equal the namespace of the other experiments in layer \"{layer}\" (\"{first_ns}\") (got \"{}\")", e.namespace)));
            }
        }
        let total: u32 = members
            .iter()
            .map(|&i| experiments[i].0.buckets.len())
            .sum();
        if total > BUCKETS {
            let parts: Vec<String> = members
                .iter()
                .map(|&i| format!("{} {}", experiments[i].0.id, experiments[i].0.traffic))
                .collect();
            problems.push(Problem::new(
                &lsubj,
                "traffic",
                format!(
                    "of its experiments must add up to at most 1 (got {}: {})",
                    f64::from(total) / f64::from(BUCKETS),
                    parts.join(", ")
                ),
            ));
            continue;
        }
        let mut cursor = 0u32;
        let mut placed: Vec<usize> = Vec::new();
        for &i in &members {
            let (e, pinned) = &experiments[i];
            let start = pinned.map_or(cursor, |s| s as u32);
            let slice = BucketRange {
                start,
                end: start + e.buckets.len(),
            };
            if slice.end > BUCKETS {
                problems.push(Problem::new(
                    subject(&e.id),
                    "layer_start",
                    format!(
                        "puts the slice {slice} past the last bucket of layer \"{layer}\" ({})",
                        BUCKETS - 1
                    ),
                ));
            }
            for &j in &placed {
                let other = &experiments[j].0;
                if other.buckets.overlaps(&slice) {
                    problems.push(Problem::new(subject(&e.id), "layer_start", format!("gives the slice {slice}, which overlaps the slice {} of experiment \"{}\" in layer \"{layer}\"", other.buckets, other.id)));
                }
            }
            experiments[i].0.buckets = slice;
            placed.push(i);
            cursor = slice.end;
        }
    }
}
