//! Splitting an experiments file at its top-level `[[experiment]]` and `[[flag]]` headers, so
//! that a large file is parsed one table at a time.
//!
//! The TOML parser builds a tree of the whole document before deserializing it: about 22 bytes
//! of memory per byte of text (a 63 MB file with 92,020 experiments needed 1.4 GB). Parsed one
//! table at a time, only the current table's tree is alive; what is kept is the deserialized
//! structs.
//!
//! A split is made only where it cannot change the meaning of the file: at a line that is
//! exactly such a header (after whitespace, before an optional comment), outside every string
//! (multi-line strings included), and only when no later header of the *other* kind's
//! sub-tables (`[[experiment.variant]]` after a `[[flag]]`) would attach to a table in an
//! earlier chunk, and only when nothing but comments precedes the first table. Otherwise the
//! file is not split at all ([`split`] returns one
//! chunk), so the result is always that of parsing the whole text.

/// A part of the text: its byte offset in the whole text and the text itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Byte offset of the chunk in the whole text.
    pub start: usize,
    /// The chunk's text.
    pub text: &'a str,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Experiment,
    Flag,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `[[experiment]]` or `[[flag]]`: a new top-level table.
    Top(Kind),
    /// `[experiment.…]`, `[[flag.…]]`, …: a sub-table of the last table of that kind.
    Sub(Kind),
    /// Any other header.
    Other,
}

/// Splits `text` into chunks that parse, one after the other, to what the whole text parses to.
pub fn split(text: &str) -> Vec<Chunk<'_>> {
    let mut starts = Vec::new();
    let mut current: Option<Kind> = None;
    let mut splittable = true;
    for (offset, line) in header_lines(text) {
        match classify(line) {
            Header::Top(kind) => {
                if current.is_none() {
                    // Keys before the first table (`flag = [...]`) could clash with a later
                    // chunk's tables: only comments and blank lines may precede a split file.
                    splittable &= text[..offset].lines().all(|l| {
                        let l = l.trim();
                        l.is_empty() || l.starts_with('#')
                    });
                } else {
                    starts.push(offset);
                }
                current = Some(kind);
            }
            Header::Sub(kind) if current != Some(kind) => splittable = false,
            Header::Sub(_) | Header::Other => {}
        }
    }
    if !splittable || starts.is_empty() {
        return vec![Chunk { start: 0, text }];
    }
    let mut chunks = Vec::with_capacity(starts.len() + 1);
    let mut from = 0;
    for start in starts {
        chunks.push(Chunk {
            start: from,
            text: &text[from..start],
        });
        from = start;
    }
    chunks.push(Chunk {
        start: from,
        text: &text[from..],
    });
    chunks
}

/// What a line that starts (after whitespace) with `[` declares.
fn classify(line: &str) -> Header {
    let line = line.split('#').next().unwrap_or("").trim();
    let (inner, array) = match line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        Some(inner) => (inner, true),
        None => match line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            Some(inner) => (inner, false),
            None => return Header::Other,
        },
    };
    let key: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    // Quoted keys (`["experiment"]`) are left alone: not splitting is always safe.
    for (name, kind) in [("experiment", Kind::Experiment), ("flag", Kind::Flag)] {
        if key == name && array {
            return Header::Top(kind);
        }
        if key.starts_with(name) && key[name.len()..].starts_with('.') {
            return Header::Sub(kind);
        }
    }
    Header::Other
}

/// Lines outside strings and comments that start (after spaces or tabs) with `[`, with their
/// byte offsets.
fn header_lines(text: &str) -> Vec<(usize, &str)> {
    #[derive(PartialEq)]
    enum State {
        Normal,
        MultiBasic,
        MultiLiteral,
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut state = State::Normal;
    let mut line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        match state {
            State::Normal => {
                if line_start {
                    line_start = false;
                    let indent = rest
                        .iter()
                        .take_while(|b| **b == b' ' || **b == b'\t')
                        .count();
                    if rest.get(indent) == Some(&b'[') {
                        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
                        out.push((i, &text[i..i + end]));
                    }
                }
                match bytes[i] {
                    b'\n' => {
                        line_start = true;
                        i += 1;
                    }
                    b'#' => i += rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len()),
                    b'"' if rest.starts_with(b"\"\"\"") => {
                        state = State::MultiBasic;
                        i += 3;
                    }
                    b'\'' if rest.starts_with(b"'''") => {
                        state = State::MultiLiteral;
                        i += 3;
                    }
                    b'"' => i += 1 + basic_string_len(&rest[1..]),
                    b'\'' => {
                        i += 1 + rest[1..]
                            .iter()
                            .position(|b| *b == b'\'' || *b == b'\n')
                            .map_or(rest.len() - 1, |p| p + usize::from(rest[1 + p] == b'\''))
                    }
                    _ => i += 1,
                }
            }
            State::MultiBasic => {
                if bytes[i] == b'\\' {
                    i += 2;
                } else if rest.starts_with(b"\"\"\"") {
                    // Up to two quotes may end the content right before the closing three.
                    i += rest.iter().take(5).take_while(|b| **b == b'"').count();
                    state = State::Normal;
                } else {
                    i += 1;
                }
            }
            State::MultiLiteral => {
                if rest.starts_with(b"'''") {
                    i += rest.iter().take(5).take_while(|b| **b == b'\'').count();
                    state = State::Normal;
                } else {
                    i += 1;
                }
            }
        }
    }
    out
}

/// Bytes of a one-line basic string after its opening quote, up to and including the closing
/// quote (or up to the end of the line when it is unterminated).
fn basic_string_len(rest: &[u8]) -> usize {
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        split(text).iter().map(|c| c.text).collect()
    }

    #[test]
    fn splits_at_top_level_headers() {
        let text = "# c\n[[experiment]]\nid = \"a\"\n  [[experiment.variant]]\n  name = \"x\"\n[[flag]] # f\nname = \"f\"\n [[ experiment ]]\nid = \"b\"\n";
        assert_eq!(
            texts(text),
            [
                "# c\n[[experiment]]\nid = \"a\"\n  [[experiment.variant]]\n  name = \"x\"\n",
                "[[flag]] # f\nname = \"f\"\n",
                " [[ experiment ]]\nid = \"b\"\n"
            ]
        );
        let starts: Vec<usize> = split(text).iter().map(|c| c.start).collect();
        for (chunk, start) in split(text).iter().zip(starts) {
            assert_eq!(&text[start..start + chunk.text.len()], chunk.text);
        }
    }

    #[test]
    fn headers_inside_strings_and_comments_are_not_headers() {
        for text in [
            "[[experiment]]\nhypothesis = \"\"\"\n[[experiment]]\n\"\"\"\n",
            "[[experiment]]\nhypothesis = '''\n[[flag]]\n'''\n",
            "[[experiment]]\nhypothesis = \"\"\"a \\\"\"\"\n[[experiment]]\n\"\"\"\n",
            "[[experiment]]\nhypothesis = \"\"\"x\"\"\"\"\"\nname = \"\"\"\n[[experiment]]\n\"\"\"\n",
        ] {
            assert_eq!(texts(text), [text], "{text}");
        }
        assert_eq!(
            texts("[[experiment]]\nname = \"'''\" # \"\"\"\n[[flag]]\n").len(),
            2,
            "quotes inside a one-line string or a comment open nothing"
        );
    }

    #[test]
    fn sub_tables_of_an_earlier_chunk_prevent_splitting() {
        let text = "[[experiment]]\nid = \"a\"\n[[flag]]\nname = \"f\"\n[[experiment.variant]]\nname = \"x\"\n";
        assert_eq!(texts(text), [text]);
    }

    #[test]
    fn keys_before_the_first_table_prevent_splitting() {
        let text = "flag = []\n[[experiment]]\nid = \"a\"\n[[flag]]\nname = \"f\"\n";
        assert_eq!(texts(text), [text]);
    }

    /// Lines a generated file is made of: headers of every kind, valid and invalid keys,
    /// strings that contain headers, comments and preamble keys.
    const PIECES: &[&str] = &[
        "[[experiment]]\nid = \"e\"\nname = \"E\"\ncontrol = \"c\"\nstart = \"2026-01-01\"\n",
        "[[experiment]]\n",
        "[[flag]]\nname = \"f\"\ndefault = \"off\"\n",
        "[[flag]] # a flag\n",
        "  [[experiment.variant]]\n  name = \"c\"\n  weight = 1\n",
        "  [[experiment.metric]]\n  name = \"m\"\n  kind = \"conversion\"\n  event = \"buy\"\n",
        "  [[flag.rule]]\n  name = \"r\"\n  allocation = [{ variant = \"off\", weight = 1 }]\n",
        "[experiment.extra]\n",
        "hypothesis = \"\"\"\n[[flag]]\n\"\"\"\n",
        "hypothesis = '''\n[[experiment]]\n'''\n",
        "description = \"[[flag]] \\\" '''\"\n",
        "# [[experiment]]\n",
        "\n",
        "flag = []\n",
        "id = \"dup\"\n",
        "weight = [\n[[experiment]]\n]\n",
        "name = \"\"\"unterminated\n",
    ];

    proptest::proptest! {
        #[test]
        fn chunked_parsing_equals_whole_parsing(
            picks in proptest::collection::vec(0..PIECES.len(), 0..14)
        ) {
            let text: String = picks.iter().map(|i| PIECES[*i]).collect();
            let whole = toml::from_str::<crate::file::RawFile>(&text);
            let chunked = crate::file::parse_raw(&text);
            match (whole, chunked) {
                (Ok(w), Ok(c)) => proptest::prop_assert_eq!(w, c),
                (Err(_), Err(_)) => {}
                (w, c) => proptest::prop_assert!(
                    false,
                    "whole ok: {}, chunked ok: {} for\n{}",
                    w.is_ok(),
                    c.is_ok(),
                    text
                ),
            }
        }
    }
}
