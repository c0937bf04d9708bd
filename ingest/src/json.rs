//! Reading the fields of an event from their raw JSON text (as split by the fast scan or by
//! serde_json in [`crate::event::parse`]), with the error messages producers see in quarantine.
//!
//! Strings without escapes are borrowed from the message; strings with escapes are decoded by
//! serde_json, and an invalid escape (such as a lone UTF-16 surrogate) is reported as such.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::{Rejection, MAX_TIMESTAMP_MS};

/// RFC 3339 text of epoch milliseconds (for messages).
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

fn present(raw: Option<&str>) -> Option<&str> {
    raw.filter(|r| *r != "null")
}

/// The text of a JSON string value, or why it is not one (`None`: not a string at all).
fn string_of(text: &str) -> Option<Result<Cow<'_, str>, String>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.as_bytes().contains(&b'\\') {
        // serde_json has checked the string (no control characters, closed quotes).
        return Some(Ok(Cow::Borrowed(inner)));
    }
    Some(
        serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .map_err(|e| without_position(&e)),
    )
}

/// serde_json's message without " at line 1 column N" (positions inside a field's raw text
/// mean nothing to the producer).
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn invalid_escape(field: &str, why: &str) -> Rejection {
    Rejection::new(
        "invalid_field",
        format!("`{field}` is a string with an invalid escape ({why})"),
    )
}

pub(crate) fn required_string<'a>(
    field: &str,
    raw: Option<&'a str>,
    max_chars: usize,
) -> Result<Cow<'a, str>, Rejection> {
    optional_string(field, raw, max_chars)?
        .ok_or_else(|| Rejection::new("missing_field", format!("missing field `{field}`")))
}

pub(crate) fn optional_string<'a>(
    field: &str,
    raw: Option<&'a str>,
    max_chars: usize,
) -> Result<Option<Cow<'a, str>>, Rejection> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let value = match string_of(raw) {
        Some(Ok(value)) => value,
        Some(Err(why)) => return Err(invalid_escape(field, &why)),
        None => {
            return Err(Rejection::new(
                "invalid_field",
                format!("`{field}` must be a string, got {}", kind(raw)),
            ))
        }
    };
    // The byte length bounds the character count from above: count only when it may matter.
    if value.is_empty() || (value.len() > max_chars && value.chars().count() > max_chars) {
        let chars = value.chars().count();
        return Err(Rejection::new(
            "invalid_field",
            format!("`{field}` must have 1 to {max_chars} characters, got {chars}"),
        ));
    }
    Ok(Some(value))
}

pub(crate) fn optional_number(field: &str, raw: Option<&str>) -> Result<Option<f64>, Rejection> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let value: f64 = serde_json::from_str(raw).map_err(|_| match kind(raw) {
        "a number" => Rejection::new(
            "invalid_field",
            format!("`{field}` must be a finite number, got {}", shorten(raw)),
        ),
        other => Rejection::new(
            "invalid_field",
            format!("`{field}` must be a number, got {other}"),
        ),
    })?;
    if !value.is_finite() {
        return Err(Rejection::new(
            "invalid_field",
            format!("`{field}` must be finite"),
        ));
    }
    Ok(Some(value))
}

/// Metadata pairs sorted by key (keys are unique).
pub(crate) type Metadata<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// The pairs of the raw `metadata` object (`None`: absent or null).
pub(crate) fn metadata(raw: Option<&str>) -> Result<Metadata<'_>, Rejection> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if !raw.starts_with('{') {
        return Err(Rejection::new(
            "invalid_field",
            format!("`metadata` must be an object, got {}", kind(raw)),
        ));
    }
    let RawPairs(mut pairs) = serde_json::from_str(raw).map_err(|e| {
        Rejection::new(
            "invalid_field",
            // The document's syntax is checked already and values stay raw: what is left to
            // fail is decoding a key.
            format!(
                "`metadata` has a key with an invalid escape ({})",
                without_position(&e)
            ),
        )
    })?;
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Metadata<'_> = Vec::with_capacity(pairs.len());
    check_unique(&pairs)?;
    for (key, value) in pairs {
        let text = match string_of(value.get()) {
            Some(Ok(text)) => text,
            Some(Err(why)) => return Err(invalid_escape(&format!("metadata.{key}"), &why)),
            None => {
                return Err(Rejection::new(
                    "invalid_field",
                    format!(
                        "`metadata.{key}` must be a string, got {}",
                        kind(value.get())
                    ),
                ))
            }
        };
        out.push((key, text));
    }
    Ok(out)
}

/// Refuses a key that appears twice in sorted `pairs`, like a repeated top-level field: which
/// value would be meant is anyone's guess.
fn check_unique<V>(pairs: &[(Cow<'_, str>, V)]) -> Result<(), Rejection> {
    match pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        Some(w) => Err(Rejection::new(
            "invalid_json",
            format!(
                "message is not valid JSON: duplicate key {:?} in `metadata`",
                w[0].0
            ),
        )),
        None => Ok(()),
    }
}

/// The pairs of a JSON object in document order, keys decoded, values raw.
struct RawPairs<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawPairs<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(Key(key)) = map.next_key()? {
                    let value: &'de RawValue = map.next_value()?;
                    pairs.push((key, value));
                }
                Ok(RawPairs(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

/// An object key, borrowed when it holds no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

pub(crate) fn timestamp(raw: Option<&str>, min_ms: i64) -> Result<i64, Rejection> {
    let text =
        present(raw).ok_or_else(|| Rejection::new("missing_field", "missing field `timestamp`"))?;
    let ms = if text.starts_with('"') {
        let s = match string_of(text) {
            Some(Ok(s)) => s,
            _ => return Err(invalid_timestamp(text)),
        };
        if let Some(ms) = utc_rfc3339_ms(s.as_bytes()) {
            ms
        } else {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map_err(|e| {
                    Rejection::new(
                        "invalid_field",
                        format!("`timestamp` {s:?} is not an RFC 3339 time ({e})"),
                    )
                })?
                .timestamp_millis()
        }
    } else {
        // serde_json has checked the number's syntax; an integer that fits reads the same.
        text.parse::<i64>().map_err(|_| invalid_timestamp(text))?
    };
    if !(0..MAX_TIMESTAMP_MS).contains(&ms) {
        return Err(Rejection::new(
            "invalid_field",
            format!("`timestamp` {ms} ms is outside 1970-01-01 … 2105-12-31"),
        ));
    }
    if ms < min_ms {
        let mut detail = format!(
            "`timestamp` {ms} ms ({}) is before {}, the earliest accepted (ingest.min_timestamp_ms)",
            rfc3339(ms),
            rfc3339(min_ms)
        );
        let as_ms = ms.saturating_mul(1000);
        if !text.starts_with('"') && (min_ms..MAX_TIMESTAMP_MS).contains(&as_ms) {
            detail.push_str(&format!(
                "; epoch timestamps are milliseconds: was {ms} meant as seconds ({})?",
                rfc3339(as_ms)
            ));
        }
        return Err(Rejection::new("invalid_field", detail));
    }
    Ok(ms)
}

/// Epoch milliseconds of `YYYY-MM-DDTHH:MM:SS[.f…]Z`, the form producers usually send, read
/// without chrono's general parser; `None` for anything else (chrono then reads it or says
/// why not). Tests check it against chrono.
pub(crate) fn utc_rfc3339_ms(b: &[u8]) -> Option<i64> {
    Some(rfc3339_days(b)? * 86_400_000 + rfc3339_time_ms(b)?)
}

/// The digit at `i` of `b`.
#[inline]
fn digit(b: &[u8], i: usize) -> Option<i64> {
    let d = b.get(i)?.wrapping_sub(b'0');
    (d < 10).then_some(i64::from(d))
}

/// The two digits at `i` of `b`.
#[inline]
fn two(b: &[u8], i: usize) -> Option<i64> {
    Some(digit(b, i)? * 10 + digit(b, i + 1)?)
}

/// Days from 1970-01-01 of the date `YYYY-MM-DD` that `b` starts with (the date part of
/// [`utc_rfc3339_ms`]).
pub(crate) fn rfc3339_days(b: &[u8]) -> Option<i64> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let year = two(b, 0)? * 100 + two(b, 2)?;
    let (month, day) = (two(b, 5)?, two(b, 8)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days {
        return None;
    }
    // The proleptic Gregorian calendar (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Milliseconds into the day of `THH:MM:SS[.f…]Z` after the date in `b` (the time part of
/// [`utc_rfc3339_ms`]).
pub(crate) fn rfc3339_time_ms(b: &[u8]) -> Option<i64> {
    let n = b.len();
    if n < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[n - 1] != b'Z' {
        return None;
    }
    let (hour, minute, second) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
    // A leap second (60) is left to chrono.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let millis = match n {
        20 => 0,
        24 if b[19] == b'.' => digit(b, 20)? * 100 + two(b, 21)?,
        _ if b[19] == b'.' && (22..=30).contains(&n) => {
            let digits = &b[20..n - 1];
            let mut ms = 0;
            for (i, d) in digits.iter().enumerate() {
                if !d.is_ascii_digit() {
                    return None;
                }
                if i < 3 {
                    ms = ms * 10 + i64::from(d - b'0');
                }
            }
            ms * 10i64.pow(3u32.saturating_sub(digits.len() as u32))
        }
        _ => return None,
    };
    Some((hour * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

fn invalid_timestamp(text: &str) -> Rejection {
    let shown = shorten(text);
    Rejection::new(
        "invalid_field",
        format!(
            "`timestamp` must be an RFC 3339 string or integer epoch milliseconds, got {shown}"
        ),
    )
}

fn kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::utc_rfc3339_ms;

    fn chrono_ms(s: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    #[test]
    fn the_fast_timestamp_reader_agrees_with_chrono() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3339);
        let mut fast = 0;
        for _ in 0..50_000 {
            let ms = rng.random_range(-2_300_000_000_000i64..5_000_000_000_000);
            let t = chrono::DateTime::from_timestamp_millis(ms).expect("in range");
            let mut text = match rng.random_range(0..4) {
                0 => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                1 => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                2 => t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                _ => t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            };
            if rng.random_bool(0.3) {
                // Break it somewhere.
                let at = rng.random_range(0..text.len());
                let c = ['0', '9', '3', ':', '-', 'T', 'Z', '.', 'x', '+', ' ']
                    [rng.random_range(0..11)];
                text.replace_range(at..at + 1, &c.to_string());
            }
            if let Some(got) = utc_rfc3339_ms(text.as_bytes()) {
                fast += 1;
                assert_eq!(Some(got), chrono_ms(&text), "{text}");
            }
        }
        assert!(fast > 30_000, "{fast}");
        for text in [
            "2024-02-29T23:59:59.999Z",
            "2000-01-01T00:00:00Z",
            "1970-01-01T00:00:00.1Z",
        ] {
            assert_eq!(utc_rfc3339_ms(text.as_bytes()), chrono_ms(text), "{text}");
        }
        for text in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00.Z",
        ] {
            assert_eq!(utc_rfc3339_ms(text.as_bytes()), None, "{text}");
        }
    }
}
