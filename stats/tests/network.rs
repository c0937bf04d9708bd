//! Seeded simulations of the network-effect statistics (issue #17). Each test prints its
//! numbers; run with `cargo test -p abacus-stats --test network -- --nocapture`.
//!
//! - `cluster_randomized_*`: clusters of ~50 users with intra-cluster correlation 0.1. An
//!   A/A test analysed per user rejects far more often than α; the cluster analysis keeps
//!   the false-positive rate ≤ α + 0.01 and its 95% intervals cover the true effect 94–96%.
//! - `switchback_*`: 40 regions × 48 hourly windows with persistent region levels,
//!   autocorrelated drift and a common time-of-day pattern. A/A false-positive rate ≤ α +
//!   0.01; planted effect covered 94–96%; planted carry-over (the previous window's variant
//!   acts for the first 10 minutes) biases the estimate, a 10-minute burn-in removes it.
//! - `interaction_*`: a planted interaction between two experiments is detected (power
//!   printed); six independent concurrent experiments (15 pairs, Holm-adjusted) stay quiet.
//! - `sequential_srm_*`: 1,000 correctly split experiments checked at 50 passes are flagged
//!   at most at the threshold rate (a repeated chi-square test is printed for comparison);
//!   a 50.5/49.5 split on 1 M users is flagged.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use abacus_stats::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Binomial, Distribution, Normal, Poisson};

const ALPHA: f64 = 0.05;

/// Standard error of a simulated rate near `p` over `n` runs.
fn sim_se(p: f64, n: u32) -> f64 {
    (p * (1.0 - p) / f64::from(n)).sqrt()
}

fn rate(count: u32, n: u32) -> f64 {
    f64::from(count) / f64::from(n)
}

// ----------------------------------------------------------------------- cluster-randomized

/// One arm of a cluster-randomized experiment: `clusters` clusters of Poisson(49) + 1 users
/// whose conversion rate is Beta with mean `mean` and intra-cluster correlation `icc`
/// (Beta(a, b) with a + b = 1/icc − 1). Returns the cluster sums and the user-level counts.
fn cluster_arm(
    rng: &mut StdRng,
    clusters: u32,
    mean: f64,
    icc: f64,
) -> (ClusterSummary, ProportionSummary) {
    let total = 1.0 / icc - 1.0;
    let rates = Beta::new(mean * total, (1.0 - mean) * total).unwrap();
    let sizes = Poisson::new(49.0).unwrap();
    let mut sums = ClusterSummary::default();
    let mut users = ProportionSummary::default();
    for _ in 0..clusters {
        let n = sizes.sample(rng) as u64 + 1;
        let p: f64 = rates.sample(rng);
        let x = Binomial::new(n, p).unwrap().sample(rng);
        sums.add(x as f64, n as f64);
        users.users += n;
        users.conversions += x;
    }
    (sums, users)
}

#[test]
fn cluster_randomized_aa_user_level_rejects_far_too_often_cluster_level_does_not() {
    const RUNS: u32 = 10_000;
    let mut rng = StdRng::seed_from_u64(1701);
    let (mut user_level, mut cluster_level) = (0u32, 0u32);
    let mut width_ratio = 0.0;
    for _ in 0..RUNS {
        let (c, cu) = cluster_arm(&mut rng, 100, 0.2, 0.1);
        let (t, tu) = cluster_arm(&mut rng, 100, 0.2, 0.1);
        let naive = compare_proportions(&cu, &tu, ALPHA).unwrap();
        let robust = compare_clustered(&c, &t, ALPHA).unwrap();
        user_level += u32::from(naive.significant);
        cluster_level += u32::from(robust.significant);
        width_ratio += robust.ci_abs.width() / naive.ci_abs.width() / f64::from(RUNS);
    }
    let (naive, robust) = (rate(user_level, RUNS), rate(cluster_level, RUNS));
    println!(
        "cluster-randomized A/A, {RUNS} runs of 2 x 100 clusters of ~50 users, ICC 0.1, alpha {ALPHA}: \
         false-positive rate user-level z-test {naive:.4}, cluster-robust {robust:.4} \
         (simulation s.e. {:.4}); cluster interval {width_ratio:.2}x as wide as the user-level one",
        sim_se(ALPHA, RUNS)
    );
    assert!(
        naive > 4.0 * ALPHA,
        "user-level analysis should reject far more than alpha"
    );
    assert!(
        robust <= ALPHA + 0.01,
        "cluster-level false-positive rate {robust}"
    );
}

#[test]
fn cluster_randomized_intervals_cover_the_true_effect() {
    const RUNS: u32 = 10_000;
    let mut rng = StdRng::seed_from_u64(1702);
    let (p_c, p_t) = (0.20, 0.23);
    let (mut abs, mut rel, mut naive, mut small) = (0u32, 0u32, 0u32, 0u32);
    for run in 0..RUNS {
        let (c, cu) = cluster_arm(&mut rng, 100, p_c, 0.1);
        let (t, tu) = cluster_arm(&mut rng, 100, p_t, 0.1);
        let r = compare_clustered(&c, &t, ALPHA).unwrap();
        abs += u32::from(r.ci_abs.contains(p_t - p_c));
        rel += u32::from(r.ci_rel.unwrap().contains(p_t / p_c - 1.0));
        let n = compare_proportions(&cu, &tu, ALPHA).unwrap();
        naive += u32::from(n.ci_abs.contains(p_t - p_c));
        if run < 2_000 {
            // few clusters: 15 per arm (t with G − 1 = 29 degrees of freedom)
            let (c, _) = cluster_arm(&mut rng, 15, p_c, 0.1);
            let (t, _) = cluster_arm(&mut rng, 15, p_t, 0.1);
            let r = compare_clustered(&c, &t, ALPHA).unwrap();
            small += u32::from(r.ci_abs.contains(p_t - p_c));
        }
    }
    let (abs, rel, naive, small) = (
        rate(abs, RUNS),
        rate(rel, RUNS),
        rate(naive, RUNS),
        rate(small, 2_000),
    );
    println!(
        "cluster-randomized, {RUNS} runs of 2 x 100 clusters, ICC 0.1, 20% -> 23%: 95% interval coverage \
         absolute {abs:.4}, relative {rel:.4}; user-level Wald interval {naive:.4}; \
         with 15 clusters per arm (2,000 runs) {small:.4}"
    );
    assert!((0.94..=0.96).contains(&abs), "coverage {abs}");
    assert!((0.94..=0.96).contains(&rel), "relative coverage {rel}");
    assert!(naive < 0.8, "the user-level interval should under-cover");
    assert!(small >= 0.93, "coverage with 15 clusters per arm {small}");
}

// ----------------------------------------------------------------------------- switchback

/// One simulated switchback experiment: 40 regions × 48 hourly windows, six 10-minute
/// slots per window. Per slot: region level + autocorrelated drift + time-of-day pattern +
/// noise, plus `effect` when the slot's effective variant is treatment. With `carry_over`
/// the first slot of a window still runs on the previous window's variant. Returns the per
/// region totals without and with a 10-minute burn-in; the metric is the mean per slot
/// (`den` = slots counted), so the true effect is `effect` in both.
fn switchback_run(rng: &mut StdRng, effect: f64, carry_over: bool) -> [Vec<UnitTotals>; 2] {
    const UNITS: usize = 40;
    const WINDOWS: usize = 48;
    let noise = Normal::new(0.0, 5.0).unwrap();
    let level = Normal::new(100.0, 30.0).unwrap();
    let innovation = Normal::new(0.0, 4.0).unwrap();
    let mut without = vec![UnitTotals::default(); UNITS];
    let mut with = vec![UnitTotals::default(); UNITS];
    for u in 0..UNITS {
        let base: f64 = level.sample(rng);
        let mut drift = 0.0;
        let mut previous = rng.random_bool(0.5);
        for w in 0..WINDOWS {
            drift = 0.8 * drift + innovation.sample(rng);
            let treated = rng.random_bool(0.5);
            let hour = 10.0 * (std::f64::consts::TAU * w as f64 / 24.0).sin();
            let mean = base + drift + hour;
            let first_variant = if carry_over { previous } else { treated };
            let first = mean + if first_variant { effect } else { 0.0 } + noise.sample(rng);
            // the other five slots: their sum directly (variance 5σ²)
            let rest =
                5.0 * (mean + if treated { effect } else { 0.0 }) + noise.sample(rng) * 5f64.sqrt();
            without[u].add(treated, first + rest, 6.0);
            with[u].add(treated, rest, 5.0);
            previous = treated;
        }
    }
    [without, with]
}

#[test]
fn switchback_aa_false_positive_rate() {
    const RUNS: u32 = 4_000;
    let mut rng = StdRng::seed_from_u64(1703);
    let mut rejected = 0u32;
    for _ in 0..RUNS {
        let [_, with] = switchback_run(&mut rng, 0.0, false);
        rejected += u32::from(compare_switchback(&with, ALPHA).unwrap().significant);
    }
    let fpr = rate(rejected, RUNS);
    println!(
        "switchback A/A, {RUNS} runs of 40 regions x 48 windows, alpha {ALPHA}: false-positive rate \
         {fpr:.4} (simulation s.e. {:.4})",
        sim_se(ALPHA, RUNS)
    );
    assert!(fpr <= ALPHA + 0.01, "false-positive rate {fpr}");
}

#[test]
fn switchback_effect_covered_and_burn_in_removes_carry_over_bias() {
    const RUNS: u32 = 4_000;
    const EFFECT: f64 = 2.0;
    let mut rng = StdRng::seed_from_u64(1704);
    let (mut covered, mut covered_clean) = (0u32, 0u32);
    let (mut sum_without, mut sum_sq_without) = (0.0, 0.0);
    let (mut sum_with, mut sum_sq_with) = (0.0, 0.0);
    let mut rejected = 0u32;
    for _ in 0..RUNS {
        let [without, with] = switchback_run(&mut rng, EFFECT, true);
        let a = compare_switchback(&without, ALPHA).unwrap();
        let b = compare_switchback(&with, ALPHA).unwrap();
        sum_without += a.abs_lift;
        sum_sq_without += a.abs_lift * a.abs_lift;
        sum_with += b.abs_lift;
        sum_sq_with += b.abs_lift * b.abs_lift;
        covered += u32::from(b.ci_abs.contains(EFFECT));
        rejected += u32::from(b.significant);
        let [_, clean] = switchback_run(&mut rng, EFFECT, false);
        let c = compare_switchback(&clean, ALPHA).unwrap();
        covered_clean += u32::from(c.ci_abs.contains(EFFECT));
    }
    let n = f64::from(RUNS);
    let (mean_without, mean_with) = (sum_without / n, sum_with / n);
    let mc_se = |sum: f64, sum_sq: f64| {
        let mean = sum / n;
        ((sum_sq - n * mean * mean) / (n - 1.0) / n).sqrt()
    };
    let (se_without, se_with) = (
        mc_se(sum_without, sum_sq_without),
        mc_se(sum_with, sum_sq_with),
    );
    let (cov, cov_clean) = (rate(covered, RUNS), rate(covered_clean, RUNS));
    println!(
        "switchback, {RUNS} runs, planted effect {EFFECT} per 10-minute slot, carry-over for the \
         first 10 minutes of each window: mean estimate without burn-in {mean_without:.3} \
         (bias {:+.3}, expected -{EFFECT}/6 = {:+.3}), with a 10-minute burn-in {mean_with:.3} \
         (bias {:+.3}; Monte Carlo s.e. {se_with:.3}); 95% coverage with burn-in {cov:.4}, without carry-over {cov_clean:.4}; \
         power {:.3}",
        mean_without - EFFECT,
        -EFFECT / 6.0,
        mean_with - EFFECT,
        rate(rejected, RUNS)
    );
    // Carry-over dilutes the effect by a sixth when the burn-in is kept (in a treated window
    // the first slot is treated only half the time, in a control window it is treated half
    // the time: the difference loses one slot in six); dropping it removes the bias.
    let bias_without = mean_without - EFFECT;
    assert!(
        (bias_without + EFFECT / 6.0).abs() < 4.0 * se_without,
        "bias without burn-in {bias_without}"
    );
    assert!(
        (mean_with - EFFECT).abs() < 4.0 * se_with,
        "bias with burn-in"
    );
    assert!((0.94..=0.96).contains(&cov), "coverage with burn-in {cov}");
    assert!((0.94..=0.96).contains(&cov_clean), "coverage {cov_clean}");
}

// ---------------------------------------------------------------------------- interaction

/// Splits `n` users over cells with the given probabilities (a multinomial draw by
/// sequential binomials).
fn multinomial(rng: &mut StdRng, n: u64, probs: &[f64]) -> Vec<u64> {
    let mut left = n;
    let mut mass = 1.0;
    let mut out = Vec::with_capacity(probs.len());
    for (i, &p) in probs.iter().enumerate() {
        let x = if i + 1 == probs.len() || mass <= 0.0 {
            left
        } else {
            Binomial::new(left, (p / mass).clamp(0.0, 1.0))
                .unwrap()
                .sample(rng)
        };
        out.push(x);
        left -= x;
        mass -= p;
    }
    out
}

/// A 2×2 table of conversion cells: 50/50 in both experiments, `n` users, base rate 10%,
/// main effects +1 and +0.5 points, and `interaction` added in the (treatment, treatment)
/// cell.
fn two_by_two(rng: &mut StdRng, n: u64, interaction: f64) -> Vec<Vec<CellEstimate>> {
    let users = multinomial(rng, n, &[0.25; 4]);
    let mut table = vec![Vec::new(), Vec::new()];
    for (k, &cell_users) in users.iter().enumerate() {
        let (i, j) = (k / 2, k % 2);
        let p = 0.10 + 0.01 * i as f64 + 0.005 * j as f64 + interaction * (i * j) as f64;
        let x = Binomial::new(cell_users, p).unwrap().sample(rng);
        let cell = CellEstimate::from_proportion(&ProportionSummary::new(cell_users, x)).unwrap();
        table[i].push(cell);
    }
    table
}

#[test]
fn interaction_planted_is_detected() {
    const RUNS: u32 = 2_000;
    const USERS: u64 = 200_000;
    let mut rng = StdRng::seed_from_u64(1705);
    let sizes = [0.005, 0.01];
    let mut detected = [0u32; 2];
    let mut null = 0u32;
    for _ in 0..RUNS {
        for (d, &size) in detected.iter_mut().zip(&sizes) {
            *d += u32::from(
                interaction_test(&two_by_two(&mut rng, USERS, size), ALPHA)
                    .unwrap()
                    .significant,
            );
        }
        null += u32::from(
            interaction_test(&two_by_two(&mut rng, USERS, 0.0), ALPHA)
                .unwrap()
                .significant,
        );
    }
    let power: Vec<f64> = detected.iter().map(|&d| rate(d, RUNS)).collect();
    let fpr = rate(null, RUNS);
    println!(
        "interaction, {RUNS} runs of two 50/50 experiments on {USERS} users, base 10%: power at a \
         planted interaction of +0.5 points {:.3}, of +1 point {:.3}; without interaction the \
         test rejects {fpr:.4} (alpha {ALPHA}, simulation s.e. {:.4})",
        power[0],
        power[1],
        sim_se(ALPHA, RUNS)
    );
    assert!(power[1] >= 0.9, "power at +1 point {}", power[1]);
    assert!(power[0] > 0.3, "power at +0.5 points {}", power[0]);
    assert!(
        fpr <= ALPHA + 3.0 * sim_se(ALPHA, RUNS),
        "false-positive rate {fpr}"
    );
}

#[test]
fn interaction_independent_concurrent_experiments_stay_quiet() {
    // Six concurrent experiments on the same 100,000 users, arms (2, 2, 3, 2, 3, 2) with
    // equal splits and additive main effects on the conversion rate: no interaction.
    const RUNS: u32 = 10_000;
    const USERS: u64 = 100_000;
    let arms = [2usize, 2, 3, 2, 3, 2];
    let effects = [0.01, -0.005, 0.004, 0.0, 0.008, 0.002];
    let cells: usize = arms.iter().product();
    let mut rng = StdRng::seed_from_u64(1706);
    let (mut any_flag, mut raw_rejections, mut tests) = (0u32, 0u32, 0u32);
    let variants = |mut k: usize| -> Vec<usize> {
        arms.iter()
            .map(|&a| {
                let v = k % a;
                k /= a;
                v
            })
            .collect()
    };
    let cell_variants: Vec<Vec<usize>> = (0..cells).map(variants).collect();
    for _ in 0..RUNS {
        let users = multinomial(&mut rng, USERS, &vec![1.0 / cells as f64; cells]);
        let conversions: Vec<u64> = users
            .iter()
            .zip(&cell_variants)
            .map(|(&n, v)| {
                let p = 0.1
                    + v.iter()
                        .zip(&effects)
                        .map(|(&x, e)| e * x as f64)
                        .sum::<f64>();
                Binomial::new(n, p).unwrap().sample(&mut rng)
            })
            .collect();
        let mut p_values = Vec::new();
        for a in 0..arms.len() {
            for b in a + 1..arms.len() {
                let mut table = vec![vec![ProportionSummary::default(); arms[b]]; arms[a]];
                for ((&n, &x), v) in users.iter().zip(&conversions).zip(&cell_variants) {
                    let cell = &mut table[v[a]][v[b]];
                    cell.users += n;
                    cell.conversions += x;
                }
                let table: Vec<Vec<CellEstimate>> = table
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|s| CellEstimate::from_proportion(s).unwrap())
                            .collect()
                    })
                    .collect();
                let r = interaction_test(&table, ALPHA).unwrap();
                raw_rejections += u32::from(r.significant);
                tests += 1;
                p_values.push(r.p_value);
            }
        }
        let adjusted = adjust_p_values(&p_values, Correction::Holm).unwrap();
        any_flag += u32::from(adjusted.iter().any(|&p| p < ALPHA));
    }
    let (fwer, raw) = (rate(any_flag, RUNS), rate(raw_rejections, tests));
    println!(
        "interaction, {RUNS} runs of 6 independent concurrent experiments (15 pairs, 2-3 arms): \
         share of runs with any pair flagged after Holm {fwer:.4} (alpha {ALPHA}, simulation s.e. \
         {:.4}); unadjusted per-pair rejection rate {raw:.4}",
        sim_se(ALPHA, RUNS)
    );
    assert!(
        fwer <= ALPHA + 2.0 * sim_se(ALPHA, RUNS),
        "family-wise rate {fwer}"
    );
    assert!(
        raw <= ALPHA + 3.0 * sim_se(ALPHA, tests),
        "per-pair rate {raw}"
    );
}

// ------------------------------------------------------------------------- sequential SRM

/// Runs `experiments` experiments of `passes` passes with `per_pass` new users each, split
/// with probability `share` into the first of two equally weighted variants. Returns, per
/// experiment, the first pass (1-based) at which the always-valid test and the repeated
/// chi-square test flag at `threshold`.
fn srm_passes(
    seed: u64,
    experiments: u32,
    passes: u32,
    per_pass: u64,
    share: f64,
    threshold: f64,
) -> Vec<(Option<u32>, Option<u32>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let split = Binomial::new(per_pass, share).unwrap();
    (0..experiments)
        .map(|_| {
            let (mut a, mut b) = (0u64, 0u64);
            let (mut seq, mut chi) = (None, None);
            for pass in 1..=passes {
                let x = split.sample(&mut rng);
                a += x;
                b += per_pass - x;
                let s = srm_sequential(&[a, b], &[1.0, 1.0], threshold, DEFAULT_SRM_CONCENTRATION)
                    .unwrap();
                if s.mismatch && seq.is_none() {
                    seq = Some(pass);
                }
                if srm_test(&[a, b], &[1.0, 1.0], threshold).unwrap().mismatch && chi.is_none() {
                    chi = Some(pass);
                }
            }
            (seq, chi)
        })
        .collect()
}

#[test]
fn sequential_srm_false_alarms_over_50_passes_stay_below_the_threshold() {
    const EXPERIMENTS: u32 = 1_000;
    for threshold in [DEFAULT_SRM_THRESHOLD, 0.05] {
        let runs = srm_passes(1707, EXPERIMENTS, 50, 20_000, 0.5, threshold);
        let seq = runs.iter().filter(|r| r.0.is_some()).count() as u32;
        let chi = runs.iter().filter(|r| r.1.is_some()).count() as u32;
        let (seq, chi) = (rate(seq, EXPERIMENTS), rate(chi, EXPERIMENTS));
        println!(
            "sequential SRM, {EXPERIMENTS} correctly split experiments x 50 passes (20,000 users \
             per pass, 1 M at the end), threshold {threshold}: share ever flagged always-valid \
             {seq:.4}, repeated chi-square {chi:.4}"
        );
        assert!(seq <= threshold, "always-valid false-alarm share {seq}");
        assert!(chi >= seq);
    }
}

#[test]
fn sequential_srm_flags_a_half_point_mismatch_on_a_million_users() {
    const EXPERIMENTS: u32 = 200;
    let runs = srm_passes(1708, EXPERIMENTS, 50, 20_000, 0.505, DEFAULT_SRM_THRESHOLD);
    let mut first: Vec<u32> = runs.iter().filter_map(|r| r.0).collect();
    first.sort_unstable();
    let flagged = first.len() as u32;
    let median = first.get(first.len() / 2).copied().unwrap_or(0);
    let chi_median = {
        let mut c: Vec<u32> = runs.iter().filter_map(|r| r.1).collect();
        c.sort_unstable();
        c.get(c.len() / 2).copied().unwrap_or(0)
    };
    println!(
        "sequential SRM, {EXPERIMENTS} experiments with a 50.5/49.5 split, 20,000 users per pass: \
         flagged by 1 M users {flagged}/{EXPERIMENTS}, median first flag at {} users \
         (repeated chi-square: {} users)",
        u64::from(median) * 20_000,
        u64::from(chi_median) * 20_000,
    );
    assert_eq!(
        flagged, EXPERIMENTS,
        "every 50.5/49.5 split is flagged by 1 M users"
    );
}
