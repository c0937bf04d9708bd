//! A private Apache Kafka cluster for tests that kill and restart brokers (failover) without
//! disturbing the shared broker other tests use in parallel.
//!
//! It runs the local stack's own script, `deploy/local/stack up kafka --kafka-nodes N`, with
//! its own `ABACUS_STACK_DIR` under the system temp folder and free loopback ports, so the
//! test exercises exactly what users run: the same jars (fetched once per machine into
//! `ABACUS_TOOLS_DIR`), the same broker configuration, the same pid files and restart logic.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::Rng;

/// A Kafka cluster owned by one test; its nodes are killed and its folder deleted on drop (a
/// failed test keeps the broker logs and says where).
#[derive(Debug)]
pub struct KafkaCluster {
    dir: PathBuf,
    port: u16,
    nodes: u32,
}

/// The local stack's script in this checkout.
fn stack_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/stack")
}

/// A first port such that the `count` ports from it are free, below Linux's ephemeral range
/// (32768–60999) so that outgoing connections do not take them before the brokers bind.
fn free_port_run(count: u16) -> u16 {
    let mut rng = rand::rng();
    for _ in 0..200 {
        let base: u16 = rng.random_range(20_000..32_000 - count);
        if (base..base + count).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no run of {count} free loopback ports found between 20000 and 32000");
}

impl KafkaCluster {
    /// Starts a cluster of `nodes` (1 or 3) combined broker+controller nodes and waits until
    /// every node is registered. With 3 nodes, topics default to replication factor 3 and
    /// `min.insync.replicas` 2.
    ///
    /// # Panics
    /// When the stack script fails (its output says why, e.g. Java or Maven missing).
    pub fn start(test: &str, nodes: u32) -> Self {
        let dir = std::env::temp_dir().join(crate::unique_name(test));
        let cluster = Self {
            dir,
            port: free_port_run(2 * nodes as u16),
            nodes,
        };
        cluster.stack(&["up", "kafka", "--kafka-nodes", &nodes.to_string()]);
        cluster
    }

    fn stack(&self, args: &[&str]) {
        let output = Command::new(stack_script())
            .args(args)
            .env("ABACUS_STACK_DIR", &self.dir)
            .env("ABACUS_STACK_KAFKA_PORT", self.port.to_string())
            .env_remove("ABACUS_STACK_KAFKA_NODES")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", stack_script().display()));
        assert!(
            output.status.success(),
            "deploy/local/stack {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Bootstrap servers of every node, comma-separated.
    pub fn brokers(&self) -> String {
        (0..self.nodes)
            .map(|i| format!("127.0.0.1:{}", self.port + 2 * i as u16))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The process id of node `node` (1-based, the Kafka `node.id`) from the pid file the
    /// stack script writes; `None` when that process is gone.
    pub fn pid(&self, node: i32) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.dir.join(format!("kafka-{node}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        // A killed process lingers as a zombie until its parent (init) reaps it: that is dead.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let state = status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("X");
        (!matches!(state, "Z" | "X")).then_some(pid)
    }

    /// `kill -9` of node `node` (a crash: no controlled shutdown); waits until it is gone.
    ///
    /// # Panics
    /// When the node is not running.
    pub fn kill(&self, node: i32) {
        let pid = self
            .pid(node)
            .unwrap_or_else(|| panic!("kafka node {node} is not running"));
        signal_kill(pid);
        while self.pid(node).is_some() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `deploy/local/stack up kafka`: restarts the nodes that are down (with their data) and
    /// waits until every node is registered again.
    pub fn restart(&self) {
        self.stack(&["up", "kafka"]);
    }

    /// The broker log of node `node` (for failure messages).
    pub fn log(&self, node: i32) -> String {
        std::fs::read_to_string(self.dir.join(format!("kafka/node{node}/broker.log")))
            .unwrap_or_default()
    }
}

fn signal_kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        // A kill is enough: the data is deleted with the folder.
        for node in 1..=self.nodes as i32 {
            if let Some(pid) = self.pid(node) {
                signal_kill(pid);
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while (1..=self.nodes as i32).any(|n| self.pid(n).is_some())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if std::thread::panicking() {
            // Keep the broker logs of a failed test, not the data.
            for node in 1..=self.nodes {
                let _ = std::fs::remove_dir_all(self.dir.join(format!("kafka/node{node}/data")));
            }
            eprintln!("kafka cluster logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
