//! The registry against the ClickHouse of the local stack: versions, dry runs, reading back.

use abacus_assign::{parse, Definitions};
use abacus_registry::{apply, as_of, at_version, current, history, plan, Action, RegistryError};
use abacus_testkit::TestDatabase;

const EXAMPLE: &str = include_str!("../../examples/experiments.toml");

fn example() -> Definitions {
    parse(EXAMPLE).expect("the example is valid")
}

#[tokio::test]
async fn applying_twice_stores_one_version_and_a_change_stores_the_next() {
    let db = TestDatabase::create("registry_versions").await;
    let ch = db.clickhouse();

    // A dry run (plan only) writes nothing.
    let first = plan(ch, &example()).await.unwrap();
    assert!(first.changes.iter().all(|c| c.action == Action::New));
    assert_eq!(db.count("SELECT count() FROM experiments").await, 0);

    let stored = apply(ch, &first).await.unwrap();
    assert_eq!(
        stored,
        [
            ("checkout-redesign".to_owned(), 1),
            ("checkout-button-color".to_owned(), 1),
            ("aa-baseline".to_owned(), 1),
            ("pricing-annual-discount".to_owned(), 1),
            ("team-workspace".to_owned(), 1),
            ("delivery-fee".to_owned(), 1)
        ]
    );
    let again = plan(ch, &example()).await.unwrap();
    assert!(again.is_noop());
    assert!(again
        .changes
        .iter()
        .all(|c| c.action == Action::Unchanged { version: 1 }));
    assert!(apply(ch, &again).await.unwrap().is_empty());
    assert_eq!(db.count("SELECT count() FROM experiments").await, 6);

    // Change the A/A test's traffic and the checkout test's weights.
    let edited = EXAMPLE
        .replacen("traffic = 1.0", "traffic = 0.8", 1)
        .replacen(
            "name = \"treatment\"\n  weight = 50",
            "name = \"treatment\"\n  weight = 150",
            1,
        );
    let changed = plan(ch, &parse(&edited).unwrap()).await.unwrap();
    let by_id = |id: &str| {
        changed
            .changes
            .iter()
            .find(|c| c.experiment.id == id)
            .expect("in plan")
    };
    let aa = by_id("aa-baseline");
    assert_eq!(aa.action, Action::Changed { from: 1 });
    assert_eq!(aa.changed_fields, ["buckets", "traffic"]);
    assert_eq!(aa.moves.len(), 1, "{:?}", aa.moves);
    assert!(
        aa.moves[0].contains("2000 of its 10000 buckets leave"),
        "{:?}",
        aa.moves
    );
    let checkout = by_id("checkout-redesign");
    assert_eq!(checkout.changed_fields, ["variants"]);
    assert!(
        checkout.moves[0].contains("25.00 % of its users switch"),
        "{:?}",
        checkout.moves
    );
    assert_eq!(
        by_id("checkout-button-color").action,
        Action::Unchanged { version: 1 }
    );
    let stored = apply(ch, &changed).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(db.count("SELECT count() FROM experiments").await, 8);

    // `current` returns the new versions; older versions stay readable.
    let now = current(ch).await.unwrap();
    let versions: Vec<(&str, u32)> = now
        .iter()
        .map(|s| (s.experiment.id.as_str(), s.version))
        .collect();
    assert_eq!(
        versions,
        [
            ("aa-baseline", 2),
            ("checkout-button-color", 1),
            ("checkout-redesign", 2),
            ("delivery-fee", 1),
            ("pricing-annual-discount", 1),
            ("team-workspace", 1)
        ]
    );
    assert_eq!(now[0].experiment.traffic, 0.8);
    let v1 = at_version(ch, "aa-baseline", 1).await.unwrap().unwrap();
    assert_eq!(&v1.experiment, example().experiment("aa-baseline").unwrap());
    assert!(at_version(ch, "aa-baseline", 3).await.unwrap().is_none());
    assert_eq!(history(ch, "aa-baseline").await.unwrap().len(), 2);
    assert!(history(ch, "nope").await.unwrap().is_empty());

    // What was current at the time of version 1 (applied at or before its time).
    let then = as_of(ch, v1.applied_at).await.unwrap();
    assert!(then.iter().all(|s| s.applied_at <= v1.applied_at));
    db.drop().await;
}

#[tokio::test]
async fn stored_definitions_assign_exactly_like_the_file() {
    let db = TestDatabase::create("registry_round_trip").await;
    let ch = db.clickhouse();
    let defs = example();
    apply(ch, &plan(ch, &defs).await.unwrap()).await.unwrap();
    let stored = current(ch).await.unwrap();
    assert_eq!(stored.len(), defs.experiments.len());
    for s in &stored {
        let file = defs.experiment(&s.experiment.id).unwrap();
        assert_eq!(&s.experiment, file);
        for i in 0..1000 {
            let u = format!("user-{i}");
            assert_eq!(s.experiment.assign(&u), file.assign(&u));
        }
    }
    // Experiments removed from the file are kept and reported.
    let mut fewer = defs.clone();
    fewer.experiments.retain(|e| e.id != "aa-baseline");
    let p = plan(ch, &fewer).await.unwrap();
    assert_eq!(p.not_in_file, ["aa-baseline"]);
    db.drop().await;
}

#[tokio::test]
async fn a_tampered_row_is_reported_with_its_experiment() {
    let db = TestDatabase::create("registry_tampered").await;
    let ch = db.clickhouse();
    let defs = example();
    apply(ch, &plan(ch, &defs).await.unwrap()).await.unwrap();
    let mut e = defs.experiment("aa-baseline").unwrap().clone();
    e.variants[0].buckets.end = 1000; // disagrees with the weights
    let json = serde_json::to_string(&e).unwrap();
    ch.client()
        .query("INSERT INTO experiments (experiment_id, version, applied_at, checksum, definition) VALUES ('aa-baseline', 2, now(), '', ?)")
        .bind(json.as_str())
        .execute()
        .await
        .unwrap();
    let err = current(ch).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::Corrupt { version: 2, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("aa-baseline") && msg.contains("version 2"),
        "{msg}"
    );
    db.drop().await;
}
