//! Loads synthetic traffic from the `abacus produce` generator straight into the event store
//! (bypassing Kafka, which the ingest tests cover), for aggregator tests and benchmarks.
//! Malformed messages are skipped; duplicates are inserted twice on purpose, as if they had
//! slipped past ingest, so the aggregator's own dedupe is exercised.

#![allow(dead_code)]

use abacus_assign::Definitions;
use abacus_ingest::event::{decode, EventRow, Origin};
use abacus_loadgen::generate::{Generator, Plan, Truth};
use abacus_schema::ClickHouse;

/// Rows per insert.
const BATCH: usize = 200_000;

async fn flush(ch: &ClickHouse, rows: &mut Vec<EventRow>) {
    if rows.is_empty() {
        return;
    }
    let mut insert = ch.client().insert::<EventRow>("events").await.unwrap();
    for row in rows.iter() {
        insert.write(row).await.unwrap();
    }
    insert.end().await.unwrap();
    rows.clear();
}

/// Applies `defs` to the registry (what `abacus experiments apply` does).
pub async fn apply(ch: &ClickHouse, defs: &Definitions) {
    let plan = abacus_registry::plan(ch, defs).await.unwrap();
    abacus_registry::apply(ch, &plan).await.unwrap();
}

/// Generates `plan` for `defs` and inserts every valid event; returns the generator's truth
/// and the number of rows inserted.
pub async fn load(ch: &ClickHouse, defs: &Definitions, plan: Plan) -> (Truth, u64) {
    let mut generator = Generator::new(defs, plan).unwrap();
    let mut rows = Vec::with_capacity(BATCH);
    let mut inserted = 0u64;
    let mut offset = 0i64;
    let mut push = |payload: &[u8], rows: &mut Vec<EventRow>| {
        offset += 1;
        let origin = Origin {
            topic: "generated",
            partition: 0,
            offset,
            ingested_at: 0,
        };
        if let Ok(row) = decode(Some(payload), 1 << 20, origin) {
            rows.push(row);
            inserted += 1;
        }
    };
    while let Some(messages) = generator.next_user() {
        for m in messages {
            push(&m.payload, &mut rows);
        }
        if rows.len() >= BATCH {
            flush(ch, &mut rows).await;
        }
    }
    for m in generator.finish() {
        push(&m.payload, &mut rows);
    }
    flush(ch, &mut rows).await;
    (generator.truth().clone(), inserted)
}
