//! What the reports say about randomization units, the sample ratio tests and interactions
//! with concurrent experiments: one place for the words, so the table, the JSON, the HTML page
//! and the dashboard agree.
//!
//! - [`randomization`]: "randomized by company_id: 412 clusters, 51,380 users".
//! - [`srm_alert`]: whether the sample ratio alert is raised (the always-valid test; the
//!   chi-square one for runs written before it existed).
//! - [`interaction_line`]: "checkout-redesign × pricing: effect of treatment differs by pricing
//!   variant, p adj 0.003".
//! - [`user_level_note`]: how much narrower a (wrong) user-level interval would have been.

use abacus_aggregator::interactions::InteractionRow;
use abacus_aggregator::model::{ResultRow, RunRow};
use abacus_assign::Experiment;

use crate::{num, pvalue};

/// `51380` → `51,380`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How the experiment was randomized, for experiments with a unit.
pub fn randomization(run: &RunRow, def: Option<&Experiment>) -> Option<String> {
    match run.design.as_str() {
        "cluster" => {
            let users = run.users.saturating_sub(run.unit_missing);
            let mut line = format!(
                "randomized by {}: {} clusters, {} users",
                run.unit,
                thousands(run.clusters),
                thousands(users)
            );
            if run.unit_missing > 0 {
                line.push_str(&format!(
                    " ({} exposed users without {} left out)",
                    thousands(run.unit_missing),
                    run.unit
                ));
            }
            Some(line)
        }
        "switchback" => {
            let schedule = def
                .and_then(|d| d.window.map(|w| (w, d.burn_in)))
                .map(|(w, b)| match b {
                    Some(b) => format!(" ({w} windows, {b} burn-in)"),
                    None => format!(" ({w} windows)"),
                })
                .unwrap_or_default();
            let cells: u64 = run.variant_clusters.iter().sum();
            let mut line = format!(
                "switchback by {}{schedule}: {} units, {} cells",
                run.unit,
                thousands(run.clusters),
                thousands(cells)
            );
            if run.burn_in_events > 0 {
                line.push_str(&format!(
                    ", {} events in burn-in left out",
                    thousands(run.burn_in_events)
                ));
            }
            if run.unit_missing > 0 {
                line.push_str(&format!(
                    ", {} events without {} left out",
                    thousands(run.unit_missing),
                    run.unit
                ));
            }
            Some(line)
        }
        _ => None,
    }
}

/// Whether the sample ratio alert is raised: the always-valid test decides; a run written
/// before it existed (no Bayes factor computed) falls back to the chi-square test.
pub fn srm_alert(run: &RunRow) -> bool {
    let computed = !(run.srm_sequential_log_bf == 0.0 && run.srm_sequential_p_value == 1.0);
    if computed {
        run.srm_sequential_mismatch == 1
    } else {
        run.srm_mismatch == 1
    }
}

/// What the sample ratio tests counted, in words.
pub fn srm_counted(run: &RunRow) -> &str {
    if run.srm_unit.is_empty() {
        "users"
    } else {
        &run.srm_unit
    }
}

/// Both sample ratio p-values, e.g. `always-valid p 0.83, chi-square p 0.4103 (clusters)`.
pub fn srm_detail(run: &RunRow) -> String {
    format!(
        "always-valid p {}, chi-square p {} ({} per variant)",
        pvalue(run.srm_sequential_p_value),
        pvalue(run.srm_p_value),
        srm_counted(run)
    )
}

/// The line of a flagged interaction.
pub fn interaction_line(r: &InteractionRow) -> String {
    let treatments: Vec<&str> = r.variants_a.iter().skip(1).map(String::as_str).collect();
    let effect = if treatments.len() == 1 {
        treatments[0].to_owned()
    } else {
        format!(
            "{} vs {}",
            treatments.join(", "),
            r.variants_a.first().map_or("", |s| s)
        )
    };
    format!(
        "{} × {}: effect of {effect} on {} differs by {} variant, p adj {}",
        r.experiment_a,
        r.experiment_b,
        r.metric,
        r.experiment_b,
        pvalue(r.p_value_adjusted)
    )
}

/// For a clustered comparison: the user-level interval it replaces and how much wider the
/// clustered one is.
pub fn user_level_note(m: &ResultRow) -> Option<String> {
    let (lo, hi) = (m.user_level_ci_abs_low?, m.user_level_ci_abs_high?);
    let width = hi - lo;
    let ratio = if width > 0.0 {
        format!(
            ", {}× narrower",
            num((m.ci_abs_high - m.ci_abs_low) / width, 2)
        )
    } else {
        String::new()
    };
    Some(format!(
        "by {}: {} vs {} clusters; a user-level analysis would give [{}, {}] abs (p {}){ratio}: too narrow, users of a cluster are not independent",
        m.analysis_unit,
        thousands(m.control_clusters),
        thousands(m.treatment_clusters),
        num(lo, 3),
        num(hi, 3),
        m.user_level_p_value.map_or("-".to_owned(), pvalue)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well() {
        assert_eq!(thousands(51_380), "51,380");
        assert_eq!(thousands(412), "412");
        assert_eq!(thousands(1_000_000), "1,000,000");
        let run = RunRow {
            design: "cluster".into(),
            unit: "company_id".into(),
            clusters: 412,
            users: 51_380,
            ..RunRow::default()
        };
        assert_eq!(
            randomization(&run, None).unwrap(),
            "randomized by company_id: 412 clusters, 51,380 users"
        );
        assert!(randomization(&RunRow::default(), None).is_none());
        let row = InteractionRow {
            experiment_a: "checkout-redesign".into(),
            experiment_b: "pricing".into(),
            metric: "purchase".into(),
            variants_a: vec!["control".into(), "treatment".into()],
            p_value_adjusted: 0.003,
            ..InteractionRow::default()
        };
        assert_eq!(
            interaction_line(&row),
            "checkout-redesign × pricing: effect of treatment on purchase differs by pricing variant, p adj 0.0030"
        );
    }

    #[test]
    fn the_always_valid_test_raises_the_alert() {
        let mut run = RunRow {
            srm_mismatch: 1,
            srm_sequential_p_value: 0.2,
            srm_sequential_log_bf: 1.6,
            ..RunRow::default()
        };
        assert!(!srm_alert(&run));
        run.srm_sequential_mismatch = 1;
        assert!(srm_alert(&run));
        // an old run without the always-valid test: the chi-square result
        let old = RunRow {
            srm_mismatch: 1,
            srm_sequential_p_value: 1.0,
            ..RunRow::default()
        };
        assert!(srm_alert(&old));
    }
}
