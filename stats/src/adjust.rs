//! Adjusted p-values for many comparisons (several metrics or variants in one
//! experiment): Bonferroni and Holm control the family-wise error rate,
//! Benjamini–Hochberg the false discovery rate. Results are in input order and capped at 1.

use serde::Serialize;

use crate::error::{Result, StatsError};

/// A multiple-comparison correction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// `min(1, m·p)`.
    Bonferroni,
    /// Holm's step-down: sorted ascending, `max_{j≤i} min(1, (m − j)·p_(j))` (j from 0).
    Holm,
    /// Benjamini–Hochberg step-up: sorted ascending, `min_{j≥i} min(1, m·p_(j)/(j + 1))`.
    BenjaminiHochberg,
}

/// Adjusts `p_values` (each in [0, 1], at least one) for `method`, in input order.
pub fn adjust_p_values(p_values: &[f64], method: Correction) -> Result<Vec<f64>> {
    if p_values.is_empty() {
        return Err(StatsError::TooFewValues {
            name: "p-values",
            len: 0,
            min: 1,
        });
    }
    for (index, &p) in p_values.iter().enumerate() {
        if !(0.0..=1.0).contains(&p) {
            return Err(StatsError::InvalidElement {
                name: "p-values",
                index,
                value: p,
                expected: "between 0 and 1",
            });
        }
    }
    let m = p_values.len() as f64;
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; p_values.len()];
    match method {
        Correction::Bonferroni => {
            for (a, &p) in adjusted.iter_mut().zip(p_values) {
                *a = (m * p).min(1.0);
            }
        }
        Correction::Holm => {
            let mut running = 0.0_f64;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max(((m - rank as f64) * p_values[i]).min(1.0));
                adjusted[i] = running;
            }
        }
        Correction::BenjaminiHochberg => {
            let mut running = 1.0_f64;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min((m * p_values[i] / (rank as f64 + 1.0)).min(1.0));
                // never below the raw p-value (m·p/m can round down by an ulp)
                adjusted[i] = running.max(p_values[i]);
            }
        }
    }
    Ok(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn issue_example() {
        let p = [0.01, 0.04, 0.03];
        let b = adjust_p_values(&p, Correction::Bonferroni).unwrap();
        assert!(close(&b, &[0.03, 0.12, 0.09]), "{b:?}");
        let h = adjust_p_values(&p, Correction::Holm).unwrap();
        assert!(close(&h, &[0.03, 0.06, 0.06]), "{h:?}");
        let bh = adjust_p_values(&p, Correction::BenjaminiHochberg).unwrap();
        assert!(close(&bh, &[0.03, 0.04, 0.04]), "{bh:?}");
    }

    #[test]
    fn capped_and_validated() {
        let b = adjust_p_values(&[0.6, 0.9], Correction::Bonferroni).unwrap();
        assert_eq!(b, vec![1.0, 1.0]);
        assert!(adjust_p_values(&[], Correction::Holm).is_err());
        let e = adjust_p_values(&[0.1, 1.5], Correction::Holm).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p-values[1] must be between 0 and 1, got 1.5"
        );
        assert!(adjust_p_values(&[f64::NAN], Correction::Holm).is_err());
    }
}
