//! Invariants that must hold for any input (proptest): p-values in [0, 1], intervals
//! contain their point estimate, swapping arms flips the sign of lifts and keeps p-values,
//! more data never widens a Wald interval at a fixed rate, the test of independence does
//! not care which way round the table is or in which order its rows come, and no input
//! makes a function panic or return NaN/infinity.

use abacus_stats::*;
use proptest::prelude::*;

fn unit(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

fn mirrored(a: Interval, b: Interval) -> bool {
    let tol = 1e-12 * (1.0 + a.low.abs().max(a.high.abs()));
    (a.low + b.high).abs() <= tol && (a.high + b.low).abs() <= tol
}

fn same_p(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.max(b) + 1e-300
}

/// An arm with 1..=max users and any number of conversions up to the users.
fn arm(max: u64) -> impl Strategy<Value = ProportionSummary> {
    (1..=max).prop_flat_map(|n| (0..=n).prop_map(move |x| ProportionSummary::new(n, x)))
}

fn mean_arm() -> impl Strategy<Value = MeanSummary> {
    (2u64..100_000, -1e4..1e4f64, 0.0..1e3f64).prop_map(|(n, m, sd)| MeanSummary::new(n, m, sd))
}

fn ratio_arm() -> impl Strategy<Value = RatioSummary> {
    // Built from a few per-user (numerator, denominator) rows so the moments are consistent.
    prop::collection::vec((0.0..500.0f64, 0u32..5), 2..40).prop_filter_map(
        "denominator sum is zero",
        |rows| {
            let mut s = RatioSummary {
                n: rows.len() as u64,
                ..RatioSummary::default()
            };
            for (num, den) in rows {
                let den = f64::from(den);
                s.sum_num += num;
                s.sum_den += den;
                s.sum_num_sq += num * num;
                s.sum_den_sq += den * den;
                s.sum_num_den += num * den;
            }
            (s.sum_den > 0.0).then_some(s)
        },
    )
}

fn cuped_arm() -> impl Strategy<Value = CupedSummary> {
    // Per-user (y, x) rows, so the sums are consistent; x is 0 for about a third of users.
    prop::collection::vec(
        (0.0..200.0f64, prop_oneof![Just(0.0), 0.0..200.0f64]),
        2..40,
    )
    .prop_map(|rows| {
        let mut s = CupedSummary {
            n: rows.len() as u64,
            ..CupedSummary::default()
        };
        for (y, x) in rows {
            s.sum_y += y;
            s.sum_y2 += y * y;
            s.sum_x += x;
            s.sum_x2 += x * x;
            s.sum_xy += x * y;
        }
        s
    })
}

/// A contingency table (1–6 rows × 1–6 columns) with, in turn, small counts (moderate
/// p-values), large ones, and zero cells often enough to empty whole rows and columns.
fn table() -> impl Strategy<Value = Vec<Vec<u64>>> {
    (
        1usize..=6,
        1usize..=6,
        prop_oneof![Just(8u64), Just(200), Just(10_000_000)],
    )
        .prop_flat_map(|(rows, columns, max)| {
            let cell = prop_oneof![1 => Just(0u64), 3 => 0..=max];
            prop::collection::vec(prop::collection::vec(cell, columns), rows)
        })
}

fn transpose(table: &[Vec<u64>]) -> Vec<Vec<u64>> {
    let columns = table.first().map_or(0, Vec::len);
    (0..columns)
        .map(|j| table.iter().map(|row| row[j]).collect())
        .collect()
}

fn same_chi2(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn alpha() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.05), Just(0.01), 0.001..0.5f64]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn proportions_invariants(c in arm(1_000_000), t in arm(1_000_000), alpha in alpha()) {
        let r = compare_proportions(&c, &t, alpha).unwrap();
        prop_assert!(unit(r.p_value));
        prop_assert!(r.ci_abs.contains(r.abs_lift), "{r:?}");
        if let (Some(rel), Some(ci)) = (r.rel_lift, r.ci_rel) {
            prop_assert!(ci.contains(rel), "{r:?}");
        }
        let z = z_test(&c, &t).unwrap();
        prop_assert!(unit(z.p_value));
        prop_assert!(unit(fisher_exact(&c, &t).unwrap()));
        let w = wald_interval(&c, &t, alpha).unwrap();
        prop_assert!(w.contains(r.abs_lift));
        let n = newcombe_interval(&c, &t, alpha).unwrap();
        prop_assert!(n.contains(r.abs_lift));
        for s in [c, t] {
            let rate = s.rate().unwrap();
            let wil = wilson_interval(&s, alpha).unwrap();
            prop_assert!(wil.contains(rate) && wil.low >= 0.0 && wil.high <= 1.0, "{wil:?} {rate}");
        }

        // Swapping arms flips the lifts and keeps the p-values.
        let s = compare_proportions(&t, &c, alpha).unwrap();
        prop_assert_eq!(s.abs_lift, -r.abs_lift);
        prop_assert_eq!(s.z, -r.z);
        prop_assert!(same_p(s.p_value, r.p_value), "{} vs {}", s.p_value, r.p_value);
        prop_assert!(mirrored(s.ci_abs, r.ci_abs), "{:?} vs {:?}", s.ci_abs, r.ci_abs);
        if let (Some(a), Some(b)) = (r.rel_lift, s.rel_lift) {
            prop_assert!(a.signum() == -b.signum() || (a == 0.0 && b == 0.0));
        }
        prop_assert!(mirrored(wald_interval(&t, &c, alpha).unwrap(), w));
        prop_assert!(mirrored(newcombe_interval(&t, &c, alpha).unwrap(), n));
    }

    #[test]
    fn means_invariants(c in mean_arm(), t in mean_arm(), alpha in alpha()) {
        prop_assume!(c.sd > 0.0 || t.sd > 0.0);
        let r = compare_means(&c, &t, alpha).unwrap();
        prop_assert!(unit(r.p_value));
        prop_assert!(r.df >= 1.0 - 1e-9, "{r:?}");
        prop_assert!(r.ci_abs.contains(r.abs_lift), "{r:?}");
        if let (Some(rel), Some(ci)) = (r.rel_lift, r.ci_rel) {
            prop_assert!(ci.contains(rel));
        }
        let s = compare_means(&t, &c, alpha).unwrap();
        prop_assert_eq!(s.abs_lift, -r.abs_lift);
        prop_assert_eq!(s.t, -r.t);
        prop_assert!(same_p(s.p_value, r.p_value));
        prop_assert!(mirrored(s.ci_abs, r.ci_abs));
        // Relative lifts flip sign when the means are positive (for a negative control
        // mean "relative lift" has no direction of its own).
        if let (Some(a), Some(b)) = (r.rel_lift, s.rel_lift) {
            if c.mean > 0.0 && t.mean > 0.0 {
                prop_assert!(a.signum() == -b.signum() || (a == 0.0 && b == 0.0));
            }
        }
    }

    #[test]
    fn ratio_invariants(c in ratio_arm(), t in ratio_arm(), alpha in alpha()) {
        let Ok(r) = compare_ratios(&c, &t, alpha) else {
            // only the degenerate "neither ratio varies but they differ" case may fail
            prop_assert!(ratio_estimate(&c, Arm::Control).unwrap().1 == 0.0);
            return Ok(());
        };
        prop_assert!(unit(r.p_value));
        prop_assert!(r.ci_abs.contains(r.abs_lift));
        if let (Some(rel), Some(ci)) = (r.rel_lift, r.ci_rel) {
            prop_assert!(ci.contains(rel));
        }
        let s = compare_ratios(&t, &c, alpha).unwrap();
        prop_assert_eq!(s.abs_lift, -r.abs_lift);
        prop_assert!(same_p(s.p_value, r.p_value));
        prop_assert!(mirrored(s.ci_abs, r.ci_abs));
    }

    /// CUPED: the interval contains the estimate, the adjusted means differ by it, swapping
    /// arms flips the lift and keeps the p-value and θ; the variance reduction is at most 1.
    #[test]
    fn cuped_invariants(c in cuped_arm(), t in cuped_arm(), alpha in alpha()) {
        if let Ok(r) = compare_cuped(&c, &t, ValueKind::Continuous, alpha) {
            prop_assert!(unit(r.p_value), "{r:?}");
            prop_assert!(r.ci_abs.contains(r.abs_lift), "{r:?}");
            prop_assert!(r.variance_reduction <= 1.0, "{r:?}");
            let tol = 1e-9 * (1.0 + r.treatment_mean.abs());
            prop_assert!((r.treatment_mean - r.control_mean - r.abs_lift).abs() <= tol, "{r:?}");
            let s = compare_cuped(&t, &c, ValueKind::Continuous, alpha).unwrap();
            prop_assert!(same_p(r.p_value, s.p_value), "{r:?} {s:?}");
            prop_assert!((r.theta - s.theta).abs() <= 1e-9 * (1.0 + r.theta.abs()));
            prop_assert!(mirrored(r.ci_abs, s.ci_abs), "{r:?} {s:?}");
        }
    }

    /// Bayes: chance to win in [0, 1], risks ≥ 0, credible intervals around the posterior
    /// mean; "lower is better" turns the chance to win into its complement and swaps risks.
    #[test]
    fn bayes_invariants(c in arm(1_000_000), t in arm(1_000_000), alpha in alpha(),
                        prior_sd in prop_oneof![Just(None), (0.001..1.0f64).prop_map(Some)]) {
        let config = BayesConfig {
            alpha,
            prior: prior_sd.map(|sd| NormalPrior { mean: 0.0, sd }),
            lower_is_better: false,
        };
        if let Ok(r) = bayes_proportions(&c, &t, &config) {
            prop_assert!(unit(r.chance_to_win), "{r:?}");
            prop_assert!(r.risk_control >= 0.0 && r.risk_treatment >= 0.0, "{r:?}");
            prop_assert!(r.ci_rel.contains(r.rel_lift) && r.ci_abs.contains(r.abs_lift), "{r:?}");
            let lower = BayesConfig { lower_is_better: true, ..config };
            let s = bayes_proportions(&c, &t, &lower).unwrap();
            prop_assert!((r.chance_to_win + s.chance_to_win - 1.0).abs() < 1e-12, "{r:?} {s:?}");
            prop_assert!(r.risk_control == s.risk_treatment && r.risk_treatment == s.risk_control);
        }
    }

    #[test]
    fn sequential_invariants(c in arm(1_000_000), t in arm(1_000_000), alpha in alpha(),
                             mixing in 1e-6..10.0f64) {
        let config = SequentialConfig { alpha, mixing_variance: mixing, expected_users: None };
        let r = sequential_proportions(&c, &t, &config).unwrap();
        prop_assert!(unit(r.p_value));
        prop_assert!(r.ci.contains(r.estimate));
        let s = sequential_proportions(&t, &c, &config).unwrap();
        prop_assert!(same_p(s.p_value, r.p_value));
        prop_assert!(mirrored(s.ci, r.ci));
        // The sequential p-value is never below the fixed-horizon one.
        prop_assert!(r.p_value >= z_test(&c, &t).unwrap().p_value * (1.0 - 1e-12));
    }

    #[test]
    fn wald_never_widens_with_more_data(c in arm(100_000), t in arm(100_000), k in 1u64..1000,
                                        alpha in alpha()) {
        let scale = |s: ProportionSummary, k: u64| ProportionSummary::new(s.users * k, s.conversions * k);
        let small = wald_interval(&c, &t, alpha).unwrap();
        let big = wald_interval(&scale(c, k), &scale(t, k), alpha).unwrap();
        prop_assert!(big.width() <= small.width() * (1.0 + 1e-12), "{small:?} {big:?}");
        let big2 = wald_interval(&scale(c, k + 1), &scale(t, k), alpha).unwrap();
        prop_assert!(big2.width() <= big.width() * (1.0 + 1e-12));
    }

    #[test]
    fn welch_interval_never_widens_with_more_data(c in mean_arm(), t in mean_arm(), k in 1u64..100,
                                                  alpha in alpha()) {
        prop_assume!(c.sd > 0.0 || t.sd > 0.0);
        let scale = |s: MeanSummary| MeanSummary::new(s.n * k, s.mean, s.sd);
        let small = compare_means(&c, &t, alpha).unwrap().ci_abs;
        let big = compare_means(&scale(c), &scale(t), alpha).unwrap().ci_abs;
        prop_assert!(big.width() <= small.width() * (1.0 + 1e-9), "{small:?} {big:?}");
    }

    #[test]
    fn other_p_values_in_unit_interval(
        observed in prop::collection::vec(0u64..1_000_000, 2..8),
        p in prop::collection::vec(0.0..=1.0f64, 1..30),
    ) {
        let weights: Vec<f64> = observed.iter().enumerate().map(|(i, _)| 1.0 + i as f64).collect();
        if let Ok(r) = srm_test(&observed, &weights, DEFAULT_SRM_THRESHOLD) {
            prop_assert!(unit(r.p_value) && r.chi2 >= 0.0);
        }
        for method in [Correction::Bonferroni, Correction::Holm, Correction::BenjaminiHochberg] {
            let adj = adjust_p_values(&p, method).unwrap();
            for (a, raw) in adj.iter().zip(&p) {
                prop_assert!(unit(*a) && *a >= *raw, "{method:?} {a} < {raw}");
            }
        }
    }

    #[test]
    fn independence_invariants(
        (table, shuffled) in table().prop_flat_map(|t| (Just(t.clone()), Just(t).prop_shuffle())),
    ) {
        let r = chi_square_independence(&table).unwrap();
        prop_assert!(unit(r.p_value) && r.chi2 >= 0.0, "{r:?}");
        prop_assert!(r.df > 0 || (r.chi2 == 0.0 && r.p_value == 1.0), "{r:?}");
        prop_assert!(r.expected.iter().flatten().all(|e| e.is_finite() && *e >= 0.0));

        // Variants as columns instead of rows: the same test.
        let t = chi_square_independence(&transpose(&table)).unwrap();
        prop_assert_eq!(t.df, r.df);
        prop_assert!(same_chi2(t.chi2, r.chi2), "{} vs {}", t.chi2, r.chi2);
        prop_assert!(same_p(t.p_value, r.p_value), "{} vs {}", t.p_value, r.p_value);
        for (i, row) in r.expected.iter().enumerate() {
            for (j, e) in row.iter().enumerate() {
                prop_assert!(same_chi2(t.expected[j][i], *e));
            }
        }

        // Variants in another order: the same test.
        let s = chi_square_independence(&shuffled).unwrap();
        prop_assert_eq!(s.df, r.df);
        prop_assert!(same_chi2(s.chi2, r.chi2), "{} vs {}", s.chi2, r.chi2);
        prop_assert!(same_p(s.p_value, r.p_value), "{} vs {}", s.p_value, r.p_value);
    }

    /// Arbitrary, often invalid input: every function returns an error or finite numbers,
    /// and never panics.
    #[test]
    fn never_nan_never_panics(
        nc in any::<u64>(), xc in any::<u64>(), nt in 0u64..10, xt in any::<u64>(),
        big in (1u64 << 52)..u64::MAX,
        m in any::<f64>(), sd in any::<f64>(), alpha in any::<f64>(), power in any::<f64>(),
        ratio in any::<f64>(),
    ) {
        let finite = |xs: &[f64]| xs.iter().all(|x| x.is_finite());
        let (c, t) = (ProportionSummary::new(nc, xc), ProportionSummary::new(nt, xt % 20));
        if let Ok(r) = compare_proportions(&c, &t, alpha) {
            prop_assert!(finite(&[r.p_value, r.z, r.ci_abs.low, r.ci_abs.high, r.abs_lift]));
        }
        // Huge counts: errors or finite results, no overflow.
        let (hc, ht) = (ProportionSummary::new(big, big / 2), ProportionSummary::new(big, big - 1));
        if let Ok(r) = compare_proportions(&hc, &ht, 0.05) {
            prop_assert!(finite(&[r.p_value, r.z, r.ci_abs.low, r.ci_abs.high]));
        }
        if let Ok(r) = sequential_proportions(&hc, &ProportionSummary::new(nt + 1, xt % (nt + 2)), &SequentialConfig::default()) {
            prop_assert!(finite(&[r.p_value, r.ci.low, r.ci.high]));
        }
        let (a, b) = (MeanSummary::new(nc % 50, m, sd), MeanSummary::new(nt, -m, sd * 0.5));
        if let Ok(r) = compare_means(&a, &b, alpha) {
            prop_assert!(finite(&[r.p_value, r.t, r.df, r.ci_abs.low, r.ci_abs.high]));
        }
        if let Ok(r) = sequential_means(&a, &b, &SequentialConfig { alpha, mixing_variance: power, expected_users: Some(nc + 1) }) {
            prop_assert!(finite(&[r.p_value, r.ci.low, r.ci.high]));
        }
        for formula in [Formula::Pooled, Formula::Textbook] {
            let design = Design { alpha, power, ratio, formula };
            if let Ok(n) = sample_size_means(sd, m, &design) {
                prop_assert!(n.total >= 2);
            }
            if let Ok(d) = mde_proportions(m, nc, &design) {
                prop_assert!(d.is_finite() && d > 0.0);
            }
            if let Ok(n) = sample_size_proportions(m, power, &design) {
                prop_assert!(n.total >= 2);
            }
            if let Ok(p) = power_proportions(m, power, nc, alpha, ratio, formula) {
                prop_assert!(unit(p));
            }
        }
        if let Ok(p) = power_means(sd, m, nc, alpha, ratio) {
            prop_assert!(unit(p));
        }
        if let Ok(r) = non_inferiority_means(&a, &b, ratio, Direction::HigherIsBetter, alpha) {
            prop_assert!(finite(&[r.p_value, r.statistic, r.bound]));
        }
    }

    /// Any table, ragged or with counts near and above 2^53: an error or finite numbers.
    #[test]
    fn independence_never_nan_never_panics(
        table in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![any::<u64>(), (MAX_COUNT - 8)..=(MAX_COUNT + 8), 0u64..4],
                0..4,
            ),
            0..4,
        ),
    ) {
        if let Ok(r) = chi_square_independence(&table) {
            prop_assert!(r.chi2.is_finite() && r.chi2 >= 0.0 && unit(r.p_value), "{r:?}");
            prop_assert!(r.expected.iter().flatten().all(|e| e.is_finite()));
        }
    }
}
