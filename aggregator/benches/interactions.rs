//! Interaction-check benchmark: 20 concurrent experiments (each in its own namespace, so every
//! user is in all of them; two or three variants, a primary conversion metric and a revenue
//! metric) over `ABACUS_BENCH_USERS` users (default 1,000,000) loaded straight into a fresh
//! `events` table. Times, in the same run, a full aggregation pass over the 20 experiments
//! (the baseline) and the pairwise interaction check over their 190 pairs, and prints the
//! ratio. Needs the local stack; run with `scripts/bench-interactions`.
//!
//! `ABACUS_BENCH_KEEP=1` keeps the database.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use abacus_aggregator::interactions::{check, Member, RunInfo};
use abacus_aggregator::{pass, AggregateConfig, PassOptions};
use abacus_loadgen::generate::Plan;
use abacus_testkit::TestDatabase;

const EXPERIMENTS: usize = 20;

fn definitions() -> String {
    let mut out = String::new();
    for i in 0..EXPERIMENTS {
        let third = if i % 4 == 3 {
            "\n  [[experiment.variant]]\n  name = \"c\"\n  weight = 1\n"
        } else {
            ""
        };
        out.push_str(&format!(
            r#"
[[experiment]]
id = "exp-{i:02}"
name = "Experiment {i}"
hypothesis = "benchmark"
control = "a"
start = "2026-10-01T00:00:00Z"
end = "2026-10-15T00:00:00Z"
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "b"
  weight = 1
{third}
  [[experiment.metric]]
  name = "purchase"
  kind = "conversion"
  event = "purchase"
  window = "7d"
  primary = true
  [[experiment.metric]]
  name = "revenue"
  kind = "revenue"
  event = "purchase"
"#
        ));
    }
    out
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let users: u64 = std::env::var("ABACUS_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let db = TestDatabase::create("bench_interactions").await;
    let ch = db.clickhouse();
    let defs = abacus_assign::parse(&definitions()).unwrap();
    support::apply(ch, &defs).await;
    println!(
        "database {} · loading {users} users in {EXPERIMENTS} experiments …",
        db.name()
    );
    let started = Instant::now();
    let generated = Plan {
        seed: 17,
        users,
        base_rates: [("purchase".to_owned(), 0.2)].into_iter().collect(),
        duplicates: 0.0,
        malformed: 0.0,
        late: 0.0,
        ..Plan::default()
    };
    support::load(ch, &defs, generated).await;
    ch.client()
        .query("OPTIMIZE TABLE events FINAL")
        .execute()
        .await
        .unwrap();
    let events = db.count("SELECT count() FROM events").await;
    println!(
        "loaded {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The baseline is a full pass without the check (a pass over all experiments runs it by
    // default); the check is timed on its own below.
    let config = AggregateConfig {
        overlap_secs: 0,
        progress_secs: 0,
        interactions: false,
        ..AggregateConfig::default()
    };
    let as_of: chrono::DateTime<chrono::Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
    let options = PassOptions {
        as_of: Some(as_of),
        full: true,
        ..PassOptions::default()
    };
    let started = Instant::now();
    let passes = pass(ch, &config, &options).await.unwrap();
    let full = started.elapsed().as_secs_f64();
    let analysed: u64 = passes.iter().map(|p| p.users).sum();

    // A full pass makes every experiment's base run its own run.
    let members: Vec<Member> = defs
        .experiments
        .iter()
        .map(|e| Member {
            experiment: e,
            base_run_id: passes
                .iter()
                .find(|p| p.experiment_id == e.id)
                .map_or(0, |p| p.run_id),
        })
        .collect();
    let run = RunInfo {
        run_id: 1,
        computed_at: 0,
        as_of_ms: as_of.timestamp_millis(),
        alpha: 0.05,
    };
    let started = Instant::now();
    let rows = check(ch, &members, &run, as_of).await.unwrap();
    let check_secs = started.elapsed().as_secs_f64();
    let tested = rows.iter().filter(|r| r.error.is_empty()).count();
    let flagged = rows.iter().filter(|r| r.flagged == 1).count();
    let overlap: u64 = rows.iter().map(|r| r.overlap_users).max().unwrap_or(0);

    println!();
    println!("| measurement | seconds | ratio |");
    println!("|---|---:|---:|");
    println!(
        "| full pass, {EXPERIMENTS} experiments ({analysed} experiment-users, baseline) | {full:.2} | 1.00 |"
    );
    println!(
        "| interaction check, {} tests over {} pairs (up to {overlap} shared users per pair) | {check_secs:.2} | {:.3}× full |",
        rows.len(),
        EXPERIMENTS * (EXPERIMENTS - 1) / 2,
        check_secs / full
    );
    println!();
    println!("events {events}; tests run {tested}, flagged after Holm {flagged} (no interaction was planted)");
    if std::env::var("ABACUS_BENCH_KEEP").is_ok() {
        println!("kept database {}", db.name());
    } else {
        db.drop().await;
    }
}
