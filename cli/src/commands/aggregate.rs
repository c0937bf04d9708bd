//! `abacus aggregate`: one aggregation pass (`--once`, the default) or a daemon (`--every`).

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;

use abacus_aggregator::lease::{self, LeaseSettings, WhenBusy};
use abacus_aggregator::PassOptions;

use crate::commands::schema::connect;
use crate::config::Config;

/// The long description of `abacus aggregate --help`.
pub const LONG_ABOUT: &str =
    "Materialize experiment results: bring each experiment's user-level table up to \
date (only users touched since the last pass, unless --full or the definition changed), compute \
per-variant statistics, lifts, confidence intervals, p-values (sequential and Holm-adjusted), SRM, \
guardrails, segments, balance and the daily series, and write one run to the result tables \
(`results_latest` shows the newest). Runs one pass and exits unless --every is given. \
One pass at a time per database: a pass holds the aggregation lease (aggregate.lease_secs, \
renewed during the pass); --once waits for another aggregator's pass to finish, a daemon skips \
its tick, and the lease of a crashed aggregator expires after lease_secs.";

/// Flags of `abacus aggregate`.
#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Run one pass and exit (the default; for cron and systemd timers).
    #[arg(long, conflicts_with = "every")]
    pub once: bool,
    /// Run as a daemon: a pass every DURATION (e.g. 10m, 1h; units s, m, h, d) until SIGINT/SIGTERM.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// Analysis time: only events before it count (RFC 3339, YYYY-MM-DD or epoch ms) [default: now].
    #[arg(long, value_name = "TIMESTAMP", conflicts_with = "every")]
    pub as_of: Option<String>,
    /// Only this experiment [default: every experiment in the registry].
    #[arg(long, value_name = "ID")]
    pub experiment: Option<String>,
    /// Recompute every user instead of only those touched since the last pass.
    #[arg(long)]
    pub full: bool,
    /// Reread events written this long before the last watermark [default: 60] [config: aggregate.overlap_secs]
    #[arg(long, value_name = "SECS")]
    pub overlap_secs: Option<String>,
    /// p-value below which the sample ratio check fails [default: 0.001] [config: aggregate.srm_threshold]
    #[arg(long, value_name = "P")]
    pub srm_threshold: Option<String>,
}

impl AggregateArgs {
    /// The flags that override `[aggregate]` settings.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        [
            ("aggregate.overlap_secs", &self.overlap_secs),
            ("aggregate.srm_threshold", &self.srm_threshold),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Names this process in the aggregation lease: host, process id and start time, so that a
/// log line of another aggregator says who holds the lease.
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{host} pid {} since {started}", std::process::id())
}

/// Parses `--as-of`: what experiment files accept (RFC 3339 or a date), or epoch milliseconds.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Some(t) = text
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
    {
        return Ok(t);
    }
    abacus_assign::parse_date_time(text)
        .map_err(|e| anyhow::anyhow!("--as-of {e}, or epoch milliseconds"))
}

/// Parses `--every`.
pub fn parse_every(text: &str) -> Result<Duration> {
    let w = abacus_assign::Window::parse(text).map_err(|e| anyhow::anyhow!("--every {e}"))?;
    Ok(Duration::from_secs(w.seconds()))
}

pub async fn run(args: AggregateArgs, config: &Config) -> Result<()> {
    let as_of = args.as_of.as_deref().map(parse_time).transpose()?;
    let every = args.every.as_deref().map(parse_every).transpose()?;
    let ch = connect(config).await?;
    config.aggregate.validate()?;
    let lease = LeaseSettings {
        holder: holder_name(),
        ttl: Duration::from_secs(config.aggregate.lease_secs),
    };
    let options = PassOptions {
        as_of,
        experiment: args.experiment.clone(),
        full: args.full,
    };
    if let Some(every) = every {
        tracing::info!(every_s = every.as_secs(), "aggregating on a schedule");
        return abacus_aggregator::run(
            &ch,
            &config.aggregate,
            options,
            every,
            &lease,
            crate::shutdown_signal(),
        )
        .await
        .context("aggregate failed");
    }
    // One pass at a time per database: wait for another aggregator's pass to end.
    let passes = lease::exclusive(&ch, &lease, WhenBusy::Wait, || {
        abacus_aggregator::pass(&ch, &config.aggregate, &options)
    })
    .await
    .context("aggregation pass failed")?
    .unwrap_or_default();
    println!(
        "{:<28} {:<12} {:>12} {:>10} {:>5} {:>8}",
        "experiment", "mode", "recomputed", "users", "SRM", "seconds"
    );
    for p in &passes {
        println!(
            "{:<28} {:<12} {:>12} {:>10} {:>5} {:>8.1}",
            p.experiment_id,
            p.mode,
            p.recomputed_users,
            p.users,
            if p.srm_mismatch { "FAIL" } else { "ok" },
            p.elapsed.as_secs_f64()
        );
    }
    println!("results written; see them with `abacus report` or in the table results_latest");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        let t = parse_time("2026-11-15T00:00:00Z").unwrap();
        assert_eq!(parse_time("2026-11-15").unwrap(), t);
        assert_eq!(parse_time(&t.timestamp_millis().to_string()).unwrap(), t);
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_every("10m").unwrap(), Duration::from_secs(600));
        assert!(parse_every("ten").is_err());
    }
}
