//! Tests of the evaluation: reasons and values, CLI parity, unit experiments and bulk answers.

use super::*;
use abacus_assign::Context;

fn snapshot() -> Snapshot {
    let text = include_str!("../../examples/experiments.toml");
    Snapshot::new(abacus_assign::parse(text).unwrap(), text.as_bytes(), "test")
}

fn ctx(user: &str, context: Context) -> EvalContext {
    EvalContext {
        targeting_key: user.into(),
        context,
    }
}

#[test]
fn reasons_and_values() {
    let s = snapshot();
    let staff = ctx("u1", Context::new().with("email_domain", "abacus.example"));
    let e = evaluate(&s, "dark-mode", &staff, Utc::now())
        .unwrap()
        .unwrap();
    assert_eq!(e.answer.reason, OfrepReason::TargetingMatch);
    assert_eq!(
        serde_json::to_value(&e.answer).unwrap()["value"],
        serde_json::Value::Bool(true)
    );
    assert!(e.exposure.is_none());
    let plain = ctx("u1", Context::new());
    let e = evaluate(&s, "free-shipping-threshold", &plain, Utc::now())
        .unwrap()
        .unwrap();
    assert_eq!(e.answer.reason, OfrepReason::Default);
    let json = serde_json::to_string(&e.answer).unwrap();
    assert!(json.contains(r#""value":50.0"#), "{json}");
    let e = evaluate(&s, "search-ranking", &plain, Utc::now())
        .unwrap()
        .unwrap();
    assert_eq!(e.answer.reason, OfrepReason::Split);
    assert!(evaluate(&s, "nope", &plain, Utc::now()).is_none());
}

#[test]
fn experiments_answer_the_cli_variant() {
    let s = snapshot();
    let exp = s.definitions.experiment("checkout-redesign").unwrap();
    let (mut inside, mut outside) = (0, 0);
    for i in 0..200 {
        let user = format!("user-{i}");
        let c = ctx(&user, Context::new());
        let e = evaluate(&s, "checkout-redesign", &c, Utc::now())
            .unwrap()
            .unwrap();
        let cli = AssignRecord::new(exp, &user, &Context::new(), Utc::now()).unwrap();
        assert_eq!(e.answer.variant, cli.variant);
        assert_eq!(e.exposure.is_some(), cli.in_experiment);
        if cli.in_experiment {
            inside += 1;
            assert_eq!(e.answer.reason, OfrepReason::Split);
        } else {
            outside += 1;
            assert_eq!(e.answer.reason, OfrepReason::Default);
            assert_eq!(e.answer.value, OfrepValue::Name("excluded"));
        }
    }
    assert!(inside > 0 && outside > 0);
}

#[test]
fn unit_experiments_need_their_attribute() {
    let s = snapshot();
    // Inside both experiments' dates.
    let now: DateTime<Utc> = "2026-11-05T12:00:00Z".parse().unwrap();
    // Without company_id and city, the two unit experiments fail with INVALID_CONTEXT.
    let bare = ctx("u", Context::new());
    let all = evaluate_all(&s, &bare, now);
    let failed: Vec<&str> = all
        .iter()
        .filter_map(|item| match item {
            BulkItem::Failed {
                key, error_code, ..
            } => {
                assert_eq!(*error_code, "INVALID_CONTEXT");
                Some(*key)
            }
            BulkItem::Evaluated(_) => None,
        })
        .collect();
    assert_eq!(failed, ["team-workspace", "delivery-fee"]);
    assert!(matches!(
        evaluate(&s, "team-workspace", &ctx("u", Context::new()), now),
        Some(Err(_))
    ));
    // With them every key evaluates, and users of one company share its variant.
    let full = |user: &str, company: &str| {
        Context::new()
            .with("company_id", company)
            .with("city", "berlin")
            .with("user", user)
    };
    let acme_ctx = ctx("u", full("u", "acme"));
    let all = evaluate_all(&s, &acme_ctx, now);
    assert!(all.iter().all(|i| matches!(i, BulkItem::Evaluated(_))));
    assert_eq!(
        all.len(),
        s.definitions.flags.len() + s.definitions.experiments.len()
    );
    let variant = |user: &str, company: &str| {
        let c = ctx(user, full(user, company));
        let e = evaluate(&s, "team-workspace", &c, now);
        let answer = e.unwrap().unwrap().answer;
        assert_eq!(answer.reason, OfrepReason::Split, "inside the experiment");
        answer.variant.to_owned()
    };
    let acme: Vec<_> = (0..20)
        .map(|i| variant(&format!("user-{i}"), "acme"))
        .collect();
    assert!(acme.iter().all(|v| *v == acme[0]), "{acme:?}");
    // Different companies get both variants.
    let companies: Vec<_> = (0..40)
        .map(|i| variant("u", &format!("company-{i}")))
        .collect();
    let has = |name: &str| companies.iter().any(|v| v == name);
    assert!(has("solo") && has("shared"), "{companies:?}");
}
