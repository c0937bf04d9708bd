//! Kafka down: `abacus serve` starts and answers while its broker is not running; exposures
//! wait in the bounded queue, those beyond the bound are counted as dropped (with a warning
//! line), nothing blocks; once the broker is up the queued exposures are published, and new
//! ones too. The broker is a private Apache Kafka node of the local stack
//! (`deploy/local/stack up kafka` with its own state folder and port), started mid-test.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod serve_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::json;
use serve_support::{free_port, temp_file, Serve};

const QUEUE: usize = 500;

const EXPERIMENT: &str = r#"
[[experiment]]
id = "kafka-down"
name = "Kafka down"
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
"#;

/// A private Kafka node, stopped and purged on drop.
struct PrivateKafka {
    dir: PathBuf,
    port: u16,
}

impl PrivateKafka {
    fn stack(&self, args: &[&str]) -> std::process::Output {
        Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/local/stack"
        ))
        .args(args)
        .env("ABACUS_STACK_DIR", &self.dir)
        .env("ABACUS_STACK_KAFKA_PORT", self.port.to_string())
        .output()
        .unwrap()
    }

    fn start(&self) {
        let o = self.stack(&["up", "kafka"]);
        assert!(
            o.status.success(),
            "starting a private Kafka node failed (deploy/local/stack up kafka):\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        let _ = self.stack(&["down", "kafka", "--purge"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port whose next port (the controller's) is free too.
fn free_pair() -> u16 {
    loop {
        let p = free_port();
        if p < 65_000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

async fn evaluate(serve: &Serve, users: std::ops::Range<usize>) -> Duration {
    let mut c = serve.client().await;
    let mut slowest = Duration::ZERO;
    for i in users {
        let body = json!({"context": {"targetingKey": format!("user-{i}")}}).to_string();
        let t = Instant::now();
        let r = c
            .post_json("/ofrep/v1/evaluate/flags/kafka-down", &body)
            .await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    slowest
}

async fn wait_for(serve: &Serve, series: &str, want: f64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let got = serve.metric(series).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is {got}, expected {want}; log:\n{}",
            serve.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluations_go_on_while_kafka_is_down_and_exposures_follow_when_it_is_back() {
    let kafka = PrivateKafka {
        dir: std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(abacus_testkit::unique_name("serve_kafka_down_stack")),
        port: free_pair(),
    };
    let brokers = format!("127.0.0.1:{}", kafka.port);
    let file = temp_file("serve_kafka_down", "toml", EXPERIMENT);
    let queue = QUEUE.to_string();
    let serve = Serve::start(
        "serve_kafka_down",
        &[
            "--experiments",
            file.to_str().unwrap(),
            "--kafka-brokers",
            &brokers,
            "--topic",
            "exposures",
            "--exposure-queue",
            &queue,
        ],
        &[],
    )
    .await;

    // Kafka is down: 3 × the queue bound of exposures.
    let slowest = evaluate(&serve, 0..3 * QUEUE).await;
    assert!(
        slowest < Duration::from_secs(1),
        "a request waited {slowest:?}"
    );
    assert_eq!(
        serve.metric("abacus_serve_exposures_queued_total").await,
        QUEUE as f64
    );
    assert_eq!(
        serve
            .metric("abacus_serve_exposures_dropped_total{cause=\"queue_full\"}")
            .await,
        (2 * QUEUE) as f64
    );
    assert_eq!(
        serve.metric("abacus_serve_exposure_queue_depth").await,
        QUEUE as f64
    );
    assert!(
        serve.log_text().contains("exposures dropped"),
        "a warning line says so"
    );

    // Kafka comes back: the queued exposures are published, then new ones too.
    kafka.start();
    wait_for(
        &serve,
        "abacus_serve_exposures_published_total",
        QUEUE as f64,
        Duration::from_secs(90),
    )
    .await;
    evaluate(&serve, 10_000..10_100).await;
    wait_for(
        &serve,
        "abacus_serve_exposures_published_total",
        (QUEUE + 100) as f64,
        Duration::from_secs(30),
    )
    .await;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "serve-kafka-down-check")
        .create()
        .unwrap();
    let (low, high) = consumer
        .fetch_watermarks("exposures", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!(high - low, (QUEUE + 100) as i64, "messages in the topic");
    let mut serve = serve;
    assert!(serve.terminate().success(), "log:\n{}", serve.log_text());
}
