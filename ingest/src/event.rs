//! The event format (the contract with producers) and its validation: one JSON object per
//! Kafka message becomes an [`EventRow`] for the event store, or a [`Rejection`] that says why
//! the message goes to quarantine.
//!
//! | field | rule |
//! |---|---|
//! | `event_id` | string, 1–128 characters, required |
//! | `event_type` | `"exposure"` or `"conversion"`, required |
//! | `experiment_id`, `variant` | strings (1–256 characters), required for exposures, optional for conversions |
//! | `user_id` | string, 1–256 characters, required |
//! | `event_name` | string; defaults to `"exposure"` for exposures, required for conversions |
//! | `event_value` | finite number, optional |
//! | `metadata` | object of string → string, optional |
//! | `timestamp` | RFC 3339 string or integer epoch milliseconds, required, 1970-01-01 … 2105-12-31 |
//!
//! Unknown fields are ignored; `null` counts as absent.

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Longest `event_id` in characters.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Longest `user_id` (and other identifiers) in characters.
pub const MAX_ID_CHARS: usize = 256;
/// Latest accepted timestamp (exclusive): 2106-01-01, the end of ClickHouse's `DateTime`.
pub const MAX_TIMESTAMP_MS: i64 = 4_291_747_200_000;

/// `event_type` values as stored in the `Enum8` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The user saw a variant.
    Exposure = 1,
    /// The user did something.
    Conversion = 2,
}

/// One row of the `events` table (column order matters for RowBinary on old servers).
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

    fn new(code: &'static str, detail: impl Into<String>) -> Self {
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

/// Decodes and validates one message (`max_bytes` is the size limit).
pub fn decode(
    payload: Option<&[u8]>,
    max_bytes: usize,
    origin: Origin<'_>,
) -> Result<EventRow, Rejection> {
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
    let wire: Wire<'_> = serde_json::from_str(text)
        .map_err(|e| Rejection::new("invalid_json", format!("message is not valid JSON: {e}")))?;

    let event_id = required_string("event_id", wire.event_id, MAX_EVENT_ID_CHARS)?;
    let event_type = match required_string("event_type", wire.event_type, 16)?.as_str() {
        "exposure" => EventType::Exposure,
        "conversion" => EventType::Conversion,
        other => {
            return Err(Rejection::new(
                "invalid_field",
                format!("`event_type` must be \"exposure\" or \"conversion\", not {other:?}"),
            ))
        }
    };
    let user_id = required_string("user_id", wire.user_id, MAX_ID_CHARS)?;
    let (experiment_id, variant, event_name) = match event_type {
        EventType::Exposure => (
            required_string("experiment_id", wire.experiment_id, MAX_ID_CHARS)?,
            required_string("variant", wire.variant, MAX_ID_CHARS)?,
            optional_string("event_name", wire.event_name, MAX_ID_CHARS)?
                .unwrap_or_else(|| "exposure".to_owned()),
        ),
        EventType::Conversion => (
            optional_string("experiment_id", wire.experiment_id, MAX_ID_CHARS)?.unwrap_or_default(),
            optional_string("variant", wire.variant, MAX_ID_CHARS)?.unwrap_or_default(),
            required_string("event_name", wire.event_name, MAX_ID_CHARS)?,
        ),
    };
    let event_value = optional_number("event_value", wire.event_value)?;
    let (metadata_keys, metadata_values) = metadata(wire.metadata)?;
    let timestamp_ms = timestamp(wire.timestamp)?;

    Ok(EventRow {
        event_id,
        event_type: event_type as i8,
        experiment_id,
        variant,
        user_id,
        event_name,
        event_value,
        metadata_keys,
        metadata_values,
        timestamp_ms,
        ingested_at: origin.ingested_at,
        kafka_topic: origin.topic.to_owned(),
        kafka_partition: origin.partition,
        kafka_offset: origin.offset,
    })
}

fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

fn required_string(
    field: &str,
    raw: Option<&RawValue>,
    max_chars: usize,
) -> Result<String, Rejection> {
    optional_string(field, raw, max_chars)?
        .ok_or_else(|| Rejection::new("missing_field", format!("missing field `{field}`")))
}

fn optional_string(
    field: &str,
    raw: Option<&RawValue>,
    max_chars: usize,
) -> Result<Option<String>, Rejection> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let value: String = serde_json::from_str(raw.get()).map_err(|_| {
        Rejection::new(
            "invalid_field",
            format!("`{field}` must be a string, got {}", kind(raw)),
        )
    })?;
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(Rejection::new(
            "invalid_field",
            format!("`{field}` must have 1 to {max_chars} characters, got {chars}"),
        ));
    }
    Ok(Some(value))
}

fn optional_number(field: &str, raw: Option<&RawValue>) -> Result<Option<f64>, Rejection> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let value: f64 = serde_json::from_str(raw.get()).map_err(|_| match kind(raw) {
        "a number" => Rejection::new(
            "invalid_field",
            format!(
                "`{field}` must be a finite number, got {}",
                shorten(raw.get())
            ),
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

fn metadata(raw: Option<&RawValue>) -> Result<(Vec<String>, Vec<String>), Rejection> {
    let Some(raw) = present(raw) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let map: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(raw.get()).map_err(|_| {
            Rejection::new(
                "invalid_field",
                format!("`metadata` must be an object, got {}", kind(raw)),
            )
        })?;
    let mut keys = Vec::with_capacity(map.len());
    let mut values = Vec::with_capacity(map.len());
    for (key, value) in map {
        match value {
            serde_json::Value::String(s) => {
                keys.push(key);
                values.push(s);
            }
            other => {
                return Err(Rejection::new(
                    "invalid_field",
                    format!(
                        "`metadata.{key}` must be a string, got {}",
                        json_kind(&other)
                    ),
                ))
            }
        }
    }
    Ok((keys, values))
}

fn timestamp(raw: Option<&RawValue>) -> Result<i64, Rejection> {
    let raw =
        present(raw).ok_or_else(|| Rejection::new("missing_field", "missing field `timestamp`"))?;
    let text = raw.get();
    let ms = if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|_| invalid_timestamp(text))?;
        chrono::DateTime::parse_from_rfc3339(&s)
            .map_err(|e| {
                Rejection::new(
                    "invalid_field",
                    format!("`timestamp` {s:?} is not an RFC 3339 time ({e})"),
                )
            })?
            .timestamp_millis()
    } else {
        serde_json::from_str::<i64>(text).map_err(|_| invalid_timestamp(text))?
    };
    if !(0..MAX_TIMESTAMP_MS).contains(&ms) {
        return Err(Rejection::new(
            "invalid_field",
            format!("`timestamp` {ms} ms is outside 1970-01-01 … 2105-12-31"),
        ));
    }
    Ok(ms)
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

fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
