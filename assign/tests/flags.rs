//! Feature-flag evaluation on the example file: rules in order, rollout, default, disabled.

use abacus_assign::{parse, Context, Flag, FlagValue, Reason, ValueType};

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

#[test]
fn typed_flags_answer_their_values() {
    let defs = parse(EXAMPLE).expect("valid file");
    let dark = defs.flag("dark-mode").expect("dark-mode");
    assert_eq!(dark.value_type, ValueType::Boolean);
    let staff = Context::new().with("email_domain", "abacus.example");
    let e = dark.evaluate("u1", &staff);
    assert_eq!((e.variant, e.value), ("dark", &FlagValue::Bool(true)));
    let light = (0..1000)
        .map(|i| dark.evaluate(&format!("u{i}"), &Context::new()))
        .find(|e| e.variant == "light")
        .expect("some user is in the 80 % light share");
    assert_eq!(light.value, &FlagValue::Bool(false));

    let shipping = defs.flag("free-shipping-threshold").expect("shipping");
    assert_eq!(shipping.value_type, ValueType::Float);
    let e = shipping.evaluate("u1", &Context::new());
    assert_eq!((e.variant, e.reason), ("standard", Reason::Default));
    assert_eq!(
        e.value.to_string(),
        "50.0",
        "a float flag's integers are floats"
    );
    let eu = Context::new().with("region", "eu-west");
    assert_eq!(shipping.evaluate("u1", &eu).value, &FlagValue::Float(29.9));

    let ranking = defs.flag("search-ranking").expect("ranking");
    assert_eq!(ranking.value_type, ValueType::Object);
    let v = ranking.value("semantic").expect("semantic").to_string();
    assert_eq!(
        v,
        r#"{"boost":1.5,"fields":["title","description"],"model":"vector"}"#
    );

    // Untyped flags answer the variant name.
    let search = defs.flag("new-search").expect("new-search");
    assert_eq!(search.value_type, ValueType::String);
    let e = search.evaluate("u1", &staff);
    assert_eq!(e.value, &FlagValue::Str("on".into()));
}

#[test]
fn typed_values_are_validated() {
    let base = "[[flag]]\nname = \"f\"\ndefault = \"a\"\nvariants = [\"a\", \"b\"]\n";
    let refused = |extra: &str, fragments: &[&str]| {
        let err = parse(&format!("{base}{extra}"))
            .expect_err("refused")
            .to_string();
        for f in fragments {
            assert!(err.contains(f), "{f:?} missing from: {err}");
        }
    };
    refused(
        "values = { a = true }\n",
        &["flag \"f\"", "values", "\"b\" has none"],
    );
    refused(
        "values = { a = true, b = false, c = true }\n",
        &["values", "names no variant", "\"c\""],
    );
    refused(
        "values = { a = true, b = \"no\" }\n",
        &["values must all have one type", "boolean for \"a\""],
    );
    refused(
        "type = \"integer\"\nvalues = { a = 1, b = 2.5 }\n",
        &["must all be of type integer", "\"b\" is float"],
    );
    refused(
        "type = \"date\"\nvalues = { a = 1, b = 2 }\n",
        &[
            "type must be one of boolean, string, integer, float, object",
            "date",
        ],
    );
    refused("type = \"boolean\"\n", &["type needs `values`"]);
    refused(
        "values = { a = [1], b = [2] }\n",
        &["values.a", "an array is not a flag value"],
    );
    refused(
        "values = { a = { x = nan }, b = {} }\n",
        &["values.a", "finite"],
    );
    // Values may declare the variants.
    let defs = parse("[[flag]]\nname = \"g\"\ndefault = \"x\"\nvalues = { x = 1, y = 2 }\n")
        .expect("valid");
    assert_eq!(defs.flags[0].variants, ["x", "y"]);
    assert_eq!(defs.flags[0].value_type, ValueType::Integer);
}

#[test]
fn a_flag_may_not_share_its_name_with_an_experiment() {
    let text = format!("{EXAMPLE}\n[[flag]]\nname = \"aa-baseline\"\ndefault = \"x\"\n");
    let err = parse(&text).expect_err("refused").to_string();
    assert!(
        err.contains("flag \"aa-baseline\": name must differ from every experiment id"),
        "{err}"
    );
}

#[test]
fn flags_round_trip_through_their_file_form() {
    let defs = parse(EXAMPLE).expect("valid file");
    let text = format!(
        "{}\n[[flag]]\nname = \"ops\"\ndefault = \"no\"\n[[flag.rule]]\nname = \"r\"\nconditions = [{{ attr = \"plan\", op = \"ne\", value = \"free\" }}, {{ attr = \"country\", op = \"not_in\", value = [\"US\", 1, true] }}, {{ attr = \"age\", op = \"lt\", value = 17 }}, {{ attr = \"x\", op = \"exists\" }}]\nallocation = [{{ variant = \"yes\", weight = 3 }}, {{ variant = \"no\", weight = 1 }}]\n",
        ""
    );
    let extra = parse(&text).expect("valid flag");
    for f in defs.flags.iter().chain(&extra.flags) {
        let raw = abacus_assign::file::RawFile {
            experiment: Vec::new(),
            flag: vec![f.to_raw()],
        };
        let toml_text = toml::to_string(&raw).expect("serializes");
        let back = parse(&toml_text).unwrap_or_else(|e| panic!("{}: {e}\n{toml_text}", f.name));
        assert_eq!(&back.flags[0], f, "{toml_text}");
    }
}

#[test]
fn evaluations_say_where_their_variant_and_rule_are() {
    let defs = parse(EXAMPLE).expect("valid file");
    let contexts = [
        Context::new(),
        Context::new().with("email_domain", "abacus.example"),
        Context::new()
            .with("region", "eu-central")
            .with("app_version", 42),
    ];
    let mut rules = 0;
    for f in &defs.flags {
        for ctx in &contexts {
            for i in 0..50 {
                let e = f.evaluate(&format!("u{i}"), ctx);
                let v = e
                    .variant_index
                    .expect("every variant of a valid flag has a value");
                assert_eq!((f.variants[v].as_str(), &f.values[v]), (e.variant, e.value));
                match e.reason {
                    Reason::Rule(name) => {
                        assert_eq!(f.rules[e.rule_index.expect("rule index")].name, name);
                        rules += 1;
                    }
                    _ => assert_eq!(e.rule_index, None),
                }
            }
        }
    }
    assert!(rules > 0);
}
