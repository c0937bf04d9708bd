//! Assignment throughput on one core: `cargo bench -p abacus-assign`.
//!
//! Assigns 1,000,000 distinct user ids (`u-` and 16 hex digits, like a typical id) to the
//! experiments of `examples/experiments.toml`, on one thread, five rounds each, and prints
//! the best round as assignments per second. Two baselines run in the same process on the
//! same ids: hashing alone (one MurmurHash3 of `namespace:user_id`) and the same assignment
//! with SHA-256 in place of MurmurHash3 (as some assignment services do), so the ratios
//! compare like with like on whatever machine runs it. The target is ≥ 5 million
//! assignments per second per core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use abacus_assign::hash::{hash_key, to_bucket, Seed};
use abacus_assign::{parse, Experiment};
use sha2::{Digest, Sha256};

const USERS: usize = 1_000_000;
const ROUNDS: usize = 5;
const TARGET: f64 = 5e6;

/// Best (shortest) time of `ROUNDS` runs of `f` over all users; `f` returns a checksum so the
/// work cannot be optimized away.
fn best(users: &[String], f: impl Fn(&str) -> u64) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            let mut sum = 0u64;
            for u in users {
                sum = sum.wrapping_add(f(black_box(u)));
            }
            black_box(sum);
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn sha_bucket(parts: &[&str]) -> u32 {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    to_bucket(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
}

/// The same assignment as [`Experiment::assign`], with SHA-256 as the hash.
fn sha_assign<'a>(e: &'a Experiment, user: &str) -> Option<&'a str> {
    if !e.buckets.contains(sha_bucket(&[&e.namespace, user])) {
        return None;
    }
    e.variant_at(sha_bucket(&[&e.id, user]))
        .map(|v| v.name.as_str())
}

fn main() {
    let defs = parse(include_str!("../../examples/experiments.toml")).expect("valid example");
    let full = defs.experiment("aa-baseline").expect("aa-baseline");
    let half = defs
        .experiment("checkout-redesign")
        .expect("checkout-redesign");
    let users: Vec<String> = (0..USERS as u64)
        .map(|i| format!("u-{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();

    let rate = |d: Duration| USERS as f64 / d.as_secs_f64();
    let hash_only = rate(best(&users, |u| {
        u64::from(hash_key(Seed::Namespace, &["aa", u]))
    }));
    let sha = rate(best(&users, |u| {
        sha_assign(full, u).map_or(0, |v| v.len() as u64)
    }));
    let assign_full = rate(best(&users, |u| {
        full.assign(u).map_or(0, |v| v.weight as u64)
    }));
    let assign_half = rate(best(&users, |u| {
        half.assign(u).map_or(0, |v| v.weight as u64)
    }));

    println!("assignment throughput, 1 thread, {USERS} users, best of {ROUNDS} rounds");
    let line = |name: &str, r: f64| {
        println!(
            "  {name:<52} {:>7.1} M/s   {:>5.2}x SHA-256   {:>5.2}x hash-only",
            r / 1e6,
            r / sha,
            r / hash_only
        );
    };
    line("baseline: MurmurHash3 of namespace:user_id only", hash_only);
    line("baseline: SHA-256 assignment (traffic 1.0, 2 hashes)", sha);
    line("assign, traffic 1.0 (aa-baseline, 2 hashes)", assign_full);
    line("assign, traffic 0.5 (checkout-redesign)", assign_half);
    let worst = assign_full.min(assign_half);
    println!(
        "target >= {:.0} M assignments/s per core: {} ({:.1} M/s worst case)",
        TARGET / 1e6,
        if worst >= TARGET { "met" } else { "NOT met" },
        worst / 1e6
    );
}
