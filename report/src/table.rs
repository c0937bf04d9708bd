//! The text report of `abacus report --format table`: a header per experiment, an SRM warning
//! banner when the sample ratio check fails, then one line per metric and treatment variant
//! with users, values, relative lift with its confidence interval, p-value (adjusted) and the
//! verdict; for CUPED metrics a line with the variance reduction and the unadjusted estimate,
//! for Bayesian experiments one with the chance to win and the risks; guardrail verdicts and
//! other warnings follow. A row without a test shows `–` for what it does not have and a
//! `no test:` line with the reason. Free text (names, hypotheses) is made safe for the terminal
//! ([`crate::text::terminal`]).

use std::fmt::Write as _;

use crate::text::terminal;
use crate::{
    bayes_note, compared, cuped_note, network, no_test_reason, num, pct, pvalue, tested, verdict,
    Report,
};
use abacus_aggregator::model::ResultRow;

/// Shown instead of a number a row does not have.
const NONE: &str = "–";

fn lift(r: &ResultRow) -> (String, String) {
    if !compared(r) {
        return (NONE.to_owned(), NONE.to_owned());
    }
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
    let _ = writeln!(
        out,
        "━━ {} ({}) ━━",
        terminal(&r.name),
        terminal(&run.experiment_id)
    );
    if !r.hypothesis.is_empty() {
        let _ = writeln!(out, "hypothesis: {}", terminal(&r.hypothesis));
    }
    let users: Vec<String> = run
        .variants
        .iter()
        .zip(&run.variant_users)
        .map(|(v, u)| format!("{} {u}", terminal(v)))
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
    if let Some(line) = network::randomization(run, r.definition.as_ref()) {
        let _ = writeln!(out, "{line}");
    }
    if network::srm_alert(run) {
        let _ = writeln!(
            out,
            "!! SAMPLE RATIO MISMATCH: {} per variant do not match the design {:?} ({}). \
             Assignment or logging is broken; do not trust these results.",
            network::srm_counted(run),
            run.variant_weights,
            network::srm_detail(run)
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
            format!("{} *", terminal(&m.metric))
        } else {
            terminal(&m.metric).into_owned()
        };
        let p = match m.p_value_sequential {
            _ if !compared(m) => NONE.to_owned(),
            Some(s) => format!("{} seq", pvalue(s)),
            None => pvalue(m.p_value),
        };
        let value = |x: f64| {
            if compared(m) {
                num(x, 4)
            } else {
                NONE.to_owned()
            }
        };
        let _ = writeln!(
            out,
            "{:<26} {:<14} {:>9} {:>9} {:>11} {:>11} {:>9} {:<22} {:>9} {:>9}  {}{}",
            name,
            terminal(&m.variant),
            m.control_users,
            m.treatment_users,
            value(m.control_value),
            value(m.treatment_value),
            l,
            ci,
            p,
            if tested(m) {
                pvalue(m.p_value_adjusted)
            } else {
                NONE.to_owned()
            },
            verdict(m),
            if m.simpson == 1 {
                format!(" (Simpson's paradox across {})", terminal(&m.simpson_key))
            } else {
                String::new()
            }
        );
        for note in [cuped_note(m), bayes_note(m), network::user_level_note(m)]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(out, "{:<26} {}", "", terminal(&note));
        }
        if !tested(m) {
            let _ = writeln!(out, "{:<26} no test: {}", "", terminal(&no_test_reason(m)));
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
        let _ = writeln!(out, "warning: {}", terminal(w));
    }
    for i in r.interactions.iter().filter(|i| i.flagged == 1) {
        let _ = writeln!(
            out,
            "interaction: {}",
            terminal(&network::interaction_line(i))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn text_from_a_definitions_file_cannot_drive_the_terminal() {
        let mut r = fixtures::report();
        r.name = "Checkout\u{1b}]0;owned\u{7}\u{1b}[2J".into();
        r.hypothesis = "raises\u{1b}[31m sales\u{9b}1A\nfake line\u{0}".into();
        r.run.warnings = vec!["segment \u{1b}[5mblink".into()];
        let out = render(&r);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{9b}') && !out.contains('\u{0}'));
        assert!(out.contains("━━ Checkout (exp) ━━"), "{out}");
        assert!(
            out.contains("hypothesis: raises sales fake line\u{FFFD}"),
            "{out}"
        );
        assert!(out.contains("warning: segment blink"), "{out}");
        // Every line is the renderer's own: no control character but the line feeds.
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn a_row_without_a_test_shows_no_numbers() {
        let out = render(&fixtures::report());
        let line = out.lines().find(|l| l.starts_with("big_spend")).unwrap();
        assert!(line.ends_with("no test"), "{line}");
        assert!(
            !line.contains("0.0000") && !line.contains("1.0000"),
            "{line}"
        );
        assert_eq!(line.matches('–').count(), 6, "{line}");
        assert!(out.contains("no test: control sum of squares must be finite, got inf"));
        // The tested rows keep their numbers.
        let tested = out
            .lines()
            .find(|l| l.starts_with("purchase_rate"))
            .unwrap();
        assert!(
            tested.contains("+10.00%") && tested.contains("better"),
            "{tested}"
        );
    }
}
