//! The peeking problem, shown: A/A experiments checked at 20 looks, stopping at the first
//! "significant" result. Naive repeated fixed-horizon tests raise the false-positive rate
//! far above α; the always-valid mSPRT p-value keeps it at or below α.
//!
//! Prints its rates; run with `cargo test -p abacus-stats --test peeking -- --nocapture`
//! (a larger run: `cargo bench -p abacus-stats --bench peeking`).

mod support;

use abacus_stats::SequentialConfig;
use support::{peeking_means, peeking_proportions, PeekingRates};

const ALPHA: f64 = 0.05;
const LOOKS: u32 = 20;

fn check(rates: &PeekingRates, what: &str) {
    println!("{}", rates.report(what));
    // Naive peeking: clearly above α (20 looks give roughly 4× α).
    assert!(rates.naive > 2.0 * ALPHA, "{}", rates.report(what));
    // One look at the end is a valid test (sanity check of the simulation itself).
    assert!(
        (rates.single_look - ALPHA).abs() < 4.0 * rates.simulation_error(),
        "{}",
        rates.report(what)
    );
    // Sequential: at or below α within simulation error.
    assert!(
        rates.sequential <= ALPHA + 3.0 * rates.simulation_error(),
        "{}",
        rates.report(what)
    );
}

#[test]
fn peeking_conversions() {
    // 1,000 users per arm per day for 20 days, 10% conversion in both arms.
    let rates = peeking_proportions(7, 5_000, LOOKS, 1_000, 0.10, ALPHA);
    check(&rates, "conversion A/A");
}

#[test]
fn peeking_means_metric() {
    // 500 users per arm per day, normal metric (mean 20, sd 8).
    let rates = peeking_means(11, 5_000, LOOKS, 500, 20.0, 8.0, ALPHA);
    check(&rates, "continuous A/A");
}

/// The scenario: 20 looks, 10,000 new users per arm between looks (200,000 per arm
/// at the end, 400,000 planned), a 5% conversion rate. The mixing variance tuned to the plan
/// (gbstats' tuning parameter) keeps the false-positive rate at or below α and detects a +5%
/// lift far more often than the fixed default.
#[test]
fn tuned_to_the_plan_gains_power_and_keeps_alpha() {
    let fixed = SequentialConfig::default();
    let tuned = SequentialConfig {
        expected_users: Some(400_000),
        ..SequentialConfig::default()
    };
    let (runs_aa, runs_power) = (10_000, 4_000);
    let se = |p: f64, n: u32| (p * (1.0 - p) / f64::from(n)).sqrt();
    let mut measured = Vec::new();
    for (name, config, seed) in [
        ("fixed default 0.01", &fixed, 21),
        ("tuned to 400,000 users", &tuned, 22),
    ] {
        let fpr = support::sequential_rejections(seed, runs_aa, LOOKS, 10_000, 0.05, 0.0, config);
        let power = support::sequential_rejections(
            seed + 100,
            runs_power,
            LOOKS,
            10_000,
            0.05,
            0.05,
            config,
        );
        println!(
            "sequential, {name}: A/A false-positive rate {fpr:.4} (s.e. {:.4}), power for +5% on 5% {power:.4} (s.e. {:.4}), \
             {LOOKS} looks, 200,000 users per arm",
            se(ALPHA, runs_aa),
            se(power, runs_power)
        );
        assert!(
            fpr <= ALPHA + 3.0 * se(ALPHA, runs_aa),
            "{name}: false-positive rate {fpr:.4}"
        );
        measured.push(power);
    }
    assert!(
        measured[1] > measured[0] + 0.1,
        "tuning to the plan should add power: fixed {:.4}, tuned {:.4}",
        measured[0],
        measured[1]
    );
}
