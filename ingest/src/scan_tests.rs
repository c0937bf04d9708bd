//! The fast scan must decide exactly like serde_json: every message gives the same event or
//! the same rejection with and without it.

use rand::{Rng, SeedableRng};

use super::*;
use crate::event::{parse_with, Validation};

const SAMPLES: &[&str] = &[
    r#"{"event_id":"1-17-0","event_type":"exposure","experiment_id":"checkout","variant":"treatment","user_id":"user-00000017","timestamp":"2026-11-02T10:00:00.250Z","metadata":{"region":"eu","device":"ios","plan":"free"}}"#,
    r#"{"event_id":"1-17-3","event_type":"conversion","event_name":"purchase","user_id":"user-00000017","timestamp":1793613600250,"event_value":19.99,"metadata":{"region":"eu","device":"ios"}}"#,
    r#" { "event_id" : "e" , "event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"extra":true,"n":-0.5e-3,"z":null,"metadata":null } "#,
    r#"{"event_id":"e","event_type":"conversion","event_name":"p","user_id":"u","timestamp":1793613600250,"metadata":{}}"#,
    r#"{"event_id":"é","event_type":"exposure","experiment_id":"x","variant":"v","user_id":"u","timestamp":"2026-11-02T12:00:00+02:00","event_name":null,"experiment_id2":"y"}"#,
    r#"{}"#,
];

fn same(text: &str) {
    let rules = Validation::default();
    let fast = parse_with(Some(text.as_bytes()), &rules, true);
    let slow = parse_with(Some(text.as_bytes()), &rules, false);
    assert_eq!(fast, slow, "{text:?}");
}

#[test]
fn the_usual_messages_take_the_fast_path() {
    for text in SAMPLES {
        assert!(scan(text).is_some(), "{text}");
        same(text);
    }
    let fields = scan(SAMPLES[1]).expect("fast");
    assert_eq!(fields.event_value, Some("19.99"));
    assert_eq!(fields.timestamp, Some("1793613600250"));
    assert_eq!(fields.event_id, Some(r#""1-17-3""#));
    let Metadata::Pairs(pairs) = fields.metadata else {
        panic!("pairs")
    };
    assert_eq!(pairs.len(), 2);
}

#[test]
fn anything_unusual_takes_serde_json_s_path() {
    for text in [
        r#"{"event_id":"a\"b"}"#,
        r#"{"event_id":"e","event_id":"f"}"#,
        r#"{"event_id":"e","x":[1]}"#,
        r#"{"metadata":{"a":1}}"#,
        r#"{"metadata":{"a":"1","b":{}}}"#,
        r#"{"metadata":"x"}"#,
        r#"{"metadata":{},"metadata":{}}"#,
        r#"{"event_id":01}"#,
        r#"{"event_id":1.}"#,
        r#"{"event_id":"e"} x"#,
        "{\"event_id\":\"a\u{1}\"}",
        r#"{"event_id":"e",}"#,
        r#"{"event_id":tru}"#,
    ] {
        assert!(scan(text).is_none(), "{text}");
        same(text);
    }
}

/// Random edits of valid messages (bytes that matter to JSON inserted, removed or replaced):
/// both paths agree on every one.
#[test]
fn mutated_messages_get_the_same_outcome_on_both_paths() {
    let alphabet: Vec<char> = "\"\\{}[],: \t\n0123456789-+.eEntrufalsxé\u{1}\u{7f}"
        .chars()
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut fast = 0;
    for round in 0..40_000 {
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
        fast += usize::from(scan(&text).is_some());
        same(&text);
    }
    // The comparison means something only if many mutants went the fast way.
    assert!(fast > 5_000, "{fast}");
}
