//! `abacus aggregate --every` runs passes on a schedule (the first full, the next ones
//! incremental) and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use abacus_testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runs_passes_until_sigterm() {
    let db = TestDatabase::create("aggregate_daemon").await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");
    let env = [
        ("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url()),
        ("ABACUS_CLICKHOUSE_DATABASE", db.name().to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let applied = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["experiments", "apply", examples])
        .envs(env.clone())
        .output()
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");

    let mut daemon = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["aggregate", "--every", "1s"])
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read_to_string(examples).unwrap();
    let experiments = abacus_assign::parse(&text).unwrap().experiments.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.count("SELECT count() FROM experiment_runs").await < 3 * experiments {
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
        assert!(Instant::now() < deadline, "no three passes within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        db.count("SELECT countIf(mode = 'full') FROM experiment_runs")
            .await,
        experiments,
        "only the first pass of each experiment is full"
    );
    let status = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = daemon.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    db.drop().await;
}
