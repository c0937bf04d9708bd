//! Hot reload under load: the experiments file is rewritten 10 times while clients evaluate
//! without pause; no request fails, every new version answers within 1 s of its write, and an
//! invalid file keeps the last good version serving with the reason in `/readyz`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use abacus_serve::config::Limits;
use serde_json::json;

use crate::support::{temp_file, Options, TestServer};

/// A file whose flag `limit` answers `value` (and an experiment to keep exposures in play).
fn version(value: u32) -> String {
    format!(
        r#"
[[experiment]]
id = "reload-exp"
name = "Reload"
control = "a"
start = "2026-01-01"
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "b"
  weight = 1
  [[experiment.metric]]
  name = "m"
  kind = "conversion"
  event = "purchase"

[[flag]]
name = "limit"
default = "current"
values = {{ current = {value} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrites_under_load_answer_the_new_version_without_errors() {
    let path = temp_file("reload_under_load", &version(0));
    let server = TestServer::start(Options {
        poll: Duration::from_millis(100),
        limits: Limits::default(),
        ..Options::file(&path)
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for worker in 0..4 {
        let mut c = server.client().await;
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = if i % 2 == 0 { "limit" } else { "reload-exp" };
                let body =
                    json!({"context": {"targetingKey": format!("w{worker}-u{i}")}}).to_string();
                let r = c
                    .post_json(&format!("/ofrep/v1/evaluate/flags/{key}"), &body)
                    .await;
                if r.status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("status {}: {}", r.status, String::from_utf8_lossy(&r.body));
                }
                i += 1;
            }
        }));
    }
    let mut probe = server.client().await;
    let mut worst = Duration::ZERO;
    for v in 1..=10u32 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::fs::write(&path, version(v)).unwrap();
        let written = Instant::now();
        loop {
            let r = probe
                .post_json(
                    "/ofrep/v1/evaluate/flags/limit",
                    r#"{"context":{"targetingKey":"probe"}}"#,
                )
                .await;
            assert_eq!(r.status, 200);
            if r.json()["value"] == v {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "version {v} was not answered within 1 s of the write"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        worst = worst.max(written.elapsed());
    }

    // An invalid file keeps version 10 serving; /readyz says why.
    std::fs::write(
        &path,
        version(11).replace("default = \"current\"", "default = \"missing\""),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let ready = loop {
        let r = probe.get("/readyz").await;
        assert_eq!(r.status, 200, "still ready: the old configuration serves");
        let v = r.json();
        if !v["last_reload_error"].is_null() {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "the failed reload was not reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let message = ready["last_reload_error"]["message"].as_str().unwrap();
    assert!(
        message.contains("flag \"limit\"") && message.contains("missing"),
        "{message}"
    );
    let r = probe
        .post_json(
            "/ofrep/v1/evaluate/flags/limit",
            r#"{"context":{"targetingKey":"probe"}}"#,
        )
        .await;
    assert_eq!(r.json()["value"], 10);
    let metrics = String::from_utf8(probe.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("abacus_serve_reload_failures_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("abacus_serve_config_reload_failing 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("abacus_serve_reloads_total 11"),
        "{metrics}"
    );

    // SIGHUP (the binary notifies `reload`) after fixing the file loads it and clears the error.
    std::fs::write(&path, version(12)).unwrap();
    server.reload.notify_one();
    let deadline = Instant::now() + Duration::from_secs(2);
    while probe
        .post_json(
            "/ofrep/v1/evaluate/flags/limit",
            r#"{"context":{"targetingKey":"probe"}}"#,
        )
        .await
        .json()["value"]
        != 12
    {
        assert!(Instant::now() < deadline, "version 12 was not loaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(probe.get("/readyz").await.json()["last_reload_error"].is_null());

    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!(
        "reload under load: {ok} answers, {failed} failures, slowest reload seen after {worst:?}"
    );
    assert_eq!(failed, 0);
    assert!(ok > 1000, "the load ran ({ok} answers)");
    server.stop().await;
}
