//! Defect 1 of issue #14: `dedupe_max_ids` did not bound memory (every id of the newest time
//! generation was kept, ~48 bytes per event, 510 MB at 6.15 M events with a cap of 1,000).
//!
//! 2,000,000 events through the consumer's per-message path ([`Batch::add`]: validate, dedupe,
//! encode) over 8 partitions with small caps, in this test binary's own process: the peak
//! resident memory must stay within the documented dedupe bound (`dedupe_max_bytes`, and per
//! partition `max_heap_bytes(cap)`) plus the batches, and resends of ids the cap forced out
//! recently are counted as possible duplicates.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::fmt::Write as _;

use abacus_ingest::batch::{Batch, Limits, Message};
use abacus_ingest::dedupe::{cap_for, max_heap_bytes, DedupeSet};
use abacus_ingest::state::PartitionState;
use abacus_ingest::{IngestConfig, Metrics};

const PARTITIONS: usize = 8;
const EVENTS: u64 = 2_000_000;
const BATCH_ROWS: usize = 5_000;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn event(buf: &mut String, n: u64) {
    buf.clear();
    write!(
        buf,
        r#"{{"event_id":"ev-{n:012}","event_type":"conversion","event_name":"purchase","event_value":{}.5,"user_id":"user-{}","timestamp":{},"metadata":{{"region":"eu","device":"ios"}}}}"#,
        n % 100,
        n % 100_003,
        1_793_000_000_000 + n
    )
    .unwrap();
}

#[test]
fn two_million_events_stay_within_the_documented_dedupe_bound() {
    let config = IngestConfig {
        dedupe_max_ids: 20_000,
        dedupe_max_bytes: 4 << 20,
        ..IngestConfig::default()
    };
    let cap = cap_for(config.dedupe_max_ids, config.dedupe_max_bytes, PARTITIONS);
    assert!(
        cap < config.dedupe_max_ids,
        "the process bound lowers the cap: {cap}"
    );
    assert!(PARTITIONS * max_heap_bytes(cap) <= config.dedupe_max_bytes);

    let limits = Limits::of(&config);
    let metrics = Metrics::default();
    let mut states: Vec<PartitionState> = (0..PARTITIONS)
        .map(|_| PartitionState {
            dedupe: DedupeSet::new(config.dedupe_window_secs, cap),
            stored: Default::default(),
        })
        .collect();
    let mut buf = String::with_capacity(512);
    let mut batch = Batch::default();
    let mut feed = |states: &mut Vec<PartitionState>, batch: &mut Batch, n: u64, offset: i64| {
        event(&mut buf, n);
        let p = (n % PARTITIONS as u64) as usize;
        let msg = Message {
            topic: "events",
            partition: p as i32,
            offset,
            payload: Some(buf.as_bytes()),
        };
        batch.add(&mut states[p], msg, 1_800_000_000, limits, &metrics);
        if batch.rows() >= BATCH_ROWS {
            *batch = Batch::default(); // "sent": the writer drops it after the insert
        }
    };
    // Warm up (allocator arenas, one batch), then measure from here.
    for n in 0..20_000 {
        feed(&mut states, &mut batch, n, n as i64);
    }
    let baseline = status_kib("VmRSS:");
    for n in 20_000..EVENTS {
        feed(&mut states, &mut batch, n, n as i64);
    }
    let peak = status_kib("VmHWM:");
    let growth = (peak.saturating_sub(baseline)) * 1024;

    // The dedupe state holds exactly the cap, within its documented bytes.
    let held: usize = states.iter().map(|s| s.dedupe.heap_bytes()).sum();
    assert!(states.iter().all(|s| s.dedupe.len() == cap));
    assert!(held <= config.dedupe_max_bytes, "{held}");
    assert_eq!(
        metrics.dedupe_evicted_early.get(),
        EVENTS - (PARTITIONS * cap) as u64
    );
    // Peak RSS: the dedupe bound, plus a batch of 5,000 rows (~1.5 MB, twice while its
    // buffer grows), plus allocator slack. Without a real cap this grew by ~100 MB.
    let allowed = config.dedupe_max_bytes + (4 << 20) + (4 << 20);
    eprintln!(
        "peak RSS growth over {EVENTS} events: {:.1} MiB (allowed {:.1} MiB; dedupe holds {:.2} MiB, cap {cap} per partition)",
        growth as f64 / 1048576.0,
        allowed as f64 / 1048576.0,
        held as f64 / 1048576.0
    );
    assert!(
        growth <= allowed as u64,
        "grew {growth} bytes, allowed {allowed}"
    );

    // Resends: of ids still remembered → duplicates; of ids the cap forced out recently →
    // accepted but counted as possible duplicates; of ids forced out long ago → accepted
    // silently (the filter covers about the last `cap` evictions per partition).
    let remembered = EVENTS - 1_000..EVENTS;
    let recently_forgotten =
        EVENTS - (PARTITIONS * cap) as u64 - 2_000..EVENTS - (PARTITIONS * cap) as u64;
    let before = (metrics.duplicates.get(), metrics.possible_duplicates.get());
    for (i, n) in remembered
        .clone()
        .chain(recently_forgotten.clone())
        .enumerate()
    {
        feed(&mut states, &mut batch, n, (EVENTS + i as u64) as i64);
    }
    assert_eq!(metrics.duplicates.get() - before.0, 1_000);
    assert_eq!(metrics.possible_duplicates.get() - before.1, 2_000);
}
