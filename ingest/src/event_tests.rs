//! Unit tests of the event contract.

use super::*;

const ORIGIN: Origin<'static> = Origin {
    topic: "events",
    partition: 3,
    offset: 42,
    ingested_at: 1_700_000_000,
};

fn ok(json: &str) -> EventRow {
    decode(Some(json.as_bytes()), 1 << 20, ORIGIN).unwrap_or_else(|r| panic!("{json}: {r:?}"))
}

fn rejected(payload: &[u8]) -> Rejection {
    decode(Some(payload), 1 << 20, ORIGIN).expect_err("should be rejected")
}

fn conversion(extra: &str) -> String {
    format!(
        r#"{{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250{extra}}}"#
    )
}

fn rejected_as(json: &str, code: &str, needles: &[&str]) -> Rejection {
    let r = rejected(json.as_bytes());
    assert_eq!(r.code, code, "{json}: {r:?}");
    for needle in needles {
        assert!(r.detail.contains(needle), "{json}: {needle:?} not in {r:?}");
    }
    r
}

#[test]
fn a_full_exposure_decodes_with_lineage() {
    let row = ok(
        r#"{"event_id":"e1","event_type":"exposure","experiment_id":"checkout","variant":"treatment",
        "user_id":"u1","metadata":{"region":"eu","device":"ios"},"timestamp":"2026-11-02T10:00:00.250Z","extra":[1]}"#,
    );
    assert_eq!(row.event_type, EventType::Exposure as i8);
    assert_eq!(row.event_name, "exposure");
    assert_eq!(row.metadata_keys, ["device", "region"]);
    assert_eq!(row.metadata_values, ["ios", "eu"]);
    assert_eq!(row.timestamp_ms, 1_793_613_600_250);
    assert_eq!(
        (
            row.kafka_topic.as_str(),
            row.kafka_partition,
            row.kafka_offset
        ),
        ("events", 3, 42)
    );
    assert_eq!(row.ingested_at, 1_700_000_000);
    assert_eq!(row.event_value, None);
}

#[test]
fn an_untagged_conversion_with_value_and_epoch_millis() {
    let row = ok(
        r#"{"event_id":"e2","event_type":"conversion","user_id":"u1","event_name":"purchase",
        "event_value":19.99,"timestamp":1793613600250,"experiment_id":null}"#,
    );
    assert_eq!(row.event_type, EventType::Conversion as i8);
    assert_eq!(row.experiment_id, "");
    assert_eq!(row.variant, "");
    assert_eq!(row.event_value, Some(19.99));
    assert_eq!(row.timestamp_ms, 1_793_613_600_250);
}

#[test]
fn timezones_in_rfc3339_are_respected() {
    let a = ok(
        r#"{"event_id":"a","event_type":"conversion","user_id":"u","event_name":"x","timestamp":"2026-11-02T12:00:00+02:00"}"#,
    );
    let b = ok(
        r#"{"event_id":"b","event_type":"conversion","user_id":"u","event_name":"x","timestamp":"2026-11-02T10:00:00Z"}"#,
    );
    assert_eq!(a.timestamp_ms, b.timestamp_ms);
}

#[test]
fn bad_messages_get_precise_reasons() {
    let base = r#""event_id":"e","user_id":"u","timestamp":1700000000000"#;
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"".to_vec(), "empty", "empty"),
        (b"  \n".to_vec(), "empty", "empty"),
        (b"{\"event_id\":\"e\",".to_vec(), "invalid_json", "not valid JSON"),
        (vec![0xff, 0xfe, 0x00, 0x01], "invalid_utf8", "UTF-8"),
        (b"[1,2]".to_vec(), "not_an_object", "not an object"),
        (b"garbage".to_vec(), "invalid_json", "not valid JSON"),
        (format!(r#"{{{base}}}"#).into_bytes(), "missing_field", "`event_type`"),
        (format!(r#"{{{base},"event_type":"click"}}"#).into_bytes(), "invalid_field", "`event_type`"),
        (format!(r#"{{{base},"event_type":"exposure","variant":"a"}}"#).into_bytes(), "missing_field", "`experiment_id`"),
        (format!(r#"{{{base},"event_type":"exposure","experiment_id":"x"}}"#).into_bytes(), "missing_field", "`variant`"),
        (format!(r#"{{{base},"event_type":"conversion"}}"#).into_bytes(), "missing_field", "`event_name`"),
        (format!(r#"{{{base},"event_type":"conversion","event_name":"p","event_value":"12"}}"#).into_bytes(), "invalid_field", "`event_value` must be a number"),
        (format!(r#"{{{base},"event_type":"conversion","event_name":"p","event_value":NaN}}"#).into_bytes(), "invalid_json", "JSON"),
        (format!(r#"{{{base},"event_type":"conversion","event_name":"p","event_value":1e999}}"#).into_bytes(), "invalid_field", "`event_value` must be a finite number, got 1e999"),
        (format!(r#"{{{base},"event_type":"conversion","event_name":"p","metadata":{{"a":1}}}}"#).into_bytes(), "invalid_field", "`metadata.a`"),
        (format!(r#"{{{base},"event_type":"conversion","event_name":"p","metadata":[]}}"#).into_bytes(), "invalid_field", "`metadata`"),
        (br#"{"event_id":"e","user_id":"u","event_type":"conversion","event_name":"p"}"#.to_vec(), "missing_field", "`timestamp`"),
        (br#"{"event_id":"e","user_id":"u","event_type":"conversion","event_name":"p","timestamp":"yesterday"}"#.to_vec(), "invalid_field", "RFC 3339"),
        (br#"{"event_id":"e","user_id":"u","event_type":"conversion","event_name":"p","timestamp":-5}"#.to_vec(), "invalid_field", "outside"),
        (br#"{"event_id":"e","user_id":"u","event_type":"conversion","event_name":"p","timestamp":1.5}"#.to_vec(), "invalid_field", "`timestamp`"),
        (br#"{"event_id":"","user_id":"u","event_type":"conversion","event_name":"p","timestamp":1}"#.to_vec(), "invalid_field", "`event_id` must have 1 to 128"),
        (br#"{"event_id":7,"user_id":"u","event_type":"conversion","event_name":"p","timestamp":1}"#.to_vec(), "invalid_field", "`event_id` must be a string, got a number"),
        (br#"{"user_id":"u","event_type":"conversion","event_name":"p","timestamp":1}"#.to_vec(), "missing_field", "`event_id`"),
        (br#"{"event_id":"e","event_id":"f","user_id":"u","event_type":"conversion","event_name":"p","timestamp":1}"#.to_vec(), "invalid_json", "duplicate"),
    ];
    for (payload, code, needle) in cases {
        let r = rejected(&payload);
        assert_eq!(r.code, code, "{}: {r:?}", String::from_utf8_lossy(&payload));
        assert!(
            r.detail.contains(needle),
            "{}: {r:?}",
            String::from_utf8_lossy(&payload)
        );
        assert!(Rejection::CODES.contains(&r.code));
    }
}

#[test]
fn limits_are_enforced() {
    let long_id = "x".repeat(129);
    let json = format!(
        r#"{{"event_id":"{long_id}","user_id":"u","event_type":"conversion","event_name":"p","timestamp":1793613600250}}"#
    );
    assert_eq!(rejected(json.as_bytes()).code, "invalid_field");
    let big = vec![b' '; 100];
    let r = decode(Some(&[b"{".as_slice(), &big, b"}"].concat()), 50, ORIGIN).unwrap_err();
    assert_eq!(r.code, "too_large");
    assert!(r.detail.contains("102 bytes, the limit is 50"), "{r:?}");
    // Multi-byte characters count as characters, not bytes.
    let id = "é".repeat(128);
    let json = format!(
        r#"{{"event_id":"{id}","user_id":"u","event_type":"conversion","event_name":"p","timestamp":1793613600250}}"#
    );
    assert_eq!(ok(&json).event_id, id);
}

#[test]
fn a_missing_payload_is_empty() {
    assert_eq!(decode(None, 10, ORIGIN).unwrap_err().code, "empty");
}

/// Defect 7 of issue #14: a lone surrogate was reported as "must be a string, got a string".
#[test]
fn invalid_escapes_are_named_as_such() {
    let json = r#"{"event_id":"a\ud800","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250}"#;
    let r = rejected_as(
        json,
        "invalid_field",
        &["`event_id`", "invalid escape", "hex escape"],
    );
    assert!(!r.detail.contains("got a string"), "{r:?}");
    rejected_as(
        &conversion(r#","metadata":{"k":"\udc00x"}"#),
        "invalid_field",
        &["`metadata.k`", "invalid escape", "surrogate"],
    );
    let r = rejected_as(
        &conversion(r#","metadata":{"\ud800":"x"}"#),
        "invalid_field",
        &["`metadata` has a key with an invalid escape", "hex escape"],
    );
    assert!(!r.detail.contains("got an object"), "{r:?}");
    // Escapes that are fine are decoded.
    let row = ok(&conversion(r#","metadata":{"k\u00e9":"\ud83d\ude00\n"}"#));
    assert_eq!(
        (
            row.metadata_keys[0].as_str(),
            row.metadata_values[0].as_str()
        ),
        ("ké", "😀\n")
    );
}

/// Defect 7 of issue #14: metadata nested past serde's limit was "must be an object, got an object".
#[test]
fn deeply_nested_metadata_names_the_key_and_its_type() {
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let r = rejected_as(
        &conversion(&format!(r#","metadata":{{"a":"x","deep":{deep}}}"#)),
        "invalid_field",
        &["`metadata.deep` must be a string, got an array"],
    );
    assert!(!r.detail.contains("got an object"), "{r:?}");
    let deep = format!("{}1{}", "{\"k\":".repeat(300), "}".repeat(300));
    rejected_as(
        &conversion(&format!(r#","metadata":{{"deep":{deep}}}"#)),
        "invalid_field",
        &["`metadata.deep` must be a string, got an object"],
    );
}

#[test]
fn absurd_values_are_refused() {
    for v in ["1.7e308", "-1.7e308", "1000000000000.5", "-2e12"] {
        rejected_as(
            &conversion(&format!(r#","event_value":{v}"#)),
            "invalid_field",
            &["`event_value`", "beyond", "max_abs_event_value"],
        );
    }
    assert_eq!(
        ok(&conversion(r#","event_value":-1e12"#)).event_value,
        Some(-1e12)
    );
    let rules = Validation {
        max_abs_value: 10.0,
        ..Validation::default()
    };
    let json = conversion(r#","event_value":10.5"#);
    assert_eq!(
        parse(Some(json.as_bytes()), &rules).unwrap_err().code,
        "invalid_field"
    );
}

#[test]
fn timestamps_before_the_floor_are_refused_and_seconds_are_suspected() {
    let seconds = r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1780000000}"#;
    rejected_as(
        seconds,
        "invalid_field",
        &[
            "1970-01-21",
            "before 2000-01-01",
            "milliseconds",
            "seconds (2026-05-28",
        ],
    );
    let old = r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":"1999-12-31T23:59:59Z"}"#;
    let r = rejected_as(
        old,
        "invalid_field",
        &["before 2000-01-01", "min_timestamp_ms"],
    );
    assert!(!r.detail.contains("seconds ("), "{r:?}");
    assert_eq!(ok(r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":"2000-01-01T00:00:00Z"}"#).timestamp_ms, DEFAULT_MIN_TIMESTAMP_MS);
    let rules = Validation {
        min_timestamp_ms: 0,
        ..Validation::default()
    };
    assert_eq!(
        parse(Some(seconds.as_bytes()), &rules).map(|e| e.timestamp_ms),
        Ok(1_780_000_000)
    );
}

#[test]
fn duplicate_metadata_keys_are_refused_like_duplicate_fields() {
    rejected_as(
        &conversion(r#","metadata":{"region":"eu","device":"ios","region":"us"}"#),
        "invalid_json",
        &["duplicate key \"region\" in `metadata`"],
    );
    rejected_as(
        &conversion(r#","user_id":"v""#),
        "invalid_json",
        &["duplicate field `user_id`"],
    );
}
