//! The consumer-side work of ingest per message, without Kafka or ClickHouse: validation,
//! dedupe, RowBinary encoding and batching ([`Batch::add`], exactly what the consumer thread
//! runs), plus the writer's LZ4 compression of each full batch (what the writer task does
//! before the bytes go out). Messages look like `abacus produce` output (exposures with RFC
//! 3339 times and three metadata keys, conversions with epoch milliseconds, values on some),
//! spread over four partitions.
//!
//! Run: `cargo bench -p abacus-ingest --bench hot_path [-- MESSAGES]` (default 200,000), or
//! under callgrind for instruction counts that do not depend on the machine's load:
//! `valgrind --tool=callgrind --toggle-collect='*hot_path::consume*' <bench binary> 200000`
//! (`scripts/bench-ingest --hot-path` does this and divides by the messages).

use std::time::Instant;

use abacus_ingest::batch::{rows_buffer, Batch, Limits, Message};
use abacus_ingest::dedupe::DedupeSet;
use abacus_ingest::lz4::Compressor;
use abacus_ingest::state::PartitionState;
use abacus_ingest::{IngestConfig, Metrics};

const PARTITIONS: i32 = 4;

/// Deterministic messages shaped like the load generator's, keyed to partitions by user.
fn messages(n: usize) -> Vec<(i32, Vec<u8>)> {
    const REGIONS: [&str; 4] = ["eu", "us", "apac", "latam"];
    const DEVICES: [&str; 3] = ["ios", "android", "web"];
    const EVENTS: [&str; 3] = ["purchase", "signup", "add_to_cart"];
    let mut out = Vec::with_capacity(n);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut user = 0u64;
    while out.len() < n {
        user += 1;
        let user_id = format!("user-{user:08}");
        let partition = (user % PARTITIONS as u64) as i32;
        let (region, device) = (
            REGIONS[(next() % 4) as usize],
            DEVICES[(next() % 3) as usize],
        );
        let t0 = 1_793_000_000_000 + (next() % 1_000_000_000) as i64;
        for (e, exp) in ["checkout-redesign", "onboarding-email"].iter().enumerate() {
            let variant = if next() % 2 == 0 {
                "control"
            } else {
                "treatment"
            };
            let ts = chrono::DateTime::from_timestamp_millis(t0 + e as i64 * 60_000)
                .expect("valid")
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            out.push((partition, format!(
                r#"{{"event_id":"1-{user}-{e}","event_type":"exposure","experiment_id":"{exp}","variant":"{variant}","user_id":"{user_id}","timestamp":"{ts}","metadata":{{"region":"{region}","device":"{device}","plan":"free"}}}}"#
            ).into_bytes()));
        }
        for c in 0..(next() % 3) {
            let event = EVENTS[(next() % 3) as usize];
            let value = if event == "purchase" {
                format!(r#","event_value":{:.2}"#, (next() % 10_000) as f64 / 100.0)
            } else {
                String::new()
            };
            out.push((partition, format!(
                r#"{{"event_id":"1-{user}-c{c}","event_type":"conversion","event_name":"{event}","user_id":"{user_id}","timestamp":{}{value},"metadata":{{"region":"{region}","device":"{device}"}}}}"#,
                t0 + (next() % 86_400_000) as i64
            ).into_bytes()));
        }
    }
    out.truncate(n);
    out
}

/// Everything the consumer thread and the writer do per message, over all `msgs`. Returns
/// (rows encoded, compressed bytes) so that nothing is optimized away.
#[inline(never)]
fn consume_all(
    msgs: &[(i32, Vec<u8>)],
    config: &IngestConfig,
    metrics: &Metrics,
) -> (usize, usize) {
    let limits = Limits::of(config);
    let mut states: Vec<PartitionState> = (0..PARTITIONS)
        .map(|_| PartitionState {
            dedupe: DedupeSet::new(config.dedupe_window_secs, config.dedupe_max_ids),
            stored: Default::default(),
        })
        .collect();
    let mut offsets = [0i64; PARTITIONS as usize];
    let (mut rows, mut compressed) = (0, 0);
    // As the consumer does: the first buffer reserved from the configuration, later ones given
    // back by the writer after the insert.
    let mut batch = Batch::writing_into(rows_buffer(config.batch_bytes, 0));
    let lz4 = Compressor::default();
    let now = 1_800_000_000;
    for (partition, payload) in msgs {
        let p = *partition as usize;
        let msg = Message {
            topic: "abacus-events",
            partition: *partition,
            offset: offsets[p],
            payload: Some(payload),
        };
        offsets[p] += 1;
        batch.add(&mut states[p], msg, now, limits, metrics);
        if batch.rows() >= config.batch_rows {
            let full = std::mem::take(&mut batch);
            let (r, c) = flush(&full, &lz4);
            rows += r;
            compressed += c;
            batch = Batch::writing_into(full.events.buf);
        }
    }
    let (r, c) = flush(&batch, &lz4);
    (rows + r, compressed + c)
}

/// The writer's CPU work on a batch before the network: LZ4 in 1 MiB pieces, as the sink
/// compresses them.
fn flush(batch: &Batch, lz4: &Compressor) -> (usize, usize) {
    let mut pieces = 0;
    for chunk in batch.events.buf.chunks(1 << 20) {
        if std::hint::black_box(lz4.compress(chunk)).is_ok() {
            pieces += 1;
        }
    }
    (batch.events.len(), pieces)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let msgs = messages(n);
    let bytes: usize = msgs.iter().map(|(_, m)| m.len()).sum();
    let config = IngestConfig::default();
    let metrics = Metrics::default();
    let started = Instant::now();
    let (rows, chunks) = consume_all(&msgs, &config, &metrics);
    let took = started.elapsed();
    assert_eq!(rows, n, "every message is a unique valid event");
    println!(
        "hot path: {n} messages ({:.0} bytes each), {rows} rows, {chunks} compressed pieces: \
         {:.0} ns/message ({:.2} s)",
        bytes as f64 / n as f64,
        took.as_nanos() as f64 / n as f64,
        took.as_secs_f64()
    );
}
