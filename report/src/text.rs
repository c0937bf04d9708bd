//! Text from definitions files and event metadata made safe to show: experiment names,
//! hypotheses, event names and segment values are free text, and a definitions file or a
//! Kafka message can carry terminal escape sequences (colours, cursor moves, OSC 8 links or
//! window titles, the 8-bit CSI) or a NUL byte.
//!
//! - [`terminal`]: for the terminal (the `abacus report` table, `abacus experiments list` and
//!   `show`): escape sequences (CSI, OSC, DCS/SOS/PM/APC strings, two-byte ESC sequences) are
//!   removed whole, every other control character (C0, DEL, C1) and the bidirectional
//!   override and isolate characters (which reorder what a terminal shows) become U+FFFD, and
//!   line breaks and tabs become spaces, so one field stays on its line.
//! - [`html`]: for HTML text (the static report and the dashboard's pages, after their own
//!   escaping of markup): control characters other than tab, line feed and carriage return,
//!   NUL included, become U+FFFD (HTML forbids them in text; a NUL is a parse error).
//!
//! JSON and CSV exports keep values as they are (JSON escapes control characters itself).

use std::borrow::Cow;

/// The replacement character shown for a removed control character.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` made safe for a terminal (see the module docs); borrowed when nothing changes.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~.
                Some('[') => skip_csi(&mut chars),
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \ or U+009C).
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Two-byte sequences (ESC c, ESC 7, ESC ( B's first part, …): drop the next
                // character as well; nF sequences keep their intermediates out too.
                Some('\u{20}'..='\u{2f}') => {
                    while chars
                        .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                        .is_some()
                    {}
                    chars.next();
                }
                Some(_) => {}
                None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => out.push(REPLACEMENT),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Not a well-formed sequence: stop at the first character that cannot be part of it.
            return;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

/// `text` made safe for HTML text (see the module docs); borrowed when nothing changes.
pub fn html(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if bad(c) { REPLACEMENT } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_loses_every_escape_sequence() {
        // Colour, cursor movement and clear screen.
        assert_eq!(terminal("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(terminal("a\u{1b}[2J\u{1b}[1;1Hb"), "ab");
        // OSC 8 hyperlink and OSC 0 window title, ended by BEL or ST.
        assert_eq!(
            terminal("\u{1b}]8;;http://evil.example/\u{7}click\u{1b}]8;;\u{1b}\\"),
            "click"
        );
        assert_eq!(terminal("\u{1b}]0;pwned\u{7}title"), "title");
        // 8-bit CSI and a lone ESC, two-byte sequences, DCS.
        assert_eq!(terminal("x\u{9b}31my"), "xy");
        assert_eq!(terminal("x\u{1b}cy\u{1b}(Bz"), "xyz");
        assert_eq!(terminal("x\u{1b}P1$r\u{1b}\\y"), "xy");
        assert_eq!(terminal("end\u{1b}"), "end");
        // Other controls become U+FFFD; line breaks and tabs spaces.
        assert_eq!(
            terminal("a\u{0}b\u{7}c\u{7f}d"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d"
        );
        assert_eq!(terminal("two\nlines\tand\rcr"), "two lines and cr");
        assert_eq!(terminal("abc\u{202E}fed"), "abc\u{FFFD}fed");
        // Nothing to do: borrowed.
        assert!(matches!(terminal("Checkout redesign ✓"), Cow::Borrowed(_)));
        for s in ["\u{1b}[", "\u{1b}]", "\u{9b}", "\u{1b}(", "\u{1b}P"] {
            assert!(!terminal(s).chars().any(char::is_control), "{s:?}");
        }
    }

    #[test]
    fn html_text_has_no_nul() {
        assert_eq!(html("eu\u{0}west"), "eu\u{FFFD}west");
        assert_eq!(html("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
        assert_eq!(html("keep\ttabs\nand lines"), "keep\ttabs\nand lines");
        assert!(matches!(html("plain"), Cow::Borrowed(_)));
    }
}
