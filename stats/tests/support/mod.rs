//! Seeded simulations shared by the integration tests and the benches
//! (`#[path]`-included there): A/A experiments that are looked at repeatedly.
#![allow(dead_code)]

use abacus_stats::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Binomial, ChiSquared, Distribution, Normal};

/// False-positive rates of stopping at the first "significant" look.
#[derive(Clone, Copy, Debug)]
pub struct PeekingRates {
    pub experiments: u32,
    pub looks: u32,
    pub alpha: f64,
    /// Share of A/A experiments where some look's fixed-horizon test had p < α.
    pub naive: f64,
    /// Share where some look's always-valid p-value was < α.
    pub sequential: f64,
    /// Share where the naive test was significant at the last look only (one look).
    pub single_look: f64,
}

impl PeekingRates {
    /// Standard error of a rate near α over this many experiments.
    pub fn simulation_error(&self) -> f64 {
        (self.alpha * (1.0 - self.alpha) / f64::from(self.experiments)).sqrt()
    }

    pub fn report(&self, what: &str) -> String {
        format!(
            "{what}: {} A/A experiments x {} looks, alpha {}: false-positive rate naive z-test {:.4}, \
             sequential (mSPRT) {:.4}, single final look {:.4} (simulation s.e. {:.4})",
            self.experiments,
            self.looks,
            self.alpha,
            self.naive,
            self.sequential,
            self.single_look,
            self.simulation_error()
        )
    }
}

/// A/A conversion experiments: `batch` new users per arm before each of `looks` looks,
/// both arms converting at `rate`.
pub fn peeking_proportions(
    seed: u64,
    experiments: u32,
    looks: u32,
    batch: u64,
    rate: f64,
    alpha: f64,
) -> PeekingRates {
    let mut rng = StdRng::seed_from_u64(seed);
    let conversions = Binomial::new(batch, rate).expect("valid binomial");
    let config = SequentialConfig {
        alpha,
        ..SequentialConfig::default()
    };
    let (mut naive, mut sequential, mut single) = (0u32, 0u32, 0u32);
    for _ in 0..experiments {
        let mut c = ProportionSummary::new(0, 0);
        let mut t = ProportionSummary::new(0, 0);
        let (mut naive_hit, mut seq_hit) = (false, false);
        let mut last_p = 1.0;
        for _ in 0..looks {
            c.users += batch;
            t.users += batch;
            c.conversions += conversions.sample(&mut rng);
            t.conversions += conversions.sample(&mut rng);
            last_p = z_test(&c, &t).expect("valid counts").p_value;
            naive_hit |= last_p < alpha;
            seq_hit |= sequential_proportions(&c, &t, &config)
                .expect("valid counts")
                .significant;
        }
        naive += u32::from(naive_hit);
        sequential += u32::from(seq_hit);
        single += u32::from(last_p < alpha);
    }
    rates(experiments, looks, alpha, naive, sequential, single)
}

/// A/A experiments on a normally distributed metric (mean `mean`, sd `sd` per user);
/// batches are drawn through their sufficient statistics (batch mean ~ N, within-batch sum
/// of squares ~ σ²χ²), which is exact for normal data.
pub fn peeking_means(
    seed: u64,
    experiments: u32,
    looks: u32,
    batch: u64,
    mean: f64,
    sd: f64,
    alpha: f64,
) -> PeekingRates {
    let mut rng = StdRng::seed_from_u64(seed);
    let b = batch as f64;
    let batch_mean = Normal::new(mean, sd / b.sqrt()).expect("valid normal");
    let within = ChiSquared::new(b - 1.0).expect("valid chi-square");
    let config = SequentialConfig {
        alpha,
        ..SequentialConfig::default()
    };
    let mut draw = |n: &mut u64, sum: &mut f64, sum_sq: &mut f64| {
        let m = batch_mean.sample(&mut rng);
        let ss = sd * sd * within.sample(&mut rng);
        *n += batch;
        *sum += b * m;
        *sum_sq += ss + b * m * m;
    };
    let (mut naive, mut sequential, mut single) = (0u32, 0u32, 0u32);
    for _ in 0..experiments {
        let (mut nc, mut sc, mut qc) = (0u64, 0.0, 0.0);
        let (mut nt, mut st, mut qt) = (0u64, 0.0, 0.0);
        let (mut naive_hit, mut seq_hit) = (false, false);
        let mut last_p = 1.0;
        for _ in 0..looks {
            draw(&mut nc, &mut sc, &mut qc);
            draw(&mut nt, &mut st, &mut qt);
            let c = MeanSummary::from_sums(nc, sc, qc);
            let t = MeanSummary::from_sums(nt, st, qt);
            last_p = welch_t_test(&c, &t).expect("valid summaries").p_value;
            naive_hit |= last_p < alpha;
            seq_hit |= sequential_means(&c, &t, &config)
                .expect("valid summaries")
                .significant;
        }
        naive += u32::from(naive_hit);
        sequential += u32::from(seq_hit);
        single += u32::from(last_p < alpha);
    }
    rates(experiments, looks, alpha, naive, sequential, single)
}

fn rates(
    experiments: u32,
    looks: u32,
    alpha: f64,
    naive: u32,
    sequential: u32,
    single: u32,
) -> PeekingRates {
    let e = f64::from(experiments);
    PeekingRates {
        experiments,
        looks,
        alpha,
        naive: f64::from(naive) / e,
        sequential: f64::from(sequential) / e,
        single_look: f64::from(single) / e,
    }
}

/// Share of `runs` conversion experiments (control rate `rate`, treatment `rate·(1 + lift)`,
/// `batch` new users per arm before each of `looks` looks) in which the sequential test of
/// `config` is significant at some look: power with a lift, the false-positive rate without.
pub fn sequential_rejections(
    seed: u64,
    runs: u32,
    looks: u32,
    batch: u64,
    rate: f64,
    lift: f64,
    config: &SequentialConfig,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let control = Binomial::new(batch, rate).expect("valid binomial");
    let treatment = Binomial::new(batch, rate * (1.0 + lift)).expect("valid binomial");
    let mut hits = 0u32;
    for _ in 0..runs {
        let mut c = ProportionSummary::new(0, 0);
        let mut t = ProportionSummary::new(0, 0);
        let mut hit = false;
        for _ in 0..looks {
            c.users += batch;
            t.users += batch;
            c.conversions += control.sample(&mut rng);
            t.conversions += treatment.sample(&mut rng);
            hit |= sequential_proportions(&c, &t, config)
                .expect("valid counts")
                .significant;
        }
        hits += u32::from(hit);
    }
    f64::from(hits) / f64::from(runs)
}
