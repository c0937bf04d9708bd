//! Shared by the tests that run `abacus serve` as a process (`serve_clients.rs`,
//! `serve_exposures.rs`, `serve_kafka_down.rs`): starting and stopping it, a free port, and a
//! keep-alive HTTP/1.1 client of the test kit.

#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");

/// A free loopback port (bound and released; the race with other processes is negligible).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One `abacus serve` process with its log file.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: std::path::PathBuf,
}

impl Serve {
    /// Starts `abacus serve ARGS --listen 127.0.0.1:<free port>` and waits until /readyz is 200.
    pub async fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{}.log", abacus_testkit::unique_name(name)));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_abacus"));
        cmd.arg("serve")
            .args(args)
            .arg("--listen")
            .arg(addr.to_string())
            .env_remove("ABACUS_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn abacus serve");
        let mut serve = Self { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(stream) = TcpStream::connect(addr).await {
                drop(stream);
                let mut c = Client::connect(addr).await;
                if c.get("/readyz").await.status == 200 {
                    break;
                }
            }
            if let Some(status) = serve.child.try_wait().unwrap() {
                panic!("abacus serve exited ({status}); log:\n{}", serve.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "abacus serve did not become ready; log:\n{}",
                serve.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        serve
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of one Prometheus series (exact name with labels), 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = String::from_utf8(self.client().await.get("/metrics").await.body).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// SIGTERM, then waits for the exit status (panics after 30 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "abacus serve did not stop; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes `text` to a fresh temp file named after `test`.
pub fn temp_file(test: &str, ext: &str, text: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}.{ext}", abacus_testkit::unique_name(test)));
    std::fs::write(&path, text).expect("write temp file");
    path
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[allow(unused_imports)] // each test file uses its own subset
pub use abacus_testkit::http::{Client, Response};
