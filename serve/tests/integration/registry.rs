//! The registry source: `abacus serve --source registry` serves the newest applied version of
//! every experiment, picks up a newly applied version on its next poll, and keeps serving the
//! last good configuration while the registry cannot be read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abacus_serve::config::Limits;
use abacus_serve::exposure::Exposures;
use abacus_serve::metrics::Metrics;
use abacus_serve::snapshot::ConfigStore;
use abacus_serve::AppState;
use abacus_testkit::TestDatabase;
use tokio::sync::Notify;

use crate::support::{Client, EXAMPLE};

async fn apply(db: &TestDatabase, text: &str) {
    let defs = abacus_assign::parse(text).unwrap();
    let plan = abacus_registry::plan(db.clickhouse(), &defs).await.unwrap();
    abacus_registry::apply(db.clickhouse(), &plan)
        .await
        .unwrap();
    let flags = abacus_registry::plan_flags(db.clickhouse(), &defs)
        .await
        .unwrap();
    abacus_registry::apply_flags(db.clickhouse(), &flags)
        .await
        .unwrap();
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_registry_source_follows_applied_versions_and_survives_outages() {
    let db = TestDatabase::create("serve_registry").await;
    let store = Arc::new(ConfigStore::new());
    let reload = Arc::new(Notify::new());
    tokio::spawn(abacus_serve::source::poll_registry(
        store.clone(),
        db.clickhouse().clone(),
        Duration::from_millis(200),
        reload.clone(),
        std::future::pending(),
    ));
    let metrics = Arc::new(Metrics::default());
    let state = AppState::new(
        store.clone(),
        Arc::new(Exposures::disabled(metrics.clone())),
        metrics,
        Limits::default(),
        Duration::from_secs(1),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(abacus_serve::run(listener, state, std::future::pending()));
    let mut c = Client::connect(addr).await;

    // An empty registry is a valid, empty configuration.
    wait_until("first read", || store.load().is_some()).await;
    let r = c
        .post_json(
            "/ofrep/v1/evaluate/flags/aa-baseline",
            r#"{"context":{"targetingKey":"u1"}}"#,
        )
        .await;
    assert_eq!(r.status, 404);

    apply(&db, EXAMPLE).await;
    let example = abacus_assign::parse(EXAMPLE).unwrap();
    let counts = (example.experiments.len(), example.flags.len());
    wait_until("version 1 of the experiments and flags", || {
        store
            .load()
            .is_some_and(|s| (s.definitions.experiments.len(), s.definitions.flags.len()) == counts)
    })
    .await;
    // The designs survive the registry: the cluster and switchback experiments keep their unit.
    let snapshot = store.load().unwrap();
    for (id, unit) in [("team-workspace", "company_id"), ("delivery-fee", "city")] {
        let e = snapshot.definitions.experiment(id).unwrap();
        assert_eq!(e.unit.as_deref(), Some(unit));
        assert_eq!(e, example.experiment(id).unwrap());
    }
    // Flags come from the registry too, typed values and all.
    let v = c
        .post_json(
            "/ofrep/v1/evaluate/flags/free-shipping-threshold",
            r#"{"context":{"targetingKey":"u1","region":"eu-west"}}"#,
        )
        .await
        .json();
    assert_eq!(
        (v["variant"].as_str(), v["value"].as_f64()),
        (Some("low"), Some(29.9))
    );
    let first = store.load().unwrap().version.clone();
    let defs = abacus_assign::parse(EXAMPLE).unwrap();
    let exp = defs.experiment("aa-baseline").unwrap();
    for i in 0..50 {
        let user = format!("user-{i}");
        let v = c
            .post_json(
                "/ofrep/v1/evaluate/flags/aa-baseline",
                &serde_json::json!({"context": {"targetingKey": user}}).to_string(),
            )
            .await
            .json();
        assert_eq!(v["variant"], exp.assign(&user).unwrap().name);
        assert_eq!(v["metadata"]["configVersion"], first);
    }

    // A newly applied version is served after the next poll (a reload request makes it now).
    apply(&db, &EXAMPLE.replace("id = \"aa-baseline\"\nname = \"A/A baseline\"\nhypothesis = \"Identical arms show no difference\"\nnamespace = \"aa\"\ntraffic = 1.0", "id = \"aa-baseline\"\nname = \"A/A baseline\"\nhypothesis = \"Identical arms show no difference\"\nnamespace = \"aa\"\ntraffic = 0.5")).await;
    reload.notify_one();
    wait_until("version 2", || {
        store.load().is_some_and(|s| s.version != first)
    })
    .await;
    let served = store.load().unwrap();
    assert_eq!(
        served
            .definitions
            .experiment("aa-baseline")
            .unwrap()
            .traffic,
        0.5
    );

    // A changed flag is a new version too.
    apply(
        &db,
        &EXAMPLE.replace(
            "values = { standard = 50, low = 29.9 }",
            "values = { standard = 45, low = 29.9 }",
        ),
    )
    .await;
    reload.notify_one();
    wait_until("flag version 2", || {
        store.load().is_some_and(|s| {
            s.definitions
                .flag("free-shipping-threshold")
                .and_then(|f| f.value("standard"))
                == Some(&abacus_assign::FlagValue::Float(45.0))
        })
    })
    .await;
    let flags = abacus_registry::current_flags(db.clickhouse())
        .await
        .unwrap();
    let shipping = flags
        .iter()
        .find(|f| f.flag.name == "free-shipping-threshold")
        .unwrap();
    assert_eq!(shipping.version, 2);
    assert!(flags
        .iter()
        .filter(|f| f.flag.name != "free-shipping-threshold")
        .all(|f| f.version == 1));
    let served = store.load().unwrap();

    // The registry cannot be read: the last good configuration keeps serving, /readyz says why.
    db.clickhouse()
        .client()
        .query("RENAME TABLE experiments TO experiments_away")
        .execute()
        .await
        .unwrap();
    wait_until("the failure is recorded", || store.last_error().is_some()).await;
    let ready = c.get("/readyz").await;
    assert_eq!(ready.status, 200);
    let v = ready.json();
    assert_eq!(v["version"], served.version);
    assert!(
        v["last_reload_error"]["message"]
            .as_str()
            .unwrap()
            .contains("registry"),
        "{v}"
    );
    let r = c
        .post_json(
            "/ofrep/v1/evaluate/flags/aa-baseline",
            r#"{"context":{"targetingKey":"u1"}}"#,
        )
        .await;
    assert_eq!(r.status, 200);

    db.clickhouse()
        .client()
        .query("RENAME TABLE experiments_away TO experiments")
        .execute()
        .await
        .unwrap();
    wait_until("the registry answers again", || {
        store.last_error().is_none()
    })
    .await;
    db.drop().await;
}
