//! Feature-flag evaluation on the example file: rules in order, rollout, default, disabled.

use abacus_assign::{parse, Context, Flag, Reason};

const EXAMPLE: &str = include_str!("../../examples/experiments.toml");

fn flag(text: &str) -> Flag {
    parse(text)
        .expect("valid file")
        .flag("new-search")
        .expect("flag new-search")
        .clone()
}

#[test]
fn the_first_matching_rule_decides() {
    let f = flag(EXAMPLE);
    let staff = Context::new()
        .with("email_domain", "abacus.example")
        .with("region", "eu-west")
        .with("app_version", 50);
    for i in 0..100 {
        let e = f.evaluate(&format!("u{i}"), &staff);
        assert_eq!((e.variant, e.reason), ("on", Reason::Rule("staff")));
        assert_eq!(e.reason.to_string(), "rule:staff");
    }
}

#[test]
fn conditions_all_hold_and_strings_compare_as_numbers() {
    let f = flag(EXAMPLE);
    let eu_new = Context::new()
        .with("region", "eu-central")
        .with("app_version", "42");
    let eu_old = Context::new()
        .with("region", "eu-central")
        .with("app_version", "41");
    let us_new = Context::new()
        .with("region", "us-east")
        .with("app_version", 42);
    let mut on = 0;
    for i in 0..10_000 {
        let user = format!("u{i}");
        let e = f.evaluate(&user, &eu_new);
        assert_eq!(e.reason, Reason::Rule("eu-beta"));
        on += usize::from(e.variant == "on");
        assert_eq!(f.evaluate(&user, &eu_old).reason, Reason::Rollout);
        assert_eq!(f.evaluate(&user, &us_new).reason, Reason::Rollout);
    }
    assert!(
        (4_700..5_300).contains(&on),
        "50/50 rule gave {on} of 10000 on"
    );
}

#[test]
fn the_rollout_allocates_its_share_and_is_deterministic() {
    let f = flag(EXAMPLE);
    let empty = Context::new();
    let on = (0..20_000)
        .filter(|i| f.evaluate(&format!("u{i}"), &empty).variant == "on")
        .count();
    assert!(
        (1_800..2_200).contains(&on),
        "10 % rollout gave {on} of 20000"
    );
    let e = f.evaluate("user-7", &empty);
    assert_eq!(e, f.evaluate("user-7", &empty));
    assert_eq!(e.reason.to_string(), "rollout");
}

#[test]
fn disabled_flags_and_flags_without_rollout_give_the_default() {
    let disabled = flag(&EXAMPLE.replace("enabled = true", "enabled = false"));
    let staff = Context::new().with("email_domain", "abacus.example");
    let e = disabled.evaluate("u1", &staff);
    assert_eq!(
        (e.variant, e.reason.to_string().as_str()),
        ("off", "flag_disabled")
    );

    let no_rollout = flag(&EXAMPLE.replace(
        "rollout = [{ variant = \"on\", weight = 10 }, { variant = \"off\", weight = 90 }]\n",
        "",
    ));
    let e = no_rollout.evaluate("u1", &Context::new());
    assert_eq!((e.variant, e.reason), ("off", Reason::Default));
}

#[test]
fn operators() {
    let text = r#"
[[flag]]
name = "ops"
default = "no"
[[flag.rule]]
name = "r"
conditions = [
  { attr = "plan", op = "ne", value = "free" },
  { attr = "country", op = "not_in", value = ["US", "CA"] },
  { attr = "age", op = "gt", value = 17 },
  { attr = "age", op = "lte", value = 65.5 },
  { attr = "beta", op = "eq", value = true },
  { attr = "cohort", op = "exists" },
]
allocation = [{ variant = "yes", weight = 1 }]
"#;
    let f = flag_named(text, "ops");
    let ok = Context::new()
        .with("plan", "pro")
        .with("country", "DE")
        .with("age", 30)
        .with("beta", "true")
        .with("cohort", "");
    assert_eq!(f.evaluate("u", &ok).variant, "yes");
    for (key, value) in [
        ("plan", "free"),
        ("country", "US"),
        ("age", "17"),
        ("age", "66"),
        ("age", "thirty"),
        ("beta", "false"),
    ] {
        let mut ctx = ok.clone();
        ctx.insert(key, value);
        assert_eq!(f.evaluate("u", &ctx).variant, "no", "{key}={value}");
    }
    // A missing attribute fails every operator, `ne` and `not_in` included.
    let missing = Context::new()
        .with("age", 30)
        .with("beta", true)
        .with("cohort", "x");
    assert_eq!(f.evaluate("u", &missing).reason, Reason::Default);
}

fn flag_named(text: &str, name: &str) -> Flag {
    parse(text)
        .expect("valid file")
        .flag(name)
        .expect("flag exists")
        .clone()
}
