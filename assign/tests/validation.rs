//! Validation of experiments files: the example is accepted with the documented slices, and
//! every invalid file is refused with a message naming the experiment (or layer, or flag)
//! and the field.

use abacus_assign::{parse, BucketRange, DefinitionError, Experiment, MetricKind};

const EXAMPLE: &str = include_str!("../../examples/experiments.toml");

fn range(start: u32, end: u32) -> BucketRange {
    BucketRange { start, end }
}

/// The example with `from` replaced by `to` (which must occur exactly once).
fn edited(from: &str, to: &str) -> String {
    assert_eq!(EXAMPLE.matches(from).count(), 1, "{from:?} must occur once");
    EXAMPLE.replace(from, to)
}

/// Parses `text`, expects a refusal and checks that its message contains every fragment.
fn refused(text: &str, fragments: &[&str]) -> String {
    let err = parse(text)
        .expect_err("the file must be refused")
        .to_string();
    for f in fragments {
        assert!(err.contains(f), "{f:?} missing from: {err}");
    }
    err
}

#[test]
fn the_example_is_valid_and_resolves_slices_and_ranges() {
    let defs = parse(EXAMPLE).unwrap();
    let ids: Vec<&str> = defs.experiments.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "checkout-redesign",
            "checkout-button-color",
            "aa-baseline",
            "pricing-annual-discount",
            "team-workspace",
            "delivery-fee"
        ]
    );
    let checkout = defs.experiment("checkout-redesign").unwrap();
    assert_eq!(checkout.buckets, range(0, 5000));
    assert_eq!(checkout.variants[0].buckets, range(0, 5000));
    assert_eq!(checkout.variants[1].buckets, range(5000, 10000));
    assert_eq!(checkout.metrics.len(), 4);
    assert_eq!(checkout.primary_metric().unwrap().name, "purchase_rate");
    assert_eq!(checkout.metrics[0].window.unwrap().seconds(), 7 * 24 * 3600);
    assert_eq!(checkout.metrics[2].kind, MetricKind::Retention);

    let button = defs.experiment("checkout-button-color").unwrap();
    assert_eq!(button.namespace, "checkout", "defaults to the layer");
    assert_eq!(button.buckets, range(5000, 7000));
    let thirds: Vec<BucketRange> = button.variants.iter().map(|v| v.buckets).collect();
    assert_eq!(
        thirds,
        [range(0, 3333), range(3333, 6666), range(6666, 10000)]
    );
    assert_eq!(
        defs.experiment("aa-baseline").unwrap().buckets,
        range(0, 10000)
    );
    assert_eq!(defs.flags.len(), 4);
}

#[test]
fn stored_json_round_trips_and_tampering_is_detected() {
    let defs = parse(EXAMPLE).unwrap();
    for e in &defs.experiments {
        let json = serde_json::to_string(e).unwrap();
        let back: Experiment = serde_json::from_str(&json).unwrap();
        assert_eq!(&back.clone().checked().unwrap(), e);
    }
    let mut tampered = defs.experiments[0].clone();
    tampered.variants[0].buckets.end = 4000;
    let err = tampered.checked().unwrap_err().to_string();
    assert!(err.contains("checkout-redesign"), "{err}");
    let mut wide = defs.experiments[0].clone();
    wide.buckets = range(0, 6000);
    assert!(wide.checked().is_err());
}

#[test]
fn weights_must_be_positive() {
    let text = edited(
        "name = \"treatment\"\n  weight = 50",
        "name = \"treatment\"\n  weight = 0",
    );
    let err = refused(&text, &[]);
    assert_eq!(
        err,
        "experiment \"checkout-redesign\", variant \"treatment\": weight must be positive (got 0)"
    );
    refused(
        &edited(
            "name = \"a2\"\n  weight = 50",
            "name = \"a2\"\n  weight = -3",
        ),
        &["experiment \"aa-baseline\"", "weight", "(got -3)"],
    );
}

#[test]
fn control_must_exist_and_be_unique_names() {
    refused(
        &edited("control = \"a1\"", "control = \"baseline\""),
        &["experiment \"aa-baseline\"", "control", "\"baseline\""],
    );
    refused(
        &edited("name = \"a2\"", "name = \"a1\""),
        &["experiment \"aa-baseline\"", "variant.name", "unique"],
    );
    refused(
        &edited("name = \"a2\"", "name = \"excluded\""),
        &["experiment \"aa-baseline\"", "variant.name", "excluded"],
    );
    refused(
        &edited("id = \"aa-baseline\"", "id = \"checkout-redesign\""),
        &["experiment \"checkout-redesign\"", "id", "unique"],
    );
    refused(
        &edited("id = \"aa-baseline\"", "id = \"AA baseline\""),
        &["experiment \"AA baseline\"", "id", "[a-z0-9_-]{1,64}"],
    );
}

#[test]
fn metrics_are_checked() {
    refused(
        &edited("kind = \"revenue\"", "kind = \"revnue\""),
        &[
            "experiment \"checkout-redesign\"",
            "metric \"revenue_per_user\"",
            "kind",
            "revnue",
        ],
    );
    refused(
        &edited("window = \"7d\"", "window = \"7 days\""),
        &[
            "experiment \"checkout-redesign\"",
            "metric \"purchase_rate\"",
            "window",
        ],
    );
    refused(
        &edited("from_day = 7\n  to_day = 7", "from_day = 7\n  to_day = 3"),
        &[
            "experiment \"checkout-redesign\"",
            "metric \"d7_retention\"",
            "to_day must be >= from_day (7) (got 3)",
        ],
    );
    refused(
        &edited("  margin = 0.005\n", ""),
        &["metric \"refund_rate\"", "margin is required"],
    );
    refused(
        &edited("  denominator = \"session_start\"\n", ""),
        &[
            "experiment \"aa-baseline\"",
            "metric \"events_per_session\"",
            "denominator",
        ],
    );
}

#[test]
fn layer_traffic_is_limited_and_slices_are_disjoint() {
    refused(
        &edited("traffic = 0.2", "traffic = 0.6"),
        &[
            "layer \"checkout\"",
            "traffic",
            "at most 1",
            "checkout-redesign 0.5",
            "checkout-button-color 0.6",
        ],
    );
    refused(
        &edited(
            "layer = \"checkout\"\ntraffic = 0.2",
            "layer = \"checkout\"\nlayer_start = 4000\ntraffic = 0.2",
        ),
        &[
            "experiment \"checkout-button-color\"",
            "layer_start",
            "overlaps",
            "checkout-redesign",
        ],
    );
    refused(
        &edited(
            "layer = \"checkout\"\ntraffic = 0.2",
            "layer = \"checkout\"\nnamespace = \"other\"\ntraffic = 0.2",
        ),
        &[
            "experiment \"checkout-button-color\"",
            "namespace",
            "layer \"checkout\"",
        ],
    );
    // A pinned slice leaves a gap and stays put.
    let defs = parse(&edited(
        "layer = \"checkout\"\ntraffic = 0.2",
        "layer = \"checkout\"\nlayer_start = 8000\ntraffic = 0.2",
    ))
    .unwrap();
    assert_eq!(defs.experiments[1].buckets, range(8000, 10000));
}

#[test]
fn traffic_times_and_alpha_are_checked() {
    refused(
        &edited("traffic = 1.0", "traffic = 0"),
        &[
            "experiment \"aa-baseline\"",
            "traffic must be in (0, 1] (got 0)",
        ],
    );
    refused(
        &edited("traffic = 1.0", "traffic = 0.12345"),
        &["experiment \"aa-baseline\"", "traffic", "0.0001"],
    );
    refused(
        &edited(
            "end = \"2026-11-15T00:00:00Z\"",
            "end = \"2026-10-15T00:00:00Z\"",
        ),
        &[
            "experiment \"checkout-redesign\"",
            "end must be after start",
        ],
    );
    refused(
        &edited("alpha = 0.05", "alpha = 5"),
        &["experiment \"checkout-redesign\"", "alpha"],
    );
    refused(
        &edited(
            "start = \"2026-11-01T00:00:00Z\"\nsegments = [\"region\"]",
            "start = \"next monday\"\nsegments = [\"region\"]",
        ),
        &["experiment \"aa-baseline\"", "start", "next monday"],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = edited("kind = \"revenue\"", "kind = \"revnue\"")
        .replace("control = \"a1\"", "control = \"x\"");
    let err = parse(&text).unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
    assert!(err.to_string().starts_with("2 problems"), "{err}");
}

#[test]
fn syntax_and_type_errors_name_line_and_experiment() {
    let text = edited(
        "weight = 1\n  [[experiment.variant]]\n  name = \"green\"",
        "weight = 1\n  [[experiment.variant]]\n  name = \"green\"\n  colour = \"#0f0\"",
    );
    let err = parse(&text).unwrap_err();
    assert!(matches!(err, DefinitionError::Syntax { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("experiment \"checkout-button-color\""),
        "{msg}"
    );
    assert!(msg.contains("colour"), "{msg}");
    let line = text.lines().position(|l| l.contains("colour")).unwrap() + 1;
    assert!(msg.contains(&format!("line {line}")), "{msg}");
}

#[test]
fn flags_are_checked() {
    refused(
        &edited("default = \"off\"", "default = \"maybe\""),
        &["flag \"new-search\"", "default", "maybe"],
    );
    refused(
        &edited("op = \"gte\"", "op = \"newer_than\""),
        &["flag \"new-search\", rule \"eu-beta\"", "op", "newer_than"],
    );
    refused(
        &edited("value = 42", "value = \"42\""),
        &[
            "flag \"new-search\", rule \"eu-beta\"",
            "value must be a number for op gte",
        ],
    );
    refused(
        &edited(
            "allocation = [{ variant = \"on\", weight = 1 }]",
            "allocation = [{ variant = \"onn\", weight = 1 }]",
        ),
        &[
            "flag \"new-search\", rule \"staff\"",
            "allocation.variant",
            "onn",
        ],
    );
}
