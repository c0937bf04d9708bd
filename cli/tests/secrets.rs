//! Secrets never reach output: every command that fails to reach ClickHouse (refused, or a
//! server that accepts and never answers) is run with a password in the URL's userinfo, a
//! password setting and secret Kafka client settings, with debug logging on; its whole
//! output must not contain any of them. `config show` must redact them too.

use std::net::TcpListener;
use std::process::{Command, Output};

const URL_PASSWORD: &str = "UrlSecret7731";
const PASSWORD: &str = "PwSecret5521";
const OAUTH_SECRET: &str = "OauthSecret9902";
const CLIENT_SECRET: &str = "ClientSecret4410";

fn abacus(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["--clickhouse-url", url])
        .args(args)
        .env_remove("ABACUS_CONFIG")
        .env_remove("ABACUS_CLICKHOUSE_URL")
        .env("ABACUS_CLICKHOUSE_PASSWORD", PASSWORD)
        .env("ABACUS_CLICKHOUSE_CONNECT_TIMEOUT_SECS", "1")
        .env(
            "ABACUS_KAFKA_CLIENT_SASL_OAUTHBEARER_CONFIG",
            format!("principal=svc clientSecret={OAUTH_SECRET}"),
        )
        .env(
            "ABACUS_KAFKA_CLIENT_SASL_OAUTHBEARER_CLIENT_SECRET",
            CLIENT_SECRET,
        )
        .env("RUST_LOG", "debug")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("abacus runs")
}

fn assert_no_secret(what: &str, out: &Output) {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [URL_PASSWORD, PASSWORD, OAUTH_SECRET, CLIENT_SECRET] {
        assert!(
            !text.contains(secret),
            "`abacus {what}` printed the secret {secret}:\n{text}"
        );
    }
}

/// Commands that connect to ClickHouse first.
const COMMANDS: &[&[&str]] = &[
    &["schema", "migrate"],
    &["schema", "status"],
    &["experiments", "list"],
    &["aggregate", "--once"],
    &["report"],
    &["ingest", "--once", "--topic", "secrets-test"],
];

#[test]
fn a_refused_connection_prints_no_secret() {
    // Port 9 (discard) is closed on loopback: the connection is refused.
    let url = format!("http://admin:{URL_PASSWORD}@127.0.0.1:9/");
    every_command_fails_saying(&url, "admin:<redacted>@127.0.0.1:9");
}

/// Runs every command of [`COMMANDS`] against `url`: each fails, says `expected` on stderr
/// and prints no secret.
fn every_command_fails_saying(url: &str, expected: &str) {
    for args in COMMANDS {
        let out = abacus(url, args);
        assert!(
            !out.status.success(),
            "`abacus {}` succeeded",
            args.join(" ")
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(expected),
            "`abacus {}` does not say {expected:?}: {stderr}",
            args.join(" ")
        );
        assert_no_secret(&args.join(" "), &out);
    }
}

#[test]
fn a_server_that_never_answers_prints_no_secret() {
    // Accepts connections (the backlog) and never answers: the connect timeout fires.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let url = format!("http://admin:{URL_PASSWORD}@127.0.0.1:{port}");
    every_command_fails_saying(&url, "did not answer within 1 s");
    drop(silent);
}

#[test]
fn config_show_redacts_every_secret() {
    let url = format!("https://admin:{URL_PASSWORD}@ch.example:8443/");
    let out = abacus(&url, &["config", "show"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("https://admin:<redacted>@ch.example:8443/"),
        "{text}"
    );
    assert!(text.contains("sasl.oauthbearer.config"), "{text}");
    assert_no_secret("config show", &out);
}
