//! A ClickHouse that hangs in the middle of `abacus aggregate --every` (SIGSTOP) no longer
//! makes a pass wait silently: the pass fails after `clickhouse.query_timeout_secs` with an
//! error that says so, the daemon keeps running, and passes succeed again once the server
//! runs.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use abacus_testkit::server::PrivateClickHouse;
use abacus_testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_fails_the_pass_with_a_timeout_and_the_daemon_recovers() {
    let server = PrivateClickHouse::start("aggregate_timeout");
    let db = TestDatabase::create_at(&server.url(), "aggregate_timeout").await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");
    let env = [
        ("ABACUS_CLICKHOUSE_URL", server.url()),
        ("ABACUS_CLICKHOUSE_DATABASE", db.name().to_owned()),
        ("ABACUS_CLICKHOUSE_QUERY_TIMEOUT_SECS", "2".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let applied = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["experiments", "apply", examples])
        .envs(env.clone())
        .output()
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");

    let log_path = std::env::temp_dir().join(abacus_testkit::unique_name("aggregate_timeout.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["aggregate", "--every", "1s"])
        .envs(env)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let runs = || async { db.count("SELECT count() FROM experiment_runs").await };
    let wait_for = |what: &'static str, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        move || assert!(Instant::now() < deadline, "{what} within {secs} s")
    };

    let check = wait_for("a first pass", 60);
    while runs().await < 4 {
        check();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    server.freeze();
    let frozen_at = Instant::now();
    let check = wait_for("a timeout error in the daemon's log", 60);
    let line = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        if let Some(line) = text.lines().find(|l| l.contains("query timeout")) {
            break line.to_owned();
        }
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "the daemon exited: {text}"
        );
        check();
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("after {:?}: {line}", frozen_at.elapsed());
    assert!(line.contains("clickhouse.query_timeout_secs"), "{line}");

    server.thaw();
    let before = runs().await;
    let check = wait_for("a successful pass after the server runs again", 60);
    while runs().await < before + 4 {
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
        check();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert!(Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap()
        .success());
    let check = wait_for("exit after SIGTERM", 30);
    let exit = loop {
        if let Some(exit) = daemon.try_wait().unwrap() {
            break exit;
        }
        check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    let _ = std::fs::remove_file(&log_path);
}
