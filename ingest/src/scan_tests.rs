//! The fast path must decide exactly like serde_json's: every message gives the same event or
//! the same rejection with and without it.

use rand::{Rng, SeedableRng};

use super::*;
use crate::event::{parse_with, Validation};
use crate::rowbinary::{encode_event, encode_scanned};

/// The event the fast path reads from `text`, if it takes it.
fn event<'a>(text: &'a str, rules: &Validation) -> Option<Event<'a>> {
    let mut scan = Scan::default();
    scan.read(text.as_bytes(), rules).then(|| scan.event(text))
}

const SAMPLES: &[&str] = &[
    r#"{"event_id":"1-17-0","event_type":"exposure","experiment_id":"checkout","variant":"treatment","user_id":"user-00000017","timestamp":"2026-11-02T10:00:00.250Z","metadata":{"region":"eu","device":"ios","plan":"free"}}"#,
    r#"{"event_id":"1-17-3","event_type":"conversion","event_name":"purchase","user_id":"user-00000017","timestamp":1793613600250,"event_value":19.99,"metadata":{"region":"eu","device":"ios"}}"#,
    r#" { "event_id" : "e" , "event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"extra":true,"n":-0.5e-3,"z":null,"metadata":null } "#,
    r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"metadata":{}}"#,
    r#"{"event_id":"é","event_type":"exposure","experiment_id":"x","variant":"v","user_id":"u","timestamp":"2026-11-02T10:00:00Z","event_name":null,"experiment_id2":"y","f":false}"#,
    r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"event_value":-0,"metadata":{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":""}}"#,
    r#"{"event_id":"e","event_type":"exposure","experiment_id":"x","variant":"v","event_name":"seen","user_id":"u","timestamp":1793613600250,"event_value":1.5E+2,"metadata":{"z":"1","":"2","a":"3"}}"#,
    r#"{}"#,
];

fn same(text: &str) {
    same_with(text, &Validation::default());
}

fn same_with(text: &str, rules: &Validation) {
    let fast = parse_with(Some(text.as_bytes()), rules, true);
    let slow = parse_with(Some(text.as_bytes()), rules, false);
    assert_eq!(fast, slow, "{text:?}");
    // Bit for bit, including the sign of zero.
    let bits = |r: &Result<Event<'_>, _>| {
        r.as_ref()
            .ok()
            .and_then(|e| e.event_value)
            .map(f64::to_bits)
    };
    assert_eq!(bits(&fast), bits(&slow), "{text:?}");
    // The row encoded straight from the message is the row of serde_json's event.
    let mut scan = Scan::default();
    if scan.read(text.as_bytes(), rules) {
        let (mut direct, mut plain) = (vec![7], vec![7]);
        encode_scanned(&mut direct, &scan, text.as_bytes(), "topic", 3, 42);
        let slow = slow.expect("the fast path took a valid event");
        encode_event(&mut plain, &slow, "topic", 3, 42);
        assert_eq!(direct, plain, "{text:?}");
    }
}

#[test]
fn the_usual_messages_take_the_fast_path() {
    let rules = Validation::default();
    for text in &SAMPLES[..SAMPLES.len() - 1] {
        assert!(event(text, &rules).is_some(), "{text}");
        same(text);
    }
    let e = event(SAMPLES[1], &rules).expect("fast");
    assert_eq!(e.event_value, Some(19.99));
    assert_eq!(e.timestamp_ms, 1_793_613_600_250);
    assert_eq!(e.event_id, "1-17-3");
    let pairs: Vec<_> = e.metadata.iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(pairs, [("device", "ios"), ("region", "eu")]);
    // More pairs than fit in place, sorted all the same.
    let e = event(SAMPLES[5], &rules).expect("fast");
    assert_eq!(e.metadata.len(), 10);
    assert_eq!(e.metadata[0], ("a".into(), "1".into()));
    assert_eq!(e.event_value.map(f64::to_bits), Some((-0.0f64).to_bits()));
}

#[test]
fn anything_unusual_or_invalid_takes_serde_json_s_path() {
    let ok =
        r#""event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250"#;
    for text in [
        format!(r#"{{"event_id":"a\"b",{ok}}}"#),
        format!(r#"{{"event_id":"e","event_id":"f",{ok}}}"#),
        format!(r#"{{"event_id":"e","x":[1],{ok}}}"#),
        format!(r#"{{"event_id":"e","x":{{}},{ok}}}"#),
        format!(r#"{{"event_id":"e","metadata":{{"a":1}},{ok}}}"#),
        format!(r#"{{"event_id":"e","metadata":{{"a":"1","b":{{}}}},{ok}}}"#),
        format!(r#"{{"event_id":"e","metadata":{{"a":"1","a":"2"}},{ok}}}"#),
        format!(r#"{{"event_id":"e","metadata":"x",{ok}}}"#),
        format!(r#"{{"event_id":"e","metadata":{{}},"metadata":{{}},{ok}}}"#),
        format!(r#"{{"event_id":01,{ok}}}"#),
        format!(r#"{{"event_id":1.,{ok}}}"#),
        format!(r#"{{"event_id":"e",{ok}}} x"#),
        format!("{{\"event_id\":\"a\u{1}\",{ok}}}"),
        format!(r#"{{"event_id":"e",{ok},}}"#),
        format!(r#"{{"event_id":tru,{ok}}}"#),
        format!(r#"{{"event_id":true,{ok}}}"#),
        format!(r#"{{"event_id":"",{ok}}}"#),
        format!(r#"{{"event_id":"{}",{ok}}}"#, "x".repeat(129)),
        format!(r#"{{"event_id":"{}",{ok}}}"#, "é".repeat(100)),
        format!(r#"{{"event_id":"e",{ok},"event_value":"1"}}"#),
        format!(r#"{{"event_id":"e",{ok},"event_value":1e999}}"#),
        format!(r#"{{"event_id":"e",{ok},"event_value":12345678901234567890}}"#),
        format!(r#"{{"event_id":"e",{ok},"event_value":1e23}}"#),
        format!(r#"{{"event_id":"e",{ok},"event_value":2e12}}"#),
        r#"{"event_id":"e","event_type":"click","event_name":"p","user_id":"u","timestamp":1793613600250}"#.to_owned(),
        r#"{"event_id":"e","event_type":"conversion","user_id":"u","timestamp":1793613600250}"#.to_owned(),
        r#"{"event_id":"e","event_type":"exposure","variant":"v","user_id":"u","timestamp":1793613600250}"#.to_owned(),
        r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":"2026-11-02T12:00:00+02:00"}"#.to_owned(),
        r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1780000000}"#.to_owned(),
        r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":-5}"#.to_owned(),
        r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1.5e12}"#.to_owned(),
        r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u"}"#.to_owned(),
        r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":null}"#.to_owned(),
    ] {
        assert!(event(&text, &Validation::default()).is_none(), "{text}");
        same(&text);
    }
}

/// Numbers read by the fast path have serde_json's value, bit for bit.
#[test]
fn numbers_read_like_serde_json() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(754);
    let mut fast = 0;
    for _ in 0..200_000 {
        let int = if rng.random_bool(0.2) {
            "0".to_owned()
        } else {
            let digits = rng.random_range(1..20);
            rng.random_range(1u64..10u64.pow(digits)).to_string()
        };
        let mut text = format!("{}{int}", if rng.random_bool(0.3) { "-" } else { "" });
        if rng.random_bool(0.7) {
            let digits = rng.random_range(1..12);
            text.push('.');
            for _ in 0..digits {
                text.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
        }
        if rng.random_bool(0.3) {
            let sign = ["", "+", "-"][rng.random_range(0..3)];
            text.push_str(&format!("e{sign}{}", rng.random_range(0..30)));
        }
        let expected = serde_json::from_str::<f64>(&text).ok();
        if let Some(got) = number_value(text.as_bytes()) {
            fast += 1;
            assert_eq!(Some(got.to_bits()), expected.map(f64::to_bits), "{text}");
        }
    }
    assert!(fast > 100_000, "{fast}");
}

/// Random edits of valid messages (bytes that matter to JSON inserted, removed or replaced):
/// both paths agree on every one.
#[test]
fn mutated_messages_get_the_same_outcome_on_both_paths() {
    let alphabet: Vec<char> = "\"\\{}[],: \t\n0123456789-+.eEntrufalsxé\u{1}\u{7f}TZ"
        .chars()
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut fast = 0;
    for round in 0..60_000 {
        let mut text: Vec<char> = SAMPLES[round % SAMPLES.len()].chars().collect();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..=text.len());
            let c = alphabet[rng.random_range(0..alphabet.len())];
            match rng.random_range(0..3) {
                0 => text.insert(at, c),
                1 if at < text.len() => {
                    text.remove(at);
                }
                _ if at < text.len() => text[at] = c,
                _ => {}
            }
        }
        let text: String = text.into_iter().collect();
        fast += usize::from(event(&text, &Validation::default()).is_some());
        same(&text);
    }
    // The comparison means something only if many mutants went the fast way.
    assert!(fast > 3_000, "{fast}");
}

/// Messages built from random parts (fields in any order, repeated or missing, values of
/// every kind and length, escapes, whitespace, metadata of any size, other limits): both
/// paths agree on every one.
#[test]
fn random_messages_get_the_same_outcome_on_both_paths() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let strings = [
        "",
        "e",
        "1-17-0",
        "exposure",
        "conversion",
        "user-00000017",
        "é",
        "a\\\"b",
        "a\\u00e9",
        "\\ud800",
        "tab\there",
        "2026-11-02T10:00:00.250Z",
        "2026-11-02T10:00:00Z",
        "2026-11-02T12:00:00+02:00",
        "1999-12-31T23:59:59Z",
        "2024-02-30T00:00:00Z",
    ];
    let numbers = [
        "0",
        "-0",
        "1",
        "19.99",
        "-2.5e3",
        "1e999",
        "1793613600250",
        "1780000000",
        "-5",
        "1.5",
        "12345678901234567890",
        "1E2",
        "0.000001",
        "4291747200000",
        "946684800000",
    ];
    let keys = [
        "event_id",
        "event_type",
        "experiment_id",
        "variant",
        "user_id",
        "event_name",
        "event_value",
        "timestamp",
        "metadata",
        "other",
        "event_id ",
    ];
    let value = |rng: &mut rand::rngs::StdRng, key: &str| -> String {
        match rng.random_range(0..10) {
            0 => numbers[rng.random_range(0..numbers.len())].to_owned(),
            1 => ["null", "true", "false", "[]", "{}", "[1,{\"a\":2}]"][rng.random_range(0..6)]
                .to_owned(),
            2 => format!("\"{}\"", "x".repeat(rng.random_range(120..300))),
            3 | 4 if key == "metadata" => {
                let n = rng.random_range(0..12);
                let pairs: Vec<String> = (0..n)
                    .map(|_| {
                        let k =
                            ["region", "device", "plan", "", "é", "a\\n"][rng.random_range(0..6)];
                        let v = ["eu", "", "x\\\"y", "1"][rng.random_range(0..4)];
                        if rng.random_bool(0.05) {
                            format!("\"{k}{}\": 1", rng.random_range(0..100))
                        } else {
                            format!("\"{k}{}\":\"{v}\"", rng.random_range(0..40))
                        }
                    })
                    .collect();
                format!("{{{}}}", pairs.join(","))
            }
            5 if key == "timestamp" => numbers[rng.random_range(0..numbers.len())].to_owned(),
            _ => format!("\"{}\"", strings[rng.random_range(0..strings.len())]),
        }
    };
    let mut outcomes = std::collections::HashMap::new();
    for round in 0..40_000 {
        let mut fields = Vec::new();
        // A valid core most of the time, then random extra or replaced fields.
        if rng.random_bool(0.8) {
            fields.push(("event_id".to_owned(), format!("\"e{round}\"")));
            fields.push(("user_id".to_owned(), "\"u\"".to_owned()));
            if rng.random_bool(0.5) {
                fields.push(("event_type".to_owned(), "\"exposure\"".to_owned()));
                fields.push(("experiment_id".to_owned(), "\"x\"".to_owned()));
                fields.push(("variant".to_owned(), "\"v\"".to_owned()));
            } else {
                fields.push(("event_type".to_owned(), "\"conversion\"".to_owned()));
                fields.push(("event_name".to_owned(), "\"p\"".to_owned()));
            }
            fields.push(("timestamp".to_owned(), "1793613600250".to_owned()));
        }
        for _ in 0..rng.random_range(0..4) {
            let key = keys[rng.random_range(0..keys.len())];
            let v = value(&mut rng, key);
            if rng.random_bool(0.7) {
                if let Some(f) = fields.iter_mut().find(|f| f.0 == key) {
                    f.1 = v;
                    continue;
                }
            }
            fields.push((key.to_owned(), v));
        }
        // Fields in any order.
        for i in (1..fields.len()).rev() {
            fields.swap(i, rng.random_range(0..=i));
        }
        let sep = [",", " , ", ",\n\t"][rng.random_range(0..3)];
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let text = format!("{{{}}}", body.join(sep));
        let rules = Validation {
            max_abs_value: [1e12, 10.0][rng.random_range(0..2)],
            min_timestamp_ms: [946_684_800_000, 0][rng.random_range(0..2)],
            ..Validation::default()
        };
        let fast = event(&text, &rules).is_some();
        let outcome = parse_with(Some(text.as_bytes()), &rules, false).map_err(|r| r.code);
        *outcomes
            .entry((fast, outcome.as_ref().err().copied()))
            .or_insert(0) += 1;
        same_with(&text, &rules);
    }
    // The comparison means something only if both paths and many outcomes were seen.
    let fast = outcomes
        .iter()
        .filter(|(k, _)| k.0)
        .map(|(_, n)| n)
        .sum::<usize>();
    assert!(fast > 4_000, "{outcomes:?}");
    for code in ["invalid_json", "invalid_field", "missing_field"] {
        assert!(
            outcomes.keys().any(|k| k.1 == Some(code)),
            "{code}: {outcomes:?}"
        );
    }
}

/// Random bytes (invalid UTF-8 among them) put into valid messages: whatever the fast path
/// reads is valid UTF-8 and reads the same on serde_json's path, so reading the bytes before
/// checking their UTF-8 (as the batch does) changes nothing.
#[test]
fn the_fast_path_reads_only_valid_utf8() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let (mut fast, mut non_ascii) = (0, 0);
    for round in 0..60_000 {
        let mut bytes = SAMPLES[round % (SAMPLES.len() - 1)].as_bytes().to_vec();
        // Into a string (after an opening quote and a few of its bytes), mostly.
        let quotes: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'"').collect();
        for _ in 0..rng.random_range(1..3) {
            let at = if rng.random_bool(0.9) {
                (quotes[rng.random_range(0..quotes.len())] + rng.random_range(1..4))
                    .min(bytes.len())
            } else {
                rng.random_range(0..=bytes.len())
            };
            let insert: &[u8] = match rng.random_range(0..6) {
                0 => "é".as_bytes(),
                1 => "€".as_bytes(),
                2 => "😀".as_bytes(),
                3 => &[0xc3],
                4 => &[0xe2, 0x82],
                _ => &[0xff],
            };
            if rng.random_bool(0.8) {
                bytes.splice(at..at, insert.iter().copied());
            } else if at < bytes.len() {
                bytes[at] = insert[0];
            }
        }
        let mut scan = Scan::default();
        if !scan.read(&bytes, &Validation::default()) {
            continue;
        }
        fast += 1;
        let text = std::str::from_utf8(&bytes)
            .unwrap_or_else(|e| panic!("{bytes:?} is not UTF-8 ({e}) but was read"));
        non_ascii += usize::from(!text.is_ascii());
        same(text);
    }
    assert!(fast > 3_000 && non_ascii > 2_500, "{fast} {non_ascii}");
}

/// One `Scan` reused for many messages (as the batch does) reads every timestamp like
/// serde_json's path, also when consecutive messages share a date (the date is then not read
/// again) or a broken one.
#[test]
fn a_reused_scan_reads_timestamps_like_a_new_one() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3339);
    let dates = [
        "2026-11-02",
        "2024-02-29",
        "2023-02-29",
        "2026-13-01",
        "1999-12-31",
        "2026-11-0x",
    ];
    let mut scan = Scan::default();
    let mut read = 0;
    for _ in 0..20_000 {
        let date = dates[rng.random_range(0..dates.len())];
        let time = [
            "10:00:00.250",
            "23:59:59",
            "24:00:00",
            "00:00:00.1",
            "12:00:60",
        ][rng.random_range(0..5)];
        let text = format!(
            r#"{{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":"{date}T{time}Z"}}"#
        );
        let slow = parse_with(Some(text.as_bytes()), &Validation::default(), false);
        if scan.read(text.as_bytes(), &Validation::default()) {
            read += 1;
            assert_eq!(Ok(scan.event(&text)), slow, "{text}");
        }
    }
    assert!(read > 3_000, "{read}");
}
