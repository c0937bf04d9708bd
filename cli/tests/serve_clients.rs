//! Real OpenFeature clients that the project did not write — Python `openfeature-sdk` with
//! `openfeature-provider-ofrep`, Node `@openfeature/server-sdk` with `@openfeature/ofrep-provider`,
//! and `@openfeature/web-sdk` with `@openfeature/ofrep-web-provider` (bulk evaluation, ETag
//! polling) — evaluate every flag and experiment of examples/experiments.toml for 1,000 users
//! against `abacus serve`, and must get the variants and values that `abacus assign` and
//! `abacus flags eval` give. An unknown key gives the client's default with FLAG_NOT_FOUND.
//!
//! The clients are installed (pinned versions) by serve/tests/clients/setup, which scripts/test
//! runs.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod serve_support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use abacus_assign::Context;
use abacus_serve::eval::FlagRecord;
use serde_json::{json, Value};
use serve_support::{path_str, temp_file, Serve, EXAMPLE};

const USERS: usize = 1000;

fn clients_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../serve/tests/clients"
    ))
}

fn venv_python() -> PathBuf {
    let venv = std::env::var("ABACUS_SERVE_CLIENTS_VENV").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/abacus/venv-serve-clients"),
        PathBuf::from,
    );
    venv.join("bin/python")
}

fn setup_hint() -> &'static str {
    "the OpenFeature clients are not installed: run serve/tests/clients/setup (scripts/test does)"
}

/// The context of user `i`: some in the EU on app 42, some staff, the rest without attributes.
fn user_context(i: usize) -> Value {
    let mut c = json!({"targetingKey": format!("user-{i}")});
    if i % 3 == 0 {
        c["region"] = json!("eu-west");
        c["app_version"] = json!(42);
    }
    if i % 7 == 0 {
        c["email_domain"] = json!("abacus.example");
    }
    c
}

fn assign_context(v: &Value) -> Context {
    let mut c = Context::new();
    for (k, a) in v.as_object().unwrap() {
        if k == "targetingKey" {
            continue;
        }
        match a {
            Value::String(s) => c.insert(k.clone(), s.clone()),
            Value::Number(n) => c.insert(k.clone(), n.as_f64().unwrap()),
            _ => {}
        }
    }
    c
}

/// `(user, key) -> (variant, value)` as the CLI gives them: `abacus assign --users-file` for
/// experiments, and for flags the record `abacus flags eval --json` prints (checked against the
/// binary itself for the first 25 users).
fn expected(users: &[Value]) -> HashMap<(String, String), (String, Value)> {
    let defs = abacus_assign::parse(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap();
    let ids: String = users
        .iter()
        .map(|u| format!("{}\n", u["targetingKey"].as_str().unwrap()))
        .collect();
    let ids_file = temp_file("serve_clients_ids", "txt", &ids);
    let mut out = HashMap::new();
    for e in &defs.experiments {
        let o = Command::new(env!("CARGO_BIN_EXE_abacus"))
            .args(["assign", "--experiments", EXAMPLE, "--experiment", &e.id])
            .args(["--users-file", path_str(&ids_file)])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for line in String::from_utf8(o.stdout).unwrap().lines() {
            let (user, variant) = line.split_once('\t').unwrap();
            out.insert(
                (user.to_owned(), e.id.clone()),
                (variant.to_owned(), json!(variant)),
            );
        }
    }
    for (i, u) in users.iter().enumerate() {
        let user = u["targetingKey"].as_str().unwrap();
        let context = assign_context(u);
        for f in &defs.flags {
            let record = serde_json::to_value(FlagRecord::new(f, user, &context)).unwrap();
            if i < 25 {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_abacus"));
                cmd.args(["flags", "eval", "--experiments", EXAMPLE, "--flag", &f.name])
                    .args(["--user", user, "--json"]);
                for (k, v) in u.as_object().unwrap() {
                    if k != "targetingKey" {
                        let text = v.as_str().map_or(v.to_string(), str::to_owned);
                        cmd.arg("--attr").arg(format!("{k}={text}"));
                    }
                }
                let o = cmd.output().unwrap();
                let cli: Value = serde_json::from_slice(&o.stdout).unwrap();
                assert_eq!(cli, record, "abacus flags eval for {user}");
            }
            out.insert(
                (user.to_owned(), f.name.clone()),
                (
                    record["variant"].as_str().unwrap().to_owned(),
                    record["value"].clone(),
                ),
            );
        }
    }
    out
}

/// JSON equality with numbers compared as numbers (JavaScript prints the float 1.0 as 1).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn check(client: &str, output: &[u8], want: &HashMap<(String, String), (String, Value)>) {
    let text = String::from_utf8_lossy(output);
    let mut seen = 0;
    let mut not_found = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{client}: {e}: {line}"));
        let (user, key) = (v["user"].as_str().unwrap(), v["key"].as_str().unwrap());
        if key == "no-such-flag" {
            assert_eq!(v["value"], "fallback", "{client}: {line}");
            assert_eq!(v["error_code"], "FLAG_NOT_FOUND", "{client}: {line}");
            not_found += 1;
            continue;
        }
        let (variant, value) = &want[&(user.to_owned(), key.to_owned())];
        assert_eq!(v["variant"], json!(variant), "{client}: {line}");
        assert!(same(&v["value"], value), "{client}: {line} (want {value})");
        assert!(v["error_code"].is_null(), "{client}: {line}");
        if client == "python" && key == "free-shipping-threshold" {
            assert_eq!(v["value_is_float"], true, "{client}: {line}");
        }
        seen += 1;
    }
    assert_eq!(
        (seen, not_found),
        (USERS * 8, USERS),
        "{client}: evaluations"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openfeature_clients_get_what_the_cli_gives() {
    let python = venv_python();
    let node_dir = clients_dir().join("node");
    assert!(
        python.exists(),
        "{} ({} missing)",
        setup_hint(),
        python.display()
    );
    assert!(
        node_dir
            .join("node_modules/@openfeature/ofrep-web-provider")
            .exists(),
        "{}",
        setup_hint()
    );

    let users: Vec<Value> = (0..USERS).map(user_context).collect();
    let users_file = temp_file(
        "serve_clients_users",
        "jsonl",
        &users.iter().map(|u| format!("{u}\n")).collect::<String>(),
    );
    let want = expected(&users);
    let mut serve = Serve::start(
        "serve_clients",
        &["--experiments", EXAMPLE, "--no-exposures"],
        &[],
    )
    .await;
    let base = serve.base_url();

    let o = Command::new(&python)
        .arg(clients_dir().join("python_client.py"))
        .args([&base, path_str(&users_file)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python client: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    check("python", &o.stdout, &want);

    let o = Command::new("node")
        .current_dir(&node_dir)
        .args(["server_client.mjs", &base, path_str(&users_file)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "node server client: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    check("node-server", &o.stdout, &want);

    let o = Command::new("node")
        .current_dir(&node_dir)
        .args([
            "web_client.mjs",
            &base,
            path_str(&users_file),
            "100",
            "1000",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "node web client: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    check("node-web", &o.stdout, &want);
    let not_modified = serve
        .metric("abacus_serve_requests_total{endpoint=\"ofrep_bulk\",status=\"304\"}")
        .await;
    let bulk = serve
        .metric("abacus_serve_requests_total{endpoint=\"ofrep_bulk\",status=\"200\"}")
        .await;
    assert!(
        bulk >= USERS as f64,
        "one bulk evaluation per context ({bulk})"
    );
    assert!(
        not_modified > 0.0,
        "the web provider's ETag polling got 304s ({not_modified})"
    );

    assert!(serve.terminate().success(), "log:\n{}", serve.log_text());
}
