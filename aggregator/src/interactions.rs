//! The interaction check between concurrent experiments: for every pair of experiments whose
//! periods overlap and that share users (any namespaces), does the primary metric's treatment
//! effect in one differ across the other's variants?
//!
//! One scan of `experiment_users` (the current rows of every experiment of the pass, users
//! with a single variant, eligible for the primary metric) groups each user's entries
//! `(experiment and variant, primary value, its denominator)`; the pairs are formed here, so
//! the cost grows with the users and their number of experiments, and there is no join per
//! pair. Per pair and cell (variant of A × variant of B) the sums of A's and B's primary
//! values give [`abacus_stats::interaction_test`] its table: a difference in differences for
//! 2×2, a Wald test for more arms. Two experiments with the same primary metric definition are
//! tested once (on the first one's values), otherwise each experiment's primary metric is
//! tested across the other's variants. Holm's correction runs over every test of the check.
//!
//! Cells with fewer than [`MIN_CELL_USERS`] users make the normal approximation unreliable: the
//! pair is then reported with an error and left out of the correction. Winsorization caps are
//! not applied here (the check compares effects, and uncapped values keep it valid).

use abacus_assign::{Experiment, Metric, MetricKind};
use abacus_registry::StoredExperiment;
use abacus_schema::ClickHouse;
use abacus_stats::{
    adjust_p_values, interaction_test, CellEstimate, Correction, MeanSummary, RatioSummary,
};
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::sql::{horizon_ms, Statement, Value};
use crate::{AggregateConfig, AggregateError, ExperimentPass};

/// Smallest number of users in every cell of a pair for the test to run.
pub const MIN_CELL_USERS: u64 = 100;

/// One experiment taking part in the check: its definition and the base run of its current
/// user rows.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub experiment: &'a Experiment,
    pub base_run_id: u64,
}

/// One row of `results_interactions`: one test of one pair.
#[derive(Clone, Debug, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct InteractionRow {
    pub run_id: u64,
    /// Unix seconds.
    pub computed_at: u32,
    pub as_of_ms: i64,
    /// The experiment whose primary metric and treatment effect are tested (rows of the table).
    pub experiment_a: String,
    /// The experiment across whose variants the effect is compared (columns).
    pub experiment_b: String,
    pub metric: String,
    pub kind: String,
    pub variants_a: Vec<String>,
    pub variants_b: Vec<String>,
    /// Users per cell, row-major (variant of A × variant of B).
    pub cell_users: Vec<u64>,
    /// The metric per cell (rate, mean or ratio), row-major.
    pub cell_values: Vec<f64>,
    /// Users in both experiments.
    pub overlap_users: u64,
    pub chi2: f64,
    pub df: u32,
    pub p_value: f64,
    /// Holm over every test of the check.
    pub p_value_adjusted: f64,
    /// 2×2 only: the difference in differences and its interval.
    pub difference: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// `p_value_adjusted < alpha`.
    pub flagged: u8,
    pub alpha: f64,
    /// Why the pair was not tested ('' when it was).
    pub error: String,
}

/// The metric tested for an experiment: the primary metric, else the first.
fn tested_metric(e: &Experiment) -> Option<&Metric> {
    e.primary_metric().or(e.metrics.first())
}

fn metric_index(e: &Experiment) -> u64 {
    tested_metric(e)
        .and_then(|m| e.metrics.iter().position(|x| x.name == m.name))
        .map_or(1, |i| i as u64 + 1)
}

/// `[?, ?, …]` with `values` bound.
fn list(items: impl IntoIterator<Item = Value>, values: &mut Vec<Value>) -> String {
    let mut n = 0;
    for v in items {
        values.push(v);
        n += 1;
    }
    format!("[{}]", vec!["?"; n].join(", "))
}

/// The scan: per user with rows in two or more of `members`, the array of
/// `(experiment, run_id, code, ok, x, y)` — `experiment` the 1-based index of the member,
/// `code` the 1-based index of `experiment_id:variant` in the members' variants (0 for a
/// variant not in the definition), `ok` whether the row counts (one variant, exposed before the
/// analysis time, metric window closed), `x`/`y` the tested metric's value and denominator (0
/// when no tested metric is a ratio).
///
/// `experiment_users` is read without `FINAL` (merging on read made the check cost about twice
/// as much): a user recomputed by an incremental pass may have several rows of an experiment,
/// and [`Pairs::add_user`] keeps the one of the newest `run_id`, as `FINAL` of the
/// `ReplacingMergeTree(run_id)` would; `ok` is applied after that choice. Users are grouped by
/// the 64-bit `cityHash64` of their id, a number being much cheaper to group by than a string;
/// two of a million users share a hash with probability about 3·10⁻⁸, and a user whose hash is
/// shared keeps one entry per experiment.
pub fn entries_sql(members: &[Member<'_>], as_of_ms: i64) -> Statement {
    let mut values = Vec::new();
    let ids = || members.iter().map(|m| Value::Str(m.experiment.id.clone()));
    let experiment = list(ids(), &mut values);
    let codes = list(
        members.iter().flat_map(|m| {
            m.experiment
                .variants
                .iter()
                .map(|v| Value::Str(format!("{}:{}", m.experiment.id, v.name)))
        }),
        &mut values,
    );
    values.push(Value::Int(as_of_ms));
    let horizon_from = list(ids(), &mut values);
    let horizon_to = list(
        members
            .iter()
            .map(|m| Value::Int(tested_metric(m.experiment).map_or(0, horizon_ms))),
        &mut values,
    );
    values.push(Value::Int(as_of_ms));
    let index = |values: &mut Vec<Value>| {
        let from = list(ids(), values);
        let to = list(
            members
                .iter()
                .map(|m| Value::UInt(metric_index(m.experiment))),
            values,
        );
        format!("toUInt64(transform(experiment_id, {from}, {to}, toUInt64(1)))")
    };
    let x_index = index(&mut values);
    // The denominator is only read when a tested metric is a ratio (less to group and send).
    let ratios = members
        .iter()
        .any(|m| tested_metric(m.experiment).is_some_and(|x| x.kind == MetricKind::Ratio));
    let y = if ratios {
        format!("metric_denominators[{}]", index(&mut values))
    } else {
        "0.".to_owned()
    };
    let in_ids = list(ids(), &mut values).replace('[', "(").replace(']', ")");
    let base_from = list(ids(), &mut values);
    let base_to = list(
        members.iter().map(|m| Value::UInt(m.base_run_id)),
        &mut values,
    );
    let sql = format!(
        "SELECT groupArray((e, run_id, code, ok, x, y)) AS entries \
         FROM ( \
           SELECT user_id, toUInt32(indexOf({experiment}, experiment_id)) AS e, run_id, \
             toUInt32(indexOf({codes}, concat(experiment_id, ':', variant))) AS code, \
             toUInt8(variants = 1 AND t0_ms < ? \
               AND t0_ms + toInt64(transform(experiment_id, {horizon_from}, {horizon_to}, toInt64(0))) <= ?) AS ok, \
             metric_values[{x_index}] AS x, {y} AS y \
           FROM experiment_users \
           WHERE experiment_id IN {in_ids} \
             AND run_id >= toUInt64(transform(experiment_id, {base_from}, {base_to}, toUInt64(0))) \
         ) \
         GROUP BY cityHash64(user_id) \
         HAVING length(entries) > 1"
    );
    Statement { sql, values }
}

/// One entry of [`entries_sql`]: `(experiment, run_id, code, ok, x, y)`.
pub type Entry = (u32, u64, u32, u8, f64, f64);

#[derive(Row, Deserialize)]
struct UserEntries {
    entries: Vec<Entry>,
}

/// Sums of one metric over the users of a cell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Acc {
    n: u64,
    sx: f64,
    sxx: f64,
    sy: f64,
    syy: f64,
    sxy: f64,
}

impl Acc {
    fn add(&mut self, x: f64, y: f64) {
        self.n += 1;
        self.sx += x;
        self.sxx += x * x;
        self.sy += y;
        self.syy += y * y;
        self.sxy += x * y;
    }
}

/// One pair's cells: `[A's metric, B's metric]` per (variant of A, variant of B).
#[derive(Clone, Debug)]
struct PairCells {
    a: usize,
    b: usize,
    cells: Vec<[Acc; 2]>,
}

/// Accumulates the pairs' cells from users' entries.
#[derive(Debug)]
pub struct Pairs<'a> {
    members: Vec<Member<'a>>,
    /// Per code (0-based): (member index, variant index).
    decode: Vec<(usize, usize)>,
    /// Pair index for (a, b), a < b; `None` when their periods do not overlap.
    index: Vec<Vec<Option<usize>>>,
    pairs: Vec<PairCells>,
    scratch: Vec<(usize, usize, f64, f64)>,
}

fn overlaps(a: &Experiment, b: &Experiment, as_of: DateTime<Utc>) -> bool {
    let end = |e: &Experiment| e.end.unwrap_or(as_of).min(as_of);
    a.start < end(b) && b.start < end(a)
}

impl<'a> Pairs<'a> {
    /// The pairs of `members` whose periods overlap before `as_of`.
    pub fn new(members: &[Member<'a>], as_of: DateTime<Utc>) -> Self {
        let decode = members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| (0..m.experiment.variants.len()).map(move |v| (i, v)))
            .collect();
        let mut index = vec![vec![None; members.len()]; members.len()];
        let mut pairs = Vec::new();
        for a in 0..members.len() {
            for b in a + 1..members.len() {
                let (ea, eb) = (members[a].experiment, members[b].experiment);
                if overlaps(ea, eb, as_of) {
                    index[a][b] = Some(pairs.len());
                    pairs.push(PairCells {
                        a,
                        b,
                        cells: vec![[Acc::default(); 2]; ea.variants.len() * eb.variants.len()],
                    });
                }
            }
        }
        Pairs {
            members: members.to_vec(),
            decode,
            index,
            pairs,
            scratch: Vec::new(),
        }
    }

    /// Pairs to test.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair overlaps in time.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Adds one user's entries ([`Entry`]): per experiment the row of the newest `run_id`,
    /// counted when it is `ok` and its variant is in the definition.
    pub fn add_user(&mut self, entries: &mut [Entry]) {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        self.scratch.clear();
        let mut last = 0;
        for &(experiment, _, code, ok, x, y) in entries.iter() {
            if experiment == last {
                continue; // an older row of the same experiment
            }
            last = experiment;
            if ok == 0 {
                continue;
            }
            if let Some(&(m, v)) = (code as usize)
                .checked_sub(1)
                .and_then(|c| self.decode.get(c))
            {
                self.scratch.push((m, v, x, y));
            }
        }
        for i in 0..self.scratch.len() {
            for j in i + 1..self.scratch.len() {
                let (ma, va, xa, ya) = self.scratch[i];
                let (mb, vb, xb, yb) = self.scratch[j];
                let Some(p) = self.index[ma][mb] else {
                    continue;
                };
                let cols = self.members[mb].experiment.variants.len();
                let cell = &mut self.pairs[p].cells[va * cols + vb];
                cell[0].add(xa, ya);
                cell[1].add(xb, yb);
            }
        }
    }

    /// The tests of every pair, Holm-adjusted together, as rows of `run_id`.
    pub fn finish(&self, run: &RunInfo) -> Vec<InteractionRow> {
        let mut rows = Vec::new();
        for pair in &self.pairs {
            let (ea, eb) = (
                self.members[pair.a].experiment,
                self.members[pair.b].experiment,
            );
            let (Some(ma), Some(mb)) = (tested_metric(ea), tested_metric(eb)) else {
                continue;
            };
            rows.push(test(run, ea, eb, ma, pair, 0, false));
            if !same_definition(ma, mb) {
                rows.push(test(run, eb, ea, mb, pair, 1, true));
            }
        }
        let tested: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].error.is_empty())
            .collect();
        let p: Vec<f64> = tested.iter().map(|&i| rows[i].p_value).collect();
        if let Ok(adjusted) = adjust_p_values(&p, Correction::Holm) {
            for (&i, q) in tested.iter().zip(adjusted) {
                rows[i].p_value_adjusted = q;
                rows[i].flagged = u8::from(q < run.alpha);
            }
        }
        rows
    }
}

/// Run-level fields of the rows.
#[derive(Clone, Copy, Debug)]
pub struct RunInfo {
    pub run_id: u64,
    pub computed_at: u32,
    pub as_of_ms: i64,
    pub alpha: f64,
}

fn same_definition(a: &Metric, b: &Metric) -> bool {
    (
        a.kind,
        &a.event,
        &a.denominator,
        a.window,
        a.from_day,
        a.to_day,
    ) == (
        b.kind,
        &b.event,
        &b.denominator,
        b.window,
        b.from_day,
        b.to_day,
    )
}

fn kind_name(kind: MetricKind) -> String {
    MetricKind::ALL
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("conversion", |(n, _)| n)
        .to_owned()
}

/// Tests `metric` of `rows_exp` across the variants of `cols_exp`, from side `side` of the
/// pair's cells (`transposed` when `rows_exp` is the pair's second experiment).
fn test(
    run: &RunInfo,
    rows_exp: &Experiment,
    cols_exp: &Experiment,
    metric: &Metric,
    pair: &PairCells,
    side: usize,
    transposed: bool,
) -> InteractionRow {
    let (r, c) = (rows_exp.variants.len(), cols_exp.variants.len());
    let cell = |i: usize, j: usize| -> Acc {
        if transposed {
            pair.cells[j * r + i][side]
        } else {
            pair.cells[i * c + j][side]
        }
    };
    // control first in both directions
    let order = |e: &Experiment| -> Vec<usize> {
        let mut idx: Vec<usize> = (0..e.variants.len()).collect();
        idx.sort_by_key(|&i| e.variants[i].name != e.control);
        idx
    };
    let (ri, ci) = (order(rows_exp), order(cols_exp));
    let ratio = metric.kind == MetricKind::Ratio;
    let mut cell_users = Vec::new();
    let mut cell_values = Vec::new();
    let mut table = Vec::new();
    let mut error = String::new();
    for &i in &ri {
        let mut row = Vec::new();
        for &j in &ci {
            let a = cell(i, j);
            cell_users.push(a.n);
            let estimate = if ratio {
                CellEstimate::from_ratio(&RatioSummary {
                    n: a.n,
                    sum_num: a.sx,
                    sum_den: a.sy,
                    sum_num_sq: a.sxx,
                    sum_den_sq: a.syy,
                    sum_num_den: a.sxy,
                })
            } else {
                CellEstimate::from_mean(&MeanSummary::from_sums(a.n, a.sx, a.sxx))
            };
            match estimate {
                Ok(e) => {
                    cell_values.push(e.estimate);
                    row.push(e);
                }
                Err(_) => cell_values.push(0.0),
            }
        }
        table.push(row);
    }
    let overlap_users: u64 = cell_users.iter().sum();
    let smallest = cell_users.iter().copied().min().unwrap_or(0);
    let mut out = InteractionRow {
        run_id: run.run_id,
        computed_at: run.computed_at,
        as_of_ms: run.as_of_ms,
        experiment_a: rows_exp.id.clone(),
        experiment_b: cols_exp.id.clone(),
        metric: metric.name.clone(),
        kind: kind_name(metric.kind),
        variants_a: ri
            .iter()
            .map(|&i| rows_exp.variants[i].name.clone())
            .collect(),
        variants_b: ci
            .iter()
            .map(|&j| cols_exp.variants[j].name.clone())
            .collect(),
        cell_users,
        cell_values,
        overlap_users,
        chi2: 0.0,
        df: 0,
        p_value: 1.0,
        p_value_adjusted: 1.0,
        difference: None,
        ci_low: None,
        ci_high: None,
        flagged: 0,
        alpha: run.alpha,
        error: String::new(),
    };
    if smallest < MIN_CELL_USERS {
        error = format!(
            "too few users in both experiments: the smallest cell has {smallest} (at least {MIN_CELL_USERS} needed)"
        );
    } else {
        match interaction_test(&table, run.alpha) {
            Ok(t) => {
                out.chi2 = t.chi2;
                out.df = u32::try_from(t.df).unwrap_or(u32::MAX);
                out.p_value = t.p_value;
                out.p_value_adjusted = t.p_value;
                out.difference = t.difference;
                out.ci_low = t.ci.map(|i| i.low);
                out.ci_high = t.ci.map(|i| i.high);
            }
            Err(e) => error = e.to_string(),
        }
    }
    out.error = error;
    out
}

/// Runs the check over `members` and returns its rows (not yet written).
pub async fn check(
    ch: &ClickHouse,
    members: &[Member<'_>],
    run: &RunInfo,
    as_of: DateTime<Utc>,
) -> Result<Vec<InteractionRow>, AggregateError> {
    let mut pairs = Pairs::new(members, as_of);
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let statement = entries_sql(members, run.as_of_ms);
    let context = "read the users' experiments for the interaction check";
    let mut cursor = statement
        .query(ch.client())
        .fetch::<UserEntries>()
        .map_err(|e| AggregateError::query(context, &e))?;
    while let Some(mut user) = cursor
        .next()
        .await
        .map_err(|e| AggregateError::query(context, &e))?
    {
        pairs.add_user(&mut user.entries);
    }
    Ok(pairs.finish(run))
}

/// Whether the interaction check is due: the newest check (`results_interactions`) started at
/// least `every_secs` ago, or there is none.
pub async fn due(ch: &ClickHouse, every_secs: u64) -> Result<bool, AggregateError> {
    if every_secs == 0 {
        return Ok(true);
    }
    let newest: u64 = ch
        .client()
        .query(NEWEST_CHECK_SQL)
        .fetch_one()
        .await
        .map_err(|e| AggregateError::query("read the newest interaction check", &e))?;
    let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    Ok(newest == 0 || now.saturating_sub(newest) >= every_secs.saturating_mul(1000))
}

/// The run id (start, epoch ms) of the newest interaction check; 0 without one.
pub const NEWEST_CHECK_SQL: &str = "SELECT max(run_id) FROM results_interactions";

/// The check at the end of a pass over every experiment: the experiments randomized by user
/// (a unit's users are not independent, so they are left out), with the base runs the pass
/// left; writes the rows to `results_interactions` and logs flagged pairs.
pub async fn after_pass(
    ch: &ClickHouse,
    config: &AggregateConfig,
    due: &[&StoredExperiment],
    passes: &[ExperimentPass],
    as_of: DateTime<Utc>,
) -> Result<Vec<InteractionRow>, AggregateError> {
    let members: Vec<Member> = due
        .iter()
        .filter(|s| s.experiment.unit.is_none())
        .filter_map(|s| {
            let p = passes.iter().find(|p| p.experiment_id == s.experiment.id)?;
            Some(Member {
                experiment: &s.experiment,
                base_run_id: p.base_run_id,
            })
        })
        .collect();
    if members.len() < 2 {
        return Ok(Vec::new());
    }
    let started = std::time::Instant::now();
    let run = RunInfo {
        run_id: u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0),
        computed_at: u32::try_from(Utc::now().timestamp()).unwrap_or(0),
        as_of_ms: as_of.timestamp_millis(),
        alpha: config.interaction_alpha,
    };
    let rows = check(ch, &members, &run, as_of).await?;
    crate::store::insert(ch, "results_interactions", &rows).await?;
    let flagged: Vec<&InteractionRow> = rows.iter().filter(|r| r.flagged == 1).collect();
    for r in &flagged {
        tracing::warn!(
            experiment_a = %r.experiment_a,
            experiment_b = %r.experiment_b,
            metric = %r.metric,
            p_value_adjusted = r.p_value_adjusted,
            "interaction: the treatment effect of {} on {} differs by {} variant",
            r.experiment_a,
            r.metric,
            r.experiment_b
        );
    }
    tracing::info!(
        run_id = run.run_id,
        experiments = members.len(),
        tests = rows.iter().filter(|r| r.error.is_empty()).count(),
        not_tested = rows.iter().filter(|r| !r.error.is_empty()).count(),
        flagged = flagged.len(),
        elapsed_s = format!("{:.1}", started.elapsed().as_secs_f64()),
        "interaction check finished"
    );
    Ok(rows)
}

#[cfg(test)]
mod tests;
