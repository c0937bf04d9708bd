//! Test support: an in-process `abacus serve` on 127.0.0.1:0, and the test kit's keep-alive
//! HTTP/1.1 client ([`abacus_testkit::http`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use abacus_serve::config::{Limits, ServeConfig};
use abacus_serve::exposure::Exposures;
use abacus_serve::metrics::Metrics;
use abacus_serve::snapshot::ConfigStore;
use abacus_serve::AppState;
use tokio::sync::{oneshot, Notify};

pub const EXAMPLE: &str = include_str!("../../../examples/experiments.toml");

pub use abacus_testkit::http::Client;

/// An in-process server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub reload: Arc<Notify>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// How to start a [`TestServer`].
pub struct Options {
    pub file: PathBuf,
    pub limits: Limits,
    /// `(brokers, topic, queue bound)`; `None`: exposures disabled.
    pub kafka: Option<(String, String, usize)>,
    pub poll: Duration,
}

impl Options {
    pub fn file(path: &Path) -> Self {
        Self {
            file: path.to_path_buf(),
            limits: Limits::default(),
            kafka: None,
            poll: Duration::from_millis(50),
        }
    }
}

impl TestServer {
    pub async fn start(options: Options) -> Self {
        let snapshot = abacus_serve::source::load_file(&options.file).expect("valid file");
        let store = Arc::new(ConfigStore::with(snapshot));
        let metrics = Arc::new(Metrics::default());
        let exposures = match &options.kafka {
            None => Exposures::disabled(metrics.clone()),
            Some((brokers, topic, queue)) => {
                let kafka = abacus_ingest::KafkaConfig {
                    brokers: brokers.clone(),
                    topic: topic.clone(),
                    ..Default::default()
                };
                let config = ServeConfig {
                    exposure_queue: *queue,
                    ..ServeConfig::default()
                };
                Exposures::new(&kafka, &config, metrics.clone()).expect("producer")
            }
        };
        let reload = Arc::new(Notify::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let (stop_watch, watch_stopped) = oneshot::channel::<()>();
        tokio::spawn(abacus_serve::source::watch_file(
            store.clone(),
            options.file.clone(),
            options.poll,
            reload.clone(),
            async move {
                let _ = watch_stopped.await;
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(
            store.clone(),
            Arc::new(exposures),
            metrics.clone(),
            options.limits,
            Duration::from_secs(10),
        );
        let handle = tokio::spawn(async move {
            abacus_serve::run(listener, state, async move {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
            drop(stop_watch);
        });
        Self {
            addr,
            metrics,
            reload,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Shuts down gracefully (flushing exposures) and waits.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task");
        }
    }
}

/// Writes `text` to a fresh file named after `test` in the temp dir.
pub fn temp_file(test: &str, text: &str) -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}.toml", abacus_testkit::unique_name(test)));
    std::fs::write(&path, text).expect("write temp file");
    path
}
