//! A larger run of the peeking simulation of `tests/peeking.rs`: A/A experiments with 20
//! looks each, false-positive rates of stopping at the first "significant" naive z-test
//! versus the always-valid sequential test. Run with
//! `cargo bench -p abacus-stats --bench peeking`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

fn main() {
    let start = Instant::now();
    let conversions = support::peeking_proportions(1, 20_000, 20, 1_000, 0.10, 0.05);
    println!(
        "{}",
        conversions.report("conversion A/A (10% rate, 1,000 users/arm/look)")
    );
    let means = support::peeking_means(2, 20_000, 20, 500, 20.0, 8.0, 0.05);
    println!(
        "{}",
        means.report("continuous A/A (normal, 500 users/arm/look)")
    );
    let small = support::peeking_proportions(3, 20_000, 20, 100, 0.05, 0.05);
    println!(
        "{}",
        small.report("small conversion A/A (5% rate, 100 users/arm/look)")
    );
    println!("simulated in {:.1} s", start.elapsed().as_secs_f64());
}
