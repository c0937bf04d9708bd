//! Cluster-randomized and switchback experiments: validation of `unit`, `design`, `window`
//! and `burn_in`, the assignment by unit value, the switchback schedule, and stored
//! definitions reading back unchanged.

use abacus_assign::{parse, Context, Design, Experiment, UnitError};
use chrono::{DateTime, Duration, Utc};

const EXAMPLE: &str = include_str!("../../examples/experiments.toml");

fn example(id: &str) -> Experiment {
    parse(EXAMPLE)
        .expect("the example is valid")
        .experiment(id)
        .expect("in the example")
        .clone()
}

fn at(e: &Experiment, minutes: i64) -> DateTime<Utc> {
    e.start + Duration::minutes(minutes)
}

const BASE: &str = r#"
[[experiment]]
id = "x"
name = "x"
control = "a"
start = "2026-01-01T00:00:00Z"
EXTRA
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "b"
  weight = 1
  [[experiment.metric]]
  name = "m"
  kind = "KIND"
  event = "e"
METRIC
"#;

fn file(extra: &str, kind: &str, metric: &str) -> String {
    BASE.replace("EXTRA", extra)
        .replace("KIND", kind)
        .replace("METRIC", metric)
}

fn refused(text: &str) -> String {
    parse(text).expect_err("must be refused").to_string()
}

#[test]
fn design_keys_are_validated_with_clear_messages() {
    assert_eq!(
        refused(&file("design = \"switch\"", "count", "")),
        "experiment \"x\": design must be \"ab\" or \"switchback\" (got \"switch\")"
    );
    let e = refused(&file("design = \"switchback\"", "count", ""));
    assert!(
        e.contains("unit is required for design = \"switchback\""),
        "{e}"
    );
    assert!(
        e.contains("window is required for design = \"switchback\""),
        "{e}"
    );
    let e = refused(&file("window = \"1h\"\nburn_in = \"5m\"", "count", ""));
    assert!(
        e.contains("window only applies to design = \"switchback\""),
        "{e}"
    );
    assert!(
        e.contains("burn_in only applies to design = \"switchback\""),
        "{e}"
    );
    let e = refused(&file(
        "design = \"switchback\"\nunit = \"city\"\nwindow = \"30m\"\nburn_in = \"30m\"",
        "count",
        "",
    ));
    assert!(
        e.contains("burn_in must be shorter than the window (30m) (got 30m)"),
        "{e}"
    );
    let e = refused(&file(
        "design = \"switchback\"\nunit = \"city\"\nwindow = \"1x\"",
        "count",
        "",
    ));
    assert!(
        e.contains("experiment \"x\": window must look like 7d"),
        "{e}"
    );
    let e = refused(&file(
        "design = \"switchback\"\nunit = \"city\"\nwindow = \"1h\"",
        "retention",
        "  from_day = 1\n  to_day = 1",
    ));
    assert!(
        e.contains("metric \"m\": kind retention is measured per user"),
        "{e}"
    );
    let e = refused(&file(
        "design = \"switchback\"\nunit = \"city\"\nwindow = \"1h\"",
        "conversion",
        "  window = \"1d\"",
    ));
    assert!(
        e.contains("metric \"m\": window does not apply to a switchback"),
        "{e}"
    );
    let e = refused(&file("unit = \"\"", "count", ""));
    assert!(
        e.contains("unit must be a metadata key of 1 to 64 bytes"),
        "{e}"
    );
    let e = refused(&file(
        "unit = \"company_id\"\nsequential = true",
        "count",
        "",
    ));
    assert!(
        e.contains("sequential must be false: sequential tests are not available with a unit"),
        "{e}"
    );
    let e = refused(&file("unit = \"company_id\"\ncuped = true", "count", ""));
    assert!(
        e.contains("cuped must be false: CUPED is not available"),
        "{e}"
    );
    // valid forms
    parse(&file(
        "unit = \"company_id\"",
        "conversion",
        "  window = \"7d\"",
    ))
    .expect("cluster");
    parse(&file(
        "design = \"switchback\"\nunit = \"city\"\nwindow = \"1h\"\nburn_in = \"10m\"",
        "ratio",
        "  denominator = \"v\"",
    ))
    .expect("switchback");
}

#[test]
fn every_user_of_a_company_gets_the_company_variant() {
    let e = example("team-workspace");
    assert_eq!(e.unit.as_deref(), Some("company_id"));
    let mut variants = std::collections::BTreeMap::new();
    for company in 0..200 {
        let company = format!("company-{company}");
        let context = Context::new().with("company_id", company.as_str());
        for user in 0..20 {
            let a = e
                .assign_in_context(&format!("user-{user}-{company}"), &context, e.start)
                .expect("unit given");
            assert_eq!(a.key, company);
            let v = a.variant.expect("traffic 1").name.clone();
            let first = variants.entry(company.clone()).or_insert_with(|| v.clone());
            assert_eq!(*first, v, "{company}");
            // The same as hashing the company id as if it were a user.
            assert_eq!(e.assign(&company).map(|x| &x.name), Some(&v));
        }
    }
    let shared = variants.values().filter(|v| *v == "shared").count();
    assert!(
        (70..=130).contains(&shared),
        "{shared} of 200 companies shared"
    );
    // Without the attribute: a clear error, no guess.
    let err = e
        .assign_in_context("user-1", &Context::new(), e.start)
        .unwrap_err();
    assert_eq!(
        err,
        UnitError::MissingUnit {
            experiment: "team-workspace".into(),
            unit: "company_id".into()
        }
    );
    assert!(err.to_string().contains("--attr company_id=…"), "{err}");
    // Numbers hash as their text.
    let n = Context::new().with("company_id", 42i64);
    let s = Context::new().with("company_id", "42");
    assert_eq!(
        e.assign_in_context("u", &n, e.start)
            .unwrap()
            .variant_bucket,
        e.assign_in_context("u", &s, e.start)
            .unwrap()
            .variant_bucket
    );
}

#[test]
fn switchback_units_switch_every_window_and_split_by_weight() {
    let e = example("delivery-fee");
    assert_eq!(e.design, Design::Switchback);
    assert_eq!((e.window_ms(), e.burn_in_ms()), (3_600_000, 600_000));
    assert_eq!(e.window_index(at(&e, 0)), Some(0));
    assert_eq!(e.window_index(at(&e, 59)), Some(0));
    assert_eq!(e.window_index(at(&e, 60)), Some(1));
    assert_eq!(e.window_index(at(&e, -1)), None);
    let (mut dynamic, mut switches, mut cells) = (0u32, 0u32, 0u32);
    for city in 0..100 {
        let city = format!("city-{city}");
        let context = Context::new().with("city", city.as_str());
        let mut previous = None;
        for hour in 0..100 {
            // Any user, any minute of the hour: the (city, hour) variant.
            let a = e
                .assign_in_context("someone", &context, at(&e, hour * 60 + 17))
                .expect("city given");
            let b = e
                .assign_in_context("someone-else", &context, at(&e, hour * 60 + 59))
                .expect("city given");
            assert_eq!(a.variant, b.variant);
            assert_eq!(a.window, Some(hour));
            let v = a.variant.expect("traffic 1").name.clone();
            assert_eq!(e.switchback_variant(&city, hour).map(|x| &x.name), Some(&v));
            cells += 1;
            dynamic += u32::from(v == "dynamic");
            switches += u32::from(previous.as_ref().is_some_and(|p| *p != v));
            previous = Some(v);
        }
    }
    // 10,000 cells split 50/50 (chi-square with 1 df below 10.83, p > 0.001), and a unit's
    // variant changes between consecutive windows about half the time.
    let expected = f64::from(cells) / 2.0;
    let chi2 = 2.0 * (f64::from(dynamic) - expected).powi(2) / expected;
    assert!(chi2 < 10.83, "dynamic {dynamic} of {cells}: chi2 {chi2}");
    let share = f64::from(switches) / 9_900.0;
    assert!((0.47..=0.53).contains(&share), "switch share {share}");
    let err = e
        .assign_in_context("u", &Context::new().with("city", "x"), at(&e, -5))
        .unwrap_err();
    assert!(matches!(err, UnitError::BeforeStart { .. }), "{err}");
}

#[test]
fn stored_definitions_read_back_and_old_ones_still_load() {
    for id in ["team-workspace", "delivery-fee", "aa-baseline"] {
        let e = example(id);
        let json = serde_json::to_string(&e).expect("serialize");
        let back: Experiment = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, e);
        assert_eq!(back.checked().expect("valid"), e);
    }
    // A definition stored before these keys existed has none of them: an A/B test by user.
    let aa = serde_json::to_string(&example("aa-baseline")).expect("serialize");
    assert!(
        !aa.contains("\"unit\"") && !aa.contains("\"design\""),
        "{aa}"
    );
    let sb = serde_json::to_string(&example("delivery-fee")).expect("serialize");
    assert!(
        sb.contains("\"design\":\"switchback\"") && sb.contains("\"burn_in\":\"10m\""),
        "{sb}"
    );
}
