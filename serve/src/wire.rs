//! The OFREP body read in one pass, straight into an evaluation context.
//!
//! [`read_body`] reads the whole body and builds the [`Context`] from its `context` object
//! directly: attribute names are borrowed from the body when they hold no escapes, string
//! values are the only copies made, and objects, arrays and `null` are read and dropped without
//! being built. When the body is not well formed it gives up, and
//! [`crate::request::decode_ofrep`] reads it the careful way (the body with the context as a raw
//! value, for the exact error; then the context with [`read_context`]).
//!
//! Both give exactly what reading the context into a `serde_json::Map` and copying its scalars
//! gave (a repeated name keeps its last value; the attribute count is the number of distinct
//! names; what `Value` refuses, such as a lone surrogate escape, is refused anywhere in the
//! context): the tests compare the ways over arbitrary bodies.

use std::borrow::Cow;
use std::fmt;

use abacus_assign::{AttrValue, Context};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The `targetingKey` entry of a context.
#[derive(Debug, PartialEq)]
pub(crate) enum TargetingKey {
    /// Not given, or `null`.
    Missing,
    /// A string.
    Given(String),
    /// Any other JSON type (named as in messages, e.g. "a number").
    Wrong(&'static str),
}

/// A decoded context object.
#[derive(Debug)]
pub(crate) struct WireContext {
    pub(crate) targeting_key: TargetingKey,
    /// The scalar attributes (not `targetingKey`).
    pub(crate) context: Context,
    /// Distinct attribute names, `targetingKey` not counted (skipped values count too).
    pub(crate) attributes: usize,
}

/// Reads `raw` (the JSON text of the context) if it is an object; `None` otherwise.
pub(crate) fn read_context(raw: &str) -> Option<WireContext> {
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(ContextVisitor).ok()
}

/// Reads a whole OFREP body in one pass: `Some(None)` when it has no context (or `null`),
/// `Some(Some(Err(kind)))` when the context is not an object, `None` when the body is not
/// well formed JSON of that shape (the caller's careful read then gives the exact error).
pub(crate) fn read_body(body: &[u8]) -> Option<Option<Result<WireContext, &'static str>>> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        context: Option<ContextField>,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    Some(body.context.map(|c| c.0))
}

/// The `context` field: an object read into a context, or the kind of anything else.
struct ContextField(Result<WireContext, &'static str>);

impl<'de> de::Deserialize<'de> for ContextField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ContextField(match Value::Context.deserialize(d)? {
            Read::Context(c) => Ok(c),
            other => Err(other.kind()),
        }))
    }
}

struct ContextVisitor;

impl<'de> Visitor<'de> for ContextVisitor {
    type Value = WireContext;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireContext, A::Error> {
        let mut targeting_key = TargetingKey::Missing;
        let mut context = Context::new();
        // Names whose value (at the time) was skipped; made distinct at the end.
        let mut skipped: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            let value = map.next_value_seed(Value::Attribute)?;
            if name == "targetingKey" {
                targeting_key = match value {
                    Read::Scalar(AttrValue::Str(s)) => TargetingKey::Given(s),
                    Read::Skipped("null") => TargetingKey::Missing,
                    other => TargetingKey::Wrong(other.kind()),
                };
                continue;
            }
            match value {
                Read::Scalar(v) => context.insert(name.into_owned(), v),
                Read::Skipped(_) | Read::Context(_) => {
                    // A later value replaces an earlier one, as in a JSON map.
                    context.remove(&name);
                    skipped.push(name);
                }
            }
        }
        skipped.sort_unstable();
        skipped.dedup();
        let skipped = skipped
            .iter()
            .filter(|name| context.get(name).is_none())
            .count();
        Ok(WireContext {
            targeting_key,
            attributes: context.len() + skipped,
            context,
        })
    }
}

/// An attribute name, borrowed from the body when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// What a value was read as.
enum Read {
    /// The `context` object (only at [`Value::Context`]).
    Context(WireContext),
    /// A string, number or boolean (only at [`Value::Attribute`]).
    Scalar(AttrValue),
    /// Read and dropped: `null`, an object, an array, or anything at [`Value::Dropped`]; with its
    /// kind, for messages.
    Skipped(&'static str),
}

impl Read {
    /// The kind of JSON value, as messages name it.
    fn kind(&self) -> &'static str {
        match self {
            Read::Context(_) => "an object",
            Read::Scalar(AttrValue::Str(_)) => "a string",
            Read::Scalar(AttrValue::Num(_)) => "a number",
            Read::Scalar(AttrValue::Bool(_)) => "a boolean",
            Read::Skipped(kind) => kind,
        }
    }
}

/// Where a value is read, which decides what is kept of it. Every value is read as strictly as
/// `serde_json::Value` reads it (serde's `IgnoredAny` lets through what `Value` refuses, such
/// as a lone surrogate escape), so a context the map path refused is refused here too.
#[derive(Clone, Copy, PartialEq)]
enum Value {
    /// The `context` field: an object becomes the context; any other value is skipped.
    Context,
    /// An attribute: a scalar is kept, `null`, objects and arrays are skipped.
    Attribute,
    /// Inside a skipped object or array: nothing is kept.
    Dropped,
}

impl<'de> DeserializeSeed<'de> for Value {
    type Value = Read;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Read, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Value {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Read, E> {
        Ok(Read::Scalar(AttrValue::Bool(v)))
    }

    // The same numbers `serde_json::Value::as_f64` gives.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Read, E> {
        Ok(Read::Scalar(AttrValue::Num(v as f64)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Read, E> {
        Ok(Read::Scalar(AttrValue::Num(v as f64)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Read, E> {
        Ok(Read::Scalar(AttrValue::Num(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Read, E> {
        Ok(if self == Value::Attribute {
            Read::Scalar(AttrValue::Str(v.to_owned()))
        } else {
            Read::Skipped("a string")
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Read, E> {
        Ok(Read::Skipped("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
        while seq.next_element_seed(Value::Dropped)?.is_some() {}
        Ok(Read::Skipped("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        if self == Value::Context {
            return ContextVisitor.visit_map(map).map(Read::Context);
        }
        while map
            .next_entry_seed(Value::Dropped, Value::Dropped)?
            .is_some()
        {}
        Ok(Read::Skipped("an object"))
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
pub(crate) mod tests;
