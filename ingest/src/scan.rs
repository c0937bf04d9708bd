//! The fast path of event parsing: one pass over a message of the usual shape — a flat JSON
//! object whose strings hold no escapes, whose `metadata` is a flat object of such strings —
//! splitting it into the raw text of each field.
//!
//! It accepts only what serde_json accepts and reads the same field values; anything else
//! (escapes, nesting, repeated keys, a syntax error, …) returns `None` and the message takes
//! serde_json's path in [`crate::event::parse`], which gives the exact error. Tests compare
//! both paths on valid, invalid and mutated messages.

use std::borrow::Cow;

/// The raw JSON text of each field (`None`: absent or `null`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Fields<'a> {
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub experiment_id: Option<&'a str>,
    pub variant: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub event_name: Option<&'a str>,
    pub event_value: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub metadata: Metadata<'a>,
    /// Whether the string values are known to hold no escapes (the fast path checked).
    pub plain: bool,
}

impl<'a> Fields<'a> {
    fn slot(&mut self, field: usize) -> Option<&mut Option<&'a str>> {
        Some(match field {
            0 => &mut self.event_id,
            1 => &mut self.event_type,
            2 => &mut self.experiment_id,
            3 => &mut self.variant,
            4 => &mut self.user_id,
            5 => &mut self.event_name,
            6 => &mut self.event_value,
            7 => &mut self.timestamp,
            _ => return None,
        })
    }
}

/// The `metadata` field as the fast path or serde_json found it.
#[derive(Debug, Default, PartialEq)]
pub(crate) enum Metadata<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    /// Raw JSON text (serde_json's path), to be checked.
    Raw(&'a str),
    /// A flat object of strings without escapes, in document order.
    Pairs(Vec<(Cow<'a, str>, Cow<'a, str>)>),
}

/// Bytes that end the fast scan of a string: the closing quote, an escape, or a control
/// character (which JSON forbids unescaped: serde_json reports it).
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `word` that is zero (exact for the lowest such byte; higher
/// ones may be false alarms, which do not matter: only the lowest is used).
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// Nonzero when a byte of `word` is a control character, `"` or `\`.
fn stops(word: u64) -> u64 {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    below_space
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string without escapes at the cursor (on its opening quote); returns its contents.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start;
        // Eight bytes at a time while none of them stops the scan (SWAR: a byte below 0x20,
        // a quote or a backslash sets its high bit in `stops`).
        while let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let stop = stops(word);
            if stop != 0 {
                // The lowest flagged byte is exact: the first stop byte.
                i += (stop.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        while i < bytes.len() && !STOP[bytes[i] as usize] {
            i += 1;
        }
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        self.at = i + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        self.text.get(start..i)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// A scalar value's raw text (`None` for nested values: the slow path handles them).
    fn scalar(&mut self) -> Option<&'a str> {
        let start = self.at;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'-' | b'0'..=b'9' => self.number()?,
            b't' => self.literal("true")?,
            b'f' => self.literal("false")?,
            b'n' => self.literal("null")?,
            _ => return None,
        }
        self.text.get(start..self.at)
    }

    /// A flat object of strings (the cursor on `{`).
    fn pairs(&mut self) -> Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
        self.eat(b'{')?;
        let mut pairs = Vec::with_capacity(4);
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(pairs);
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = self.string()?;
            pairs.push((Cow::Borrowed(key), Cow::Borrowed(value)));
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(pairs);
                }
                _ => return None,
            }
        }
    }
}

/// Splits a message of the usual shape into its fields, or `None` to take the slow path.
pub(crate) fn scan(text: &str) -> Option<Fields<'_>> {
    let mut s = Scanner { text, at: 0 };
    let mut fields = Fields::default();
    let mut seen = 0u16;
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if s.eat(b'}').is_none() {
        loop {
            s.ws();
            let key = s.string()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            let field = match key {
                "event_id" => 0,
                "event_type" => 1,
                "experiment_id" => 2,
                "variant" => 3,
                "user_id" => 4,
                "event_name" => 5,
                "event_value" => 6,
                "timestamp" => 7,
                "metadata" => 8,
                _ => 9,
            };
            if field < 9 {
                // A repeated field is an error serde_json words: let it.
                (seen & 1 << field == 0).then_some(())?;
                seen |= 1 << field;
            }
            if field == 8 {
                if s.peek()? == b'{' {
                    fields.metadata = Metadata::Pairs(s.pairs()?);
                } else if s.scalar()? != "null" {
                    return None; // not an object: the slow path words the error
                }
            } else {
                let raw = s.scalar()?;
                if let Some(slot) = fields.slot(field) {
                    *slot = (raw != "null").then_some(raw);
                }
            }
            s.ws();
            match s.peek()? {
                b',' => s.at += 1,
                b'}' => {
                    s.at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    s.ws();
    fields.plain = true;
    (s.at == text.len()).then_some(fields)
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
