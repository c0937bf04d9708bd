//! The generator's contract: the same seed gives the same messages, counts add up, effects
//! move conversion rates, an assignment bug skews the split, and users with history behave
//! before their first exposure as they do after it (what CUPED uses).

#![allow(clippy::unwrap_used)]

use abacus_assign::Definitions;
use abacus_loadgen::generate::{Generator, Message, Plan, Truth};

fn defs() -> Definitions {
    abacus_assign::parse(include_str!("../../examples/experiments.toml")).unwrap()
}

fn run(plan: Plan) -> (Vec<Message>, Truth) {
    let defs = defs();
    let mut generator = Generator::new(&defs, plan).unwrap();
    let mut all = Vec::new();
    while let Some(batch) = generator.next_user() {
        all.extend(batch);
    }
    all.extend(generator.finish());
    (all, generator.truth().clone())
}

#[test]
fn the_same_seed_gives_the_same_messages() {
    let plan = Plan {
        users: 2_000,
        seed: 9,
        ..Plan::default()
    };
    let (a, ta) = run(plan.clone());
    let (b, tb) = run(plan);
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    assert_eq!(ta.messages as usize, a.len());
    let (c, _) = run(Plan {
        users: 2_000,
        seed: 10,
        ..Plan::default()
    });
    assert_ne!(a, c);
}

#[test]
fn counts_add_up_and_effects_move_conversion_rates() {
    let mut plan = Plan {
        users: 40_000,
        ..Plan::default()
    };
    plan.effects.insert(
        (
            "checkout-redesign".into(),
            "treatment".into(),
            "purchase".into(),
        ),
        0.5,
    );
    let (messages, truth) = run(plan);
    assert_eq!(
        truth.messages,
        truth.unique_events + truth.duplicates + truth.malformed
    );
    assert_eq!(messages.len() as u64, truth.messages);
    // Users with a purchase per variant of checkout-redesign.
    let mut variant_of = std::collections::HashMap::new();
    let mut buyers: std::collections::HashMap<String, std::collections::HashSet<String>> =
        Default::default();
    for m in &messages {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
            continue;
        };
        let user = v["user_id"].as_str().unwrap_or_default().to_owned();
        if v["experiment_id"] == "checkout-redesign" {
            variant_of.insert(
                user.clone(),
                v["variant"].as_str().unwrap_or_default().to_owned(),
            );
        }
        if v["event_name"] == "purchase" {
            buyers.entry("all".into()).or_default().insert(user);
        }
    }
    let rate = |variant: &str| {
        let users: Vec<&String> = variant_of
            .iter()
            .filter(|(_, v)| *v == variant)
            .map(|(u, _)| u)
            .collect();
        let bought = users.iter().filter(|u| buyers["all"].contains(**u)).count();
        bought as f64 / users.len() as f64
    };
    let (control, treatment) = (rate("control"), rate("treatment"));
    let lift = treatment / control - 1.0;
    assert!(
        (lift - 0.5).abs() < 0.15,
        "control {control}, treatment {treatment}, lift {lift}"
    );
}

#[test]
fn an_assignment_bug_skews_the_split() {
    let mut plan = Plan {
        users: 20_000,
        ..Plan::default()
    };
    plan.assignment_bugs
        .insert("aa-baseline".into(), vec![45, 55]);
    let (_, truth) = run(plan);
    let split = &truth.exposed_users["aa-baseline"];
    let a1 = split["a1"] as f64;
    let a2 = split["a2"] as f64;
    assert!((a1 / (a1 + a2) - 0.45).abs() < 0.015, "{split:?}");
}

/// Milliseconds of an event's timestamp (RFC 3339 text for exposures, a number otherwise).
fn millis(v: &serde_json::Value) -> i64 {
    match &v["timestamp"] {
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis(),
        other => other.as_i64().unwrap(),
    }
}

#[test]
fn users_with_history_buy_before_and_after_exposure_alike() {
    let mut plan = Plan {
        users: 30_000,
        history: 0.8,
        duplicates: 0.0,
        malformed: 0.0,
        late: 0.0,
        ..Plan::default()
    };
    plan.base_rates.insert("purchase".into(), 0.3);
    let (messages, _) = run(plan);
    let mut t0: std::collections::HashMap<String, i64> = Default::default();
    let mut purchases: Vec<(String, i64)> = Vec::new();
    for m in &messages {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let user = v["user_id"].as_str().unwrap().to_owned();
        if v["event_type"] == "exposure" {
            let at = millis(&v);
            let first = t0.entry(user).or_insert(at);
            *first = (*first).min(at);
        } else if v["event_name"] == "purchase" {
            purchases.push((user, millis(&v)));
        }
    }
    let (mut before, mut after) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    for (user, at) in &purchases {
        let start = t0[user];
        if *at < start {
            assert!(
                start - at < 14 * 86_400_000,
                "history is within 14 days of exposure"
            );
            before.insert(user.clone());
        } else {
            after.insert(user.clone());
        }
    }
    let rate = |users: &[&String]| {
        users.iter().filter(|u| after.contains(**u)).count() as f64 / users.len() as f64
    };
    let (with, without): (Vec<&String>, Vec<&String>) =
        t0.keys().partition(|u| before.contains(*u));
    let (p_with, p_without) = (rate(&with), rate(&without));
    // Buyers before exposure are the high-propensity users: they buy far more often after it.
    assert!(
        p_with > 1.5 * p_without,
        "after-exposure purchase rate {p_with:.3} with history vs {p_without:.3} without"
    );
    // Overall the base rate keeps its meaning (propensity classes have mean 1).
    let overall = after.len() as f64 / t0.len() as f64;
    assert!((overall - 0.3).abs() < 0.02, "{overall}");
}
