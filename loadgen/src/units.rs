//! Randomization units in generated traffic: every experiment with a `unit` gives each user a
//! value for that attribute, which goes into the metadata of all the user's events.
//!
//! - Cluster-randomized experiments (`unit = "company_id"`): users belong to clusters
//!   `company_id-<n>` of about [`Plan::cluster_size`](crate::generate::Plan) users. Users are
//!   generated in order and a run may stop early (`--events`), so clusters are formed from
//!   consecutive users: user `i` joins, at random, the cluster of its block of `cluster_size`
//!   users or one of the two neighbouring ones, so sizes vary around `cluster_size` however
//!   many users a run generates. With `cluster_icc > 0` a
//!   cluster shares a log-normal frailty `m_c = exp(σ·z_c − σ²/2)` (mean 1) that multiplies the
//!   conversion probability of its users' events that a cluster-randomized experiment measures
//!   ([`cluster_events`]), with `σ² = ln(1 + icc·(1 − b)/b)` for
//!   an event of base rate `b`: the intra-cluster correlation of that conversion is then about
//!   `icc` (less where probabilities are capped at 1).
//! - Switchback units (`design = "switchback"`, e.g. `unit = "city"`): `city-<n>` among
//!   [`SWITCHBACK_UNITS`] values.
//!
//! Values are a hash of the seed and the user's index (and the frailty of the seed and the
//! cluster), so adding units leaves the other random draws of a seed unchanged.

use abacus_assign::{Design, Experiment};

use crate::generate::standard_normal;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Switchback unit values generated (`city-0` … `city-39`).
pub const SWITCHBACK_UNITS: u64 = 40;

/// SplitMix64: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn text_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
    })
}

/// The unit attributes of the experiments: `(key, is_switchback)`, each key once.
pub fn unit_keys(experiments: &[&Experiment]) -> Vec<(String, bool)> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    for e in experiments {
        if let Some(unit) = &e.unit {
            if !keys.iter().any(|(k, _)| k == unit) {
                keys.push((unit.clone(), e.design == Design::Switchback));
            }
        }
    }
    keys
}

/// The events measured by cluster-randomized experiments: the only ones the cluster frailty
/// acts on, so that user-randomized experiments see the independent users they assume (and
/// their planted effects are not diluted by a shared frailty).
pub fn cluster_events(experiments: &[&Experiment]) -> std::collections::BTreeSet<String> {
    experiments
        .iter()
        .filter(|e| e.unit.is_some() && e.design != Design::Switchback)
        .flat_map(|e| &e.metrics)
        .flat_map(|m| std::iter::once(&m.event).chain(&m.denominator))
        .cloned()
        .collect()
}

/// The user's value of each unit key.
pub fn values(
    keys: &[(String, bool)],
    seed: u64,
    index: u64,
    cluster_size: f64,
) -> Vec<(String, String)> {
    keys.iter()
        .map(|(key, switchback)| {
            let h = mix(seed ^ mix(index ^ text_hash(key)));
            let n = if *switchback {
                h % SWITCHBACK_UNITS
            } else {
                let block = (index as f64 / cluster_size.max(1.0)) as u64;
                (block + h % 3).saturating_sub(1)
            };
            (key.clone(), format!("{key}-{n}"))
        })
        .collect()
}

/// The frailty multiplier of `cluster` for an event of base rate `base` (1 without
/// correlation).
pub fn frailty(seed: u64, cluster: &str, icc: f64, base: f64) -> f64 {
    if icc <= 0.0 || !(base > 0.0 && base < 1.0) {
        return 1.0;
    }
    let sigma2 = (icc * (1.0 - base) / base).ln_1p();
    let mut rng = StdRng::seed_from_u64(mix(seed ^ text_hash(cluster)));
    let z = standard_normal(&mut rng);
    (sigma2.sqrt() * z - sigma2 / 2.0).exp()
}

/// `,"key":"value"` for each unit value, to append to an event's metadata object.
pub fn metadata(values: &[(String, String)]) -> String {
    values
        .iter()
        .map(|(k, v)| format!(r#","{k}":"{v}""#))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_have_about_the_planned_size_and_a_unit_mean_frailty() {
        let keys = vec![("company_id".to_owned(), false), ("city".to_owned(), true)];
        let mut sizes = std::collections::BTreeMap::new();
        for i in 0..10_000 {
            let v = values(&keys, 7, i, 50.0);
            *sizes.entry(v[0].1.clone()).or_insert(0u32) += 1;
            assert!(v[1].1.starts_with("city-"));
        }
        // 200 blocks of 50 users; the first and last clusters get about half.
        assert!((199..=201).contains(&sizes.len()), "{}", sizes.len());
        let inner: Vec<u32> = sizes
            .iter()
            .filter(|(k, _)| {
                !["company_id-0", "company_id-199", "company_id-200"].contains(&k.as_str())
            })
            .map(|(_, &n)| n)
            .collect();
        let mean = f64::from(inner.iter().sum::<u32>()) / inner.len() as f64;
        assert!((mean - 50.0).abs() < 1.0, "{mean}");
        // Sizes vary.
        assert!(
            inner.iter().min() < Some(&45) && inner.iter().max() > Some(&55),
            "{inner:?}"
        );
        let mean: f64 = (0..4000)
            .map(|c| frailty(1, &format!("company_id-{c}"), 0.1, 0.3))
            .sum::<f64>()
            / 4000.0;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
        assert_eq!(frailty(1, "c", 0.0, 0.3), 1.0);
        assert_eq!(
            metadata(&[("city".into(), "city-1".into())]),
            r#","city":"city-1""#
        );
    }
}
