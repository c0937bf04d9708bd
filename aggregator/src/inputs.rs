//! The inputs of a run, kept in `results_inputs` (migration 0009): the per-variant sufficient
//! statistics per day of first exposure and per segment value that [`crate::analyze`] turned
//! into the run's results. With them a run can be analysed again later, against another
//! baseline variant, and give exactly what the aggregator would have given: the user rows of
//! that time are gone (`experiment_users` keeps each user's newest row only), these are not.
//!
//! The users excluded for seeing several variants and the winsorization caps are in the run's
//! `experiment_runs` and `results` rows; [`to_inputs`] takes them from there.

use abacus_schema::ClickHouse;
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::analyze::Inputs;
use crate::model::{DayCell, SegmentCell, Sums};
use crate::AggregateError;

/// Reads the input rows of one run (`?` = experiment id, run id).
pub const SELECT_INPUTS: &str = "SELECT ?fields FROM results_inputs \
     WHERE experiment_id = ? AND run_id = ? ORDER BY cell, segment_key, segment_value, variant, day";

/// One row of `results_inputs`: a day cell (`cell = 1`) or a segment cell (`cell = 2`), with
/// one array element per metric for each field of [`Sums`].
#[derive(Clone, Debug, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct InputRow {
    pub run_id: u64,
    pub experiment_id: String,
    /// 1 = day cell, 2 = segment cell (`Enum8` on the server).
    pub cell: i8,
    pub variant: String,
    pub day: i64,
    pub segment_key: String,
    pub segment_value: String,
    pub users: u64,
    pub n: Vec<u64>,
    pub converted: Vec<u64>,
    pub sx: Vec<f64>,
    pub sxx: Vec<f64>,
    pub sy: Vec<f64>,
    pub syy: Vec<f64>,
    pub sxy: Vec<f64>,
    pub sp: Vec<f64>,
    pub spp: Vec<f64>,
    pub sxp: Vec<f64>,
}

const DAY: i8 = 1;
const SEGMENT: i8 = 2;

impl InputRow {
    fn new(run_id: u64, experiment_id: &str, variant: &str, users: u64, metrics: &[Sums]) -> Self {
        let field = |f: fn(&Sums) -> f64| metrics.iter().map(f).collect::<Vec<f64>>();
        InputRow {
            run_id,
            experiment_id: experiment_id.to_owned(),
            variant: variant.to_owned(),
            users,
            n: metrics.iter().map(|s| s.n).collect(),
            converted: metrics.iter().map(|s| s.converted).collect(),
            sx: field(|s| s.sx),
            sxx: field(|s| s.sxx),
            sy: field(|s| s.sy),
            syy: field(|s| s.syy),
            sxy: field(|s| s.sxy),
            sp: field(|s| s.sp),
            spp: field(|s| s.spp),
            sxp: field(|s| s.sxp),
            ..InputRow::default()
        }
    }

    fn sums(&self) -> Vec<Sums> {
        let at = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        (0..self.n.len())
            .map(|i| Sums {
                n: self.n[i],
                converted: self.converted.get(i).copied().unwrap_or(0),
                sx: at(&self.sx, i),
                sxx: at(&self.sxx, i),
                sy: at(&self.sy, i),
                syy: at(&self.syy, i),
                sxy: at(&self.sxy, i),
                sp: at(&self.sp, i),
                spp: at(&self.spp, i),
                sxp: at(&self.sxp, i),
            })
            .collect()
    }
}

/// The rows that keep `inputs` for run `run_id` of `experiment_id`.
pub fn rows(run_id: u64, experiment_id: &str, inputs: &Inputs) -> Vec<InputRow> {
    let days = inputs.days.iter().map(|c| InputRow {
        cell: DAY,
        day: c.day,
        ..InputRow::new(run_id, experiment_id, &c.variant, c.users, &c.metrics)
    });
    let segments = inputs.segments.iter().map(|c| InputRow {
        cell: SEGMENT,
        segment_key: c.key.clone(),
        segment_value: c.value.clone(),
        ..InputRow::new(run_id, experiment_id, &c.variant, c.users, &c.metrics)
    });
    days.chain(segments).collect()
}

/// The inputs kept in `rows`, with the run's excluded users and winsorization caps.
pub fn to_inputs(
    rows: &[InputRow],
    multiple_exposure_users: u64,
    caps: Vec<Option<f64>>,
) -> Inputs {
    let mut inputs = Inputs {
        multiple_exposure_users,
        caps,
        ..Inputs::default()
    };
    for r in rows {
        match r.cell {
            DAY => inputs.days.push(DayCell {
                variant: r.variant.clone(),
                day: r.day,
                users: r.users,
                metrics: r.sums(),
            }),
            _ => inputs.segments.push(SegmentCell {
                variant: r.variant.clone(),
                key: r.segment_key.clone(),
                value: r.segment_value.clone(),
                users: r.users,
                metrics: r.sums(),
            }),
        }
    }
    inputs
}

/// Writes the input rows of a run.
pub async fn write(ch: &ClickHouse, rows: &[InputRow]) -> Result<(), AggregateError> {
    if rows.is_empty() {
        return Ok(());
    }
    let context = format!("write {} rows to results_inputs", rows.len());
    let mut insert = ch
        .client()
        .insert::<InputRow>("results_inputs")
        .await
        .map_err(|e| AggregateError::query(&context, &e))?;
    for row in rows {
        insert
            .write(row)
            .await
            .map_err(|e| AggregateError::query(&context, &e))?;
    }
    insert
        .end()
        .await
        .map_err(|e| AggregateError::query(&context, &e))
}

/// The input rows of run `run_id` of `experiment_id` (empty for runs written before migration
/// 0009).
pub async fn read(
    ch: &ClickHouse,
    experiment_id: &str,
    run_id: u64,
) -> Result<Vec<InputRow>, AggregateError> {
    ch.client()
        .query(SELECT_INPUTS)
        .bind(experiment_id)
        .bind(run_id)
        .fetch_all::<InputRow>()
        .await
        .map_err(|e| AggregateError::query("read results_inputs", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_survive_the_round_trip() {
        let sums = |k: f64| Sums {
            n: 10,
            converted: 3,
            sx: k,
            sxx: k * k + 0.1,
            sy: 2.0,
            syy: 4.0,
            sxy: 1.5,
            sp: 0.3,
            spp: 0.09,
            sxp: 0.7,
        };
        let inputs = Inputs {
            days: vec![
                DayCell {
                    variant: "a".into(),
                    day: 20_000,
                    users: 10,
                    metrics: vec![sums(1.0), sums(2.5)],
                },
                DayCell {
                    variant: "b".into(),
                    day: 20_001,
                    users: 12,
                    metrics: vec![sums(0.1), sums(1e300)],
                },
            ],
            segments: vec![SegmentCell {
                variant: "b".into(),
                key: "region".into(),
                value: "eu".into(),
                users: 4,
                metrics: vec![sums(3.0), sums(4.0)],
            }],
            multiple_exposure_users: 7,
            caps: vec![None, Some(99.5)],
        };
        let rows = rows(5, "e", &inputs);
        assert_eq!(rows.len(), 3);
        let back = to_inputs(&rows, 7, vec![None, Some(99.5)]);
        assert_eq!(back.days, inputs.days);
        assert_eq!(back.segments, inputs.segments);
        assert_eq!(back.multiple_exposure_users, 7);
        assert_eq!(back.caps, inputs.caps);
    }
}
