//! The HTML report: one self-contained page (inline CSS and SVG, no script, no network) with,
//! per experiment, the results table, a forest plot of the lift intervals, the cumulative lift
//! with its interval over time for each primary metric, the sample ratio and balance tables and
//! the segment breakdown. Every text that comes from data is HTML-escaped, and control
//! characters in it (a NUL from Kafka metadata) are replaced ([`esc`]).

use std::fmt::Write as _;

use crate::{
    bayes_note, compared, cuped_note, no_test_reason, num, pct, pvalue, tested, verdict, Report,
};
use abacus_aggregator::model::{ResultRow, SeriesRow};

/// Shown instead of a number a row does not have.
const NONE: &str = "–";

/// Colour of interval bars and bands (the screenshot test looks for it).
pub const INTERVAL_COLOR: &str = "#2563eb";
/// Colour of the interval band of the time series.
pub const BAND_COLOR: &str = "#93c5fd";

/// Escapes text for HTML; control characters other than tab and line breaks (a NUL from event
/// metadata, an escape sequence from a definitions file) become U+FFFD ([`crate::text::html`]).
pub fn esc(text: &str) -> String {
    crate::text::html(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#111827;max-width:1200px}\
h1{font-size:22px}h2{font-size:19px;border-bottom:2px solid #e5e7eb;padding-bottom:4px;margin-top:40px}\
h3{font-size:15px;margin-top:24px}table{border-collapse:collapse;font-size:13px;margin:8px 0}\
td,th{border:1px solid #e5e7eb;padding:3px 8px;text-align:right}th{background:#f9fafb}\
td.l,th.l{text-align:left}.banner{background:#fee2e2;border:1px solid #dc2626;color:#7f1d1d;padding:10px;margin:10px 0;font-weight:600}\
.warn{background:#fef3c7;border:1px solid #d97706;padding:6px 10px;margin:6px 0}.meta{color:#4b5563;font-size:13px}\
.better{color:#15803d;font-weight:600}.worse{color:#b91c1c;font-weight:600}";

/// Renders every report into one page.
pub fn render(reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Abacus experiment report</title><style>{STYLE}</style></head><body><h1>Abacus experiment report</h1>"
    );
    for r in reports {
        experiment(&mut out, r);
    }
    out.push_str("</body></html>\n");
    out
}

fn lift_of(r: &ResultRow) -> (f64, f64, f64, bool) {
    match (r.rel_lift, r.ci_rel_low, r.ci_rel_high) {
        (Some(l), Some(lo), Some(hi)) => (l, lo, hi, true),
        _ => (r.abs_lift, r.ci_abs_low, r.ci_abs_high, false),
    }
}

fn experiment(out: &mut String, r: &Report) {
    let run = &r.run;
    let _ = write!(
        out,
        "<section><h2>{} <small>({})</small></h2><p class=\"meta\">{}</p><p class=\"meta\">as of {} · run {} ({}) · computed {} · users excluded for several variants: {}{}</p>",
        esc(&r.name),
        esc(&run.experiment_id),
        esc(&r.hypothesis),
        r.as_of().format("%Y-%m-%d %H:%M UTC"),
        run.run_id,
        esc(&run.mode),
        r.computed_at().format("%Y-%m-%d %H:%M UTC"),
        run.multiple_exposure_users,
        if r.sequential { " · sequential testing" } else { "" }
    );
    if let Some(line) = crate::network::randomization(run, r.definition.as_ref()) {
        let _ = write!(out, "<p class=\"meta\">{}</p>", esc(&line));
    }
    if crate::network::srm_alert(run) {
        let _ = write!(
            out,
            "<div class=\"banner\">Sample ratio mismatch: the {} per variant do not match the design ({}). Assignment or exposure logging is broken; do not trust these results.</div>",
            esc(crate::network::srm_counted(run)),
            esc(&crate::network::srm_detail(run))
        );
    }
    for i in r.interactions.iter().filter(|i| i.flagged == 1) {
        let _ = write!(
            out,
            "<div class=\"warn\">Interaction: {}</div>",
            esc(&crate::network::interaction_line(i))
        );
    }
    for w in run
        .warnings
        .iter()
        .filter(|w| !w.starts_with("sample ratio mismatch"))
    {
        let _ = write!(out, "<div class=\"warn\">{}</div>", esc(w));
    }
    results_table(out, r);
    out.push_str("<h3>Lift with confidence interval</h3>");
    forest(out, &r.results);
    for m in r.results.iter().filter(|m| m.is_primary == 1) {
        let points: Vec<&SeriesRow> = r
            .series
            .iter()
            .filter(|s| s.metric == m.metric && s.variant == m.variant)
            .collect();
        let _ = write!(
            out,
            "<h3>Cumulative lift over time: {} ({} vs {})</h3>",
            esc(&m.metric),
            esc(&m.variant),
            esc(&m.control)
        );
        series_chart(out, &points);
    }
    srm_table(out, r);
    balance_table(out, r);
    segments_table(out, r);
    out.push_str("</section>");
}

fn results_table(out: &mut String, r: &Report) {
    out.push_str("<h3>Results</h3><table><tr><th class=\"l\">metric</th><th class=\"l\">variant</th><th>users C</th><th>users T</th><th>control</th><th>treatment</th><th>lift</th><th>CI</th><th>p</th><th>p (sequential)</th><th>p adjusted</th><th class=\"l\">verdict</th></tr>");
    for m in &r.results {
        let (l, lo, hi, rel) = lift_of(m);
        let has = compared(m);
        let f = |x: f64| match (has, rel) {
            (false, _) => NONE.to_owned(),
            (true, true) => pct(x),
            (true, false) => num(x, 4),
        };
        let value = |x: f64| if has { num(x, 4) } else { NONE.to_owned() };
        let v = verdict(m);
        let class = match v.as_str() {
            "better" | "guardrail pass" => "better",
            "worse" | "guardrail fail" => "worse",
            _ => "",
        };
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l {class}\">{}{}{}{}</td></tr>",
            esc(&m.metric),
            if m.is_primary == 1 { " ★" } else { "" },
            esc(&m.variant),
            m.control_users,
            m.treatment_users,
            value(m.control_value),
            value(m.treatment_value),
            f(l),
            f(lo),
            f(hi),
            if has { pvalue(m.p_value) } else { NONE.to_owned() },
            m.p_value_sequential.map_or(NONE.to_owned(), pvalue),
            if tested(m) { pvalue(m.p_value_adjusted) } else { NONE.to_owned() },
            esc(&v),
            if m.simpson == 1 { format!(" · Simpson's paradox across {}", esc(&m.simpson_key)) } else { String::new() },
            if tested(m) { String::new() } else { format!(": {}", esc(&no_test_reason(m))) },
            [cuped_note(m), bayes_note(m)].into_iter().flatten().map(|n| format!(" · {}", esc(&n))).collect::<String>(),
        );
    }
    out.push_str("</table><p class=\"meta\">★ primary metric. Lift is relative (absolute when the control value is 0). p adjusted: Holm over non-guardrail metrics × variants.</p>");
}

/// Forest plot: one row per metric and variant, interval bar and point, zero line.
fn forest(out: &mut String, rows: &[ResultRow]) {
    let rows: Vec<&ResultRow> = rows
        .iter()
        .filter(|r| compared(r) && r.error.is_empty())
        .collect();
    if rows.is_empty() {
        out.push_str("<p class=\"meta\">No intervals to plot.</p>");
        return;
    }
    let (w, label_w, row_h, top) = (900.0, 260.0, 28.0, 24.0);
    let h = top + row_h * rows.len() as f64 + 30.0;
    let mut lo = 0.0f64;
    let mut hi = 0.0f64;
    for r in &rows {
        let (_, l, u, _) = lift_of(r);
        lo = lo.min(l);
        hi = hi.max(u);
    }
    let pad = (hi - lo).max(1e-9) * 0.08;
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |v: f64| label_w + (v - lo) / (hi - lo) * (w - label_w - 170.0);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"forest plot\"><rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>"
    );
    let zero = x(0.0);
    let _ = write!(
        out,
        "<line x1=\"{zero:.1}\" y1=\"{:.1}\" x2=\"{zero:.1}\" y2=\"{:.1}\" stroke=\"#6b7280\" stroke-dasharray=\"4 3\"/>",
        top - 10.0,
        h - 24.0
    );
    for (i, r) in rows.iter().enumerate() {
        let (l, lo_v, hi_v, rel) = lift_of(r);
        let y = top + row_h * i as f64 + row_h / 2.0;
        let f = |v: f64| if rel { pct(v) } else { num(v, 3) };
        let color = if r.significant == 1 {
            "#111827"
        } else {
            INTERVAL_COLOR
        };
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{:.1}\" font-size=\"12\">{} · {}</text>\
             <line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{INTERVAL_COLOR}\" stroke-width=\"6\"/>\
             <circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#374151\">{} [{}, {}]</text>",
            y + 4.0,
            esc(&r.metric),
            esc(&r.variant),
            x(lo_v),
            x(hi_v),
            x(l),
            x(hi_v) + 6.0,
            y - 6.0,
            f(l),
            f(lo_v),
            f(hi_v),
        );
    }
    let _ = write!(
        out,
        "<text x=\"{zero:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">0</text></svg>",
        h - 8.0
    );
}

/// Cumulative lift (relative, or absolute without a control value) with its interval band.
fn series_chart(out: &mut String, points: &[&SeriesRow]) {
    let points: Vec<(f64, f64, f64, u16)> = points
        .iter()
        .filter(|p| p.error.is_empty())
        .map(|p| match (p.rel_lift, p.ci_rel_low, p.ci_rel_high) {
            (Some(l), Some(lo), Some(hi)) => (l, lo, hi, p.day),
            _ => (p.abs_lift, p.ci_abs_low, p.ci_abs_high, p.day),
        })
        .collect();
    if points.len() < 2 {
        out.push_str("<p class=\"meta\">Not enough days with results to draw a series yet.</p>");
        return;
    }
    let (w, h, left, right, top, bottom) = (900.0, 300.0, 60.0, 20.0, 16.0, 36.0);
    let lo = points.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let hi = points.iter().map(|p| p.2).fold(0.0f64, f64::max);
    let pad = (hi - lo).max(1e-9) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let (d0, d1) = (
        f64::from(points[0].3),
        f64::from(points[points.len() - 1].3).max(f64::from(points[0].3) + 1.0),
    );
    let x = |d: u16| left + (f64::from(d) - d0) / (d1 - d0) * (w - left - right);
    let y = |v: f64| top + (hi - v) / (hi - lo) * (h - top - bottom);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"cumulative lift\"><rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>"
    );
    let upper: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.3), y(p.2)))
        .collect();
    let lower: Vec<String> = points
        .iter()
        .rev()
        .map(|p| format!("{:.1},{:.1}", x(p.3), y(p.1)))
        .collect();
    let _ = write!(
        out,
        "<polygon points=\"{} {}\" fill=\"{BAND_COLOR}\" stroke=\"none\"/>",
        upper.join(" "),
        lower.join(" ")
    );
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.3), y(p.0)))
        .collect();
    let _ = write!(
        out,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{INTERVAL_COLOR}\" stroke-width=\"2.5\"/>",
        line.join(" ")
    );
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#6b7280\" stroke-dasharray=\"4 3\"/>",
        y(0.0),
        w - right
    );
    for v in [lo + pad, 0.0, hi - pad] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y(v) + 4.0,
            pct(v)
        );
    }
    let step = (points.len() / 7).max(1);
    for p in points.iter().step_by(step) {
        let date = chrono::DateTime::from_timestamp(i64::from(p.3) * 86_400, 0)
            .map(|d| d.format("%m-%d").to_string())
            .unwrap_or_default();
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{date}</text>",
            x(p.3),
            h - 14.0
        );
    }
    out.push_str("</svg><p class=\"meta\">Users first exposed up to each day, with their outcomes as of the analysis time (fixed-horizon 95% interval).</p>");
}

fn srm_table(out: &mut String, r: &Report) {
    let run = &r.run;
    let total: u64 = run.variant_users.iter().sum();
    let weight_total: f64 = run.variant_weights.iter().sum();
    out.push_str("<h3>Sample ratio</h3><table><tr><th class=\"l\">variant</th><th>users</th><th>observed share</th><th>expected share</th></tr>");
    for ((v, u), w) in run
        .variants
        .iter()
        .zip(&run.variant_users)
        .zip(&run.variant_weights)
    {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td>{u}</td><td>{:.2}%</td><td>{:.2}%</td></tr>",
            esc(v),
            if total > 0 {
                *u as f64 / total as f64 * 100.0
            } else {
                0.0
            },
            if weight_total > 0.0 {
                w / weight_total * 100.0
            } else {
                0.0
            },
        );
    }
    let _ = write!(
        out,
        "</table><p class=\"meta\">chi² {:.2}, p {}; always-valid p {} ({} per variant) — {}</p>",
        run.srm_chi2,
        pvalue(run.srm_p_value),
        pvalue(run.srm_sequential_p_value),
        esc(crate::network::srm_counted(run)),
        if crate::network::srm_alert(run) {
            "<b>mismatch</b>"
        } else {
            "no mismatch"
        }
    );
}

fn balance_table(out: &mut String, r: &Report) {
    if r.balance.is_empty() {
        return;
    }
    out.push_str("<h3>Balance of segments across variants</h3><table><tr><th class=\"l\">segment</th><th class=\"l\">value</th>");
    for v in &r.run.variants {
        let _ = write!(out, "<th>{}</th>", esc(v));
    }
    out.push_str("<th>chi² p (per segment)</th></tr>");
    let mut keys: Vec<(&str, &str)> = r
        .balance
        .iter()
        .map(|b| (b.segment_key.as_str(), b.segment_value.as_str()))
        .collect();
    keys.dedup();
    for (key, value) in keys {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td>",
            esc(key),
            if value.is_empty() {
                "(none)".to_owned()
            } else {
                esc(value)
            }
        );
        let mut p = 1.0;
        for v in &r.run.variants {
            let cell = r
                .balance
                .iter()
                .find(|b| b.segment_key == key && b.segment_value == value && &b.variant == v);
            p = cell.map_or(p, |c| c.p_value);
            let _ = write!(out, "<td>{}</td>", cell.map_or(0, |c| c.users));
        }
        let _ = write!(out, "<td>{}</td></tr>", pvalue(p));
    }
    out.push_str("</table>");
}

fn segments_table(out: &mut String, r: &Report) {
    if r.segments.is_empty() {
        return;
    }
    out.push_str("<h3>Segment breakdown</h3><table><tr><th class=\"l\">metric</th><th class=\"l\">segment</th><th class=\"l\">value</th><th class=\"l\">variant</th><th>users C</th><th>users T</th><th>control</th><th>treatment</th><th>lift</th><th>abs CI</th><th>p</th></tr>");
    for s in &r.segments {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td><td>{}</td></tr>",
            esc(&s.metric),
            esc(&s.segment_key),
            if s.segment_value.is_empty() { "(none)".to_owned() } else { esc(&s.segment_value) },
            esc(&s.variant),
            s.control_users,
            s.treatment_users,
            num(s.control_value, 4),
            num(s.treatment_value, 4),
            if s.error.is_empty() { s.rel_lift.map_or_else(|| num(s.abs_lift, 3), pct) } else { NONE.to_owned() },
            if s.error.is_empty() { num(s.ci_abs_low, 3) } else { NONE.to_owned() },
            if s.error.is_empty() { num(s.ci_abs_high, 3) } else { NONE.to_owned() },
            if s.error.is_empty() { pvalue(s.p_value) } else { format!("no test: {}", esc(&s.error)) },
        );
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(esc("eu\u{0}<b>"), "eu\u{FFFD}&lt;b&gt;");
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;
    use crate::fixtures;
    use abacus_aggregator::model::SegmentRow;

    #[test]
    fn a_nul_from_event_metadata_does_not_reach_the_page() {
        let mut r = fixtures::report();
        r.segments = vec![SegmentRow {
            run_id: 7,
            experiment_id: "exp".into(),
            metric: "purchase_rate".into(),
            segment_key: "region".into(),
            segment_value: "eu\u{0}west<script>".into(),
            variant: "treatment".into(),
            control_users: 10,
            treatment_users: 10,
            control_value: 0.1,
            treatment_value: 0.2,
            abs_lift: 0.1,
            rel_lift: Some(1.0),
            ci_abs_low: -0.1,
            ci_abs_high: 0.3,
            p_value: 0.4,
            error: String::new(),
        }];
        let page = render(&[r]);
        assert!(!page.contains('\u{0}'));
        assert!(page.contains("eu\u{FFFD}west&lt;script&gt;"));
        assert!(!page.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn a_row_without_a_test_shows_its_reason_not_numbers() {
        let page = render(&[fixtures::report()]);
        let row = page
            .split("<tr>")
            .find(|r| r.contains(">big_spend<"))
            .unwrap();
        assert!(
            row.contains("no test: control sum of squares must be finite"),
            "{row}"
        );
        assert!(
            !row.contains("1.0000") && !row.contains("<td>0</td>"),
            "{row}"
        );
    }
}
