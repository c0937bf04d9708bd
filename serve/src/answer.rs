//! The JSON of OFREP answers, written directly into the response buffer.
//!
//! Byte for byte what `serde_json` makes of [`OfrepEvaluation`] and the bulk answer (the tests
//! compare the two over every flag and experiment of the examples and the bench, many users and
//! strings that need escaping), without serde's per-field machinery: the field names are
//! constants here instead of strings escaped on every answer, and a string is copied as it is
//! when it has nothing to escape. A bulk answer of 20 flags is about 4 KB, and encoding it was
//! the largest share of a bulk request in the service's own code.
//!
//! A flag's answer is mostly constant: [`FlagJson`] writes its constant parts once per
//! configuration snapshot (per variant, per rule, the configuration version), and an answer is
//! those pieces with the reason and the user's bucket between them.

use abacus_assign::Flag;

use crate::eval::{BulkItem, Metadata, OfrepEvaluation, OfrepValue};

/// The constant parts of one flag's answers, written once per snapshot: an answer is
/// `heads[variant]`, the reason, `meta`, `rules[rule]` when a rule matched, the bucket when
/// there is one, and `tail`.
#[derive(Debug)]
pub struct FlagJson {
    /// Per variant (parallel to the flag's `variants` and `values`):
    /// `{"key":K,"value":V,"variant":VARIANT,"reason":"`.
    heads: Vec<String>,
    /// `","metadata":{"kind":"flag","valueType":"TYPE"`.
    meta: String,
    /// Per rule (parallel to the flag's `rules`): `,"rule":"NAME"`.
    rules: Vec<String>,
    /// `,"configVersion":"VERSION"}}`.
    tail: String,
}

/// Which of a flag's constant parts make one answer (see [`FlagJson`]); small, as every
/// evaluation carries one.
#[derive(Clone, Copy, Debug)]
pub struct Prerendered<'a> {
    json: &'a FlagJson,
    variant: u32,
    rule: Option<u32>,
}

impl PartialEq for Prerendered<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.json, other.json)
            && (self.variant, self.rule) == (other.variant, other.rule)
    }
}

impl FlagJson {
    /// The constant parts of `flag`'s answers in the configuration `config_version`, written
    /// by the same functions as every answer.
    pub fn new(flag: &Flag, config_version: &str) -> Self {
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_default();
        let heads = flag
            .variants
            .iter()
            .zip(&flag.values)
            .map(|(variant, value)| {
                let mut out = b"{\"key\":".to_vec();
                write_str(&mut out, &flag.name);
                out.extend_from_slice(b",\"value\":");
                let _ = serde_json::to_writer(&mut out, value);
                out.extend_from_slice(b",\"variant\":");
                write_str(&mut out, variant);
                out.extend_from_slice(b",\"reason\":\"");
                text(out)
            })
            .collect();
        let mut meta = b"\",\"metadata\":{\"kind\":\"flag\"".to_vec();
        opt_str(&mut meta, b",\"valueType\":", Some(flag.value_type.name()));
        let rules = flag
            .rules
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                opt_str(&mut out, b",\"rule\":", Some(&r.name));
                text(out)
            })
            .collect();
        let mut tail = b",\"configVersion\":".to_vec();
        write_str(&mut tail, config_version);
        tail.extend_from_slice(b"}}");
        Self {
            heads,
            meta: text(meta),
            rules,
            tail: text(tail),
        }
    }

    /// The answer for the flag's `variant`-th variant and `rule`-th rule (`None`: no rule
    /// matched); `None` when either is out of range.
    pub(crate) fn parts(&self, variant: usize, rule: Option<usize>) -> Option<Prerendered<'_>> {
        let p = Prerendered {
            json: self,
            variant: u32::try_from(variant).ok()?,
            rule: match rule {
                Some(i) => Some(u32::try_from(i).ok()?),
                None => None,
            },
        };
        p.pieces().map(|_| p)
    }
}

impl<'a> Prerendered<'a> {
    /// Head, metadata start, rule (if any) and tail.
    fn pieces(&self) -> Option<(&'a str, &'a str, Option<&'a str>, &'a str)> {
        let j = self.json;
        let rule = match self.rule {
            Some(i) => Some(j.rules.get(i as usize)?.as_str()),
            None => None,
        };
        Some((j.heads.get(self.variant as usize)?, &j.meta, rule, &j.tail))
    }
}

/// Appends the OFREP single-evaluation answer `e`.
pub fn write_evaluation(out: &mut Vec<u8>, e: &OfrepEvaluation<'_>) {
    if let Some((head, meta, rule, tail)) = e.prerendered.as_ref().and_then(Prerendered::pieces) {
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(e.reason.as_str().as_bytes());
        out.extend_from_slice(meta.as_bytes());
        if let Some(rule) = rule {
            out.extend_from_slice(rule.as_bytes());
        }
        opt_int(out, b",\"bucket\":", e.metadata.bucket);
        out.extend_from_slice(tail.as_bytes());
        return;
    }
    out.extend_from_slice(b"{\"key\":");
    write_str(out, e.key);
    out.extend_from_slice(b",\"value\":");
    match &e.value {
        OfrepValue::Name(name) => write_str(out, name),
        // Typed flag values (numbers, objects, arrays) keep serde_json's exact formatting.
        // Writing into a Vec fails only when serialization fails, which a FlagValue cannot.
        OfrepValue::Flag(value) => {
            let _ = serde_json::to_writer(&mut *out, value);
        }
    }
    out.extend_from_slice(b",\"variant\":");
    write_str(out, e.variant);
    out.extend_from_slice(b",\"reason\":\"");
    out.extend_from_slice(e.reason.as_str().as_bytes());
    out.extend_from_slice(b"\",\"metadata\":");
    write_metadata(out, &e.metadata);
    out.push(b'}');
}

/// Appends the OFREP bulk answer: `{"flags": [...], "metadata": {"configVersion": ...}}`.
pub fn write_bulk(out: &mut Vec<u8>, flags: &[BulkItem<'_>], config_version: &str) {
    out.extend_from_slice(b"{\"flags\":[");
    for (i, item) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match item {
            BulkItem::Evaluated(e) => write_evaluation(out, e),
            // Rare (an experiment whose unit attribute the context lacks): serde's way.
            failed @ BulkItem::Failed { .. } => {
                let _ = serde_json::to_writer(&mut *out, failed);
            }
        }
    }
    out.extend_from_slice(b"],\"metadata\":{\"configVersion\":");
    write_str(out, config_version);
    out.extend_from_slice(b"}}");
}

fn write_metadata(out: &mut Vec<u8>, m: &Metadata<'_>) {
    out.extend_from_slice(b"{\"kind\":");
    write_str(out, m.kind);
    opt_str(out, b",\"experimentId\":", m.experiment_id);
    opt_str(out, b",\"layer\":", m.layer);
    if let Some(v) = m.in_experiment {
        out.extend_from_slice(if v {
            b",\"inExperiment\":true"
        } else {
            b",\"inExperiment\":false"
        });
    }
    opt_int(out, b",\"namespaceBucket\":", m.namespace_bucket);
    opt_int(out, b",\"variantBucket\":", m.variant_bucket);
    opt_int(out, b",\"window\":", m.window);
    opt_str(out, b",\"valueType\":", m.value_type);
    opt_str(out, b",\"rule\":", m.rule);
    opt_int(out, b",\"bucket\":", m.bucket);
    out.extend_from_slice(b",\"configVersion\":");
    write_str(out, m.config_version);
    out.push(b'}');
}

/// `name` (`,"field":`) and the string, when there is one (absent fields are left out).
fn opt_str(out: &mut Vec<u8>, name: &[u8], value: Option<&str>) {
    if let Some(v) = value {
        out.extend_from_slice(name);
        write_str(out, v);
    }
}

/// `name` (`,"field":`) and the number, when there is one.
fn opt_int(out: &mut Vec<u8>, name: &[u8], value: Option<impl itoa::Integer>) {
    if let Some(v) = value {
        out.extend_from_slice(name);
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
}

/// A JSON string: copied as it is when nothing in it needs escaping (what serde_json escapes:
/// `"`, `\` and control characters), else serde_json's escaping.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    if plain(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Whether no byte of `s` is `"`, `\` or below 0x20, eight bytes at a time: for each word,
/// "has a byte below n" is `(x - n·0x01…01) & !x & 0x80…80 != 0`, exact for n ≤ 0x80, and
/// "has a byte equal to c" is "has a byte below 1" of `x ^ c·0x01…01`.
fn plain(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if below(x, 0x20)
            || below(x ^ (ONES * u64::from(b'"')), 1)
            || below(x ^ (ONES * u64::from(b'\\')), 1)
        {
            return false;
        }
    }
    words
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, evaluate_all, OfrepReason};
    use crate::request::EvalContext;
    use crate::snapshot::Snapshot;
    use abacus_assign::Context;
    use chrono::{TimeZone, Utc};

    /// The bulk answer's shape, for serde.
    #[derive(serde::Serialize)]
    struct Bulk<'a> {
        flags: &'a [BulkItem<'a>],
        metadata: BulkMetadata<'a>,
    }

    #[derive(serde::Serialize)]
    struct BulkMetadata<'a> {
        #[serde(rename = "configVersion")]
        config_version: &'a str,
    }

    fn serde_single(e: &OfrepEvaluation<'_>) -> String {
        serde_json::to_string(e).unwrap()
    }

    fn mine_single(e: &OfrepEvaluation<'_>) -> String {
        let mut out = Vec::new();
        write_evaluation(&mut out, e);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn answers_are_what_serde_writes_for_every_key_of_the_examples() {
        let defs = abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap();
        let snapshot = Snapshot::new(defs, b"examples", "file");
        let keys: Vec<String> = snapshot
            .definitions
            .flags
            .iter()
            .map(|f| f.name.clone())
            .chain(
                snapshot
                    .definitions
                    .experiments
                    .iter()
                    .map(|e| e.id.clone()),
            )
            .collect();
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let mut compared = 0;
        // Flag answers written from their constant parts: [no rule, no bucket] (default),
        // [no rule, bucket] (rollout), [rule, no bucket] (never), [rule, bucket].
        let mut fast = [0; 4];
        for user in 0..300 {
            let context = Context::new()
                .with("region", ["eu-west", "us-east", "q\"uote"][user % 3])
                .with("country", ["DE", "US", "FR"][user % 3])
                .with("plan", ["free", "pro"][user % 2])
                .with("company_id", format!("c{}", user % 7))
                .with("city", "berlin")
                .with("app_version", (user % 60) as f64);
            let ctx = EvalContext {
                targeting_key: format!("user-{user}"),
                context,
            };
            for key in &keys {
                if let Some(Ok(e)) = evaluate(&snapshot, key, &ctx, now) {
                    assert_eq!(mine_single(&e.answer), serde_single(&e.answer));
                    compared += 1;
                    if let Some(p) = &e.answer.prerendered {
                        let bucket = e.answer.metadata.bucket.is_some();
                        fast[usize::from(p.rule.is_some()) * 2 + usize::from(bucket)] += 1;
                    }
                }
            }
            let flags = evaluate_all(&snapshot, &ctx, now);
            let mut mine = Vec::new();
            write_bulk(&mut mine, &flags, &snapshot.version);
            let expected = Bulk {
                flags: &flags,
                metadata: BulkMetadata {
                    config_version: &snapshot.version,
                },
            };
            let expected = serde_json::to_string(&expected).unwrap();
            assert_eq!(String::from_utf8(mine).unwrap(), expected);
        }
        assert!(compared > 1000, "{compared}");
        assert!(fast[0] > 0 && fast[1] > 0 && fast[3] > 0, "{fast:?}");
    }

    proptest::proptest! {
        /// The word-at-a-time check agrees with the byte-at-a-time definition, on strings
        /// made mostly of the bytes around the ones that need escaping.
        #[test]
        fn plain_is_the_bytewise_check(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![0u8, 0x1f, 0x20, 0x21, b'"', 0x23, 0x5b, b'\\', 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff]),
                    proptest::prelude::any::<u8>(),
                ],
                0..40,
            )
        ) {
            let bytewise = bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
            proptest::prop_assert_eq!(plain(&bytes), bytewise, "{:?}", bytes);
        }
    }

    #[test]
    fn every_optional_field_and_escape_is_written_as_serde_does() {
        let value = abacus_assign::FlagValue::Str("a\u{1}\"b\\".into());
        for reason in OfrepReason::ALL {
            let e = OfrepEvaluation {
                key: "k\"ey\t",
                value: OfrepValue::Flag(&value),
                variant: "ü\u{7f}",
                reason,
                metadata: Metadata {
                    kind: "experiment",
                    experiment_id: Some("e\n"),
                    layer: Some("l"),
                    in_experiment: Some(reason == OfrepReason::Split),
                    namespace_bucket: Some(0),
                    variant_bucket: Some(u32::MAX),
                    window: Some(-3),
                    value_type: Some("object"),
                    rule: Some("r\\"),
                    bucket: Some(9999),
                    config_version: "",
                },
                prerendered: None,
            };
            assert_eq!(mine_single(&e), serde_single(&e));
        }
    }
}
