//! The breakdowns of one experiment's analysis: results per segment and the Simpson check,
//! covariate balance per segment key, and the cumulative series by day of first exposure.
//! Segments and series use the frequentist comparison under both engines, CUPED-adjusted for
//! metrics with CUPED. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::analyze::{add_all, empty, Context, Inputs};
use crate::compare::compare;
use crate::model::{BalanceRow, ResultRow, SegmentCell, SegmentRow, SeriesRow};

pub(crate) fn segment_rows(
    ctx: &Context<'_>,
    inputs: &Inputs,
    treatments: &[&str],
) -> Vec<SegmentRow> {
    let e = ctx.experiment;
    // (key, value) → variant → cell
    let mut by_value: BTreeMap<(&str, &str), BTreeMap<&str, &SegmentCell>> = BTreeMap::new();
    for cell in &inputs.segments {
        by_value
            .entry((&cell.key, &cell.value))
            .or_default()
            .insert(&cell.variant, cell);
    }
    let zero = empty(e.metrics.len());
    let mut out = Vec::new();
    for (i, m) in e.metrics.iter().enumerate() {
        for ((key, value), cells) in &by_value {
            let control = cells
                .get(e.control.as_str())
                .map_or(&zero[i], |c| &c.metrics[i]);
            for t in treatments {
                let treatment = cells.get(t).map_or(&zero[i], |c| &c.metrics[i]);
                let mut row = SegmentRow {
                    run_id: ctx.run_id,
                    experiment_id: e.id.clone(),
                    metric: m.name.clone(),
                    segment_key: (*key).to_owned(),
                    segment_value: (*value).to_owned(),
                    variant: (*t).to_owned(),
                    control_users: control.n,
                    treatment_users: treatment.n,
                    control_value: crate::compare::value(m.kind, control),
                    treatment_value: crate::compare::value(m.kind, treatment),
                    abs_lift: 0.0,
                    rel_lift: None,
                    ci_abs_low: 0.0,
                    ci_abs_high: 0.0,
                    p_value: 1.0,
                    error: String::new(),
                };
                match compare(m.kind, e.uses_cuped(m), control, treatment, e.alpha) {
                    Ok(cmp) => {
                        row.abs_lift = cmp.abs_lift;
                        row.rel_lift = cmp.rel_lift;
                        row.ci_abs_low = cmp.ci_abs.low;
                        row.ci_abs_high = cmp.ci_abs.high;
                        row.p_value = cmp.p_value;
                    }
                    Err(err) => row.error = err.to_string(),
                }
                out.push(row);
            }
        }
    }
    out
}

pub(crate) fn simpson(results: &mut [ResultRow], segments: &[SegmentRow]) {
    for r in results.iter_mut().filter(|r| !r.method.is_empty()) {
        if r.abs_lift == 0.0 {
            continue;
        }
        let keys: BTreeSet<&str> = segments
            .iter()
            .filter(|s| s.metric == r.metric && s.variant == r.variant)
            .map(|s| s.segment_key.as_str())
            .collect();
        for key in keys {
            let lifts: Vec<f64> = segments
                .iter()
                .filter(|s| s.metric == r.metric && s.variant == r.variant && s.segment_key == key)
                .filter(|s| s.error.is_empty())
                .map(|s| s.abs_lift)
                .collect();
            if lifts.len() >= 2 && lifts.iter().all(|l| l * r.abs_lift < 0.0) {
                r.simpson = 1;
                r.simpson_key = key.to_owned();
                break;
            }
        }
    }
}

pub(crate) fn balance_rows(
    ctx: &Context<'_>,
    inputs: &Inputs,
    defined: &[&str],
    warnings: &mut Vec<String>,
) -> Vec<BalanceRow> {
    let e = ctx.experiment;
    let mut out = Vec::new();
    for key in &e.segments {
        let values: BTreeSet<&str> = inputs
            .segments
            .iter()
            .filter(|c| &c.key == key)
            .map(|c| c.value.as_str())
            .collect();
        let count = |variant: &str, value: &str| {
            inputs
                .segments
                .iter()
                .find(|c| &c.key == key && c.variant == variant && c.value == value)
                .map_or(0, |c| c.users)
        };
        let table: Vec<Vec<u64>> = defined
            .iter()
            .map(|v| values.iter().map(|x| count(v, x)).collect())
            .collect();
        let (chi2, df, p) = match abacus_stats::chi_square_independence(&table) {
            Ok(t) => (t.chi2, u32::try_from(t.df).unwrap_or(u32::MAX), t.p_value),
            Err(err) => {
                warnings.push(format!("no balance check for segment {key}: {err}"));
                (0.0, 0, 1.0)
            }
        };
        if p < ctx.srm_threshold {
            warnings.push(format!(
                "segment {key} is unbalanced across variants (chi-square p = {p:.3e})"
            ));
        }
        for value in &values {
            for v in defined {
                out.push(BalanceRow {
                    run_id: ctx.run_id,
                    experiment_id: e.id.clone(),
                    segment_key: key.clone(),
                    segment_value: (*value).to_owned(),
                    variant: (*v).to_owned(),
                    users: count(v, value),
                    chi2,
                    df,
                    p_value: p,
                });
            }
        }
    }
    out
}

pub(crate) fn series_rows(
    ctx: &Context<'_>,
    inputs: &Inputs,
    treatments: &[&str],
) -> Vec<SeriesRow> {
    let e = ctx.experiment;
    let metrics = e.metrics.len();
    let days: BTreeSet<i64> = inputs.days.iter().map(|c| c.day).collect();
    let mut out = Vec::new();
    for t in treatments {
        let mut control = empty(metrics);
        let mut treatment = empty(metrics);
        for day in &days {
            for cell in inputs.days.iter().filter(|c| c.day == *day) {
                if cell.variant == e.control {
                    add_all(&mut control, &cell.metrics);
                } else if cell.variant == *t {
                    add_all(&mut treatment, &cell.metrics);
                }
            }
            for (i, m) in e.metrics.iter().enumerate() {
                let (c, tr) = (&control[i], &treatment[i]);
                let mut row = SeriesRow {
                    run_id: ctx.run_id,
                    experiment_id: e.id.clone(),
                    metric: m.name.clone(),
                    variant: (*t).to_owned(),
                    day: u16::try_from(*day).unwrap_or(0),
                    control_users: c.n,
                    treatment_users: tr.n,
                    control_value: crate::compare::value(m.kind, c),
                    treatment_value: crate::compare::value(m.kind, tr),
                    abs_lift: 0.0,
                    rel_lift: None,
                    ci_abs_low: 0.0,
                    ci_abs_high: 0.0,
                    ci_rel_low: None,
                    ci_rel_high: None,
                    p_value: 1.0,
                    error: String::new(),
                };
                match compare(m.kind, e.uses_cuped(m), c, tr, e.alpha) {
                    Ok(cmp) => {
                        row.abs_lift = cmp.abs_lift;
                        row.rel_lift = cmp.rel_lift;
                        row.ci_abs_low = cmp.ci_abs.low;
                        row.ci_abs_high = cmp.ci_abs.high;
                        row.ci_rel_low = cmp.ci_rel.map(|i| i.low);
                        row.ci_rel_high = cmp.ci_rel.map(|i| i.high);
                        row.p_value = cmp.p_value;
                    }
                    Err(err) => row.error = err.to_string(),
                }
                out.push(row);
            }
        }
    }
    out
}
