use super::*;
use crate::clusters::ClusterRow;
use crate::model::RunRow;
use crate::switchback::CellRow;

fn defs() -> abacus_assign::Definitions {
    abacus_assign::parse(include_str!("../../../examples/experiments.toml")).unwrap()
}

fn analysis_for(e: &Experiment, users: &[u64]) -> Analysis {
    let results = e
        .metrics
        .iter()
        .flat_map(|m| {
            e.variants
                .iter()
                .filter(|v| v.name != e.control)
                .map(move |v| ResultRow {
                    metric: m.name.clone(),
                    variant: v.name.clone(),
                    control: e.control.clone(),
                    method: "z_test".into(),
                    ci_abs_low: -0.01,
                    ci_abs_high: 0.01,
                    p_value: 0.5,
                    alpha: e.alpha,
                    analysis_unit: "user".into(),
                    ..ResultRow::default()
                })
        })
        .collect();
    Analysis {
        run: Some(RunRow {
            variants: e.variants.iter().map(|v| v.name.clone()).collect(),
            variant_users: users.to_vec(),
            srm_p_value: 0.5,
            design: "user".into(),
            srm_unit: "users".into(),
            ..RunRow::default()
        }),
        results,
        ..Analysis::default()
    }
}

#[test]
fn cluster_analysis_replaces_user_level_comparisons_and_tests_srm_on_clusters() {
    let defs = defs();
    let e = defs.experiment("team-workspace").unwrap();
    let mut rows = Vec::new();
    for c in 0..40u32 {
        let variant = if c % 2 == 0 { "solo" } else { "shared" };
        let users = 30 + u64::from(c % 7) * 5;
        let rate = 0.2 + 0.05 * f64::from(c % 5) / 4.0 + if c % 2 == 1 { 0.03 } else { 0.0 };
        rows.push(ClusterRow {
            variant: variant.into(),
            unit: format!("company-{c}"),
            users,
            n: vec![users],
            sx: vec![(rate * users as f64).round()],
            sy: vec![0.0],
        });
    }
    rows.push(ClusterRow {
        variant: "solo".into(),
        unit: String::new(),
        users: 9,
        n: vec![9],
        sx: vec![1.0],
        sy: vec![0.0],
    });
    let stats = ClusterStats::from_rows(&rows, &e.metrics);
    let mut a = analysis_for(e, &[800, 800]);
    apply_clusters(e, "company_id", &stats, &mut a);
    sample_ratio(e, 0.001, &mut a);
    let row = &a.results[0];
    assert_eq!(row.method, "cluster_robust");
    assert_eq!(row.analysis_unit, "company_id");
    assert_eq!((row.control_clusters, row.treatment_clusters), (20, 20));
    assert_eq!(row.user_level_ci_abs_low, Some(-0.01));
    assert!(row.ci_abs_high - row.ci_abs_low > 0.0);
    assert!(row.p_value_sequential.is_none());
    let run = a.run.as_ref().unwrap();
    assert_eq!(
        (run.design.as_str(), run.unit.as_str()),
        ("cluster", "company_id")
    );
    assert_eq!((run.clusters, run.unit_missing), (40, 9));
    assert_eq!(run.variant_clusters, [20, 20]);
    assert_eq!(run.srm_unit, "clusters");
    assert_eq!(run.srm_p_value, 1.0);
    assert_eq!(run.srm_sequential_mismatch, 0);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("randomized by company_id")),
        "{:?}",
        run.warnings
    );
    assert!(run
        .warnings
        .iter()
        .any(|w| w.contains("9 exposed users had no company_id")));
}

#[test]
fn switchback_analysis_uses_cells_and_the_schedule() {
    let defs = defs();
    let e = defs.experiment("delivery-fee").unwrap();
    let mut rows = Vec::new();
    for city in 0..30 {
        let unit = format!("city-{city}");
        for w in 0..24 {
            let variant = e.switchback_variant(&unit, w).unwrap().name.clone();
            let users = 50 + (city * 7 + w as usize) as u64 % 20;
            let lift = if variant == "dynamic" { 0.1 } else { 0.0 };
            rows.push(CellRow {
                unit: unit.clone(),
                w,
                events: users * 2,
                burn_in_events: 3,
                variants: vec![variant],
                users,
                num: vec![(users as f64 * (1.0 + lift + 0.01 * (w % 5) as f64)).round()],
                den: vec![users as f64],
            });
        }
    }
    let stats = SwitchbackStats::from_rows(&rows, |u, w| {
        e.switchback_variant(u, w).map(|v| v.name.as_str())
    });
    assert_eq!(stats.mismatched_cells, 0);
    let mut a = analysis_for(e, &[5000, 5000]);
    apply_switchback(e, "city", &stats, &mut a);
    sample_ratio(e, 0.001, &mut a);
    let row = &a.results[0];
    assert_eq!(row.method, "cluster_robust");
    assert!((row.abs_lift - 0.1).abs() < 0.02, "{row:?}");
    assert!(row.user_level_p_value.is_none());
    assert_eq!(row.control_clusters + row.treatment_clusters, 720);
    let run = a.run.as_ref().unwrap();
    assert_eq!(
        (run.design.as_str(), run.clusters, run.burn_in_events),
        ("switchback", 30, 2160)
    );
    assert_eq!(run.srm_unit, "cells");
    assert!(run.srm_sequential_p_value > 0.001);
}

#[test]
fn the_always_valid_test_decides_the_alert() {
    let defs = defs();
    let e = defs.experiment("aa-baseline").unwrap();
    // chi-square flags a modest imbalance at p < 0.001, the always-valid test does not
    let mut a = analysis_for(e, &[50_530, 49_470]);
    a.run.as_mut().unwrap().srm_mismatch = 1;
    a.run.as_mut().unwrap().srm_p_value = 8e-4;
    sample_ratio(e, 0.001, &mut a);
    let run = a.run.as_ref().unwrap();
    assert_eq!(run.srm_sequential_mismatch, 0, "{run:?}");
    assert!(
        run.warnings.iter().any(|w| w.contains("no alert")),
        "{:?}",
        run.warnings
    );
    // a 45/55 split is flagged by both
    let mut a = analysis_for(e, &[45_000, 55_000]);
    sample_ratio(e, 0.001, &mut a);
    let run = a.run.as_ref().unwrap();
    assert_eq!(run.srm_sequential_mismatch, 1);
    assert!(run
        .warnings
        .iter()
        .any(|w| w.starts_with("sample ratio mismatch: users")));
}
