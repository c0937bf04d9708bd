//! The `abacus experiments`, `assign` and `flags` commands as a user runs them: exit codes,
//! output formats and messages. `assign` and `flags` are run with an unreachable ClickHouse
//! URL to show they need none; `experiments` runs against a fresh database of the local stack.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use abacus_testkit::{clickhouse_url, TestDatabase};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");

/// Runs `abacus` with `args`, no config file and an unreachable ClickHouse unless overridden.
fn abacus(args: &[&str]) -> Output {
    abacus_with_input(args, "")
}

fn abacus_with_input(args: &[&str], stdin: &str) -> Output {
    abacus_at("http://127.0.0.1:9", args, stdin)
}

/// Runs `abacus` against the ClickHouse at `url`.
fn abacus_at(url: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["--clickhouse-url", url])
        .args(args)
        .env_remove("ABACUS_CONFIG")
        .env_remove("ABACUS_CLICKHOUSE_URL")
        .env_remove("ABACUS_CLICKHOUSE_DATABASE")
        .env("RUST_LOG", "warn")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("abacus runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("abacus finishes")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("abacus-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write temp file");
    path
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn assign_prints_the_variant_or_excluded_without_clickhouse() {
    // Rows of assign/tests/vectors.tsv: user-195 is in treatment, user-0 is excluded.
    let base = [
        "assign",
        "--experiments",
        EXAMPLE,
        "--experiment",
        "checkout-redesign",
    ];
    let o = abacus(&[&base[..], &["--user", "user-195"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "treatment\n");
    let o = abacus(&[&base[..], &["--user", "user-0"]].concat());
    assert_eq!(stdout(&o), "excluded\n");

    let users = temp_file("users.txt", "user-0\nuser-195\n\nuser-196\r\n");
    let o = abacus(&[&base[..], &["--users-file", p(&users)]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "user-0\texcluded\nuser-195\ttreatment\nuser-196\tcontrol\n"
    );
    let o = abacus_with_input(
        &[&base[..], &["--users-file", "-", "--json"]].concat(),
        "user-195\n",
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["variant"], "treatment");
    assert_eq!(v["in_experiment"], true);
    assert_eq!(v["namespace_bucket"], 1605);
    assert_eq!(v["variant_bucket"], 9803);
    std::fs::remove_file(users).ok();
}

#[test]
fn assign_refuses_bad_input() {
    let o = abacus(&[
        "assign",
        "--experiments",
        EXAMPLE,
        "--experiment",
        "nope",
        "--user",
        "u",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("experiment \"nope\" is not in"),
        "{}",
        stderr(&o)
    );
    // Neither --user nor --users-file: an argument error.
    let o = abacus(&[
        "assign",
        "--experiments",
        EXAMPLE,
        "--experiment",
        "aa-baseline",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = abacus(&[
        "assign",
        "--experiments",
        "/no/such/file.toml",
        "--experiment",
        "a",
        "--user",
        "u",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("failed to read experiments file /no/such/file.toml"));
}

#[test]
fn invalid_files_are_refused_naming_experiment_and_field() {
    let text = std::fs::read_to_string(EXAMPLE).expect("example").replace(
        "name = \"treatment\"\n  weight = 50",
        "name = \"treatment\"\n  weight = 0",
    );
    let bad = temp_file("bad.toml", &text);
    for args in [
        vec!["experiments", "validate", p(&bad)],
        vec!["experiments", "apply", p(&bad)],
        vec![
            "assign",
            "--experiments",
            p(&bad),
            "--experiment",
            "aa-baseline",
            "--user",
            "u",
        ],
    ] {
        let o = abacus(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = stderr(&o);
        assert!(
            err.contains("experiment \"checkout-redesign\", variant \"treatment\": weight must be positive (got 0)"),
            "{args:?}: {err}"
        );
        assert!(err.contains("invalid experiments file"), "{err}");
    }
    std::fs::remove_file(bad).ok();
}

#[test]
fn flags_eval_prints_variant_and_reason() {
    let base = [
        "flags",
        "eval",
        "--experiments",
        EXAMPLE,
        "--flag",
        "new-search",
        "--user",
        "u1",
    ];
    let o = abacus(&[&base[..], &["--attr", "email_domain=abacus.example"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "on\trule:staff\t\"on\"\n");
    let o = abacus(
        &[
            &base[..],
            &[
                "--attr",
                "region=eu-west",
                "--attr",
                "app_version=42",
                "--json",
            ],
        ]
        .concat(),
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["reason"], "rule:eu-beta");
    assert_eq!(
        v["value"], v["variant"],
        "an untyped flag's value is its variant"
    );
    assert_eq!(v["value_type"], "string");
    let o = abacus(&base);
    assert!(stdout(&o).contains("\trollout\t"), "{}", stdout(&o));
    // A typed flag prints its value (a float flag's value is a JSON float).
    let o = abacus(&[
        "flags",
        "eval",
        "--experiments",
        EXAMPLE,
        "--flag",
        "free-shipping-threshold",
        "--user",
        "u1",
        "--attr",
        "region=eu-west",
    ]);
    assert_eq!(stdout(&o), "low\trule:eu\t29.9\n");
    let o = abacus(&[
        "flags",
        "eval",
        "--experiments",
        EXAMPLE,
        "--flag",
        "free-shipping-threshold",
        "--user",
        "u1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(
        (v["value"].as_f64(), v["value_type"].as_str()),
        (Some(50.0), Some("float"))
    );
    assert!(stdout(&o).contains("\"value\":50.0"), "{}", stdout(&o));
    let o = abacus(&[&base[..], &["--attr", "novalue"]].concat());
    assert_eq!(o.status.code(), Some(2));
    let o = abacus(&[
        "flags",
        "eval",
        "--experiments",
        EXAMPLE,
        "--flag",
        "nope",
        "--user",
        "u",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("flag \"nope\" is not in"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_command_explains_itself() {
    for (args, needle) in [
        (vec!["experiments", "apply", "--help"], "--dry-run"),
        (vec!["experiments", "list", "--help"], "--json"),
        (vec!["experiments", "show", "--help"], "--version <N>"),
        (vec!["assign", "--help"], "excluded"),
        (vec!["flags", "eval", "--help"], "rule:<name>"),
    ] {
        let o = abacus(&args);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains(needle), "{args:?}: {}", stdout(&o));
    }
}

#[tokio::test]
async fn apply_stores_versions_and_show_reads_the_current_one() {
    let db = TestDatabase::create("cli_experiments").await;
    let url = clickhouse_url();
    let run = |args: &[&str]| abacus_at(&url, &[&["--database", db.name()][..], args].concat(), "");

    let o = run(&["experiments", "apply", EXAMPLE, "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("new        aa-baseline: would store version 1"),
        "{}",
        stdout(&o)
    );
    assert_eq!(db.count("SELECT count() FROM experiments").await, 0);

    let o = run(&["experiments", "apply", EXAMPLE]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["experiments", "apply", EXAMPLE]);
    assert!(
        stdout(&o).contains("registry is up to date: nothing stored"),
        "{}",
        stdout(&o)
    );
    assert_eq!(db.count("SELECT count() FROM experiments").await, 6);

    let changed = temp_file(
        "changed.toml",
        &std::fs::read_to_string(EXAMPLE)
            .expect("example")
            .replace("traffic = 1.0", "traffic = 0.8"),
    );
    let o = run(&["experiments", "apply", p(&changed)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("changed    aa-baseline: stores version 2 (was 1); fields: buckets, traffic"),
        "{out}"
    );
    assert!(
        out.contains("warning: slice [0, 10000) becomes [0, 8000)"),
        "{out}"
    );
    assert_eq!(db.count("SELECT count() FROM experiments").await, 7);

    let o = run(&["experiments", "show", "aa-baseline"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("version     2 (current)"), "{out}");
    assert!(out.contains("traffic 0.8"), "{out}");
    let o = run(&[
        "experiments",
        "show",
        "aa-baseline",
        "--version",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["version"], 1);
    assert_eq!(v["current"], false);
    assert_eq!(v["definition"]["traffic"], 1.0);

    let o = run(&["experiments", "list", "--json"]);
    let versions: Vec<(String, u64)> = stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                v["id"].as_str().unwrap_or_default().to_owned(),
                v["version"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("aa-baseline".to_owned(), 2),
            ("checkout-button-color".to_owned(), 1),
            ("checkout-redesign".to_owned(), 1),
            ("delivery-fee".to_owned(), 1),
            ("pricing-annual-discount".to_owned(), 1),
            ("team-workspace".to_owned(), 1)
        ]
    );
    let o = run(&["experiments", "show", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("experiment \"nope\" is not in the registry"));
    std::fs::remove_file(changed).ok();
    db.drop().await;
}

/// Names, hypotheses and event names are free text: terminal escape sequences in a definitions
/// file (#14) must not reach the terminal through `experiments show` or `list`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_in_definitions_do_not_reach_the_terminal() {
    let db = TestDatabase::create("cli_experiments_escapes").await;
    let url = clickhouse_url();
    let run = |args: &[&str]| abacus_at(&url, &[&["--database", db.name()][..], args].concat(), "");
    let hostile = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replacen(
            "name = \"Checkout redesign\"",
            "name = \"Checkout \\u001b]0;pwned\\u0007redesign\\u001b[2J\\u009b1A\"",
            1,
        )
        .replacen(
            "hypothesis = \"A one-page checkout raises purchases\"",
            "hypothesis = \"A one-page\\u001b[31m checkout\\nraises purchases\\u0000\"",
            1,
        )
        .replacen("event = \"purchase\"", "event = \"purchase\\u001b[8m\"", 1);
    assert!(
        hostile.contains("u001b]0;pwned"),
        "the example file changed"
    );
    let file = temp_file("hostile.toml", &hostile);
    let o = run(&["experiments", "apply", p(&file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    for args in [
        &["experiments", "show", "checkout-redesign"][..],
        &["experiments", "list"][..],
        &["experiments", "validate", p(&file)][..],
    ] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {out:?}"
        );
        if args[1] == "show" {
            assert!(
                out.contains("checkout-redesign — Checkout redesign"),
                "{out}"
            );
            assert!(
                out.contains("hypothesis  A one-page checkout raises purchases\u{FFFD}"),
                "{out}"
            );
            assert!(out.contains("event purchase,"), "{out}");
        }
    }
    // The JSON output keeps the stored text exactly (JSON escapes control characters).
    let o = run(&["experiments", "show", "checkout-redesign", "--json"]);
    assert!(
        stdout(&o).contains("\\u001b]0;pwned\\u0007"),
        "{}",
        stdout(&o)
    );
    db.drop().await;
}
