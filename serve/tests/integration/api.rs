//! The HTTP contract: OFREP answers and errors exactly as the specification writes them, bulk
//! ETags, API keys, limits, and the native endpoints.

use abacus_assign::Context;
use abacus_serve::config::Limits;
use abacus_serve::eval::{AssignRecord, FlagRecord};
use chrono::Utc;
use serde_json::{json, Value};

use crate::support::{temp_file, Options, TestServer, EXAMPLE};

async fn example_server(test: &str, limits: Limits) -> TestServer {
    let path = temp_file(test, EXAMPLE);
    TestServer::start(Options {
        limits,
        ..Options::file(&path)
    })
    .await
}

fn ctx(user: &str) -> String {
    json!({"context": {"targetingKey": user}}).to_string()
}

/// Metadata values must be flat scalars (OFREP `metadata`: boolean, string or number).
fn assert_flat_metadata(v: &Value) {
    for (k, m) in v["metadata"].as_object().expect("metadata object") {
        assert!(
            m.is_string() || m.is_number() || m.is_boolean(),
            "metadata {k} is not a scalar: {m}"
        );
    }
}

#[tokio::test]
async fn single_evaluations_answer_typed_values_with_variant_and_reason() {
    let server = example_server("ofrep_single", Limits::default()).await;
    let mut c = server.client().await;
    let staff = json!({"context": {"targetingKey": "u1", "email_domain": "abacus.example"}});
    let r = c
        .post_json("/ofrep/v1/evaluate/flags/dark-mode", &staff.to_string())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["key"], "dark-mode");
    assert_eq!(v["value"], true);
    assert_eq!(v["variant"], "dark");
    assert_eq!(v["reason"], "TARGETING_MATCH");
    assert_eq!(v["metadata"]["rule"], "staff");
    assert_flat_metadata(&v);

    let r = c
        .post_json(
            "/ofrep/v1/evaluate/flags/free-shipping-threshold",
            &ctx("u1"),
        )
        .await;
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        text.contains(r#""value":50.0"#),
        "a float flag answers a JSON float: {text}"
    );
    assert_eq!(r.json()["reason"], "DEFAULT");

    let r = c
        .post_json("/ofrep/v1/evaluate/flags/search-ranking", &ctx("u1"))
        .await;
    let v = r.json();
    assert!(
        v["value"].is_object() && v["value"]["model"].is_string(),
        "{v}"
    );
    assert_eq!(v["reason"], "SPLIT");

    // Experiments: the variant name, SPLIT inside, `excluded` with DEFAULT outside.
    let defs = abacus_assign::parse(EXAMPLE).unwrap();
    let exp = defs.experiment("checkout-redesign").unwrap();
    let (mut inside, mut outside) = (0, 0);
    for i in 0..100 {
        let user = format!("user-{i}");
        let v = c
            .post_json("/ofrep/v1/evaluate/flags/checkout-redesign", &ctx(&user))
            .await
            .json();
        let cli = AssignRecord::new(exp, &user, &Context::new(), Utc::now()).unwrap();
        assert_eq!(v["variant"], cli.variant);
        assert_eq!(v["value"], cli.variant);
        assert_eq!(v["metadata"]["inExperiment"], cli.in_experiment);
        assert_eq!(v["metadata"]["layer"], "checkout");
        assert_flat_metadata(&v);
        if cli.in_experiment {
            inside += 1;
            assert_eq!(v["reason"], "SPLIT");
        } else {
            outside += 1;
            assert_eq!(
                (v["reason"].as_str(), v["variant"].as_str()),
                (Some("DEFAULT"), Some("excluded"))
            );
        }
    }
    assert!(
        inside > 20 && outside > 20,
        "{inside} inside, {outside} outside"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_ofrep_error_codes() {
    let limits = Limits {
        max_body_bytes: 1 << 20,
        ..Limits::default()
    };
    let server = example_server("ofrep_errors", limits).await;
    let mut c = server.client().await;
    let path = "/ofrep/v1/evaluate/flags/dark-mode";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "malformed JSON",
            r#"{"context": {"targetingKey": "u1""#.into(),
            400,
            "PARSE_ERROR",
        ),
        ("not an object", "[1, 2]".into(), 400, "PARSE_ERROR"),
        ("no context", "{}".into(), 400, "TARGETING_KEY_MISSING"),
        (
            "no targetingKey",
            r#"{"context": {"region": "eu"}}"#.into(),
            400,
            "TARGETING_KEY_MISSING",
        ),
        (
            "targetingKey a number",
            r#"{"context": {"targetingKey": 42}}"#.into(),
            400,
            "INVALID_CONTEXT",
        ),
        (
            "context a string",
            r#"{"context": "u1"}"#.into(),
            400,
            "INVALID_CONTEXT",
        ),
        (
            "10,000 attributes",
            {
                let attrs: Vec<String> = (0..10_000).map(|i| format!("\"a{i}\": {i}")).collect();
                format!(
                    r#"{{"context": {{"targetingKey": "u1", {}}}}}"#,
                    attrs.join(", ")
                )
            },
            400,
            "INVALID_CONTEXT",
        ),
    ];
    for (what, body, status, code) in cases {
        let r = c.post_json(path, &body).await;
        assert_eq!(
            r.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        let v = r.json();
        assert_eq!(v["errorCode"], code, "{what}: {v}");
        assert_eq!(v["key"], "dark-mode", "{what}");
        assert!(
            v["errorDetails"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    }
    let r = c
        .post_json("/ofrep/v1/evaluate/flags/no-such-flag", &ctx("u1"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["errorCode"], "FLAG_NOT_FOUND");
    assert_eq!(r.json()["key"], "no-such-flag");

    let r = c
        .request(
            "POST",
            path,
            &[("content-type", "text/plain")],
            ctx("u1").as_bytes(),
        )
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["errorCode"], "PARSE_ERROR");
    assert!(r.json()["errorDetails"]
        .as_str()
        .unwrap()
        .contains("text/plain"));

    let huge = format!(
        r#"{{"context": {{"targetingKey": "u1", "blob": "{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let mut fresh = server.client().await;
    let r = fresh.post_json(path, &huge).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["errorCode"], "PARSE_ERROR");

    // The bulk endpoint's errors carry no key.
    let r = c.post_json("/ofrep/v1/evaluate/flags", "{").await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["errorCode"], "PARSE_ERROR");
    assert!(v.get("key").is_none(), "{v}");

    // The connection survived every refusal, and the server still answers.
    let r = c.post_json(path, &ctx("u1")).await;
    assert_eq!(r.status, 200);
    let metrics = c.get("/metrics").await;
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("abacus_serve_evaluation_errors_total{code=\"INVALID_CONTEXT\"} 3"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn bulk_evaluation_has_an_etag_of_its_body_and_answers_304() {
    let path = temp_file("ofrep_bulk", EXAMPLE);
    let server = TestServer::start(Options::file(&path)).await;
    let mut c = server.client().await;
    let bulk = "/ofrep/v1/evaluate/flags";
    let r = c.post_json(bulk, &ctx("u1")).await;
    assert_eq!(r.status, 200);
    let etag = r.header("etag").expect("etag").to_owned();
    let v = r.json();
    let keys: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "new-search",
            "dark-mode",
            "free-shipping-threshold",
            "search-ranking",
            "checkout-redesign",
            "checkout-button-color",
            "aa-baseline",
            "pricing-annual-discount",
            "team-workspace",
            "delivery-fee"
        ]
    );
    for f in v["flags"].as_array().unwrap() {
        if ["team-workspace", "delivery-fee"].contains(&f["key"].as_str().unwrap()) {
            // Their unit attributes (company_id, city) are not in the context.
            assert_eq!(f["errorCode"], "INVALID_CONTEXT", "{f}");
            continue;
        }
        assert!(f["variant"].is_string() && f.get("value").is_some(), "{f}");
        assert_flat_metadata(f);
    }
    assert_eq!(etag, abacus_serve::etag(&r.body));

    // Every evaluation of the bulk answer is counted under its reason, each failure as an error.
    let metrics = String::from_utf8(c.get("/metrics").await.body).unwrap();
    let counted = |line_start: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line_start))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in {metrics}"))
    };
    for reason in ["STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED"] {
        let answered = v["flags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["reason"] == reason)
            .count() as u64;
        let line = format!("abacus_serve_evaluations_total{{reason=\"{reason}\"}} ");
        assert_eq!(counted(&line), answered, "{reason}");
    }
    assert_eq!(
        counted("abacus_serve_evaluation_errors_total{code=\"INVALID_CONTEXT\"} "),
        2
    );

    let again = c
        .post_json_with(bulk, &ctx("u1"), &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    // Another context never gets a stale 304.
    let other = c
        .post_json_with(bulk, &ctx("u2"), &[("if-none-match", &etag)])
        .await;
    assert_eq!(other.status, 200);
    assert_ne!(other.header("etag"), Some(etag.as_str()));

    // Neither does a changed configuration.
    std::fs::write(
        &path,
        EXAMPLE.replace(
            "weight = 20 }, { variant = \"light\", weight = 80 }",
            "weight = 21 }, { variant = \"light\", weight = 79 }",
        ),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = c
            .post_json_with(bulk, &ctx("u1"), &[("if-none-match", &etag)])
            .await;
        if r.status == 200 {
            assert_ne!(r.header("etag"), Some(etag.as_str()));
            break;
        }
        assert_eq!(r.status, 304);
        assert!(
            std::time::Instant::now() < deadline,
            "the new configuration was not loaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Bulk evaluation logs no exposures.
    assert_eq!(server.metrics.dropped_total(), 0);
    server.stop().await;
}

#[tokio::test]
async fn api_keys_guard_the_evaluation_endpoints() {
    let limits = Limits {
        api_keys: vec!["k-one".into(), "k-two".into()],
        ..Limits::default()
    };
    let server = example_server("api_keys", limits).await;
    let mut c = server.client().await;
    let path = "/ofrep/v1/evaluate/flags/dark-mode";
    let body = ctx("u1");
    let r = c.post_json(path, &body).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["errorCode"], "GENERAL");
    let r = c
        .post_json_with(path, &body, &[("authorization", "Bearer nope")])
        .await;
    assert_eq!(r.status, 401);
    assert!(!String::from_utf8_lossy(&r.body).contains("k-one"));
    let r = c
        .post_json_with(path, &body, &[("authorization", "Bearer k-two")])
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .post_json_with(path, &body, &[("x-api-key", "k-one")])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/healthz").await.status, 200);
    assert_eq!(c.get("/readyz").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn native_endpoints_answer_the_cli_records() {
    let server = example_server("native", Limits::default()).await;
    let mut c = server.client().await;
    let defs = abacus_assign::parse(EXAMPLE).unwrap();
    for i in 0..1000 {
        let user = format!("user-{i}");
        let v = c
            .post_json("/v1/assign", &json!({"user_id": user}).to_string())
            .await
            .json();
        let now = Utc::now();
        let want: Vec<Value> = defs
            .experiments
            .iter()
            .map(
                |e| match AssignRecord::new(e, &user, &Context::new(), now) {
                    Ok(record) => serde_json::to_value(record).unwrap(),
                    Err(err) => json!({
                        "experiment": e.id,
                        "error": "INVALID_CONTEXT",
                        "details": err.to_string(),
                    }),
                },
            )
            .collect();
        assert_eq!(v["assignments"], Value::Array(want), "{user}");
        let attrs = json!({"region": "eu-west", "app_version": "42"});
        for f in &defs.flags {
            let got = c
                .post_json(
                    "/v1/flags/eval",
                    &json!({"flag": f.name, "user_id": user, "attributes": attrs}).to_string(),
                )
                .await
                .json();
            let context = abacus_assign::Context::new()
                .with("region", "eu-west")
                .with("app_version", "42");
            let want = serde_json::to_value(FlagRecord::new(f, &user, &context)).unwrap();
            assert_eq!(got, want);
        }
    }
    let r = c
        .post_json("/v1/assign", r#"{"user_id": "u", "experiments": ["nope"]}"#)
        .await;
    assert_eq!(
        (r.status, r.json()["errorCode"].as_str()),
        (404, Some("FLAG_NOT_FOUND"))
    );
    let r = c.post_json("/v1/assign", r#"{"user": "u"}"#).await;
    assert_eq!(
        (r.status, r.json()["errorCode"].as_str()),
        (400, Some("INVALID_CONTEXT"))
    );
    // A cluster-randomized experiment named without its unit attribute is refused, naming it;
    // with it, the company is what was hashed.
    let named = r#"{"user_id": "u", "experiments": ["team-workspace"]"#;
    let r = c.post_json("/v1/assign", &format!("{named}}}")).await;
    let v = r.json();
    assert_eq!(
        (r.status, v["errorCode"].as_str()),
        (400, Some("INVALID_CONTEXT"))
    );
    assert!(
        v["errorDetails"].as_str().unwrap().contains("company_id"),
        "{v}"
    );
    let with_company = format!(r#"{named}, "attributes": {{"company_id": "acme"}}}}"#);
    let v = c.post_json("/v1/assign", &with_company).await.json();
    assert_eq!(v["assignments"][0]["key"], "acme", "{v}");
    let r = c
        .post_json("/v1/flags/eval", r#"{"flag": "nope", "user_id": "u"}"#)
        .await;
    assert_eq!(r.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn exposure_batches_are_validated_whole() {
    let server = example_server("exposures_validate", Limits::default()).await;
    let mut c = server.client().await;
    let good = json!({"experiment_id": "aa-baseline", "variant": "a1", "user_id": "u1"});
    let bad = json!({
        "exposures": [
            good,
            {"experiment_id": "aa-baseline", "variant": "a9", "user_id": "u1"},
            {"experiment_id": "nope", "variant": "a1", "user_id": "u1"},
            {"experiment_id": "aa-baseline", "variant": "a1"},
            {"event_type": "conversion", "event_name": "purchase", "user_id": "u1"},
            {"experiment_id": "aa-baseline", "variant": "a1", "user_id": "u1", "timestamp": "yesterday"},
            7
        ]
    });
    let r = c.post_json("/v1/exposures", &bad.to_string()).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    let codes: Vec<(u64, &str)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["index"].as_u64().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (1, "unknown_variant"),
            (2, "unknown_experiment"),
            (3, "missing_field"),
            (4, "invalid_field"),
            (5, "invalid_field"),
            (6, "not_an_object")
        ]
    );
    assert!(v["errorDetails"]
        .as_str()
        .unwrap()
        .contains("nothing was published"));
    // Exposure logging is off in this server: a valid batch is accepted and counted as dropped.
    let r = c
        .post_json("/v1/exposures", &json!({"exposures": [good]}).to_string())
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["dropped"], 1);
    server.stop().await;
}
