//! Exact, order-independent floating-point sums and the exact quantile behind winsorization.
//!
//! Sums of non-integer metric values (revenue) are computed here instead of in ClickHouse:
//! a `sum()` over floats depends on the order in which rows meet, which depends on parts,
//! threads and merges, so a full pass and an incremental pass over the same users could
//! differ in the last bits. [`ExactSum`] keeps the exact sum as non-overlapping partials
//! (Shewchuk's algorithm) and rounds it once, correctly, at the end (the final step of
//! CPython's `math.fsum`), so the result depends only on the multiset of values added.

/// An exact running sum of `f64` values.
#[derive(Clone, Debug, Default)]
pub struct ExactSum {
    /// Non-overlapping partials, increasing in magnitude; their exact sum is the sum so far.
    partials: Vec<f64>,
    /// Plain sum, the answer once a value or an intermediate result is not finite.
    naive: f64,
    /// Whether that happened.
    not_finite: bool,
}

impl ExactSum {
    /// An empty sum (0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` exactly.
    pub fn add(&mut self, value: f64) {
        self.naive += value;
        if self.not_finite {
            return;
        }
        if !value.is_finite() {
            self.not_finite = true;
            return;
        }
        let mut x = value;
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        if !x.is_finite() {
            self.not_finite = true;
            return;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    /// The exact sum rounded to the nearest `f64` (ties to even), whatever the order of the
    /// additions.
    pub fn value(&self) -> f64 {
        if self.not_finite {
            return self.naive;
        }
        let p = &self.partials;
        let mut n = p.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        // Half-even rounding across partials: when the rest below `lo` pushes the same way,
        // the tie is not a tie.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }
}

/// The exact sum of `values`.
pub fn sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut s = ExactSum::new();
    values.into_iter().for_each(|v| s.add(v));
    s.value()
}

/// ClickHouse's `quantileExact(level)`: the element at position `⌊level · n⌋` of the sorted
/// values (the last one for `level ≥ 1`); `None` without values. Reorders `values`.
pub fn quantile_exact(values: &mut [f64], level: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = if level < 1.0 {
        // Truncation, as the server's `size_t n = level * size`.
        ((level * values.len() as f64) as usize).min(values.len() - 1)
    } else {
        values.len() - 1
    };
    let (_, nth, _) = values.select_nth_unstable_by(n, f64::total_cmp);
    Some(*nth)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values: CPython's `math.fsum` (Lib/test/test_math.py, `testFsum`), checked
    /// with Python 3.11's `math.fsum`.
    #[test]
    fn matches_python_fsum() {
        let p53 = 2f64.powi(53);
        let cases: Vec<(Vec<f64>, f64)> = vec![
            (vec![], 0.0),
            (vec![0.0], 0.0),
            (vec![1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50], 1e-100),
            (vec![p53, -0.5, -2f64.powi(-54)], p53 - 1.0),
            (vec![p53, 1.0, 2f64.powi(-100)], p53 + 2.0),
            (vec![p53 + 10.0, 1.0, 2f64.powi(-100)], p53 + 12.0),
            (vec![p53 - 4.0, 0.5, 2f64.powi(-54)], p53 - 3.0),
            (vec![1e16, 1.0, 1e-16], 10_000_000_000_000_002.0),
            (
                vec![
                    1e16 - 2.0,
                    1.0 - 2f64.powi(-53),
                    -(1e16 - 2.0),
                    -(1.0 - 2f64.powi(-53)),
                ],
                0.0,
            ),
            (vec![0.1; 10], 1.0),
        ];
        for (values, expected) in cases {
            assert_eq!(
                sum(values.clone()).to_bits(),
                expected.to_bits(),
                "{values:?}"
            );
        }
        // fsum(1/n for n in 1..=1000) = 0x1.df11f45f4e61ap+2
        let harmonic = sum((1..=1000).map(|n| 1.0 / f64::from(n)));
        assert_eq!(harmonic.to_bits(), 0x401d_f11f_45f4_e61a);
        // fsum((-1)**n/n for n in 1..=1000) = -0x1.62a2af1bd3624p-1
        let alternating = sum((1..=1000).map(|n| (-1f64).powi(n) / f64::from(n)));
        assert_eq!(alternating.to_bits(), 0xbfe6_2a2a_f1bd_3624);
    }

    #[test]
    fn order_does_not_change_a_bit() {
        // Revenue-like values of very different magnitudes, in many orders.
        let mut values: Vec<f64> = (0..2_000u32)
            .map(|i| {
                let u = f64::from(i.wrapping_mul(2_654_435_761) % 100_000) / 100_000.0;
                (u * 12.0).exp() / 7.0 - if i % 7 == 0 { 3.3 } else { 0.0 }
            })
            .collect();
        let expected = sum(values.iter().copied());
        let naive_forward: f64 = values.iter().sum();
        let mut naive_differs = false;
        for round in 0..20u32 {
            // A deterministic shuffle.
            let len = values.len();
            for i in (1..len).rev() {
                let j = (i.wrapping_mul(31).wrapping_add(round as usize * 17)) % (i + 1);
                values.swap(i, j);
            }
            assert_eq!(sum(values.iter().copied()).to_bits(), expected.to_bits());
            naive_differs |= values.iter().sum::<f64>().to_bits() != naive_forward.to_bits();
        }
        // The plain sum does depend on the order (which is why this module exists).
        assert!(naive_differs);
    }

    #[test]
    fn non_finite_values_fall_back_to_the_plain_sum() {
        assert!(sum([1.0, f64::INFINITY]).is_infinite());
        assert!(sum([f64::MAX, f64::MAX]).is_infinite());
        assert!(sum([1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn quantile_follows_the_servers_definition() {
        // quantileExact(0.5)([1, 2, 3, 4]) = 3 (position ⌊0.5·4⌋ = 2), 0.999 of 10 → 10th.
        assert_eq!(quantile_exact(&mut [4.0, 1.0, 3.0, 2.0], 0.5), Some(3.0));
        let mut ten: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(quantile_exact(&mut ten, 0.999), Some(10.0));
        assert_eq!(quantile_exact(&mut ten, 0.9), Some(10.0));
        assert_eq!(quantile_exact(&mut ten, 0.89), Some(9.0));
        assert_eq!(quantile_exact(&mut ten, 1.0), Some(10.0));
        assert_eq!(quantile_exact(&mut ten, 0.0), Some(1.0));
        assert_eq!(quantile_exact(&mut [], 0.5), None);
    }
}
