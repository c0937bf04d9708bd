//! The text report of `abacus report --format table`: a header per experiment, an SRM warning
//! banner when the sample ratio check fails, then one line per metric and treatment variant
//! with users, values, relative lift with its confidence interval, p-value (adjusted) and the
//! verdict; for CUPED metrics a line with the variance reduction and the unadjusted estimate,
//! for Bayesian experiments one with the chance to win and the risks; guardrail verdicts and
//! other warnings follow.

use std::fmt::Write as _;

use crate::{bayes_note, cuped_note, num, pct, pvalue, verdict, Report};
use abacus_aggregator::model::ResultRow;

fn lift(r: &ResultRow) -> (String, String) {
    match (r.rel_lift, r.ci_rel_low, r.ci_rel_high) {
        (Some(l), Some(lo), Some(hi)) => (pct(l), format!("[{}, {}]", pct(lo), pct(hi))),
        _ => (
            format!("{:+}", num(r.abs_lift, 4)),
            format!("[{}, {}] abs", num(r.ci_abs_low, 3), num(r.ci_abs_high, 3)),
        ),
    }
}

/// Renders one experiment.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let run = &r.run;
    let _ = writeln!(out, "━━ {} ({}) ━━", r.name, run.experiment_id);
    if !r.hypothesis.is_empty() {
        let _ = writeln!(out, "hypothesis: {}", r.hypothesis);
    }
    let users: Vec<String> = run
        .variants
        .iter()
        .zip(&run.variant_users)
        .map(|(v, u)| format!("{v} {u}"))
        .collect();
    let _ = writeln!(
        out,
        "as of {} · run {} ({}) · users: {} · excluded (several variants): {}{}",
        r.as_of().format("%Y-%m-%d %H:%M UTC"),
        run.run_id,
        run.mode,
        users.join(", "),
        run.multiple_exposure_users,
        if r.sequential { " · sequential" } else { "" }
    );
    if run.srm_mismatch == 1 {
        let _ = writeln!(
            out,
            "!! SAMPLE RATIO MISMATCH: users per variant do not match the design {:?} (chi2 {:.1}, p {}). \
             Assignment or logging is broken; do not trust these results.",
            run.variant_weights,
            run.srm_chi2,
            pvalue(run.srm_p_value)
        );
    }
    let _ = writeln!(
        out,
        "{:<26} {:<14} {:>9} {:>9} {:>11} {:>11} {:>9} {:<22} {:>9} {:>9}  verdict",
        "metric",
        "variant",
        "users C",
        "users T",
        "control",
        "treatment",
        "lift",
        "CI",
        "p",
        "p adj",
    );
    for m in &r.results {
        let (l, ci) = lift(m);
        let name = if m.is_primary == 1 {
            format!("{} *", m.metric)
        } else {
            m.metric.clone()
        };
        let p = match m.p_value_sequential {
            Some(s) => format!("{} seq", pvalue(s)),
            None => pvalue(m.p_value),
        };
        let _ = writeln!(
            out,
            "{:<26} {:<14} {:>9} {:>9} {:>11} {:>11} {:>9} {:<22} {:>9} {:>9}  {}{}",
            name,
            m.variant,
            m.control_users,
            m.treatment_users,
            num(m.control_value, 4),
            num(m.treatment_value, 4),
            l,
            ci,
            p,
            pvalue(m.p_value_adjusted),
            verdict(m),
            if m.simpson == 1 {
                format!(" (Simpson's paradox across {})", m.simpson_key)
            } else {
                String::new()
            }
        );
        for note in [cuped_note(m), bayes_note(m)].into_iter().flatten() {
            let _ = writeln!(out, "{:<26} {note}", "");
        }
        if !m.error.is_empty() {
            let _ = writeln!(out, "{:<26} note: {}", "", m.error);
        }
    }
    let bayesian = r.results.iter().any(|m| m.engine == "bayesian");
    let _ = writeln!(
        out,
        "* primary metric · p: two-sided{} · {}",
        if r.sequential {
            " (seq = always-valid sequential p-value)"
        } else {
            ""
        },
        if bayesian {
            "Bayesian engine: lift and CI are the posterior mean and credible interval; the verdict uses the chance to win and the risk"
        } else {
            "p adj: Holm over non-guardrail metrics × variants"
        }
    );
    for w in run
        .warnings
        .iter()
        .filter(|w| !w.starts_with("sample ratio mismatch"))
    {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
