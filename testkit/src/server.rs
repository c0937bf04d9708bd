//! A private ClickHouse server for tests that must stop and start ClickHouse (outages) without
//! disturbing the shared server other tests use in parallel. It runs the same
//! `clickhouse-server` binary the local stack installs, on free loopback ports, with its own
//! data directory under the system temp folder.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `users.xml` (the `<yandex>` root works on 18.16 and current servers) with the usual
/// `default` user (no password, every right) and `reader` (password `reader-password`) whose
/// profile is `readonly` with `readonly = 2`: it may read and change settings per query (as the
/// clients send `max_execution_time`), never write (`INSERT` fails with code 164, READONLY).
pub const USERS_WITH_READONLY: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles>
        <default><max_memory_usage>4000000000</max_memory_usage></default>
        <readonly><readonly>2</readonly></readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <reader>
            <password>reader-password</password>
            <networks><ip>::/0</ip></networks>
            <profile>readonly</profile>
            <quota>default</quota>
        </reader>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"#;

/// A ClickHouse server owned by one test; stopped when dropped.
#[derive(Debug)]
pub struct PrivateClickHouse {
    dir: PathBuf,
    http_port: u16,
    tcp_port: u16,
    users_config: String,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl PrivateClickHouse {
    /// Starts a new server and waits until it answers `/ping`.
    ///
    /// # Panics
    /// When `clickhouse-server` is not installed (run `deploy/local/stack up`) or does not start.
    pub fn start(test: &str) -> Self {
        Self::start_with_users(test, None)
    }

    /// Like [`PrivateClickHouse::start`], with `users` as the server's `users.xml` (profiles,
    /// users, quotas) instead of the system one; [`USERS_WITH_READONLY`] has a read-only user.
    ///
    /// # Panics
    /// As [`PrivateClickHouse::start`].
    pub fn start_with_users(test: &str, users: Option<&str>) -> Self {
        let dir = std::env::temp_dir().join(crate::unique_name(test));
        std::fs::create_dir_all(dir.join("data/tmp")).expect("create server dir");
        let users_config = match users {
            Some(xml) => {
                let path = dir.join("users.xml");
                std::fs::write(&path, xml).expect("write users.xml");
                path.display().to_string()
            }
            None => "/etc/clickhouse-server/users.xml".to_owned(),
        };
        let mut server = Self {
            dir,
            http_port: 0,
            tcp_port: 0,
            users_config,
            child: None,
        };
        // Another server of a test running in parallel may take a port between its pick and
        // this server's bind: this server then exits while the other one answers on the port.
        for attempt in 1..=5 {
            server.pick_ports();
            if server.spawn_and_wait() {
                return server;
            }
            server.stop();
            eprintln!(
                "private clickhouse: port {} is another server's, picking others (attempt {attempt})",
                server.http_port
            );
        }
        panic!("private clickhouse: no free ports after 5 attempts")
    }

    /// Picks free loopback ports and writes the server's `config.xml` for them.
    fn pick_ports(&mut self) {
        self.http_port = free_port();
        self.tcp_port = free_port();
        let (http_port, tcp_port, users_config) =
            (self.http_port, self.tcp_port, &self.users_config);
        let dir = &self.dir;
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{data}/</path>
    <tmp_path>{data}/tmp/</tmp_path>
    <user_files_path>{data}/user_files/</user_files_path>
    <format_schema_path>{data}/format_schemas/</format_schema_path>
    <users_config>{users_config}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
</yandex>
"#,
            data = dir.join("data").display()
        );
        std::fs::write(dir.join("config.xml"), config).expect("write server config");
    }

    /// Replaces the server's `users.xml` (a server started with
    /// [`PrivateClickHouse::start_with_users`]); the server reloads it within a few seconds,
    /// as a production server does when an operator edits it.
    ///
    /// # Panics
    /// When the server was started with the system `users.xml`, or the file cannot be written.
    pub fn set_users(&self, xml: &str) {
        let path = self.dir.join("users.xml");
        assert!(
            path.exists(),
            "start the server with start_with_users first"
        );
        std::fs::write(path, xml).expect("write users.xml");
    }

    /// The server's HTTP URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Stops the server (SIGKILL: an abrupt outage), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers, as with a
    /// hung server.
    ///
    /// # Panics
    /// When the process is not stopped within 10 s (the signal is delivered asynchronously:
    /// this waits until `/proc` shows it stopped, so the next request meets a hung server).
    pub fn freeze(&self) {
        self.signal("-STOP");
        let pid = self.child.as_ref().expect("the server is running").id();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Every thread's state (the first field after the parenthesised name) must be `T`.
        let running = || -> Vec<String> {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                return vec!["(no /proc entry)".into()];
            };
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
                .filter(|stat| {
                    let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
                    !matches!(state, Some('T' | 't'))
                })
                .collect()
        };
        loop {
            let left = running();
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "private clickhouse {pid} is not stopped 10 s after SIGSTOP: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Starts the server again on the same ports and data, waiting until it answers.
    ///
    /// # Panics
    /// When it does not answer within 60 s.
    pub fn resume(&mut self) {
        assert!(
            self.spawn_and_wait(),
            "private clickhouse: port {} is taken by another server",
            self.http_port
        );
    }

    /// Starts the server process and waits until its port answers; whether it is this server
    /// that answers (its data directory).
    fn spawn_and_wait(&mut self) -> bool {
        let log = std::fs::File::create(self.dir.join("server.log")).expect("server log");
        let child = Command::new("clickhouse-server")
            .arg(format!(
                "--config-file={}",
                self.dir.join("config.xml").display()
            ))
            .current_dir(&self.dir)
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start clickhouse-server ({e}); install it with `deploy/local/stack up`"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "private clickhouse did not answer within 60 s; see {}",
                self.dir.join("server.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.is_ours()
    }

    /// Whether the server answering on the HTTP port keeps its data in this server's folder.
    fn is_ours(&self) -> bool {
        let query = "SELECT%20data_path%20FROM%20system.databases%20WHERE%20name%3D%27system%27";
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.http_port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!("GET /?query={query} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.contains(&self.dir.join("data").display().to_string())
    }

    /// Whether `/ping` answers `Ok.`.
    pub fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.http_port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream
            .write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.contains("Ok.")
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
