//! The `[aggregate]` section of `abacus.toml`.

use serde::{Deserialize, Serialize};

/// Settings of `abacus aggregate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// An incremental pass rereads events written up to this many seconds before the previous
    /// watermark, so that inserts still in flight when the previous pass started (or delayed by
    /// a Distributed table) are not missed. Rereading is harmless: users are recomputed.
    #[serde(default = "default_overlap_secs")]
    pub overlap_secs: u64,
    /// p-value below which the sample ratio mismatch check flags an experiment.
    #[serde(default = "default_srm_threshold")]
    pub srm_threshold: f64,
    /// Variance of the mixing distribution of the sequential test (τ²/σ²), for experiments
    /// with `sequential = true`.
    #[serde(default = "default_mixing_variance")]
    pub mixing_variance: f64,
    /// Test every pair of concurrent experiments for an interaction at the end of a pass over
    /// all experiments (`results_interactions`).
    #[serde(default = "default_interactions")]
    pub interactions: bool,
    /// The interaction check scans every user of every experiment, so an incremental pass runs
    /// it only when the newest check is at least this old (seconds; 0 = every pass). A full
    /// pass always runs it.
    #[serde(default = "default_interactions_every_secs")]
    pub interactions_every_secs: u64,
    /// Family-wise level of the interaction check (Holm over all its tests).
    #[serde(default = "default_interaction_alpha")]
    pub interaction_alpha: f64,
    /// Progress lines during long passes, every this many seconds (0 = off).
    #[serde(default = "default_progress_secs")]
    pub progress_secs: u64,
    /// How long the aggregation lease lasts without renewal: the holder renews it every third
    /// of this time during a pass; after a holder crashes, the next pass waits up to this long.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
}

fn default_overlap_secs() -> u64 {
    60
}

fn default_srm_threshold() -> f64 {
    0.001
}

fn default_mixing_variance() -> f64 {
    abacus_stats::DEFAULT_MIXING_VARIANCE
}

fn default_interactions() -> bool {
    true
}

fn default_interactions_every_secs() -> u64 {
    3_600
}

fn default_interaction_alpha() -> f64 {
    0.05
}

fn default_progress_secs() -> u64 {
    5
}

fn default_lease_secs() -> u64 {
    60
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            overlap_secs: default_overlap_secs(),
            srm_threshold: default_srm_threshold(),
            mixing_variance: default_mixing_variance(),
            interactions: default_interactions(),
            interactions_every_secs: default_interactions_every_secs(),
            interaction_alpha: default_interaction_alpha(),
            progress_secs: default_progress_secs(),
            lease_secs: default_lease_secs(),
        }
    }
}

impl AggregateConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), crate::AggregateError> {
        let ranges = [
            ("aggregate.overlap_secs", self.overlap_secs, 0, 7 * 86_400),
            ("aggregate.progress_secs", self.progress_secs, 0, 86_400),
        ];
        for (what, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(crate::AggregateError::Invalid {
                    what,
                    reason: format!("must be between {min} and {max} (got {value})"),
                });
            }
        }
        if !(self.srm_threshold > 0.0 && self.srm_threshold < 1.0) {
            return Err(crate::AggregateError::Invalid {
                what: "aggregate.srm_threshold",
                reason: format!("must be in (0, 1) (got {})", self.srm_threshold),
            });
        }
        if !(self.interaction_alpha > 0.0 && self.interaction_alpha < 1.0) {
            return Err(crate::AggregateError::Invalid {
                what: "aggregate.interaction_alpha",
                reason: format!("must be in (0, 1) (got {})", self.interaction_alpha),
            });
        }
        if !(self.mixing_variance.is_finite() && self.mixing_variance > 0.0) {
            return Err(crate::AggregateError::Invalid {
                what: "aggregate.mixing_variance",
                reason: format!("must be positive (got {})", self.mixing_variance),
            });
        }
        if self.interactions_every_secs > 30 * 86_400 {
            return Err(crate::AggregateError::Invalid {
                what: "aggregate.interactions_every_secs",
                reason: format!(
                    "must be between 0 and 2592000 seconds (30 days) (got {})",
                    self.interactions_every_secs
                ),
            });
        }
        if !(3..=86_400).contains(&self.lease_secs) {
            return Err(crate::AggregateError::Invalid {
                what: "aggregate.lease_secs",
                reason: format!(
                    "must be between 3 and 86400 seconds (got {})",
                    self.lease_secs
                ),
            });
        }
        Ok(())
    }
}
