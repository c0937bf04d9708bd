//! Aggregator benchmark: a full pass over ~10 million events of 1 million users (3
//! experiments, 3 metrics each, `benches/experiments.toml`), beside, in the same run, the naive
//! query (per experiment: exposures joined to conversions, `uniqExact`/`sumIf`/`countIf` per
//! variant straight on the event store); then an incremental pass after 1% new events (new
//! users arriving), with the analysis time an hour later, and one after another 1% of late
//! events of existing users. Needs the local stack; run with `scripts/bench-aggregate`.
//!
//! Users have history before their first exposure (half of them), and the cost of CUPED is
//! measured on the same data: full passes of `bench-checkout` (conversion, winsorized revenue
//! and count metrics) with its definition as is and with `cuped = true`, alternately, five
//! times each (medians reported: single passes vary a lot on a shared machine).
//!
//! Environment: `ABACUS_BENCH_USERS` (default 1000000), `ABACUS_BENCH_KEEP=1` keeps the
//! database. The incremental pass runs with `overlap_secs = 0`: the whole dataset was written
//! in the minute before the full pass, which the default 60 s overlap would reread.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use abacus_aggregator::sql::{metric_events, DAY_MS};
use abacus_aggregator::{pass, AggregateConfig, PassOptions};
use abacus_assign::{Experiment, MetricKind};
use abacus_loadgen::generate::Plan;
use abacus_testkit::TestDatabase;

const EVENTS: [&str; 5] = [
    "add_to_cart",
    "checkout",
    "page_view",
    "purchase",
    "session_start",
];

/// The naive per-variant query of one experiment.
fn naive_sql(e: &Experiment) -> String {
    let mut cols = vec!["uniqExact(user_id) AS users".to_owned()];
    for m in &e.metrics {
        let cond = |ev: &str| format!("cname = '{ev}' AND cts >= ts");
        cols.push(match m.kind {
            MetricKind::Conversion => format!("uniqExactIf(user_id, {})", cond(&m.event)),
            MetricKind::Revenue => format!("sumIf(cvalue, {})", cond(&m.event)),
            MetricKind::Count => format!("countIf({})", cond(&m.event)),
            MetricKind::Retention => format!(
                "uniqExactIf(user_id, cname = '{}' AND cts >= ts + {} AND cts < ts + {})",
                m.event,
                i64::from(m.from_day.unwrap_or(0)) * DAY_MS,
                (i64::from(m.to_day.unwrap_or(0)) + 1) * DAY_MS
            ),
            MetricKind::Ratio => format!(
                "countIf({}) / countIf({})",
                cond(&m.event),
                cond(m.denominator.as_deref().unwrap_or_default())
            ),
        });
    }
    let names: Vec<String> = metric_events(e).iter().map(|n| format!("'{n}'")).collect();
    format!(
        "SELECT variant, {cols} FROM \
           (SELECT user_id, variant, timestamp_ms AS ts FROM events \
            WHERE event_type = 'exposure' AND experiment_id = '{id}') \
         ALL LEFT JOIN \
           (SELECT user_id, event_name AS cname, timestamp_ms AS cts, ifNull(event_value, 0.) AS cvalue \
            FROM events WHERE event_type = 'conversion' AND event_name IN ({names})) \
         USING user_id GROUP BY variant FORMAT Null",
        cols = cols.join(", "),
        id = e.id,
        names = names.join(", ")
    )
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
    let db = TestDatabase::create("bench_aggregate").await;
    let ch = db.clickhouse();
    let defs = abacus_assign::parse(include_str!("experiments.toml")).unwrap();
    support::apply(ch, &defs).await;
    let generated = |first_user: u64, users: u64, seed: u64| Plan {
        seed,
        users,
        first_user,
        base_rates: EVENTS.iter().map(|e| ((*e).to_owned(), 0.8)).collect(),
        effects: [(
            (
                "bench-checkout".to_owned(),
                "treatment".to_owned(),
                "purchase".to_owned(),
            ),
            0.05,
        )]
        .into_iter()
        .collect(),
        duplicates: 0.01,
        malformed: 0.0,
        late: 0.01,
        history: 0.5,
        ..Plan::default()
    };

    println!("database {} · loading {users} users …", db.name());
    let started = Instant::now();
    support::load(ch, &defs, generated(0, users, 1)).await;
    let events = db.count("SELECT count() FROM events").await;
    let distinct = db.count("SELECT uniqExact(user_id) FROM events").await;
    println!(
        "loaded {events} events of {distinct} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Merge the inserted parts (and the duplicates inserted on purpose), as a long-running
    // store would have.
    ch.client()
        .query("OPTIMIZE TABLE events FINAL")
        .execute()
        .await
        .unwrap();
    let events = db.count("SELECT count() FROM events").await;

    let started = Instant::now();
    for e in &defs.experiments {
        ch.client().query(&naive_sql(e)).execute().await.unwrap();
    }
    let naive = started.elapsed().as_secs_f64();

    let config = AggregateConfig {
        overlap_secs: 0,
        progress_secs: 0,
        ..AggregateConfig::default()
    };
    let options = PassOptions {
        as_of: Some("2026-11-01T00:00:00Z".parse().unwrap()),
        full: true,
        ..PassOptions::default()
    };
    let started = Instant::now();
    let passes = pass(ch, &config, &options).await.unwrap();
    let full = started.elapsed().as_secs_f64();
    let analysed: u64 = passes.iter().map(|p| p.users).sum();

    // 1% new events: new users arriving, written after the full pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut more = generated(users, users, 2);
    more.max_events = Some(events / 100);
    support::load(ch, &defs, more).await;
    let new_events = db.count("SELECT count() FROM events").await - events;
    let started = Instant::now();
    // The analysis time moves on by an hour, as a daemon's would (events whose time fell
    // into that hour are looked for too).
    let incremental_passes = pass(
        ch,
        &config,
        &PassOptions {
            full: false,
            as_of: options.as_of.map(|t| t + chrono::Duration::hours(1)),
            ..options.clone()
        },
    )
    .await
    .unwrap();
    let incremental = started.elapsed().as_secs_f64();
    let recomputed: u64 = incremental_passes.iter().map(|p| p.recomputed_users).sum();
    assert!(incremental_passes.iter().all(|p| p.mode == "incremental"));

    // Another 1%, this time late events of existing users (returning users: each of them
    // is recomputed from all of their events).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let before = db.count("SELECT count() FROM events").await;
    let mut returning = generated(0, users, 3);
    returning.max_events = Some(events / 100);
    support::load(ch, &defs, returning).await;
    let returning_events = db.count("SELECT count() FROM events").await - before;
    let started = Instant::now();
    let returning_passes = pass(
        ch,
        &config,
        &PassOptions {
            full: false,
            as_of: options.as_of.map(|t| t + chrono::Duration::hours(2)),
            ..options.clone()
        },
    )
    .await
    .unwrap();
    let returning_secs = started.elapsed().as_secs_f64();
    let returning_recomputed: u64 = returning_passes.iter().map(|p| p.recomputed_users).sum();
    assert!(returning_passes.iter().all(|p| p.mode == "incremental"));

    // CUPED on the three metrics of bench-checkout: the same experiment without and with it,
    // alternately (each apply stores a new registry version; every pass is full).
    let mut with_cuped = defs.clone();
    with_cuped.experiments[0].cuped = true;
    let only_checkout = PassOptions {
        experiment: Some("bench-checkout".to_owned()),
        ..options.clone()
    };
    // (total, materialize, statistics) seconds of each pass
    let (mut plain_secs, mut cuped_secs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        for (definitions, secs) in [(&defs, &mut plain_secs), (&with_cuped, &mut cuped_secs)] {
            support::apply(ch, definitions).await;
            let started = Instant::now();
            let p = pass(ch, &config, &only_checkout).await.unwrap();
            secs.push((
                started.elapsed().as_secs_f64(),
                p[0].materialize.as_secs_f64(),
                p[0].statistics.as_secs_f64(),
            ));
        }
    }
    let median = |v: &[(f64, f64, f64)], part: usize| {
        let mut x: Vec<f64> = v.iter().map(|t| [t.0, t.1, t.2][part]).collect();
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let list = |v: &[(f64, f64, f64)]| {
        v.iter()
            .map(|t| format!("{:.2}", t.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (plain_median, cuped_median) = (median(&plain_secs, 0), median(&cuped_secs, 0));

    println!();
    println!("| measurement | seconds | ratio |");
    println!("|---|---:|---:|");
    println!("| naive query, 3 experiments (baseline) | {naive:.2} | 1.00 |");
    println!(
        "| full pass, 3 experiments ({analysed} experiment-users) | {full:.2} | {:.2}× naive |",
        full / naive
    );
    println!(
        "| incremental pass after {new_events} new events ({:.2}%), {recomputed} users recomputed | {incremental:.2} | {:.3}× full |",
        new_events as f64 / events as f64 * 100.0,
        incremental / full
    );
    println!(
        "| incremental pass after {returning_events} more events ({:.2}%) of existing users, {returning_recomputed} users recomputed | {returning_secs:.2} | {:.3}× full |",
        returning_events as f64 / events as f64 * 100.0,
        returning_secs / full
    );
    println!(
        "| full pass of bench-checkout without CUPED (baseline of the next row; median of {}) | {plain_median:.2} | 1.00 |",
        list(&plain_secs)
    );
    println!(
        "| full pass of bench-checkout with CUPED on its 3 metrics (median of {}) | {cuped_median:.2} | {:.2}× without |",
        list(&cuped_secs),
        cuped_median / plain_median
    );
    println!(
        "  CUPED medians: materialize {:.2} s vs {:.2} s, statistics {:.2} s vs {:.2} s (with vs without)",
        median(&cuped_secs, 1),
        median(&plain_secs, 1),
        median(&cuped_secs, 2),
        median(&plain_secs, 2)
    );
    println!();
    println!(
        "events {events}, users {distinct}, full pass {:.0} events/s",
        events as f64 / full
    );
    for (name, runs) in [
        ("full", &passes),
        ("incremental", &incremental_passes),
        ("returning", &returning_passes),
    ] {
        for p in runs.iter() {
            println!(
                "  {name:<12} {:<18} materialize {:>6.2} s  statistics {:>6.2} s  total {:>6.2} s  users written {}",
                p.experiment_id,
                p.materialize.as_secs_f64(),
                p.statistics.as_secs_f64(),
                p.elapsed.as_secs_f64(),
                p.recomputed_users
            );
        }
    }
    if std::env::var("ABACUS_BENCH_KEEP").is_ok() {
        println!("kept database {}", db.name());
    } else {
        db.drop().await;
    }
}
