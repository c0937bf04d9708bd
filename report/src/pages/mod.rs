//! The dashboard's pages, rendered on the server with `maud` (every interpolated value is
//! HTML-escaped by construction; raw markup needs an explicit `PreEscaped`, used only by
//! [`page`] to hand back the escaped page with its control characters replaced, see
//! [`crate::text::html`]: a NUL in a segment value from Kafka metadata never reaches a page).
//! The pages load one stylesheet ([`CSS`], served at [`CSS_PATH`]) and one small script (the
//! live updater, served at [`SCRIPT_PATH`] by the dashboard), nothing else: no inline style or
//! script, so a Content-Security-Policy of `'self'` holds.
//!
//! Every view's state is in its URL: [`ExperimentQuery`] (run, baseline, metric, segment) and
//! [`ListQuery`] (text filter, status).
//!
//! # Layout
//! - [`list`]: the experiments list (status, progress, decision chip, health flags).
//! - [`experiment`]: one experiment: header, decision banner, health strip, metrics, series,
//!   segments, balance, exports.
//! - [`history`]: how the primary metric's estimate moved across runs.
//! - [`charts`]: the inline SVG drawings (interval rows, cumulative lift, history).

pub mod charts;
pub mod experiment;
pub mod history;
pub mod list;

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The stylesheet of every page.
pub const CSS: &str = include_str!("../../assets/dashboard.css");
/// Where the stylesheet is served.
pub const CSS_PATH: &str = "/assets/dashboard.css";
/// Where the live-update script is served.
pub const SCRIPT_PATH: &str = "/assets/live.js";

/// The state of the list page, from its query string.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// Text filter (id, name or hypothesis contains it, case-insensitive).
    pub q: String,
    /// `running`, `ended`, `no data`, or empty for all.
    pub status: String,
}

/// The state of an experiment page, from its query string.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ExperimentQuery {
    /// A run id; the newest run when absent.
    pub run: Option<u64>,
    /// The baseline variant; the control when absent.
    pub baseline: Option<String>,
    /// The metric of the cumulative lift chart; the first primary metric when absent.
    pub metric: Option<String>,
    /// The segment key of the segment table; the first key when absent.
    pub segment: Option<String>,
}

impl ExperimentQuery {
    /// The query string (with a leading `?`, or empty), keys in a fixed order.
    pub fn to_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(run) = self.run {
            q.append_pair("run", &run.to_string());
        }
        for (k, v) in [
            ("baseline", &self.baseline),
            ("metric", &self.metric),
            ("segment", &self.segment),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        let s = q.finish();
        if s.is_empty() {
            s
        } else {
            format!("?{s}")
        }
    }
}

/// A path segment, percent-encoded.
pub fn seg(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The URL of an experiment page (or of one of its sub-resources, `tail` like `/history`).
pub fn experiment_url(id: &str, tail: &str, q: &ExperimentQuery) -> String {
    format!("/experiments/{}{tail}{}", seg(id), q.to_query())
}

/// The frame of every page: stylesheet, script, skip link, navigation, live region. Control
/// characters in the rendered page (only data can bring them) become U+FFFD.
pub fn page(title: &str, version: &str, crumbs: Markup, body: Markup) -> Markup {
    let page = frame(title, version, crumbs, body).into_string();
    PreEscaped(crate::text::html(&page).into_owned())
}

fn frame(title: &str, version: &str, crumbs: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="abacus-version" content=(version);
                title { (title) " · Abacus" }
                link rel="stylesheet" href=(CSS_PATH);
                script src=(SCRIPT_PATH) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Breadcrumb" {
                        a href="/" { "Abacus experiments" }
                        (crumbs)
                    }
                }
                main #main tabindex="-1" { (body) }
                div #live .sr role="status" aria-live="polite" {}
            }
        }
    }
}

/// An error page (unknown experiment or run, ClickHouse unavailable).
pub fn error_page(status: u16, message: &str) -> Markup {
    page(
        "Error",
        "0",
        html! {},
        html! {
            h1 { "Error " (status) }
            p role="alert" { (message) }
            p { a href="/" { "Back to the experiments" } }
        },
    )
}

/// `page` with an alert at the top of its main region (the loader cannot read ClickHouse).
pub fn with_alert(page: String, message: &str) -> String {
    let alert = html! {
        p.note role="alert" { "Cannot read ClickHouse right now; showing the data loaded before: " (message) }
    };
    page.replacen(MAIN_OPEN, &format!("{MAIN_OPEN}{}", alert.into_string()), 1)
}

const MAIN_OPEN: &str = "<main id=\"main\" tabindex=\"-1\">";

/// A day count or a date, from epoch days.
pub fn date_of_day(day: u16) -> String {
    chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_state() {
        let q = ExperimentQuery {
            run: Some(5),
            baseline: Some("green & blue".into()),
            metric: None,
            segment: Some("device".into()),
        };
        assert_eq!(
            experiment_url("a b", "/export.csv", &q),
            "/experiments/a%20b/export.csv?run=5&baseline=green+%26+blue&segment=device"
        );
        assert_eq!(ExperimentQuery::default().to_query(), "");
    }

    #[test]
    fn markup_is_escaped() {
        let p = page("<x>", "1", html! {}, html! { p { ("<script>") } });
        let s = p.into_string();
        assert!(s.contains("&lt;x&gt;"));
        assert!(s.contains("&lt;script&gt;"));
        assert!(!s.contains("<script>"));
    }

    #[test]
    fn pages_carry_no_control_character() {
        let p = page(
            "a\u{0}b",
            "1",
            html! {},
            html! { p { ("eu\u{0}west\u{1b}[31m") } },
        );
        let s = p.into_string();
        assert!(!s.chars().any(|c| c.is_control() && c != '\n'), "{s}");
        assert!(s.contains("eu\u{FFFD}west\u{FFFD}[31m"));
    }
}
