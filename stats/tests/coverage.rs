//! Coverage simulation: over 10,000 seeded experiments per interval, 95% intervals must
//! cover the true difference 94–96% of the time. Prints the rates; run with
//! `cargo test -p abacus-stats --test coverage -- --nocapture`.

use abacus_stats::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution, Normal};

const EXPERIMENTS: u32 = 10_000;
const ALPHA: f64 = 0.05;

#[track_caller]
fn check(what: &str, covered: u32) {
    let rate = f64::from(covered) / f64::from(EXPERIMENTS);
    println!("{what}: {covered}/{EXPERIMENTS} = {rate:.4}");
    assert!(
        (0.94..=0.96).contains(&rate),
        "{what}: coverage {rate:.4} outside 94-96%"
    );
}

#[test]
fn proportion_intervals_cover() {
    let mut rng = StdRng::seed_from_u64(2024);
    let (n, p_c, p_t) = (5_000, 0.10, 0.11);
    let (control, treatment) = (
        Binomial::new(n, p_c).unwrap(),
        Binomial::new(n, p_t).unwrap(),
    );
    let (true_abs, true_rel) = (p_t - p_c, p_t / p_c - 1.0);
    let (mut abs, mut rel, mut newcombe, mut seq) = (0, 0, 0, 0);
    for _ in 0..EXPERIMENTS {
        let c = ProportionSummary::new(n, control.sample(&mut rng));
        let t = ProportionSummary::new(n, treatment.sample(&mut rng));
        let r = compare_proportions(&c, &t, ALPHA).unwrap();
        abs += u32::from(r.ci_abs.contains(true_abs));
        rel += u32::from(r.ci_rel.unwrap().contains(true_rel));
        newcombe += u32::from(newcombe_interval(&c, &t, ALPHA).unwrap().contains(true_abs));
        let s = sequential_proportions(&c, &t, &SequentialConfig::default()).unwrap();
        seq += u32::from(s.ci.contains(true_abs));
    }
    check("proportions, absolute (Wald)", abs);
    check("proportions, relative (delta method)", rel);
    check("proportions, absolute (Newcombe)", newcombe);
    // A confidence sequence is wider than a fixed-horizon interval: it must over-cover.
    let seq_rate = f64::from(seq) / f64::from(EXPERIMENTS);
    println!("proportions, confidence sequence at one look: {seq_rate:.4}");
    assert!(seq_rate >= 0.95);
}

#[test]
fn welch_intervals_cover() {
    let mut rng = StdRng::seed_from_u64(99);
    // Small, unbalanced arms with unequal variances: where Welch's correction matters.
    let (n_c, n_t) = (40u64, 60u64);
    let (control, treatment) = (
        Normal::new(10.0, 2.0).unwrap(),
        Normal::new(10.5, 3.0).unwrap(),
    );
    let (true_abs, true_rel) = (0.5, 0.05);
    let (mut abs, mut rel) = (0, 0);
    let summary = |n: u64, dist: &Normal<f64>, rng: &mut StdRng| {
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for _ in 0..n {
            let x = dist.sample(rng);
            sum += x;
            sum_sq += x * x;
        }
        MeanSummary::from_sums(n, sum, sum_sq)
    };
    for _ in 0..EXPERIMENTS {
        let c = summary(n_c, &control, &mut rng);
        let t = summary(n_t, &treatment, &mut rng);
        let r = compare_means(&c, &t, ALPHA).unwrap();
        abs += u32::from(r.ci_abs.contains(true_abs));
        rel += u32::from(r.ci_rel.unwrap().contains(true_rel));
    }
    check("means, absolute (Welch t)", abs);
    check("means, relative (delta method, t quantile)", rel);
}
