//! Dashboard benchmark (issue #16): server time to render an experiment page with 20 metrics ×
//! 3 variants × 90 days of series, and the list page with 500 experiments, each beside the time
//! of the ClickHouse queries the page needs, measured in the same run on the same data (written
//! to a fresh database of the local stack through the aggregator's own writer).
//!
//! Run with `scripts/bench-dashboard` (or `cargo bench -p abacus-dashboard --bench render`).
//! `ABACUS_BENCH_KEEP=1` keeps the database.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use abacus_aggregator::model::{Analysis, BalanceRow, ResultRow, RunRow, SegmentRow, SeriesRow};
use abacus_assign::Experiment;
use abacus_report::pages::{experiment, list, ExperimentQuery, ListQuery};
use abacus_report::{read, Report};
use abacus_testkit::TestDatabase;
use chrono::Utc;

const METRICS: usize = 20;
const VARIANTS: [&str; 3] = ["control", "b", "c"];
const DAYS: u16 = 90;
const LIST: usize = 500;
const START_DAY: u16 = 20_400; // 2025-11-08

fn definitions(n: usize, metrics: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&format!(
            "[[experiment]]\nid = \"exp-{i:03}\"\nname = \"Experiment {i}\"\nhypothesis = \"Variant b raises metric 0\"\nnamespace = \"ns-{i}\"\ncontrol = \"control\"\nstart = \"2025-11-08T00:00:00Z\"\nend = \"2026-02-06T00:00:00Z\"\nsegments = [\"device\"]\n"
        ));
        for v in VARIANTS {
            out.push_str(&format!(
                "  [[experiment.variant]]\n  name = \"{v}\"\n  weight = 1\n"
            ));
        }
        for m in 0..metrics {
            out.push_str(&format!(
                "  [[experiment.metric]]\n  name = \"metric_{m:02}\"\n  kind = \"conversion\"\n  event = \"event_{m}\"\n{}",
                if m == 0 { "  primary = true\n" } else { "" }
            ));
        }
    }
    out
}

fn result(e: &Experiment, run_id: u64, m: usize, v: &str) -> ResultRow {
    let lift = 0.01 * (m as f64 - 8.0) + if v == "c" { 0.02 } else { 0.0 };
    ResultRow {
        run_id,
        experiment_id: e.id.clone(),
        computed_at: 1_765_000_000,
        as_of_ms: 1_765_000_000_000,
        metric: e.metrics[m].name.clone(),
        kind: "conversion".into(),
        is_primary: u8::from(m == 0),
        is_guardrail: 0,
        direction: "increase".into(),
        control: "control".into(),
        variant: v.into(),
        control_users: 100_000,
        treatment_users: 100_000,
        control_value: 0.1,
        treatment_value: 0.1 * (1.0 + lift),
        control_conversions: 10_000,
        treatment_conversions: 10_000,
        abs_lift: 0.1 * lift,
        rel_lift: Some(lift),
        ci_abs_low: 0.1 * lift - 0.003,
        ci_abs_high: 0.1 * lift + 0.003,
        ci_rel_low: Some(lift - 0.03),
        ci_rel_high: Some(lift + 0.03),
        method: "z_test".into(),
        p_value: 0.04,
        p_value_sequential: None,
        p_value_adjusted: 0.3,
        significant: 0,
        alpha: 0.05,
        winsorize_cap: None,
        guardrail_verdict: String::new(),
        guardrail_p_value: None,
        guardrail_bound: None,
        simpson: 0,
        simpson_key: String::new(),
        srm_p_value: 0.5,
        srm_mismatch: 0,
        error: String::new(),
        ..ResultRow::default()
    }
}

/// One run of `e`: results, `days` of series per metric and treatment, a segment breakdown.
fn analysis(e: &Experiment, run_id: u64, days: u16) -> Analysis {
    let treatments = &VARIANTS[1..];
    let mut a = Analysis {
        run: Some(RunRow {
            run_id,
            experiment_id: e.id.clone(),
            definition_version: 1,
            computed_at: 1_765_000_000,
            as_of_ms: 1_765_000_000_000,
            mode: "full".into(),
            recomputed_users: 300_000,
            users: 300_000,
            multiple_exposure_users: 12,
            variants: VARIANTS.map(String::from).to_vec(),
            variant_users: vec![100_000; 3],
            variant_weights: vec![1.0; 3],
            srm_chi2: 0.5,
            srm_p_value: 0.8,
            srm_mismatch: 0,
            elapsed_ms: 1,
            warnings: vec![],
            ..RunRow::default()
        }),
        ..Analysis::default()
    };
    for m in 0..e.metrics.len() {
        for v in treatments {
            let r = result(e, run_id, m, v);
            for d in 0..days {
                let shrink = 1.0 + 3.0 / f64::from(d + 1);
                a.series.push(SeriesRow {
                    run_id,
                    experiment_id: e.id.clone(),
                    metric: r.metric.clone(),
                    variant: (*v).into(),
                    day: START_DAY + d,
                    control_users: 1000 * u64::from(d + 1),
                    treatment_users: 1000 * u64::from(d + 1),
                    control_value: r.control_value,
                    treatment_value: r.treatment_value,
                    abs_lift: r.abs_lift,
                    rel_lift: r.rel_lift,
                    ci_abs_low: r.abs_lift - 0.003 * shrink,
                    ci_abs_high: r.abs_lift + 0.003 * shrink,
                    ci_rel_low: Some(r.rel_lift.unwrap() - 0.03 * shrink),
                    ci_rel_high: Some(r.rel_lift.unwrap() + 0.03 * shrink),
                    p_value: 0.2,
                    error: String::new(),
                });
            }
            for device in ["android", "ios", "web"] {
                a.segments.push(SegmentRow {
                    run_id,
                    experiment_id: e.id.clone(),
                    metric: r.metric.clone(),
                    segment_key: "device".into(),
                    segment_value: device.into(),
                    variant: (*v).into(),
                    control_users: 33_000,
                    treatment_users: 33_000,
                    control_value: 0.1,
                    treatment_value: 0.101,
                    abs_lift: 0.001,
                    rel_lift: Some(0.01),
                    ci_abs_low: -0.004,
                    ci_abs_high: 0.006,
                    p_value: 0.6,
                    error: String::new(),
                });
            }
            a.results.push(r);
        }
    }
    for device in ["android", "ios", "web"] {
        for v in VARIANTS {
            a.balance.push(BalanceRow {
                run_id,
                experiment_id: e.id.clone(),
                segment_key: "device".into(),
                segment_value: device.into(),
                variant: v.into(),
                users: 33_000,
                chi2: 1.0,
                df: 4,
                p_value: 0.9,
            });
        }
    }
    a
}

/// Median of `n` timings of `f`.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

async fn median_async<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[n / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let db = TestDatabase::create("bench_dashboard").await;
    let ch = db.clickhouse();

    // The experiment page: one experiment with 20 metrics × 3 variants × 90 days.
    let big = abacus_assign::parse(&definitions(1, METRICS))
        .unwrap()
        .experiments
        .remove(0);
    // The list: 500 experiments with 2 metrics each (their own, smaller runs).
    let mut many = abacus_assign::parse(&definitions(LIST, 2)).unwrap();
    many.experiments.retain(|e| e.id != big.id);
    let mut defs = abacus_assign::parse(&definitions(1, METRICS)).unwrap();
    defs.experiments.extend(many.experiments.clone());
    let plan = abacus_registry::plan(ch, &defs).await.unwrap();
    abacus_registry::apply(ch, &plan).await.unwrap();

    let t = Instant::now();
    abacus_aggregator::store::write(ch, &analysis(&big, 2, DAYS))
        .await
        .unwrap();
    for e in &many.experiments {
        abacus_aggregator::store::write(ch, &analysis(e, 2, 30))
            .await
            .unwrap();
    }
    println!(
        "data: 1 experiment with {METRICS} metrics × {} variants × {DAYS} days, {} more with 2 metrics × 30 days, written in {:.1} s",
        VARIANTS.len(),
        many.experiments.len(),
        t.elapsed().as_secs_f64()
    );

    // ClickHouse: what the experiment page needs (the run, its results, series, segments,
    // balance) and what the list needs (registry and newest runs).
    let latest = read::latest_runs(ch).await.unwrap();
    let run = latest
        .iter()
        .find(|r| r.experiment_id == big.id)
        .unwrap()
        .clone();
    let q_exp = median_async(9, || async {
        let runs = read::runs_of(ch, &big.id).await.unwrap();
        let r = read::load_run(ch, runs[0].clone(), Some(&big))
            .await
            .unwrap();
        std::hint::black_box(r);
    })
    .await;
    let report: Report = read::load_run(ch, run.clone(), Some(&big)).await.unwrap();
    assert_eq!(report.series.len(), METRICS * 2 * usize::from(DAYS));
    assert_eq!(run.run_id, report.run.run_id);
    let q_list = median_async(9, || async {
        let registry = abacus_registry::current(ch).await.unwrap();
        let runs = read::latest_runs(ch).await.unwrap();
        assert_eq!((registry.len(), runs.len()), (LIST, LIST));
    })
    .await;
    let q_load_all = median_async(3, || async {
        for r in &latest {
            read::load_run(ch, r.clone(), None).await.unwrap();
        }
    })
    .await;

    // Rendering, from memory (what a request costs once the snapshot holds the data).
    let runs = read::runs_of(ch, &big.id).await.unwrap();
    let query = ExperimentQuery::default();
    let mut bytes = 0;
    let r_exp = median(51, || {
        let html = experiment::render(experiment::Input {
            report: &report,
            runs: &runs,
            query: &query,
            note: None,
            now: Utc::now(),
            version: "1",
        })
        .into_string();
        bytes = html.len();
    });
    let exp_bytes = bytes;
    let mut latest_reports = BTreeMap::new();
    for r in &latest {
        let def = defs.experiments.iter().find(|e| e.id == r.experiment_id);
        let mut rep = report.clone();
        rep.run = r.clone();
        rep.definition = def.cloned();
        rep.results.truncate(4);
        latest_reports.insert(r.experiment_id.clone(), rep);
    }
    let registry: Vec<Experiment> = defs.experiments.clone();
    let r_list = median(21, || {
        let entries = list::entries(&registry, &latest_reports, Utc::now());
        let html = list::render(&entries, &ListQuery::default(), "1").into_string();
        bytes = html.len();
    });

    let uptime = std::process::Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("uptime: {uptime}");
    println!(
        "experiment page ({METRICS} metrics × {} variants × {DAYS} days, {} KiB): render {:.2} ms (median of 51) | its ClickHouse queries {:.2} ms (median of 9) | render / queries = {:.3}",
        VARIANTS.len(),
        exp_bytes / 1024,
        ms(r_exp),
        ms(q_exp),
        ms(r_exp) / ms(q_exp)
    );
    println!(
        "list page ({LIST} experiments, {} KiB): render {:.2} ms (median of 21) | its ClickHouse queries (registry + newest runs) {:.2} ms (median of 9) | render / queries = {:.3}",
        bytes / 1024,
        ms(r_list),
        ms(q_list),
        ms(r_list) / ms(q_list)
    );
    println!(
        "loader, first load of all {LIST} newest runs: {:.0} ms (median of 3; the pages never wait for it)",
        ms(q_load_all)
    );
    if std::env::var("ABACUS_BENCH_KEEP").as_deref() == Ok("1") {
        println!("kept database {}", db.name());
    } else {
        db.drop().await;
    }
}
