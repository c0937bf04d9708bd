//! The event format (the contract with producers) and its validation: one JSON object per
//! Kafka message becomes an [`Event`] (borrowing from the message) for the event store, or a
//! [`Rejection`] that says why the message goes to quarantine.
//!
//! | field | rule |
//! |---|---|
//! | `event_id` | string, 1–128 characters, required |
//! | `event_type` | `"exposure"` or `"conversion"`, required |
//! | `experiment_id`, `variant` | strings (1–256 characters), required for exposures, optional for conversions |
//! | `user_id` | string, 1–256 characters, required |
//! | `event_name` | string; defaults to `"exposure"` for exposures, required for conversions |
//! | `event_value` | finite number within ±`max_abs_event_value` (default 10^12), optional |
//! | `metadata` | object of string → string with unique keys, optional |
//! | `timestamp` | RFC 3339 string or integer epoch milliseconds, required, from `min_timestamp_ms` (default 2000-01-01) to 2105-12-31 |
//!
//! Unknown fields are ignored; `null` counts as absent. A key that appears twice (at the top
//! level or in `metadata`) makes the message invalid JSON for ingest, whichever value is last.
//!
//! A message of the usual shape (no escapes, no nesting, valid fields) is read in one pass by
//! the fast path ([`crate::scan`]), which borrows every string from the message. Anything else
//! is parsed once by serde_json: the top level is split into raw field values (serde_json
//! checks the whole document), and each field is then read from its raw text, with the exact
//! error when it is invalid. A string without escapes is borrowed from the message as is; only
//! strings with escapes are decoded into a new `String`.

use std::borrow::Cow;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::json;
use crate::scan;

/// Longest `event_id` in characters.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Longest `user_id` (and other identifiers) in characters.
pub const MAX_ID_CHARS: usize = 256;
/// Latest accepted timestamp (exclusive): 2106-01-01, the end of ClickHouse's `DateTime`.
pub const MAX_TIMESTAMP_MS: i64 = 4_291_747_200_000;
/// Default earliest accepted timestamp: 2000-01-01T00:00:00Z. Epoch seconds sent where
/// milliseconds are expected fall before it (1,780,000,000 ms is January 1970).
pub const DEFAULT_MIN_TIMESTAMP_MS: i64 = 946_684_800_000;
/// Default largest accepted `|event_value|`: 10^12. One absurd value (1.7e308) would otherwise
/// swamp every sum and variance of a metric.
pub const DEFAULT_MAX_ABS_EVENT_VALUE: f64 = 1e12;

/// The limits a message must keep to be accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Validation {
    /// Larger messages are `too_large`.
    pub max_bytes: usize,
    /// Values with a larger magnitude are refused.
    pub max_abs_value: f64,
    /// Earlier timestamps (epoch milliseconds) are refused.
    pub min_timestamp_ms: i64,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 20,
            max_abs_value: DEFAULT_MAX_ABS_EVENT_VALUE,
            min_timestamp_ms: DEFAULT_MIN_TIMESTAMP_MS,
        }
    }
}

/// `event_type` values as stored in the `Enum8` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The user saw a variant.
    Exposure = 1,
    /// The user did something.
    Conversion = 2,
}

/// A valid event, borrowing its text from the message wherever it holds no escapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// Producer's id of the event.
    pub event_id: Cow<'a, str>,
    /// Exposure or conversion.
    pub event_type: EventType,
    /// Experiment id (`""` for untagged conversions).
    pub experiment_id: Cow<'a, str>,
    /// Variant (`""` when absent).
    pub variant: Cow<'a, str>,
    /// The user.
    pub user_id: Cow<'a, str>,
    /// Event name (`exposure` for exposures).
    pub event_name: Cow<'a, str>,
    /// Optional value.
    pub event_value: Option<f64>,
    /// Metadata pairs, sorted by key, keys unique.
    pub metadata: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Event time in epoch milliseconds.
    pub timestamp_ms: i64,
}

/// One row of the `events` table (column order matters for RowBinary on old servers).
///
/// The hot path does not build these (it encodes an [`Event`] straight into RowBinary, see
/// [`crate::rowbinary`]); they serve tests, tools and rows refused by ClickHouse.
#[derive(Clone, Debug, PartialEq, Row, Serialize, Deserialize)]
pub struct EventRow {
    /// Producer's id of the event.
    pub event_id: String,
    /// [`EventType`] as `Enum8`.
    pub event_type: i8,
    /// Experiment id (`''` for untagged conversions).
    pub experiment_id: String,
    /// Variant (`''` when absent).
    pub variant: String,
    /// The user.
    pub user_id: String,
    /// Event name (`exposure` for exposures).
    pub event_name: String,
    /// Optional value.
    pub event_value: Option<f64>,
    /// Metadata keys (parallel to `metadata_values`).
    pub metadata_keys: Vec<String>,
    /// Metadata values.
    pub metadata_values: Vec<String>,
    /// Event time in epoch milliseconds.
    pub timestamp_ms: i64,
    /// Ingest time in epoch seconds, as this process saw it (dedupe generations, quarantine).
    /// Not sent to ClickHouse: the column defaults to the server's `now()` at write time, which
    /// the aggregator's watermark relies on (migration 0004).
    #[serde(skip)]
    pub ingested_at: u32,
    /// Lineage: topic.
    pub kafka_topic: String,
    /// Lineage: partition.
    pub kafka_partition: i32,
    /// Lineage: offset.
    pub kafka_offset: i64,
}

/// Why a message was refused; `code` is stored in `quarantine.reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Machine-readable reason (see [`Rejection::CODES`]).
    pub code: &'static str,
    /// Human-readable explanation naming the field.
    pub detail: String,
}

impl Rejection {
    /// Every reason code ingest uses.
    pub const CODES: &'static [&'static str] = &[
        "empty",
        "too_large",
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "missing_field",
        "invalid_field",
        "rejected_by_clickhouse",
    ];

    pub(crate) fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// Where a message came from; copied into the row for lineage.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Ingest time, epoch seconds.
    pub ingested_at: u32,
}

/// The message as producers write it; fields stay raw so that type errors name the field.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    experiment_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    variant: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_value: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
}

/// The raw JSON text of a field (`None`: absent or `null`).
fn raw(value: Option<&RawValue>) -> Option<&str> {
    value.map(RawValue::get).filter(|t| *t != "null")
}

/// Parses and validates one message.
pub fn parse<'a>(payload: Option<&'a [u8]>, rules: &Validation) -> Result<Event<'a>, Rejection> {
    parse_with(payload, rules, true)
}

/// [`parse`], optionally without the fast path (tests compare both paths).
pub(crate) fn parse_with<'a>(
    payload: Option<&'a [u8]>,
    rules: &Validation,
    fast: bool,
) -> Result<Event<'a>, Rejection> {
    let text = text_of(payload, rules)?;
    if fast {
        let mut scan = scan::Scan::default();
        if scan.read(text.as_bytes(), rules) {
            return Ok(scan.event(text));
        }
    }
    parse_text(text, rules)
}

/// The text of a message, or why it is refused before its JSON is read: empty, too large,
/// not UTF-8, or not an object.
pub(crate) fn text_of<'a>(
    payload: Option<&'a [u8]>,
    rules: &Validation,
) -> Result<&'a str, Rejection> {
    let max_bytes = rules.max_bytes;
    let bytes = payload.unwrap_or_default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::new("empty", "message is empty"));
    }
    if bytes.len() > max_bytes {
        return Err(Rejection::new(
            "too_large",
            format!("message is {} bytes, the limit is {max_bytes}", bytes.len()),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Rejection::new("invalid_utf8", format!("message is not valid UTF-8 ({e})")))?;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        // Tell "valid JSON but not an object" apart from garbage.
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Rejection::new("not_an_object", "message is JSON but not an object"),
            Err(e) => Rejection::new("invalid_json", format!("message is not valid JSON: {e}")),
        });
    }
    Ok(text)
}

/// Parses and validates the text of a message (as [`text_of`] gives it) with serde_json:
/// any message, with the exact reason when it is refused.
pub(crate) fn parse_text<'a>(text: &'a str, rules: &Validation) -> Result<Event<'a>, Rejection> {
    let wire = serde_json::from_str::<Wire<'_>>(text)
        .map_err(|e| Rejection::new("invalid_json", format!("message is not valid JSON: {e}")))?;
    let event_id = json::required_string("event_id", raw(wire.event_id), MAX_EVENT_ID_CHARS)?;
    let event_type = match &*json::required_string("event_type", raw(wire.event_type), 16)? {
        "exposure" => EventType::Exposure,
        "conversion" => EventType::Conversion,
        other => {
            return Err(Rejection::new(
                "invalid_field",
                format!("`event_type` must be \"exposure\" or \"conversion\", not {other:?}"),
            ))
        }
    };
    let user_id = json::required_string("user_id", raw(wire.user_id), MAX_ID_CHARS)?;
    let (experiment_id, variant, event_name) = match event_type {
        EventType::Exposure => (
            json::required_string("experiment_id", raw(wire.experiment_id), MAX_ID_CHARS)?,
            json::required_string("variant", raw(wire.variant), MAX_ID_CHARS)?,
            json::optional_string("event_name", raw(wire.event_name), MAX_ID_CHARS)?
                .unwrap_or(Cow::Borrowed("exposure")),
        ),
        EventType::Conversion => (
            json::optional_string("experiment_id", raw(wire.experiment_id), MAX_ID_CHARS)?
                .unwrap_or_default(),
            json::optional_string("variant", raw(wire.variant), MAX_ID_CHARS)?.unwrap_or_default(),
            json::required_string("event_name", raw(wire.event_name), MAX_ID_CHARS)?,
        ),
    };
    let event_value = json::optional_number("event_value", raw(wire.event_value))?;
    if let Some(v) = event_value.filter(|v| v.abs() > rules.max_abs_value) {
        return Err(Rejection::new(
            "invalid_field",
            format!(
                "`event_value` {v:e} is beyond ±{:e}, the largest magnitude accepted (ingest.max_abs_event_value)",
                rules.max_abs_value
            ),
        ));
    }
    let metadata = json::metadata(raw(wire.metadata))?;
    let timestamp_ms = json::timestamp(raw(wire.timestamp), rules.min_timestamp_ms)?;

    Ok(Event {
        event_id,
        event_type,
        experiment_id,
        variant,
        user_id,
        event_name,
        event_value,
        metadata,
        timestamp_ms,
    })
}

/// Decodes and validates one message into an owned row (`max_bytes` is the size limit; the
/// other limits are the defaults).
pub fn decode(
    payload: Option<&[u8]>,
    max_bytes: usize,
    origin: Origin<'_>,
) -> Result<EventRow, Rejection> {
    let rules = Validation {
        max_bytes,
        ..Validation::default()
    };
    parse(payload, &rules).map(|event| event.into_row(origin))
}

impl Event<'_> {
    /// The owned row of this event read at `origin`.
    pub fn into_row(self, origin: Origin<'_>) -> EventRow {
        let (metadata_keys, metadata_values) = self
            .metadata
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .unzip();
        EventRow {
            event_id: self.event_id.into_owned(),
            event_type: self.event_type as i8,
            experiment_id: self.experiment_id.into_owned(),
            variant: self.variant.into_owned(),
            user_id: self.user_id.into_owned(),
            event_name: self.event_name.into_owned(),
            event_value: self.event_value,
            metadata_keys,
            metadata_values,
            timestamp_ms: self.timestamp_ms,
            ingested_at: origin.ingested_at,
            kafka_topic: origin.topic.to_owned(),
            kafka_partition: origin.partition,
            kafka_offset: origin.offset,
        }
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
