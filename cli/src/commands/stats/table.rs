//! Aligned tables and number formats for the `abacus stats` output.

use abacus_stats::Interval;

/// Label/value rows printed with aligned columns: within each section (rows between
/// gaps) values are right-aligned per column; an optional note follows the values.
pub(super) struct Table {
    pub(super) json: bool,
    rows: Vec<Option<Row>>,
}

struct Row {
    label: String,
    values: Vec<String>,
    note: Option<String>,
}

impl Table {
    pub(super) fn new(json: bool) -> Self {
        Table {
            json,
            rows: Vec::new(),
        }
    }

    /// A row of values (no note).
    pub(super) fn row<const N: usize, S: Into<String>>(&mut self, label: &str, values: [S; N]) {
        self.rows.push(Some(Row {
            label: label.to_string(),
            values: values.into_iter().map(Into::into).collect(),
            note: None,
        }));
    }

    /// A row with one value and a free-form note after it.
    pub(super) fn note(&mut self, label: &str, value: impl Into<String>, note: impl Into<String>) {
        self.rows.push(Some(Row {
            label: label.to_string(),
            values: vec![value.into()],
            note: Some(note.into()),
        }));
    }

    pub(super) fn gap(&mut self) {
        self.rows.push(None);
    }

    pub(super) fn render(&self) -> String {
        let label_width = self
            .rows
            .iter()
            .flatten()
            .map(|r| r.label.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for section in self.rows.split(Option::is_none) {
            let rows: Vec<&Row> = section.iter().flatten().collect();
            let cols = rows.iter().map(|r| r.values.len()).max().unwrap_or(0);
            let widths: Vec<usize> = (0..cols)
                .map(|i| {
                    rows.iter()
                        .filter_map(|r| r.values.get(i))
                        .map(|v| v.chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            if !out.is_empty() {
                out.push('\n');
            }
            for row in rows {
                let mut line = format!("{:<label_width$}", row.label);
                for (value, width) in row.values.iter().zip(&widths) {
                    line.push_str(&format!("  {value:>width$}"));
                }
                if let Some(note) = &row.note {
                    line.push_str("  ");
                    line.push_str(note);
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        out
    }
}

pub(super) fn num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if (1e-4..1e7).contains(&x.abs()) {
        let s = format!("{x:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.4e}")
    }
}

pub(super) fn percent(x: f64) -> String {
    format!("{:.3}%", x * 100.0)
}

pub(super) fn signed_percent(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

pub(super) fn points(x: f64) -> String {
    format!("{:+.3} pp", x * 100.0)
}

pub(super) fn interval_points(i: Interval) -> String {
    format!("[{:+.3}, {:+.3}] pp", i.low * 100.0, i.high * 100.0)
}

pub(super) fn interval_percent(i: Interval) -> String {
    format!("[{:+.2}%, {:+.2}%]", i.low * 100.0, i.high * 100.0)
}

pub(super) fn confidence(alpha: f64) -> String {
    format!("{}%", num((1.0 - alpha) * 100.0))
}

pub(super) fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}
