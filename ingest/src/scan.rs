//! The fast path of event parsing: one pass over a message of the usual shape — a flat JSON
//! object whose strings hold no escapes, whose `metadata` is a flat object of such strings,
//! whose fields are all valid — that splits it and checks every field, keeping only where each
//! string is in the message ([`Scan`]): nothing is copied or allocated per message (the pairs'
//! vector is reused), and the batch encodes the row straight from the message's bytes.
//!
//! [`Scan::read`] refuses anything else: escapes, nesting, a repeated key, a syntax error, a
//! missing or invalid field, a number or time in an unusual form. Such a message takes
//! serde_json's path ([`crate::event::parse_text`]), which gives its exact event or rejection,
//! so the fast path never words an error and accepts only what that path accepts, with the
//! same values. Tests compare both paths on valid, invalid, mutated and random messages.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::event::{
    Event, EventType, Validation, MAX_EVENT_ID_CHARS, MAX_ID_CHARS, MAX_TIMESTAMP_MS,
};
use crate::json::{rfc3339_days, rfc3339_time_ms};

/// Bytes that end the fast scan of a string: the closing quote, an escape, a control
/// character (which JSON forbids unescaped: serde_json reports it), or a byte of a multi-byte
/// character (whose string is then checked for valid UTF-8).
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b < 0x20 || b >= 0x80 || b == b'"' as usize || b == b'\\' as usize;
        b += 1;
    }
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit set in the bytes of `word` that stop the fast scan of a string (see [`STOP`]):
/// exact for the lowest one; higher ones may be false alarms (a borrow from a lower byte),
/// which do not matter since only the lowest is used.
fn stops(word: u64) -> u64 {
    // A byte below 0x20, or equal to `"` or `\` (once XORed away), wraps around when
    // subtracted from; bytes from 0x80 up have their high bit set already.
    let below_space = word.wrapping_sub(ONES * 0x20);
    let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (below_space | quote | backslash | word) & HIGHS
}

// The fields of an event, as indexes (bits in the masks of `Scan::read`).
const EVENT_ID: usize = 0;
const EVENT_TYPE: usize = 1;
const EXPERIMENT_ID: usize = 2;
const VARIANT: usize = 3;
const USER_ID: usize = 4;
const EVENT_NAME: usize = 5;
const EVENT_VALUE: usize = 6;
const TIMESTAMP: usize = 7;
const METADATA: usize = 8;
/// Any other key (ignored, like serde_json ignores unknown fields).
const OTHER: usize = 9;

/// Whether `bytes` are `name` (compared as a fixed-size array: a few integer comparisons, no
/// `memcmp` call).
#[inline]
fn is<const N: usize>(bytes: &[u8], name: &[u8; N]) -> bool {
    <&[u8; N]>::try_from(bytes).is_ok_and(|b| b == name)
}

/// The field a key names.
fn field_of(key: &[u8]) -> usize {
    match key.len() {
        7 if is(key, b"user_id") => USER_ID,
        7 if is(key, b"variant") => VARIANT,
        8 if is(key, b"event_id") => EVENT_ID,
        8 if is(key, b"metadata") => METADATA,
        9 if is(key, b"timestamp") => TIMESTAMP,
        10 if is(key, b"event_type") => EVENT_TYPE,
        10 if is(key, b"event_name") => EVENT_NAME,
        11 if is(key, b"event_value") => EVENT_VALUE,
        13 if is(key, b"experiment_id") => EXPERIMENT_ID,
        _ => OTHER,
    }
}

const fn word(bytes: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*bytes)
}

/// The field a key names and the length of the key, read from the sixteen bytes after its
/// opening quote: the names ingest knows followed by `":` (compared as two words, without
/// searching for the quote); `None` for other keys, whitespace before the colon, or near the
/// end of the message.
#[inline]
fn known_key(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let chunk: &[u8; 16] = bytes.get(at..at + 16)?.try_into().ok()?;
    let (head, tail) = chunk.split_at(8);
    let first = u64::from_le_bytes(head.try_into().ok()?);
    let second = u64::from_le_bytes(tail.try_into().ok()?);
    // The key's bytes past the first eight, then `":`, as a word and a mask.
    const fn rest(tail: &[u8]) -> (u64, u64) {
        let mut word = 0u64;
        let mut i = 0;
        while i < tail.len() {
            word |= (tail[i] as u64) << (8 * i);
            i += 1;
        }
        (word, u64::MAX >> (64 - 8 * tail.len()))
    }
    const USER_ID_: u64 = word(b"user_id\"");
    const VARIANT_: u64 = word(b"variant\"");
    const EVENT_ID: u64 = word(b"event_id");
    const METADATA: u64 = word(b"metadata");
    const TIMESTAM: u64 = word(b"timestam");
    const EVENT_TY: u64 = word(b"event_ty");
    const EVENT_NA: u64 = word(b"event_na");
    const EVENT_VA: u64 = word(b"event_va");
    const EXPERIME: u64 = word(b"experime");
    const COLON: (u64, u64) = rest(b":");
    const QUOTE: (u64, u64) = rest(b"\":");
    const P: (u64, u64) = rest(b"p\":");
    const PE: (u64, u64) = rest(b"pe\":");
    const ME: (u64, u64) = rest(b"me\":");
    const LUE: (u64, u64) = rest(b"lue\":");
    const NT_ID: (u64, u64) = rest(b"nt_id\":");
    let (field, (expected, mask), len) = match first {
        USER_ID_ => (self::USER_ID, COLON, 7),
        VARIANT_ => (self::VARIANT, COLON, 7),
        EVENT_ID => (self::EVENT_ID, QUOTE, 8),
        METADATA => (self::METADATA, QUOTE, 8),
        TIMESTAM => (TIMESTAMP, P, 9),
        EVENT_TY => (EVENT_TYPE, PE, 10),
        EVENT_NA => (EVENT_NAME, ME, 10),
        EVENT_VA => (EVENT_VALUE, LUE, 11),
        EXPERIME => (EXPERIMENT_ID, NT_ID, 13),
        _ => return None,
    };
    (second & mask == expected).then_some((field, len))
}

/// A byte range of the message's text: `(start, end)`.
pub(crate) type Span = (usize, usize);

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace (one comparison when there is none).
    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        if b > b' ' {
            return Some(b);
        }
        self.ws();
        self.peek()
    }

    /// Moves past `byte`, which must be next after any whitespace.
    #[inline]
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then(|| self.at += 1)
    }

    /// A string without escapes, the cursor just past its opening quote: moves past its
    /// closing quote and returns its contents.
    #[inline]
    fn string(&mut self) -> Option<Span> {
        let start = self.at;
        let rest = self.bytes.get(start..)?;
        let mut chunks = rest.chunks_exact(8);
        let mut len = 0;
        // Eight bytes at a time while none of them stops the scan (SWAR, see `stops`).
        let end = loop {
            let Some(chunk) = chunks.next() else {
                let tail = chunks.remainder();
                let n = tail.iter().take_while(|&&b| !STOP[b as usize]).count();
                break len + n;
            };
            let stop = stops(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
            if stop != 0 {
                // The lowest flagged byte is exact: the first stop byte.
                break len + (stop.trailing_zeros() / 8) as usize;
            }
            len += 8;
        };
        match rest.get(end)? {
            b'"' => {
                self.at = start + end + 1;
                Some((start, start + end))
            }
            0x80.. => self.non_ascii_string(start),
            _ => None,
        }
    }

    /// [`Scanner::string`] of a string with a multi-byte character: its bytes must be valid
    /// UTF-8 (then so is the whole message, all else in it being ASCII).
    #[cold]
    fn non_ascii_string(&mut self, start: usize) -> Option<Span> {
        let rest = self.bytes.get(start..)?;
        let end = rest
            .iter()
            .position(|&b| b < 0x20 || b == b'"' || b == b'\\')?;
        if rest[end] != b'"' {
            return None;
        }
        std::str::from_utf8(&rest[..end]).ok()?;
        self.at = start + end + 1;
        Some((start, start + end))
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<Span> {
        let start = self.at;
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
        Some((start, self.at))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A flat object of strings (the cursor on `{`): appends its pairs in document order.
    fn pairs(&mut self, out: &mut Vec<(Span, Span)>) -> Option<()> {
        self.at += 1;
        if self.next()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            let key = self.string()?;
            self.expect(b':')?;
            self.expect(b'"')?;
            let value = self.string()?;
            out.push((key, value));
            match self.next()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// A message of the usual shape, checked: where its strings are in the message, and its
/// other values. Reused from message to message (see [`Scan::read`]).
#[derive(Clone, Debug)]
pub(crate) struct Scan {
    /// `event_id`.
    pub event_id: Span,
    /// `event_type`.
    pub event_type: EventType,
    /// `experiment_id` (empty when absent).
    pub experiment_id: Span,
    /// `variant` (empty when absent).
    pub variant: Span,
    /// `user_id`.
    pub user_id: Span,
    /// `event_name` (`None`: absent, an exposure's default `exposure`).
    pub event_name: Option<Span>,
    /// `event_value`.
    pub event_value: Option<f64>,
    /// `timestamp` in epoch milliseconds.
    pub timestamp_ms: i64,
    /// `metadata` (key, value) pairs, sorted by key, keys unique.
    pub pairs: Vec<(Span, Span)>,
    /// The date of the last RFC 3339 timestamp read and its days since 1970-01-01 (messages
    /// in a row mostly share it).
    last_date: ([u8; 10], i64),
}

impl Default for Scan {
    fn default() -> Self {
        Self {
            event_id: (0, 0),
            event_type: EventType::Exposure,
            experiment_id: (0, 0),
            variant: (0, 0),
            user_id: (0, 0),
            event_name: None,
            event_value: None,
            timestamp_ms: 0,
            pairs: Vec::new(),
            last_date: (*b"1970-01-01", 0),
        }
    }
}

/// The bytes of `span` in `bytes` (empty if out of range, which a [`Scan`] never is).
#[inline]
pub(crate) fn slice(bytes: &[u8], span: Span) -> &[u8] {
    bytes.get(span.0..span.1).unwrap_or_default()
}

impl Scan {
    /// Reads the message `bytes` if it has the usual shape and is a valid event under
    /// `rules` (its size is not checked here); `false` sends it down serde_json's path (what
    /// is left in `self` then means nothing). A message it reads is valid UTF-8.
    pub(crate) fn read(&mut self, bytes: &[u8], rules: &Validation) -> bool {
        self.try_read(bytes, rules).is_some()
    }

    fn try_read(&mut self, bytes: &[u8], rules: &Validation) -> Option<()> {
        let mut s = Scanner { bytes, at: 0 };
        // Where the value of each known field is (a string's contents, a number's text).
        let mut values: [Span; 8] = [(0, 0); 8];
        // Known fields met (a repeat is an error serde_json words), and the kinds of values.
        let (mut seen, mut strings, mut numbers) = (0u16, 0u16, 0u16);
        self.pairs.clear();
        s.expect(b'{')?;
        if s.next()? == b'}' {
            s.at += 1;
        } else {
            loop {
                s.expect(b'"')?;
                let field = match known_key(bytes, s.at) {
                    Some((field, len)) => {
                        // Past the key, its closing quote and the colon.
                        s.at += len + 2;
                        field
                    }
                    None => {
                        let key = s.string()?;
                        s.expect(b':')?;
                        field_of(slice(bytes, key))
                    }
                };
                if field != OTHER {
                    let bit = 1u16 << field;
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                }
                match s.next()? {
                    b'"' => {
                        s.at += 1;
                        let value = s.string()?;
                        if let Some(slot) = values.get_mut(field) {
                            *slot = value;
                            strings |= 1 << field;
                        } else if field == METADATA {
                            return None;
                        }
                    }
                    b'{' if field == METADATA => s.pairs(&mut self.pairs)?,
                    b'-' | b'0'..=b'9' => {
                        let value = s.number()?;
                        if let Some(slot) = values.get_mut(field) {
                            *slot = value;
                            numbers |= 1 << field;
                        } else if field == METADATA {
                            return None;
                        }
                    }
                    b'n' => s.literal(b"null")?,
                    b't' if field == OTHER => s.literal(b"true")?,
                    b'f' if field == OTHER => s.literal(b"false")?,
                    _ => return None,
                }
                match s.next()? {
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
        if s.at != bytes.len() {
            return None;
        }

        // A string field: `Some(None)` when absent or null, `None` when not a string of 1 to
        // `max` bytes (more bytes may still be few enough characters: serde_json's path
        // counts them).
        let string = |field: usize, max: usize| -> Option<Option<Span>> {
            let bit = 1u16 << field;
            if numbers & bit != 0 {
                return None;
            }
            if strings & bit == 0 {
                return Some(None);
            }
            let (start, end) = values[field];
            (start < end && end - start <= max).then_some(Some((start, end)))
        };
        self.event_id = string(EVENT_ID, MAX_EVENT_ID_CHARS)??;
        let event_type = slice(bytes, string(EVENT_TYPE, 16)??);
        self.event_type = if is(event_type, b"exposure") {
            EventType::Exposure
        } else if is(event_type, b"conversion") {
            EventType::Conversion
        } else {
            return None;
        };
        self.user_id = string(USER_ID, MAX_ID_CHARS)??;
        let experiment_id = string(EXPERIMENT_ID, MAX_ID_CHARS)?;
        let variant = string(VARIANT, MAX_ID_CHARS)?;
        let event_name = string(EVENT_NAME, MAX_ID_CHARS)?;
        (self.experiment_id, self.variant, self.event_name) = match self.event_type {
            EventType::Exposure => (experiment_id?, variant?, event_name),
            EventType::Conversion => (
                experiment_id.unwrap_or_default(),
                variant.unwrap_or_default(),
                Some(event_name?),
            ),
        };
        self.event_value = if numbers & 1 << EVENT_VALUE != 0 {
            let v = number_value(slice(bytes, values[EVENT_VALUE]))?;
            if v.abs() > rules.max_abs_value {
                return None;
            }
            Some(v)
        } else if strings & 1 << EVENT_VALUE != 0 {
            return None;
        } else {
            None
        };
        let timestamp = slice(bytes, values[TIMESTAMP]);
        let ms = if strings & 1 << TIMESTAMP != 0 {
            let date = timestamp
                .get(..10)
                .and_then(|d| <&[u8; 10]>::try_from(d).ok())?;
            if *date != self.last_date.0 {
                self.last_date = (*date, rfc3339_days(date)?);
            }
            self.last_date.1 * 86_400_000 + rfc3339_time_ms(timestamp)?
        } else if numbers & 1 << TIMESTAMP != 0 {
            epoch_ms(timestamp)?
        } else {
            return None;
        };
        if !(0..MAX_TIMESTAMP_MS).contains(&ms) || ms < rules.min_timestamp_ms {
            return None;
        }
        self.timestamp_ms = ms;
        // Metadata sorted by key (insertion sort: a handful of pairs, often in order). A key
        // that repeats meets its twin on its way down; that is an error serde_json's path
        // words.
        let pairs = &mut self.pairs[..];
        for i in 1..pairs.len() {
            let mut j = i;
            while j > 0 {
                match slice(bytes, pairs[j].0).cmp(slice(bytes, pairs[j - 1].0)) {
                    Ordering::Less => pairs.swap(j, j - 1),
                    Ordering::Equal => return None,
                    Ordering::Greater => break,
                }
                j -= 1;
            }
        }
        Some(())
    }

    /// The event read by [`Scan::read`] from `text`.
    pub(crate) fn event<'a>(&self, text: &'a str) -> Event<'a> {
        let s = |span: Span| Cow::Borrowed(text.get(span.0..span.1).unwrap_or_default());
        Event {
            event_id: s(self.event_id),
            event_type: self.event_type,
            experiment_id: s(self.experiment_id),
            variant: s(self.variant),
            user_id: s(self.user_id),
            event_name: self.event_name.map_or(Cow::Borrowed("exposure"), s),
            event_value: self.event_value,
            metadata: self.pairs.iter().map(|&(k, v)| (s(k), s(v))).collect(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// `10^i` for the exponents where `significand as f64 * or / 10^i` is what serde_json computes.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The value of a JSON number (syntax already checked) exactly as serde_json reads it into an
/// `f64`, for numbers of at most 18 digits and a decimal exponent within ±22 (serde_json then
/// computes `significand as f64` times or divided by an exact power of ten, as done here);
/// `None` for other numbers.
fn number_value(b: &[u8]) -> Option<f64> {
    let (negative, mut i) = if b.first() == Some(&b'-') {
        (true, 1)
    } else {
        (false, 0)
    };
    let mut significand = 0u64;
    let mut digits = 0;
    let mut exponent = 0i32;
    let mut after_point = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                significand = significand * 10 + u64::from(c - b'0');
                digits += 1;
                if digits > 18 {
                    return None;
                }
                exponent -= i32::from(after_point);
            }
            b'.' => after_point = true,
            _ => break,
        }
        i += 1;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let negative_exp = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut exp = 0i32;
        for &c in b.get(i..)? {
            if !c.is_ascii_digit() {
                return None;
            }
            exp = exp * 10 + i32::from(c - b'0');
            if exp > 400 {
                return None;
            }
        }
        exponent += if negative_exp { -exp } else { exp };
    }
    let f = significand as f64;
    let f = match POW10.get(exponent.unsigned_abs() as usize) {
        Some(&pow) if exponent >= 0 => f * pow,
        Some(&pow) => f / pow,
        None => return None,
    };
    Some(if negative { -f } else { f })
}

/// Integer epoch milliseconds written as plain digits (what `str::parse::<i64>` reads the same).
fn epoch_ms(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    b.iter().try_fold(0i64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
