//! Seeded simulations of the planning formulas and CUPED: the power planned by
//! `sample_size_proportions` is the power the pooled z-test reaches, at unequal splits too.
//! Prints the measured numbers; run with
//! `cargo test -p abacus-stats --test simulation -- --nocapture`.

use abacus_stats::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution};

/// Share of `runs` simulated experiments (`n_c` users at rate `p1` against `n_t` at `p2`)
/// where the pooled z-test is significant at `alpha`.
fn z_test_power(seed: u64, runs: u32, n_c: u64, n_t: u64, p1: f64, p2: f64, alpha: f64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let (control, treatment) = (
        Binomial::new(n_c, p1).expect("valid binomial"),
        Binomial::new(n_t, p2).expect("valid binomial"),
    );
    let mut hits = 0u32;
    for _ in 0..runs {
        let c = ProportionSummary::new(n_c, control.sample(&mut rng));
        let t = ProportionSummary::new(n_t, treatment.sample(&mut rng));
        hits += u32::from(z_test(&c, &t).expect("valid counts").p_value < alpha);
    }
    f64::from(hits) / f64::from(runs)
}

/// The example (baseline 2%, +50%, 80% power): at every split from 1:4 to 4:1 the
/// pooled plan reaches 80% within one point; the textbook plan misses at 1:4.
#[test]
fn planned_power_is_reached_at_unequal_splits() {
    const RUNS: u32 = 40_000;
    let (p1, p2) = (0.02, 0.03);
    let se = (0.8f64 * 0.2 / f64::from(RUNS)).sqrt();
    for (i, ratio) in [0.25, 0.5, 1.0, 2.0, 4.0].into_iter().enumerate() {
        let design = Design {
            ratio,
            ..Design::default()
        };
        let n = sample_size_proportions(p1, p2, &design).expect("valid plan");
        let power = z_test_power(100 + i as u64, RUNS, n.control, n.treatment, p1, p2, 0.05);
        println!(
            "ratio {ratio}: pooled plan {} control + {} treatment users, simulated power {power:.4} (planned 0.80, simulation s.e. {se:.4})",
            n.control, n.treatment
        );
        assert!(
            (power - 0.8).abs() <= 0.01,
            "ratio {ratio}: simulated power {power:.4} is not within one point of 0.80"
        );
    }
    let textbook = Design {
        ratio: 4.0,
        formula: Formula::Textbook,
        ..Design::default()
    };
    let n = sample_size_proportions(p1, p2, &textbook).expect("valid plan");
    let power = z_test_power(200, RUNS, n.control, n.treatment, p1, p2, 0.05);
    println!(
        "ratio 4, textbook plan {} control users: simulated power {power:.4} (planned 0.80)",
        n.control
    );
    assert!(
        power < 0.75,
        "the textbook plan was expected to fall short: {power:.4}"
    );
}
