//! The peeking problem, shown: A/A experiments checked at 20 looks, stopping at the first
//! "significant" result. Naive repeated fixed-horizon tests raise the false-positive rate
//! far above α; the always-valid mSPRT p-value keeps it at or below α.
//!
//! Prints its rates; run with `cargo test -p abacus-stats --test peeking -- --nocapture`
//! (a larger run: `cargo bench -p abacus-stats --bench peeking`).

mod support;

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
