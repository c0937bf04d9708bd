//! Measures the memory of the dedupe state per remembered id: the process's resident memory
//! before and after remembering N ids (and the set's own estimate), and the cost of a lookup.
//!
//! Run: `cargo bench -p abacus-ingest --bench dedupe_memory`

use std::time::Instant;

use abacus_ingest::dedupe::{DedupeSet, IdHash};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    println!(
        "| ids remembered | RSS growth | bytes/id (RSS) | bytes/id (estimate) | insert ns/id |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in [1_000_000u64, 5_000_000] {
        let ids: Vec<IdHash> = (0..n)
            .map(|i| IdHash::of(&format!("0123456789abcdef-{i}")))
            .collect();
        let before = rss_bytes();
        let mut set = DedupeSet::new(6 * 3600, n as usize + 1);
        let started = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            set.insert(*id, 1_800_000_000 + (i as i64 / 1000));
        }
        let took = started.elapsed();
        let after = rss_bytes();
        assert_eq!(set.len() as u64, n);
        let growth = after.saturating_sub(before);
        println!(
            "| {n} | {:.1} MiB | {:.1} | {:.1} | {:.0} |",
            growth as f64 / (1 << 20) as f64,
            growth as f64 / n as f64,
            set.heap_bytes() as f64 / n as f64,
            took.as_nanos() as f64 / n as f64
        );
        drop(set);
    }
}
