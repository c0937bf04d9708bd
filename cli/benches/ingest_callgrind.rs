//! Instructions per event of the whole `abacus ingest --once` process under callgrind: every
//! thread (ingest's consumer and writer, librdkafka's, tokio's), start-up, the group join and
//! the exit included, against the local stack's Kafka and ClickHouse. Unlike CPU time, the
//! count hardly depends on what else the machine does (a few percent from how threads
//! interleave); it does not see cache misses or page faults, which CPU time does.
//!
//! Run: `scripts/bench-ingest --callgrind [EVENTS]` (default 200,000; about 70 µs of wall time
//! per event under valgrind). `ABACUS_BENCH_CALLGRIND_ROUNDS` (default 2) runs over the same
//! topic, each into a fresh database with a fresh group.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;

use abacus_testkit::{unique_name, TestDatabase};

#[path = "ingest/stack.rs"]
mod stack;
use stack::{abacus, abacus_under, delete_topic, env_or, produce};

/// Where an instruction was spent, from callgrind_annotate's `file:function [object]` line.
fn part_of(line: &str) -> &'static str {
    let in_fn = |s: &str| line.contains(s);
    if in_fn("abacus_ingest::") {
        "ingest (scan, dedupe, RowBinary, batches)"
    } else if in_fn("rdkafka-sys") || in_fn(":rd_") || in_fn("LZ4") || in_fn("lz4") {
        "librdkafka (fetch, decompression, queues)"
    } else if in_fn("malloc") || in_fn("free") || in_fn(":mi_") || in_fn(":_mi_") {
        "memory allocation (glibc, mimalloc)"
    } else if in_fn("libc.so") {
        "libc (memcpy, memcmp, locks)"
    } else {
        "other (std, tokio, hyper, ClickHouse client, kernel entry)"
    }
}

/// Total instructions and instructions by [`part_of`], from a callgrind output file.
fn annotate(out: &str) -> (u64, BTreeMap<&'static str, u64>) {
    let text = Command::new("callgrind_annotate")
        .args(["--threshold=100", "--auto=no", out])
        .output()
        .expect("callgrind_annotate (from valgrind) runs");
    let text = String::from_utf8_lossy(&text.stdout);
    let count = |line: &str| -> Option<u64> {
        line.split_whitespace()
            .next()?
            .replace(',', "")
            .parse()
            .ok()
    };
    let mut total = 0;
    let mut parts = BTreeMap::new();
    let mut listing = false;
    for line in text.lines() {
        if line.contains("PROGRAM TOTALS") {
            total = count(line).unwrap_or(0);
        } else if line.contains("file:function") {
            listing = true;
        } else if listing {
            if let Some(n) = count(line) {
                *parts.entry(part_of(line)).or_insert(0) += n;
            }
        }
    }
    (total, parts)
}

#[tokio::main]
async fn main() {
    let events: u64 = env_or("ABACUS_BENCH_EVENTS", 200_000);
    let rounds: usize = env_or("ABACUS_BENCH_CALLGRIND_ROUNDS", 2);
    let topic = unique_name("bench_callgrind");
    let db = TestDatabase::create("bench_callgrind").await;
    eprintln!("producing {events} events to {topic} ...");
    let messages = produce(db.name(), &topic, events);
    db.drop().await;
    println!("\n## abacus ingest --once under callgrind ({messages} events, whole process)\n");
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}: ingest under callgrind ...");
        let db = TestDatabase::create("bench_callgrind").await;
        let migrated = abacus(db.name(), &topic, "unused")
            .args(["schema", "migrate"])
            .output()
            .unwrap();
        assert!(migrated.status.success(), "{migrated:?}");
        let out = std::env::temp_dir().join(format!("{}.callgrind", unique_name("bench")));
        let out = out.to_str().unwrap().to_owned();
        let run = abacus_under("valgrind", db.name(), &topic, &unique_name("bench"))
            .args([
                "--tool=callgrind",
                &format!("--callgrind-out-file={out}"),
                env!("CARGO_BIN_EXE_abacus"),
                "ingest",
                "--once",
            ])
            .output()
            .expect("valgrind runs (apt-get install -y valgrind)");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            db.count("SELECT count() FROM events").await,
            messages,
            "ingest stored every event"
        );
        let (total, parts) = annotate(&out);
        let _ = std::fs::remove_file(&out);
        let per = |n: u64| n as f64 / messages as f64;
        println!(
            "round {round}: **{:.0} instructions per event** ({total} in all)",
            per(total)
        );
        for (part, n) in &parts {
            println!(
                "  {part}: {:.0} per event ({:.1}%)",
                per(*n),
                100.0 * *n as f64 / total.max(1) as f64
            );
        }
        db.drop().await;
    }
    delete_topic(&topic).await;
}
