//! Covariate balance: Pearson's chi-square test of independence on an r×c contingency
//! table, rows = variants, columns = values of a segment key (region, platform, …), cells =
//! users. Randomisation makes the segment mix the same in every variant; a small p-value
//! means it is not, and the results may be confounded.
//!
//! `χ² = Σᵢⱼ (Oᵢⱼ − Eᵢⱼ)²/Eᵢⱼ` with `Eᵢⱼ = Rᵢ·Cⱼ/N` (row total × column total / grand
//! total), `(r − 1)(c − 1)` degrees of freedom, no continuity (Yates) correction: the same
//! as `scipy.stats.chi2_contingency(table, correction=False)`.
//!
//! Conventions:
//! - Rows and columns whose total is 0 (a segment value no user has, a variant without
//!   users) are dropped before the test: they carry no information, and their expected
//!   counts of 0 would divide by zero. `r` and `c` count the rows and columns kept.
//! - If fewer than two rows or two columns remain (one variant, one segment value, an
//!   empty table) there is nothing to compare: the result is `chi2 = 0`, `df = 0`,
//!   `p_value = 1` (scipy gives the same for a 1×c table), not an error, so a balance check
//!   on a segment key with a single value passes instead of failing the run.

use serde::Serialize;

use crate::dist::chi2_sf;
use crate::error::{finite, Result, StatsError};
use crate::summary::MAX_COUNT;

/// Result of [`chi_square_independence`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndependenceTest {
    /// Pearson's statistic, without continuity correction.
    pub chi2: f64,
    /// Degrees of freedom `(r − 1)(c − 1)` over the rows and columns with a non-zero
    /// total; 0 when fewer than two of either remain (then `chi2 = 0`, `p_value = 1`).
    pub df: u64,
    pub p_value: f64,
    /// Expected counts `Rᵢ·Cⱼ/N` under independence, in the shape of the input table
    /// (0 in the rows and columns with a zero total, all 0 when the table is).
    pub expected: Vec<Vec<f64>>,
}

/// Tests whether the rows and columns of `table` (rows = variants, columns = segment
/// values, cells = users) are independent.
///
/// Errors when the rows have different lengths (naming the first row that differs from
/// row 0), a cell exceeds [`MAX_COUNT`] (naming the cell), or the grand total does (so every
/// total is exact as `f64` and the arithmetic below cannot overflow).
pub fn chi_square_independence(table: &[Vec<u64>]) -> Result<IndependenceTest> {
    let columns = table.first().map_or(0, Vec::len);
    let mut row_totals = Vec::with_capacity(table.len());
    for (row, cells) in table.iter().enumerate() {
        if cells.len() != columns {
            return Err(StatsError::RaggedTable {
                name: "table",
                row,
                len: cells.len(),
                expected: columns,
            });
        }
        let mut total = 0u64;
        for (column, &count) in cells.iter().enumerate() {
            if count > MAX_COUNT {
                return Err(StatsError::InvalidCell {
                    name: "table",
                    row,
                    column,
                    value: count,
                    expected: "at most 2^53",
                });
            }
            total = total.saturating_add(count);
        }
        row_totals.push(total);
    }
    let total = row_totals
        .iter()
        .fold(0u64, |sum, &r| sum.saturating_add(r));
    if total > MAX_COUNT {
        return Err(StatsError::OutOfRange {
            name: "table total",
            value: total as f64,
            expected: "at most 2^53",
        });
    }
    // Every cell and total is now at most 2^53: sums cannot overflow and products of two
    // fit in i128.
    let mut column_totals = vec![0u64; columns];
    for cells in table {
        for (sum, &count) in column_totals.iter_mut().zip(cells) {
            *sum += count;
        }
    }

    let n = total as f64;
    let expected: Vec<Vec<f64>> = row_totals
        .iter()
        .map(|&r| {
            column_totals
                .iter()
                .map(|&c| {
                    if total == 0 {
                        0.0
                    } else {
                        r as f64 * c as f64 / n
                    }
                })
                .collect()
        })
        .collect();

    let kept_rows = row_totals.iter().filter(|&&r| r > 0).count() as u64;
    let kept_columns = column_totals.iter().filter(|&&c| c > 0).count() as u64;
    if kept_rows < 2 || kept_columns < 2 {
        return Ok(IndependenceTest {
            chi2: 0.0,
            df: 0,
            p_value: 1.0,
            expected,
        });
    }

    let mut chi2 = 0.0;
    for ((cells, &r), expected_row) in table.iter().zip(&row_totals).zip(&expected) {
        if r == 0 {
            continue;
        }
        for ((&observed, &c), &e) in cells.iter().zip(&column_totals).zip(expected_row) {
            if c == 0 {
                continue;
            }
            // O − E = (O·N − R·C)/N with the numerator exact in integers, so tables close
            // to independence lose no precision to cancellation.
            let diff = i128::from(observed) * i128::from(total) - i128::from(r) * i128::from(c);
            let d = diff as f64 / n;
            chi2 += d * d / e;
        }
    }
    let chi2 = finite("chi-square statistic", chi2)?;
    let df = (kept_rows - 1) * (kept_columns - 1);
    let p_value = finite("p-value", chi2_sf(chi2, df as f64))?;
    Ok(IndependenceTest {
        chi2,
        df,
        p_value,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::ProportionSummary;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn two_by_two_matches_scipy() {
        // scipy.stats.chi2_contingency([[10, 20], [30, 25]], correction=False), scipy 1.17.1
        let r = chi_square_independence(&[vec![10, 20], vec![30, 25]]).unwrap();
        assert!(close(r.chi2, 3.505892255892255, 1e-12), "{r:?}");
        assert!(close(r.p_value, 0.06115089757606777, 1e-10), "{r:?}");
        assert_eq!(r.df, 1);
        assert!(close(r.expected[0][0], 40.0 * 30.0 / 85.0, 1e-15));
    }

    #[test]
    fn two_by_two_is_the_squared_pooled_z_test() {
        // arms × (converted, not converted): Pearson's χ² equals z² of the pooled z-test.
        let (c, t) = (
            ProportionSummary::new(10_000, 1_000),
            ProportionSummary::new(10_000, 1_100),
        );
        let z = crate::proportions::z_test(&c, &t).unwrap();
        let r = chi_square_independence(&[vec![1_000, 9_000], vec![1_100, 8_900]]).unwrap();
        assert!(close(r.chi2, z.z * z.z, 1e-12), "{r:?} {z:?}");
        assert!(close(r.p_value, z.p_value, 1e-9), "{r:?} {z:?}");
    }

    #[test]
    fn zero_rows_and_columns_are_dropped() {
        let plain = chi_square_independence(&[vec![10, 20], vec![30, 25]]).unwrap();
        let padded =
            chi_square_independence(&[vec![10, 0, 20], vec![0, 0, 0], vec![30, 0, 25]]).unwrap();
        assert_eq!(padded.df, 1);
        assert!(close(padded.chi2, plain.chi2, 1e-15));
        assert!(close(padded.p_value, plain.p_value, 1e-15));
        assert_eq!(padded.expected.len(), 3);
        assert_eq!(padded.expected[1], vec![0.0; 3]);
        assert_eq!(padded.expected[0][1], 0.0);
        assert_eq!(padded.expected[2][2], plain.expected[1][1]);
    }

    #[test]
    fn nothing_to_compare_gives_p_one() {
        let empty: Vec<Vec<u64>> = Vec::new();
        for table in [
            empty,
            vec![vec![3, 5, 7]],
            vec![vec![5, 0], vec![7, 0]],
            vec![vec![0, 0], vec![0, 0]],
            vec![vec![], vec![]],
            vec![vec![0, 4, 0], vec![0, 0, 0], vec![0, 9, 0]],
        ] {
            let r = chi_square_independence(&table).unwrap();
            assert_eq!((r.chi2, r.df, r.p_value), (0.0, 0, 1.0), "{table:?}");
            assert_eq!(r.expected.len(), table.len());
            assert!(r.expected.iter().flatten().all(|e| e.is_finite()));
        }
        let r = chi_square_independence(&[vec![5, 0], vec![7, 0]]).unwrap();
        assert_eq!(r.expected, vec![vec![5.0, 0.0], vec![7.0, 0.0]]);
    }

    #[test]
    fn independent_table_has_zero_statistic() {
        let r = chi_square_independence(&[vec![10, 20, 30], vec![20, 40, 60]]).unwrap();
        assert_eq!(r.chi2, 0.0);
        assert_eq!(r.df, 2);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn extreme_counts_stay_finite() {
        let half = MAX_COUNT / 2;
        let r = chi_square_independence(&[vec![half, 0], vec![0, half]]).unwrap();
        assert_eq!(r.chi2, MAX_COUNT as f64);
        assert_eq!(r.p_value, 0.0);
        let r = chi_square_independence(&[vec![MAX_COUNT, 0], vec![0, 0]]).unwrap();
        assert_eq!((r.chi2, r.df, r.p_value), (0.0, 0, 1.0));
    }

    #[test]
    fn bad_input() {
        let e = chi_square_independence(&[vec![1, 2, 3], vec![4, 5, 6], vec![7, 8]]).unwrap_err();
        assert_eq!(e.to_string(), "table row 2 has 2 values but row 0 has 3");
        let e = chi_square_independence(&[vec![1, 2], vec![4, MAX_COUNT + 1]]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "table[1][1] must be at most 2^53, got 9007199254740993"
        );
        let e = chi_square_independence(&[vec![MAX_COUNT, 1], vec![4, 5]]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("table total must be at most 2^53"),
            "{e}"
        );
        let e = chi_square_independence(&[vec![MAX_COUNT; 3], vec![MAX_COUNT; 3]]).unwrap_err();
        assert!(matches!(e, StatsError::OutOfRange { .. }), "{e}");
    }
}
