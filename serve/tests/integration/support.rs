//! Test support: an in-process `abacus serve` on 127.0.0.1:0 and a small keep-alive HTTP/1.1
//! client (the tests need nothing more than requests with a body and the status, headers and
//! body of the answer).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use abacus_serve::config::{Limits, ServeConfig};
use abacus_serve::exposure::Exposures;
use abacus_serve::metrics::Metrics;
use abacus_serve::snapshot::ConfigStore;
use abacus_serve::AppState;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};

pub const EXAMPLE: &str = include_str!("../../../examples/experiments.toml");

/// A response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One keep-alive connection.
pub struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        stream.set_nodelay(true).ok();
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// POSTs a JSON body.
    pub async fn post_json(&mut self, path: &str, body: &str) -> Response {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], b"").await
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await.expect("write");
        // A server that refuses a too large body answers before reading it and closes: the
        // answer is still readable.
        let _ = s.write_all(body).await;
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await.expect("body");
        Response {
            status,
            headers,
            body,
        }
    }
}

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
