//! Decoding request bodies into an evaluation context, with the OFREP error that each kind of
//! bad input gets. Pure functions over bytes: they never panic (a property test feeds them
//! arbitrary bytes and JSON).
//!
//! An OFREP body is `{"context": {"targetingKey": "user-1", "region": "eu-west", …}}`.
//! Attributes that are strings, numbers or booleans are used by rule conditions; `null` counts
//! as absent; objects and arrays are accepted (OpenFeature allows structured attributes) but
//! no condition can match them, so they are skipped.

use abacus_assign::{AttrValue, Context};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::wire::{read_body, read_context, TargetingKey, WireContext};

/// Longest targeting key (user id) in characters: what ingest accepts as a `user_id`.
pub const MAX_TARGETING_KEY_CHARS: usize = abacus_ingest::event::MAX_ID_CHARS;

/// OFREP error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not valid JSON (or not JSON at all).
    ParseError,
    /// The context has no `targetingKey`.
    TargetingKeyMissing,
    /// The context is not an object, or an attribute breaks a rule.
    InvalidContext,
    /// The key names no flag or experiment.
    FlagNotFound,
    /// Anything else (authentication, no configuration loaded yet).
    General,
}

impl ErrorCode {
    /// The name OFREP uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParseError => "PARSE_ERROR",
            Self::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            Self::InvalidContext => "INVALID_CONTEXT",
            Self::FlagNotFound => "FLAG_NOT_FOUND",
            Self::General => "GENERAL",
        }
    }
}

/// Why a request was refused: an OFREP error code and a message naming the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRequest {
    /// The OFREP error code.
    pub code: ErrorCode,
    /// What is wrong.
    pub detail: String,
}

impl BadRequest {
    pub(crate) fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// A decoded evaluation context: the user and the attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalContext {
    /// `targetingKey`: the user id that is hashed.
    pub targeting_key: String,
    /// The scalar attributes.
    pub context: Context,
}

#[derive(Deserialize)]
struct OfrepBody<'a> {
    #[serde(borrow, default)]
    context: Option<&'a RawValue>,
}

/// Decodes an OFREP evaluation body.
pub fn decode_ofrep(body: &[u8], max_attributes: usize) -> Result<EvalContext, BadRequest> {
    decode_with(body, max_attributes, true)
}

/// [`decode_ofrep`]; `fast`: try the one-pass read first (the tests compare both ways).
fn decode_with(body: &[u8], max_attributes: usize, fast: bool) -> Result<EvalContext, BadRequest> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BadRequest::new(
            ErrorCode::ParseError,
            "the body must be a JSON object: {\"context\": {\"targetingKey\": \"<user id>\"}}",
        ));
    }
    // One pass over the body when it is well formed; when it is not (or holds something the
    // strict read refuses, such as a lone surrogate escape), the two-step read gives the exact
    // error, or the same context.
    let context = match fast.then(|| read_body(body)).flatten() {
        Some(context) => context,
        None => read_in_two_steps(body)?,
    };
    let wire =
        match context {
            None => return Err(BadRequest::new(
                ErrorCode::TargetingKeyMissing,
                "the body has no `context` (send {\"context\": {\"targetingKey\": \"<user id>\"}})",
            )),
            Some(Err(kind)) => {
                return Err(BadRequest::new(
                    ErrorCode::InvalidContext,
                    format!("`context` must be an object, got {kind}"),
                ))
            }
            Some(Ok(wire)) => wire,
        };
    let key = match wire.targeting_key {
        TargetingKey::Missing => {
            return Err(BadRequest::new(
                ErrorCode::TargetingKeyMissing,
                "the context has no `targetingKey` (the user id to assign)",
            ))
        }
        TargetingKey::Given(s) => s,
        TargetingKey::Wrong(kind) => {
            return Err(BadRequest::new(
                ErrorCode::InvalidContext,
                format!("`targetingKey` must be a string, got {kind}"),
            ))
        }
    };
    check_user_id(&key)?;
    check_count(wire.attributes, max_attributes)?;
    Ok(EvalContext {
        targeting_key: key,
        context: wire.context,
    })
}

/// Builds the context from a user id and an attribute object (`skip` names a key that is not an
/// attribute, such as `targetingKey`).
pub fn context_from(
    user_id: String,
    attrs: &Map<String, Value>,
    max_attributes: usize,
    skip: Option<&str>,
) -> Result<EvalContext, BadRequest> {
    check_user_id(&user_id)?;
    check_count(
        attrs.len() - usize::from(skip.is_some_and(|k| attrs.contains_key(k))),
        max_attributes,
    )?;
    let mut context = Context::new();
    for (k, v) in attrs {
        if Some(k.as_str()) == skip {
            continue;
        }
        if let Some(value) = scalar(v) {
            context.insert(k.clone(), value);
        }
    }
    Ok(EvalContext {
        targeting_key: user_id,
        context,
    })
}

fn check_count(count: usize, max_attributes: usize) -> Result<(), BadRequest> {
    if count > max_attributes {
        return Err(BadRequest::new(
            ErrorCode::InvalidContext,
            format!("the context has {count} attributes, the limit is {max_attributes}"),
        ));
    }
    Ok(())
}

fn check_user_id(user_id: &str) -> Result<(), BadRequest> {
    if user_id.is_empty() {
        return Err(BadRequest::new(
            ErrorCode::TargetingKeyMissing,
            "`targetingKey` is empty (it is the user id to assign)",
        ));
    }
    let chars = user_id.chars().count();
    if chars > MAX_TARGETING_KEY_CHARS {
        return Err(BadRequest::new(
            ErrorCode::InvalidContext,
            format!(
                "`targetingKey` has {chars} characters, the limit is {MAX_TARGETING_KEY_CHARS}"
            ),
        ));
    }
    Ok(())
}

/// A JSON attribute as a condition operand (`None`: null, object or array).
pub fn scalar(v: &Value) -> Option<AttrValue> {
    match v {
        Value::String(s) => Some(AttrValue::Str(s.clone())),
        Value::Bool(b) => Some(AttrValue::Bool(*b)),
        Value::Number(n) => n.as_f64().map(AttrValue::Num),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The name of a JSON value's type, for messages.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The body with its context as raw JSON (for the exact error of a bad body), then the
/// context: `None` when there is none, `Err` with its kind when it is not an object.
fn read_in_two_steps(body: &[u8]) -> Result<Option<Result<WireContext, &'static str>>, BadRequest> {
    let wire: OfrepBody<'_> = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            BadRequest::new(
                ErrorCode::ParseError,
                format!("the body must be a JSON object with a `context` object ({e})"),
            )
        } else {
            BadRequest::new(
                ErrorCode::ParseError,
                format!("the body is not valid JSON ({e})"),
            )
        }
    })?;
    Ok(wire
        .context
        .filter(|r| r.get() != "null")
        .map(|raw| read_context(raw.get()).ok_or_else(|| kind(raw.get()))))
}

fn kind(raw: &str) -> &'static str {
    serde_json::from_str::<Value>(raw).map_or("invalid JSON", |v| value_kind(&v))
}

/// The `Content-Type` check: JSON bodies only (`application/json`, any parameters, or a
/// `+json` type).
pub fn check_content_type(header: Option<&str>) -> Result<(), BadRequest> {
    let ok = header.is_some_and(|h| {
        let mime = h.split(';').next().unwrap_or("").trim().as_bytes();
        let starts = |p: &[u8]| mime.len() >= p.len() && mime[..p.len()].eq_ignore_ascii_case(p);
        let ends = |p: &[u8]| {
            mime.len() >= p.len() && mime[mime.len() - p.len()..].eq_ignore_ascii_case(p)
        };
        mime.eq_ignore_ascii_case(b"application/json")
            || (starts(b"application/") && ends(b"+json"))
    });
    if ok {
        Ok(())
    } else {
        Err(BadRequest::new(
            ErrorCode::ParseError,
            format!(
                "the body must be JSON with `Content-Type: application/json` (got {})",
                header.map_or("no Content-Type".to_owned(), |h| format!("\"{h}\""))
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> ErrorCode {
        decode_ofrep(body.as_bytes(), 100).unwrap_err().code
    }

    #[test]
    fn a_context_decodes_into_user_and_scalar_attributes() {
        let c = decode_ofrep(
            br#"{"context":{"targetingKey":"u1","region":"eu","v":42,"beta":true,"n":null,"o":{"a":1},"l":[1]}}"#,
            100,
        )
        .unwrap();
        assert_eq!(c.targeting_key, "u1");
        assert_eq!(c.context.get("region"), Some(&AttrValue::Str("eu".into())));
        assert_eq!(c.context.get("v"), Some(&AttrValue::Num(42.0)));
        assert_eq!(c.context.get("beta"), Some(&AttrValue::Bool(true)));
        assert_eq!(c.context.get("n"), None);
        assert_eq!(c.context.get("o"), None);
        assert_eq!(c.context.get("targetingKey"), None);
    }

    #[test]
    fn each_kind_of_bad_body_gets_its_code() {
        assert_eq!(code("{"), ErrorCode::ParseError);
        assert_eq!(code("not json"), ErrorCode::ParseError);
        assert_eq!(code("[1]"), ErrorCode::ParseError);
        assert_eq!(code("{}"), ErrorCode::TargetingKeyMissing);
        assert_eq!(code(r#"{"context":{}}"#), ErrorCode::TargetingKeyMissing);
        assert_eq!(
            code(r#"{"context":{"targetingKey":""}}"#),
            ErrorCode::TargetingKeyMissing
        );
        assert_eq!(code(r#"{"context":5}"#), ErrorCode::InvalidContext);
        assert_eq!(
            code(r#"{"context":{"targetingKey":7}}"#),
            ErrorCode::InvalidContext
        );
        let long = format!(r#"{{"context":{{"targetingKey":"{}"}}}}"#, "x".repeat(257));
        assert_eq!(code(&long), ErrorCode::InvalidContext);
        let many: Vec<String> = (0..101).map(|i| format!("\"a{i}\":1")).collect();
        let body = format!(r#"{{"context":{{"targetingKey":"u",{}}}}}"#, many.join(","));
        let err = decode_ofrep(body.as_bytes(), 100).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidContext);
        assert!(
            err.detail.contains("101 attributes, the limit is 100"),
            "{}",
            err.detail
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// The one-pass read gives what the two-step read gives (the same context, or the same
        /// error) for bodies with and without a context of every kind, extra fields, repeated
        /// fields, lone surrogates, and bytes cut off or changed.
        #[test]
        fn one_pass_and_two_steps_agree(
            fields in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::strategy::Just("context".to_owned()),
                        proptest::strategy::Just("c\\u006fntext".to_owned()),
                        "[a-z]{1,3}",
                    ],
                    crate::wire::tests::value_text(),
                ),
                0..4,
            ),
            cut in proptest::option::weighted(0.1, 0usize..6),
            flip in proptest::option::weighted(0.1, (0usize..200, proptest::prelude::any::<u8>())),
            max in 0usize..6,
        ) {
            let parts: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut body = format!("{{{}}}", parts.join(",")).into_bytes();
            if let Some(n) = cut {
                body.truncate(body.len().saturating_sub(n));
            }
            if let Some((at, b)) = flip {
                if let Some(x) = body.get_mut(at) {
                    *x = b;
                }
            }
            proptest::prop_assert_eq!(
                decode_with(&body, max, true),
                decode_with(&body, max, false),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(Some("application/json")).is_ok());
        assert!(check_content_type(Some("Application/JSON; charset=utf-8")).is_ok());
        assert!(check_content_type(Some("application/merge-patch+json")).is_ok());
        assert!(check_content_type(Some(" APPLICATION/Vnd.Api+JSON ; q=1")).is_ok());
        assert!(check_content_type(Some("application/+json")).is_ok());
        assert!(check_content_type(Some("application/jsonx")).is_err());
        assert!(check_content_type(Some("text/+json")).is_err());
        assert!(check_content_type(Some("application/json+xml")).is_err());
        assert!(check_content_type(Some("")).is_err());
        assert!(check_content_type(Some("application")).is_err());
        assert!(check_content_type(Some("text/plain")).is_err());
        assert!(check_content_type(None).is_err());
    }
}
