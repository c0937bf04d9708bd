//! A pass over generated traffic for the example experiments, with clustered traffic for the
//! cluster-randomized `team-workspace` (companies of ~50 users, intra-cluster correlation 0.1)
//! and city-level traffic for the switchback `delivery-fee`: the cluster analysis replaces the
//! user-level one with a wider interval, the switchback is analysed by (city, hour) cell, the
//! always-valid SRM test is written beside the chi-square one and the interaction check writes
//! its rows. Needs the local stack's ClickHouse.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use abacus_aggregator::interactions::InteractionRow;
use abacus_aggregator::model::{ResultRow, RunRow};
use abacus_aggregator::{pass, AggregateConfig, PassOptions};
use abacus_loadgen::generate::Plan;
use abacus_testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_switchback_srm_and_interactions_end_to_end() {
    let db = TestDatabase::create("network").await;
    let ch = db.clickhouse();
    let defs = abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap();
    support::apply(ch, &defs).await;
    let generated = Plan {
        seed: 5,
        users: 20_000,
        base_rates: [
            ("purchase".to_owned(), 0.3),
            ("seat_purchase".to_owned(), 0.3),
        ]
        .into_iter()
        .collect(),
        cluster_size: 50.0,
        cluster_icc: 0.1,
        ..Plan::default()
    };
    support::load(ch, &defs, generated).await;
    let options = PassOptions {
        as_of: Some("2026-12-01T00:00:00Z".parse().unwrap()),
        full: true,
        ..PassOptions::default()
    };
    let passes = pass(ch, &AggregateConfig::default(), &options)
        .await
        .unwrap();
    assert_eq!(passes.len(), defs.experiments.len());

    let runs: Vec<RunRow> = ch
        .client()
        .query("SELECT ?fields FROM experiment_runs ORDER BY experiment_id")
        .fetch_all()
        .await
        .unwrap();
    let run = |id: &str| runs.iter().find(|r| r.experiment_id == id).unwrap();
    let results: Vec<ResultRow> = ch
        .client()
        .query("SELECT ?fields FROM results ORDER BY experiment_id, metric")
        .fetch_all()
        .await
        .unwrap();

    // Cluster-randomized: ~400 companies, compared by company with a wider interval.
    let tw = run("team-workspace");
    assert_eq!(
        (tw.design.as_str(), tw.unit.as_str()),
        ("cluster", "company_id")
    );
    assert!((300..=420).contains(&tw.clusters), "{tw:?}");
    assert_eq!(tw.srm_unit, "clusters");
    assert_eq!(tw.unit_missing, 0);
    let row = results
        .iter()
        .find(|r| r.experiment_id == "team-workspace" && r.is_primary == 1)
        .unwrap();
    assert_eq!(row.method, "cluster_robust", "{row:?}");
    assert_eq!(row.analysis_unit, "company_id");
    assert!(
        row.control_clusters > 100 && row.treatment_clusters > 100,
        "{row:?}"
    );
    let width = row.ci_abs_high - row.ci_abs_low;
    let user_width = row.user_level_ci_abs_high.unwrap() - row.user_level_ci_abs_low.unwrap();
    println!(
        "team-workspace: {} clusters; cluster interval {width:.4} wide, user-level {user_width:.4} ({:.2}x)",
        tw.clusters,
        width / user_width
    );
    assert!(
        width > 1.5 * user_width,
        "cluster {width} vs user {user_width}"
    );

    // Switchback: cells of (city, hour), clustered by city.
    let sb = run("delivery-fee");
    assert_eq!(
        (sb.design.as_str(), sb.unit.as_str()),
        ("switchback", "city")
    );
    assert_eq!(sb.clusters, 40);
    assert!(sb.variant_clusters.iter().all(|&c| c > 1000), "{sb:?}");
    assert!(sb.burn_in_events > 0);
    let row = results
        .iter()
        .find(|r| r.experiment_id == "delivery-fee")
        .unwrap();
    assert_eq!(row.method, "cluster_robust", "{row:?}");
    assert!(row.error.is_empty(), "{row:?}");

    // The always-valid SRM test beside the chi-square one on every run.
    for r in &runs {
        assert!(r.srm_sequential_p_value > 0.0 && r.srm_sequential_p_value <= 1.0);
        assert_eq!(r.srm_sequential_mismatch, 0, "{r:?}");
    }

    // Interactions between the user-randomized experiments that overlap.
    let interactions: Vec<InteractionRow> = ch
        .client()
        .query("SELECT ?fields FROM results_interactions")
        .fetch_all()
        .await
        .unwrap();
    assert!(!interactions.is_empty());
    assert!(interactions
        .iter()
        .all(|i| i.experiment_a != "team-workspace" && i.experiment_b != "delivery-fee"));
    assert!(
        interactions.iter().any(|i| i.error.is_empty()),
        "{interactions:#?}"
    );

    // An incremental pass right after does not repeat the check (it reads every user); a
    // check older than `interactions_every_secs` is due again.
    let checks = "SELECT uniqExact(run_id) FROM results_interactions";
    assert!(!abacus_aggregator::interactions::due(ch, 3600)
        .await
        .unwrap());
    assert!(abacus_aggregator::interactions::due(ch, 0).await.unwrap());
    let incremental = PassOptions {
        full: false,
        ..options.clone()
    };
    pass(ch, &AggregateConfig::default(), &incremental)
        .await
        .unwrap();
    assert_eq!(db.count(checks).await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let every_second = AggregateConfig {
        interactions_every_secs: 1,
        ..AggregateConfig::default()
    };
    pass(ch, &every_second, &incremental).await.unwrap();
    assert_eq!(db.count(checks).await, 2);
    db.drop().await;
}

/// The newest interaction check's rows: `(experiment_a, experiment_b, metric, cell_users,
/// cell_values)`, in key order.
async fn newest_check(
    ch: &abacus_schema::ClickHouse,
) -> Vec<(String, String, String, Vec<u64>, Vec<f64>)> {
    let rows: Vec<InteractionRow> = ch
        .client()
        .query(
            "SELECT ?fields FROM results_interactions \
             WHERE run_id = (SELECT max(run_id) FROM results_interactions) \
             ORDER BY experiment_a, experiment_b, metric",
        )
        .fetch_all()
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.experiment_a,
                r.experiment_b,
                r.metric,
                r.cell_users,
                r.cell_values,
            )
        })
        .collect()
}

/// The check reads `experiment_users` without `FINAL` and keeps each user's newest row per
/// experiment itself: after an incremental pass that wrote users again (late events), it must
/// count exactly what it counts after a full pass, where every user has one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_after_an_incremental_pass_equals_the_check_after_a_full_pass() {
    let db = TestDatabase::create("interactions_rows").await;
    let ch = db.clickhouse();
    let defs = abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap();
    support::apply(ch, &defs).await;
    let generated = |seed: u64| Plan {
        seed,
        users: 6_000,
        base_rates: [("purchase".to_owned(), 0.3)].into_iter().collect(),
        ..Plan::default()
    };
    support::load(ch, &defs, generated(21)).await;
    let config = AggregateConfig {
        interactions_every_secs: 0,
        ..AggregateConfig::default()
    };
    let options = |full: bool| PassOptions {
        as_of: Some("2026-12-01T00:00:00Z".parse().unwrap()),
        full,
        ..PassOptions::default()
    };
    pass(ch, &config, &options(true)).await.unwrap();
    // Late events of the same users: the incremental pass writes their rows again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut late = generated(22);
    late.max_events = Some(4_000);
    support::load(ch, &defs, late).await;
    pass(ch, &config, &options(false)).await.unwrap();
    let all = db.count("SELECT count() FROM experiment_users").await;
    let newest = db.count("SELECT count() FROM experiment_users FINAL").await;
    assert!(all > newest, "no user was written again ({all} rows)");
    let after_incremental = newest_check(ch).await;

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    pass(ch, &config, &options(true)).await.unwrap();
    let after_full = newest_check(ch).await;
    assert!(!after_full.is_empty());
    assert_eq!(after_incremental.len(), after_full.len());
    for (a, b) in after_incremental.iter().zip(&after_full) {
        assert_eq!(
            (&a.0, &a.1, &a.2, &a.3),
            (&b.0, &b.1, &b.2, &b.3),
            "{a:?} vs {b:?}"
        );
        for (x, y) in a.4.iter().zip(&b.4) {
            assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }
    db.drop().await;
}
