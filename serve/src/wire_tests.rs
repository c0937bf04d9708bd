//! The one-pass context reader against the two-step way it replaced: read the object into a
//! `serde_json::Map`, take `targetingKey` out, copy the scalars, count the distinct names.

use super::*;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// The two-step way: what [`read_context`] must give.
fn via_map(raw: &str) -> Option<WireContext> {
    let attrs: Map<String, Value> = serde_json::from_str(raw).ok()?;
    let targeting_key = match attrs.get("targetingKey") {
        None | Some(Value::Null) => TargetingKey::Missing,
        Some(Value::String(s)) => TargetingKey::Given(s.clone()),
        Some(other) => TargetingKey::Wrong(crate::request::value_kind(other)),
    };
    let mut context = Context::new();
    for (k, v) in &attrs {
        if k != "targetingKey" {
            if let Some(v) = crate::request::scalar(v) {
                context.insert(k.clone(), v);
            }
        }
    }
    Some(WireContext {
        targeting_key,
        context,
        attributes: attrs.len() - usize::from(attrs.contains_key("targetingKey")),
    })
}

fn same(raw: &str) -> Result<(), TestCaseError> {
    let (got, want) = (read_context(raw), via_map(raw));
    match (got, want) {
        (None, None) => {}
        (Some(g), Some(w)) => {
            prop_assert_eq!(&g.targeting_key, &w.targeting_key, "{}", raw);
            prop_assert_eq!(&g.context, &w.context, "{}", raw);
            prop_assert_eq!(g.attributes, w.attributes, "{}", raw);
        }
        (g, w) => prop_assert!(false, "{raw}: one-pass {g:?}, two-step {w:?}"),
    }
    Ok(())
}

#[test]
fn examples_read_as_the_map_reads_them() {
    for raw in [
        r#"{"targetingKey":"u1","region":"eu-west","app_version":42}"#,
        r#"{"targetingKey":"u1","v":42,"beta":true,"n":null,"o":{"a":[1,{"b":2}]},"l":[1,[2]]}"#,
        r#"{}"#,
        r#"{"targetingKey":null}"#,
        r#"{"targetingKey":7}"#,
        r#"{"targetingKey":true}"#,
        r#"{"targetingKey":[1]}"#,
        r#"{"targetingKey":{"a":1}}"#,
        r#"{"targetingKey":"a","targetingKey":"b"}"#,
        r#"{"targetingKey":"a","targetingKey":null}"#,
        // A repeated name keeps its last value, whatever the kinds.
        r#"{"targetingKey":"u","a":1,"a":{"x":1}}"#,
        r#"{"targetingKey":"u","a":{"x":1},"a":"s"}"#,
        r#"{"targetingKey":"u","a":null,"a":null,"b":[],"b":2,"b":[]}"#,
        r#"{"targetingKey":"u","a":1,"a":2,"a":null,"a":"x"}"#,
        // Escapes in names and values, non-ASCII, numbers of every form.
        r#"{"targetingKey":"\u00fcser \"q\"","re\u0067ion":"eu\n","\u00e9":"\ud83d\ude00"}"#,
        r#"{"targetingKey":"u","big":18446744073709551615,"neg":-9223372036854775808,"f":1.5e300,"z":-0.0}"#,
        r#"{"targetingKey":"u","f":1e-400,"g":123456789012345678901234567890}"#,
        // Not objects.
        r#"5"#,
        r#""s""#,
        r#"[1,2]"#,
        r#"null"#,
        r#"true"#,
    ] {
        same(raw).unwrap();
    }
}

/// A JSON value's text, nested a little.
pub(crate) fn value_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| serde_json::to_string(&x).unwrap()),
        ".{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just(r#""\u00e9\t\"""#.to_owned()),
        // Escapes the strict read refuses (a lone surrogate) and the lenient skip accepts.
        Just(r#""\ud800""#.to_owned()),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-c]{1,2}", inner), 0..4).prop_map(|v| {
                let fields: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Objects with repeated names (which a `Value` cannot hold), escaped names and every kind
    /// of value, plus a few bytes cut off the end now and then.
    #[test]
    fn arbitrary_objects_read_as_the_map_reads_them(
        fields in prop::collection::vec(
            (prop_oneof![
                Just("targetingKey".to_owned()),
                Just("t\\u0061rgetingKey".to_owned()),
                Just("r\\u00e9gion".to_owned()),
                "[a-d]{1,2}",
            ], value_text()),
            0..10,
        ),
        cut in prop::option::weighted(0.1, 0usize..4),
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let mut raw = format!("{{{}}}", body.join(","));
        if let Some(n) = cut {
            let keep = raw.len().saturating_sub(n);
            if raw.is_char_boundary(keep) {
                raw.truncate(keep);
            }
        }
        same(&raw)?;
    }
}
