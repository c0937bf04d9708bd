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

/// A byte range of the message's text: `(start, end)`.
pub(crate) type Span = (usize, usize);

#[path = "scan_lex.rs"]
mod lex;
use lex::{
    field_of, is, known_key, Scanner, EVENT_ID, EVENT_NAME, EVENT_TYPE, EVENT_VALUE, EXPERIMENT_ID,
    METADATA, OTHER, TIMESTAMP, USER_ID, VARIANT,
};

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
