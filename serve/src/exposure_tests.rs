//! Tests of the exposure events: ids, the JSON against serde's, and what ingest reads.

use super::*;
use chrono::{NaiveDate, TimeZone};
use std::collections::BTreeMap;

/// The exposure as serde_json writes it: what [`exposure_event`] must write.
#[derive(serde::Serialize)]
struct ExposureEvent<'a> {
    event_id: &'a str,
    event_type: &'static str,
    experiment_id: &'a str,
    variant: &'a str,
    user_id: &'a str,
    timestamp: i64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<&'a str, Cow<'a, str>>,
}

#[test]
fn events_are_what_serde_writes() {
    let mut defs = abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap();
    // Segments that repeat the unit, and an escaped segment name.
    let mut extra = defs.experiments[0].clone();
    extra.id = "x \"quoted\"\\".into();
    extra.segments = vec!["company_id".into(), "re\ngion".into(), "a".into()];
    extra.unit = Some("company_id".into());
    defs.experiments.push(extra);
    let contexts = [
        Context::new(),
        Context::new()
            .with("region", "eu-west")
            .with("device", 3)
            .with("plan", true)
            .with("country", 2.5)
            .with("company_id", "acme\t\u{1}")
            .with("re\ngion", "ü∂ \"x\"")
            .with("a", -7),
    ];
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let mut compared = 0;
    for exp in &defs.experiments {
        for ctx in &contexts {
            for user in ["user-1", "ü\"\\\n", ""] {
                let (id, _, payload) = exposure_event(exp, "treat\"ment", user, ctx, now);
                let want = ExposureEvent {
                    event_id: &id,
                    event_type: "exposure",
                    experiment_id: &exp.id,
                    variant: "treat\"ment",
                    user_id: user,
                    timestamp: now.timestamp_millis(),
                    metadata: exp
                        .segments
                        .iter()
                        .chain(exp.unit.as_ref())
                        .filter_map(|s| ctx.get(s).map(|v| (s.as_str(), attr_text(v))))
                        .collect(),
                };
                let want = serde_json::to_string(&want).unwrap();
                assert_eq!(String::from_utf8(payload).unwrap(), want);
                compared += 1;
            }
        }
    }
    assert!(compared > 20, "{compared}");
}

#[test]
fn ids_depend_on_experiment_variant_user_and_day_only() {
    let d = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let (a, ka) = event_id("exp", "treatment", "user-1", d);
    assert_eq!(event_id("exp", "treatment", "user-1", d), (a.clone(), ka));
    assert!(a.starts_with("xp-20261127-") && a.len() == 44, "{a}");
    assert_ne!(event_id("exp", "control", "user-1", d).0, a);
    assert_ne!(event_id("exp", "treatment", "user-2", d).0, a);
    assert_ne!(event_id("exp2", "treatment", "user-1", d).0, a);
    assert_ne!(
        event_id("exp", "treatment", "user-1", d.succ_opt().unwrap()).0,
        a
    );
}

#[test]
fn ids_are_the_documented_sha256_of_the_four_parts() {
    // The format of every earlier release: ids of one exposure never change on upgrade.
    for (y, m, d) in [(2026, 11, 27), (2027, 1, 1), (2030, 12, 31), (2026, 2, 3)] {
        let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for (exp, variant, user) in [("exp", "treatment", "user-1"), ("a", "b", "ü∂")] {
            let text = format!("{exp}\n{variant}\n{user}\n{}\n", day.format("%Y-%m-%d"));
            let digest = Sha256::digest(text.as_bytes());
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            let expected = format!("xp-{}-{hex}", day.format("%Y%m%d"));
            let key = u64::from_le_bytes(digest[..8].try_into().unwrap());
            assert_eq!(event_id(exp, variant, user, day), (expected, key));
        }
    }
}

#[test]
fn events_are_valid_for_ingest_and_carry_only_segment_attributes() {
    let defs = abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap();
    let exp = defs.experiment("checkout-redesign").unwrap();
    let ctx = Context::new()
        .with("region", "eu-west")
        .with("device", 3)
        .with("email", "secret@example.com");
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let (id, _, payload) = exposure_event(exp, "treatment", "user-1", &ctx, now);
    let origin = abacus_ingest::event::Origin {
        topic: "t",
        partition: 0,
        offset: 0,
        ingested_at: 0,
    };
    let row = abacus_ingest::event::decode(Some(&payload), 1 << 20, origin).unwrap();
    assert_eq!(row.event_id, id);
    assert_eq!(row.event_type, 1);
    assert_eq!(
        (row.experiment_id.as_str(), row.variant.as_str()),
        ("checkout-redesign", "treatment")
    );
    assert_eq!(row.timestamp_ms, now.timestamp_millis());
    assert_eq!(row.metadata_keys, ["device", "region"]);
    assert_eq!(row.metadata_values, ["3", "eu-west"]);
}
