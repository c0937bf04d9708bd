//! Inline SVG drawings of the dashboard. Colours are SVG presentation attributes (no inline
//! style), the same in light and dark schemes, so screenshots can be checked for them:
//! [`INTERVAL_COLOR`] for interval bars and lines, [`BAND_COLOR`] for interval bands.

use maud::{html, Markup};

use crate::view::lift_text;

/// Interval bars and estimate lines.
pub const INTERVAL_COLOR: &str = "#2563eb";
/// Interval bands of series.
pub const BAND_COLOR: &str = "#93c5fd";
/// Zero lines and axes.
const AXIS_COLOR: &str = "#6b7280";

/// A shared axis `[lo, hi]` covering zero and every interval, with a margin.
pub fn axis(intervals: impl IntoIterator<Item = (f64, f64)>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for (l, h) in intervals {
        if l.is_finite() && h.is_finite() {
            lo = lo.min(l);
            hi = hi.max(h);
        }
    }
    let pad = (hi - lo).max(1e-9) * 0.08;
    (lo - pad, hi + pad)
}

/// One interval on a shared axis: zero line, bar from `low` to `high`, dot at the estimate.
pub fn interval_row(
    estimate: f64,
    low: f64,
    high: f64,
    relative: bool,
    (lo, hi): (f64, f64),
) -> Markup {
    let (w, h) = (220.0, 22.0);
    let x = |v: f64| ((v - lo) / (hi - lo) * w).clamp(0.0, w);
    let label = format!(
        "lift {} from {} to {}",
        lift_text(estimate, relative),
        lift_text(low, relative),
        lift_text(high, relative)
    );
    html! {
        svg.interval xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (w) " " (h)} width=(w) height=(h) role="img" aria-label=(label) {
            line x1=(fmt(x(0.0))) y1="0" x2=(fmt(x(0.0))) y2=(h) stroke=(AXIS_COLOR) stroke-dasharray="3 2" {}
            rect x=(fmt(x(low))) y="7" width=(fmt((x(high) - x(low)).max(2.0))) height="8" rx="2" fill=(INTERVAL_COLOR) {}
            circle cx=(fmt(x(estimate))) cy="11" r="4.5" fill="currentColor" stroke=(INTERVAL_COLOR) stroke-width="1.5" {}
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// A point of a line with an interval band.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    /// x position in data units (a day or a run index).
    pub x: f64,
    /// Estimate.
    pub y: f64,
    /// Interval low.
    pub low: f64,
    /// Interval high.
    pub high: f64,
}

/// A line with its interval band over `points`, a zero line, y labels and `x_labels`
/// (position, text). `relative` formats the y axis as percentages.
pub fn band_chart(
    label: &str,
    points: &[BandPoint],
    relative: bool,
    x_labels: &[(f64, String)],
) -> Markup {
    if points.len() < 2 {
        return html! { p.meta { "Not enough points to draw " (label) " yet." } };
    }
    let (w, h, left, right, top, bottom) = (720.0, 240.0, 64.0, 12.0, 12.0, 30.0);
    let (lo, hi) = axis(points.iter().map(|p| (p.low, p.high)));
    let x0 = points[0].x;
    let x1 = points[points.len() - 1].x.max(x0 + 1.0);
    let x = |v: f64| left + (v - x0) / (x1 - x0) * (w - left - right);
    let y = |v: f64| top + (hi - v) / (hi - lo) * (h - top - bottom);
    let band: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.x), y(p.high)))
        .chain(
            points
                .iter()
                .rev()
                .map(|p| format!("{:.1},{:.1}", x(p.x), y(p.low))),
        )
        .collect();
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.x), y(p.y)))
        .collect();
    let ticks = [
        lo + (hi - lo) * 0.08 / 1.16,
        0.0,
        hi - (hi - lo) * 0.08 / 1.16,
    ];
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (w) " " (h)} preserveAspectRatio="xMinYMin meet" role="img" aria-label=(label) {
            polygon points=(band.join(" ")) fill=(BAND_COLOR) stroke="none" {}
            polyline points=(line.join(" ")) fill="none" stroke=(INTERVAL_COLOR) stroke-width="2.5" {}
            line x1=(left) y1=(fmt(y(0.0))) x2=(w - right) y2=(fmt(y(0.0))) stroke=(AXIS_COLOR) stroke-dasharray="4 3" {}
            @for t in ticks {
                text x=(left - 6.0) y=(fmt(y(t) + 4.0)) font-size="11" text-anchor="end" fill="currentColor" { (lift_text(t, relative)) }
            }
            @for (pos, text) in x_labels {
                text x=(fmt(x(*pos))) y=(h - 10.0) font-size="11" text-anchor="middle" fill="currentColor" { (text) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_covers_zero_and_every_interval() {
        let (lo, hi) = axis([(0.1, 0.3), (0.05, 0.2)]);
        assert!(lo < 0.0 && hi > 0.3);
        let (lo, hi) = axis([(-0.5, -0.1)]);
        assert!(lo < -0.5 && hi > 0.0);
    }

    #[test]
    fn a_chart_needs_two_points() {
        let one = [BandPoint {
            x: 0.0,
            y: 0.0,
            low: -1.0,
            high: 1.0,
        }];
        assert!(band_chart("x", &one, true, &[])
            .into_string()
            .contains("Not enough"));
    }
}
