//! Throughput of the full set of results for 10,000 experiment × metric pairs, the
//! aggregator's hot loop. Run with `cargo bench -p abacus-stats --bench throughput`.
//!
//! Per pair: conversion metrics get `compare_proportions` (z or Fisher), both Wilson
//! intervals, Newcombe, the sequential test and a non-inferiority test; continuous metrics
//! `compare_means`, the sequential test and non-inferiority; ratio metrics `compare_ratios`
//! and the sequential test. Per experiment (10 metrics each): the SRM check and
//! Benjamini–Hochberg over its metrics' p-values. The baseline, timed in the same run, is
//! the bare two-proportion z-test on 10,000 pairs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use abacus_stats::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PAIRS: usize = 10_000;
const METRICS_PER_EXPERIMENT: usize = 10;
const RUNS: usize = 30;

/// Users per variant and planned weights of one experiment (for the SRM check).
type Allocation = (Vec<u64>, Vec<f64>);

enum Pair {
    Conversion(ProportionSummary, ProportionSummary),
    Continuous(MeanSummary, MeanSummary),
    Ratio(RatioSummary, RatioSummary),
}

fn conversion(rng: &mut StdRng, users: u64) -> ProportionSummary {
    let rate = rng.random_range(0.01..0.3);
    ProportionSummary::new(users, (users as f64 * rate) as u64)
}

fn continuous(rng: &mut StdRng, n: u64) -> MeanSummary {
    MeanSummary::new(n, rng.random_range(5.0..50.0), rng.random_range(1.0..40.0))
}

fn ratio(rng: &mut StdRng, n: u64) -> RatioSummary {
    // Consistent sums for per-user (revenue, orders) with the given moments.
    let nf = n as f64;
    let (m_num, m_den) = (rng.random_range(10.0..60.0), rng.random_range(0.5..2.0));
    let (s_num, s_den) = (m_num * 1.5, m_den * 0.8);
    let cov = 0.6 * s_num * s_den;
    RatioSummary {
        n,
        sum_num: nf * m_num,
        sum_den: nf * m_den,
        sum_num_sq: (nf - 1.0) * s_num * s_num + nf * m_num * m_num,
        sum_den_sq: (nf - 1.0) * s_den * s_den + nf * m_den * m_den,
        sum_num_den: (nf - 1.0) * cov + nf * m_num * m_den,
    }
}

fn workload() -> (Vec<Pair>, Vec<Allocation>) {
    let mut rng = StdRng::seed_from_u64(42);
    let pairs = (0..PAIRS)
        .map(|i| {
            let n_c = rng.random_range(1_000..2_000_000);
            let n_t = (n_c as f64 * rng.random_range(0.98..1.02)) as u64;
            match i % 5 {
                0 | 1 => Pair::Conversion(conversion(&mut rng, n_c), conversion(&mut rng, n_t)),
                2 | 3 => Pair::Continuous(continuous(&mut rng, n_c), continuous(&mut rng, n_t)),
                _ => Pair::Ratio(ratio(&mut rng, n_c), ratio(&mut rng, n_t)),
            }
        })
        .collect();
    let experiments = (0..PAIRS / METRICS_PER_EXPERIMENT)
        .map(|_| {
            let n = rng.random_range(1_000..2_000_000u64);
            (vec![n, n + rng.random_range(0..1_000)], vec![50.0, 50.0])
        })
        .collect();
    (pairs, experiments)
}

fn full_results(pairs: &[Pair], experiments: &[Allocation]) -> f64 {
    let seq = SequentialConfig::default();
    let mut acc = 0.0;
    let mut p_values = Vec::with_capacity(METRICS_PER_EXPERIMENT);
    for (chunk, (observed, weights)) in pairs.chunks(METRICS_PER_EXPERIMENT).zip(experiments) {
        p_values.clear();
        for pair in chunk {
            let p = match pair {
                Pair::Conversion(c, t) => {
                    let r = compare_proportions(c, t, 0.05).expect("valid bench input");
                    let wc = wilson_interval(c, 0.05).expect("valid bench input");
                    let wt = wilson_interval(t, 0.05).expect("valid bench input");
                    let nc = newcombe_interval(c, t, 0.05).expect("valid bench input");
                    let s = sequential_proportions(c, t, &seq).expect("valid bench input");
                    let ni =
                        non_inferiority_proportions(c, t, 0.002, Direction::HigherIsBetter, 0.05)
                            .expect("valid bench input");
                    acc += wc.low + wt.high + nc.width() + s.p_value + ni.p_value;
                    r.p_value
                }
                Pair::Continuous(c, t) => {
                    let r = compare_means(c, t, 0.05).expect("valid bench input");
                    let s = sequential_means(c, t, &seq).expect("valid bench input");
                    let ni = non_inferiority_means(c, t, 0.5, Direction::HigherIsBetter, 0.05)
                        .expect("valid bench input");
                    acc += s.p_value + ni.p_value + r.ci_abs.width();
                    r.p_value
                }
                Pair::Ratio(c, t) => {
                    let r = compare_ratios(c, t, 0.05).expect("valid bench input");
                    let s = sequential_ratios(c, t, &seq).expect("valid bench input");
                    acc += s.p_value + r.ci_abs.width();
                    r.p_value
                }
            };
            p_values.push(p);
        }
        let srm = srm_test(observed, weights, DEFAULT_SRM_THRESHOLD).expect("valid bench input");
        let adjusted =
            adjust_p_values(&p_values, Correction::BenjaminiHochberg).expect("valid bench input");
        acc += srm.p_value + adjusted.iter().sum::<f64>();
    }
    acc
}

fn baseline(pairs: &[(ProportionSummary, ProportionSummary)]) -> f64 {
    pairs
        .iter()
        .map(|(c, t)| z_test(c, t).expect("valid bench input").p_value)
        .sum()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time<F: FnMut() -> f64>(mut f: F) -> Duration {
    black_box(f()); // warm up
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let (pairs, experiments) = workload();
    let mut rng = StdRng::seed_from_u64(7);
    let z_pairs: Vec<_> = (0..PAIRS)
        .map(|_| {
            let n = rng.random_range(1_000..2_000_000);
            (conversion(&mut rng, n), conversion(&mut rng, n))
        })
        .collect();
    let full = time(|| full_results(black_box(&pairs), black_box(&experiments)));
    let base = time(|| baseline(black_box(&z_pairs)));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "full results for {PAIRS} experiment x metric pairs ({} conversion, {} continuous, {} ratio; \
         SRM + BH for {} experiments): median {:.2} ms over {RUNS} runs ({:.2} us per pair)",
        PAIRS * 2 / 5,
        PAIRS * 2 / 5,
        PAIRS / 5,
        experiments.len(),
        ms(full),
        ms(full) * 1e3 / PAIRS as f64,
    );
    println!(
        "baseline: bare z-test for {PAIRS} pairs: median {:.3} ms; full set / baseline = {:.1}x",
        ms(base),
        full.as_secs_f64() / base.as_secs_f64()
    );
    println!(
        "budget: 50 ms -> {}",
        if ms(full) < 50.0 {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
}
