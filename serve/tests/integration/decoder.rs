//! Property tests of the request decoder: arbitrary bytes and arbitrary JSON never panic, and
//! every accepted context has a usable targeting key within the limits.

use abacus_serve::request::{check_content_type, decode_ofrep, ErrorCode};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,6}|targetingKey", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_ofrep(&bytes, 100);
        let _ = check_content_type(std::str::from_utf8(&bytes).ok());
    }

    #[test]
    fn arbitrary_json_never_panics_and_accepted_contexts_are_usable(
        context in json_value(),
        key in prop::option::of(json_value()),
        max in 0usize..10,
    ) {
        let mut context = context;
        if let (Value::Object(m), Some(k)) = (&mut context, key) {
            m.insert("targetingKey".into(), k);
        }
        let body = serde_json::json!({"context": context}).to_string();
        match decode_ofrep(body.as_bytes(), max) {
            Ok(c) => {
                prop_assert!(!c.targeting_key.is_empty());
                prop_assert!(c.targeting_key.chars().count() <= 256);
            }
            Err(e) => {
                prop_assert!(e.code != ErrorCode::FlagNotFound);
                prop_assert!(!e.detail.is_empty());
            }
        }
        // The same value as the whole body (no `context` wrapper) is refused or decoded, never a panic.
        let _ = decode_ofrep(serde_json::to_string(&context).unwrap().as_bytes(), max);
    }
}
