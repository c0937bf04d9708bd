//! The OFREP `context` object decoded in one pass, straight into an evaluation context.
//!
//! [`crate::request::decode_ofrep`] first checks the whole body (serde_json with the context as
//! a raw value, for the exact error of a bad body); this reads the context object once more and
//! builds the [`Context`] from it directly: attribute names are borrowed from the body when
//! they hold no escapes, string values are the only copies made, and objects, arrays and
//! `null` are skipped without being built. It gives exactly what reading the object into a
//! `serde_json::Map` and copying its scalars would (a repeated name keeps its last value; the
//! attribute count is the number of distinct names); the tests compare the two.

use std::borrow::Cow;
use std::fmt;

use abacus_assign::{AttrValue, Context};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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

/// One attribute value: a scalar, or what is skipped (`null`, an object, an array), with its
/// kind for the messages about `targetingKey`.
enum Attr {
    Scalar(AttrValue),
    Skipped(&'static str),
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
            let value = map.next_value_seed(AttrSeed)?;
            if name == "targetingKey" {
                targeting_key = match value {
                    Attr::Scalar(AttrValue::Str(s)) => TargetingKey::Given(s),
                    Attr::Skipped("null") => TargetingKey::Missing,
                    Attr::Scalar(AttrValue::Num(_)) => TargetingKey::Wrong("a number"),
                    Attr::Scalar(AttrValue::Bool(_)) => TargetingKey::Wrong("a boolean"),
                    Attr::Skipped(kind) => TargetingKey::Wrong(kind),
                };
                continue;
            }
            match value {
                Attr::Scalar(v) => context.insert(name.into_owned(), v),
                Attr::Skipped(_) => {
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

struct AttrSeed;

impl<'de> DeserializeSeed<'de> for AttrSeed {
    type Value = Attr;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Attr, D::Error> {
        d.deserialize_any(AttrVisitor)
    }
}

struct AttrVisitor;

impl<'de> Visitor<'de> for AttrVisitor {
    type Value = Attr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Attr, E> {
        Ok(Attr::Scalar(AttrValue::Bool(v)))
    }

    // The same numbers `serde_json::Value::as_f64` gives.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Attr, E> {
        Ok(Attr::Scalar(AttrValue::Num(v as f64)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Attr, E> {
        Ok(Attr::Scalar(AttrValue::Num(v as f64)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Attr, E> {
        Ok(Attr::Scalar(AttrValue::Num(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Attr, E> {
        Ok(Attr::Scalar(AttrValue::Str(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Attr, E> {
        Ok(Attr::Scalar(AttrValue::Str(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Attr, E> {
        Ok(Attr::Skipped("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attr, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Attr::Skipped("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attr, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Attr::Skipped("an object"))
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
