//! Statistics for A/B tests: significance tests, confidence intervals, sample size and
//! power, sample-ratio-mismatch and covariate-balance checks, sequential (always-valid)
//! tests and multiple-comparison corrections.
//!
//! Pure functions over plain numbers: no I/O, no async, no logging. Inputs are per-arm
//! sufficient statistics ([`ProportionSummary`], [`MeanSummary`], [`RatioSummary`]) as
//! the aggregator reads them from ClickHouse; outputs are structs with named fields
//! (serde `Serialize`). Bad input (conversions above users, zero users, α outside (0, 1),
//! mismatched lengths, …) returns a [`StatsError`] that names what is wrong; results never
//! contain NaN or infinity and nothing panics on bad input.
//!
//! Every comparison is `treatment − control` (absolute) and `treatment/control − 1`
//! (relative). Formulas, defaults and the sources of the reference fixtures are in
//! `stats/README.md`.
//!
//! # Layout
//! - [`error`]: [`StatsError`], [`Arm`] and the input checks.
//! - [`summary`]: input summaries per arm and the [`Interval`] output type.
//! - [`proportions`]: two-proportion z-test, Wald and delta-method intervals and
//!   [`compare_proportions`] (switches to Fisher's exact test on small counts).
//! - [`intervals`]: Wilson (one rate) and Newcombe (difference) score intervals.
//! - [`fisher`]: Fisher's exact test, two-sided.
//! - [`means`]: Welch's t-test and t intervals, [`compare_means`].
//! - [`ratio`]: ratio metrics by the delta method with covariance, [`compare_ratios`].
//! - [`cuped`]: variance reduction by a pre-exposure covariate (CUPED), [`compare_cuped`].
//! - [`bayes`]: the Bayesian engine (chance to win, risk, credible intervals) and its
//!   decision rule.
//! - [`planning`]: sample size, minimum detectable effect, power, runtime.
//! - [`srm`]: sample ratio mismatch (chi-square goodness of fit).
//! - [`balance`]: covariate balance, [`chi_square_independence`] (chi-square test of
//!   independence on a variants × segment-values table of users).
//! - [`adjust`]: Bonferroni, Holm and Benjamini–Hochberg adjusted p-values.
//! - [`sequential`]: mixture SPRT, always-valid p-values and confidence sequences.
//! - [`noninferiority`]: one-sided non-inferiority tests for guardrail metrics.
//! - `dist` (private): normal, t and chi-square tails and quantiles over `statrs`.
//!
//! Network effects and concurrent experiments:
//! - [`cluster`]: cluster-randomized experiments, ratios of cluster totals with
//!   cluster-robust (CR1) variance, [`compare_clustered`].
//! - [`switchback`]: switchback experiments, (unit, window) cells with variance clustered
//!   by unit, [`compare_switchback`].
//! - [`interaction`]: interaction between two concurrent experiments (difference in
//!   differences, Wald test for more arms), [`interaction_test`].
//! - [`srm_sequential`]: always-valid SRM test (Dirichlet–multinomial mixture),
//!   [`srm_sequential()`].

pub mod adjust;
pub mod balance;
pub mod bayes;
pub mod cuped;
mod dist;
pub mod error;
pub mod fisher;
pub mod intervals;
pub mod means;
pub mod noninferiority;
pub mod planning;
pub mod proportions;
pub mod ratio;
pub mod sequential;
pub mod srm;
pub mod summary;

pub mod cluster;
pub mod interaction;
pub mod srm_sequential;
pub mod switchback;

pub use adjust::{adjust_p_values, Correction};
pub use balance::{chi_square_independence, IndependenceTest};
pub use bayes::{
    bayes_cuped, bayes_decision, bayes_means, bayes_proportions, bayes_ratios, BayesConfig,
    BayesDecision, BayesResult, BayesThresholds, NormalPrior, DEFAULT_CHANCE_TO_WIN,
    DEFAULT_MAX_RISK,
};
pub use cuped::{compare_cuped, CupedResult, CupedSummary, ValueKind};
pub use error::{Arm, Result, StatsError};
pub use fisher::fisher_exact;
pub use intervals::{newcombe_interval, wilson_interval};
pub use means::{compare_means, welch_t_test, MeansResult, WelchTest};
pub use noninferiority::{
    non_inferiority_cuped, non_inferiority_means, non_inferiority_proportions, Direction,
    NonInferiorityResult,
};
pub use planning::{
    mde_means, mde_proportions, power_means, power_proportions, runtime_days, sample_size_means,
    sample_size_proportions, Design, Formula, SampleSize,
};
pub use proportions::{
    compare_proportions, min_expected_count, relative_interval, wald_interval, z_test,
    ProportionMethod, ProportionsResult, ZTest, FISHER_MIN_EXPECTED,
};
pub use ratio::{compare_ratios, ratio_estimate, RatioResult};
pub use sequential::{
    sequential_cuped, sequential_means, sequential_proportions, sequential_ratios,
    tuned_rho_squared, SequentialConfig, SequentialMonitor, SequentialResult,
    DEFAULT_MIXING_VARIANCE,
};
pub use srm::{srm_test, SrmResult, DEFAULT_SRM_THRESHOLD};
pub use summary::{Interval, MeanSummary, ProportionSummary, RatioSummary, MAX_COUNT};

pub use cluster::{compare_clustered, ClusterSummary, ClusteredResult};
pub use interaction::{interaction_test, CellEstimate, InteractionResult};
pub use srm_sequential::{srm_sequential, SequentialSrmResult, DEFAULT_SRM_CONCENTRATION};
pub use switchback::{compare_switchback, UnitTotals};
