//! Measuring processes for the ingest bench: CPU seconds and peak RSS from `/proc`, the
//! servers' CPU while a step runs, and ingest's steady-state CPU from `/metrics` samples.

use std::time::Duration;

pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The broker's and ClickHouse's process ids, when known (`scripts/bench-ingest` passes the
/// broker's; the stack records ClickHouse's).
fn servers() -> Vec<(&'static str, u32)> {
    let mut out = Vec::new();
    if let Some(pid) = std::env::var("ABACUS_BENCH_BROKER_PID")
        .ok()
        .and_then(|p| p.trim().parse().ok())
    {
        out.push(("broker", pid));
    }
    let stack = std::env::var("ABACUS_STACK_DIR").unwrap_or_else(|_| ".stack".into());
    if let Some(pid) = std::fs::read_to_string(format!("{stack}/clickhouse.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
    {
        out.push(("clickhouse", pid));
    }
    out
}

/// CPU seconds each server used while `work` ran, and `work`'s result.
pub fn server_cpu<T>(work: impl FnOnce() -> T) -> (T, Vec<(&'static str, f64)>) {
    let before: Vec<_> = servers()
        .into_iter()
        .filter_map(|(name, pid)| Some((name, pid, cpu_secs(pid)?)))
        .collect();
    let out = work();
    let used = before
        .into_iter()
        .filter_map(|(name, pid, t0)| Some((name, cpu_secs(pid)? - t0)))
        .collect();
    (out, used)
}

pub fn cpu_line(used: &[(&str, f64)]) -> String {
    used.iter()
        .map(|(name, secs)| format!("{name} {secs:.1} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A loopback address no one listens on now (for ingest's `/metrics`).
pub fn free_local_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `abacus_ingest_consumed_total` from ingest's `/metrics` at `addr`, if it answers.
pub fn consumed_so_far(addr: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    write!(conn, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("abacus_ingest_consumed_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// CPU seconds between the samples where a fifth and nine tenths of `total` events had been
/// consumed: ingest's cost per event once start-up (TLS, the group join, state loading) and
/// the first batches (fresh memory for buffers and tables) are behind it, as in a process
/// that runs for days. Returns (consumed at start, consumed at end, CPU seconds).
pub fn steady_cpu(samples: &[(u64, f64)], total: u64) -> Option<(u64, u64, f64)> {
    let (from, cpu_from) = *samples.iter().find(|(n, _)| *n >= total / 5)?;
    let (to, cpu_to) = *samples.iter().find(|(n, _)| *n >= total * 9 / 10)?;
    (to > from).then_some((from, to, cpu_to - cpu_from))
}
