//! `abacus serve`: the online assignment and feature-flag service (OpenFeature OFREP and native
//! endpoints) with exposure logging to Kafka and hot reload. The service itself is the
//! `abacus-serve` library; this module binds the socket, builds the clients and wires signals.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::sync::Notify;

use abacus_serve::config::Limits;
use abacus_serve::exposure::Exposures;
use abacus_serve::metrics::Metrics;
use abacus_serve::snapshot::ConfigStore;
use abacus_serve::AppState;

use crate::commands::schema::connect;
use crate::config::Config;

/// The long description of `abacus serve --help`.
pub const LONG_ABOUT: &str = "Serve experiment assignments and feature flags over HTTP.

Endpoints (POST bodies are JSON with Content-Type: application/json):
  POST /ofrep/v1/evaluate/flags/{key}
      OpenFeature OFREP: one flag or experiment;
      body {\"context\": {\"targetingKey\": \"user-42\", ...attributes}}
  POST /ofrep/v1/evaluate/flags
      OFREP bulk: every flag and experiment, with ETag / If-None-Match -> 304
  POST /v1/assign      {\"user_id\", \"experiments\"?, \"attributes\"?}, as `abacus assign --json`
  POST /v1/flags/eval  {\"flag\", \"user_id\", \"attributes\"?}, as `abacus flags eval --json`
  POST /v1/exposures   {\"exposures\": [...]}: exposures of clients that assign locally
  GET  /healthz        alive
  GET  /readyz         configuration loaded: version, age, last reload error
  GET  /metrics        Prometheus text

Each single evaluation of an experiment the user is in publishes an `exposure` event (the
format `abacus ingest` reads) to Kafka, keyed by user_id, with an event_id derived from
(experiment, variant, user, UTC day), so ingest keeps one per user, experiment and day.
Send `X-Abacus-Track: false` to evaluate without logging. Publishing never blocks a request:
when the queue is full or Kafka is down, exposures are dropped and counted in /metrics. The
service answers without Kafka.

Definitions come from --experiments FILE (reloaded when the file changes and on SIGHUP) or
--source registry (the newest applied version of every experiment and flag that
`abacus experiments apply` stored, read every --registry-poll-secs). A new version is validated completely and swapped in one step; an invalid file or an
unreachable ClickHouse keeps the last good configuration serving and shows why in /readyz and
/metrics.

API keys: set ABACUS_SERVE_API_KEYS=key1,key2 (or serve.api_keys) to require
`Authorization: Bearer <key>` (or `X-API-Key: <key>`) on the evaluation endpoints; keys are
never logged or printed. SIGTERM/SIGINT finish open requests and flush exposures (within
--shutdown-timeout-secs), then exit 0. Every option is also a [serve] setting and an
ABACUS_SERVE_<KEY> variable.";

/// Flags of `abacus serve`. Each `--x` overrides `serve.x` of the config file and
/// `ABACUS_SERVE_X` of the environment.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The experiments file to serve (implies --source file) [config: serve.experiments]
    #[arg(long, value_name = "FILE")]
    pub experiments: Option<String>,
    /// Where definitions come from: `file` or `registry` [default: file] [config: serve.source]
    #[arg(long, value_name = "SOURCE", value_parser = ["file", "registry"])]
    pub source: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080] [config: serve.listen]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Do not publish exposures (they are counted as dropped, cause `disabled`) [config: serve.exposures = false]
    #[arg(long)]
    pub no_exposures: bool,
    /// Kafka topic of exposure events [default: the first --topic] [config: serve.exposure_topic]
    #[arg(long, value_name = "TOPIC")]
    pub exposure_topic: Option<String>,
    /// Exposures waiting for Kafka before new ones are dropped [default: 100000] [config: serve.exposure_queue]
    #[arg(long, value_name = "N")]
    pub exposure_queue: Option<String>,
    /// Drop an exposure Kafka has not acknowledged within this time [default: 300000] [config: serve.exposure_timeout_ms]
    #[arg(long, value_name = "MS")]
    pub exposure_timeout_ms: Option<String>,
    /// Recently published exposure ids remembered to avoid resending [default: 1000000] [config: serve.exposure_cache]
    #[arg(long, value_name = "N")]
    pub exposure_cache: Option<String>,
    /// How often the experiments file is checked for changes [default: 200] [config: serve.file_poll_ms]
    #[arg(long, value_name = "MS")]
    pub file_poll_ms: Option<String>,
    /// How often the registry is read [default: 5] [config: serve.registry_poll_secs]
    #[arg(long, value_name = "SECS")]
    pub registry_poll_secs: Option<String>,
    /// Largest request body; larger gets 413 [default: 65536] [config: serve.max_body_bytes]
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<String>,
    /// Most context attributes; more gets 400 INVALID_CONTEXT [default: 100] [config: serve.max_attributes]
    #[arg(long, value_name = "N")]
    pub max_attributes: Option<String>,
    /// Most exposures in one POST /v1/exposures [default: 1000] [config: serve.max_exposure_batch]
    #[arg(long, value_name = "N")]
    pub max_exposure_batch: Option<String>,
    /// Time to finish requests and flush exposures on SIGTERM [default: 10] [config: serve.shutdown_timeout_secs]
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout_secs: Option<String>,
}

impl ServeArgs {
    /// The flags that override `[serve]` settings.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        let source = self
            .source
            .clone()
            .or_else(|| self.experiments.as_ref().map(|_| "file".to_owned()));
        let mut out: Vec<(&'static str, String)> = [
            ("serve.experiments", &self.experiments),
            ("serve.source", &source),
            ("serve.listen", &self.listen),
            ("serve.exposure_topic", &self.exposure_topic),
            ("serve.exposure_queue", &self.exposure_queue),
            ("serve.exposure_timeout_ms", &self.exposure_timeout_ms),
            ("serve.exposure_cache", &self.exposure_cache),
            ("serve.file_poll_ms", &self.file_poll_ms),
            ("serve.registry_poll_secs", &self.registry_poll_secs),
            ("serve.max_body_bytes", &self.max_body_bytes),
            ("serve.max_attributes", &self.max_attributes),
            ("serve.max_exposure_batch", &self.max_exposure_batch),
            ("serve.shutdown_timeout_secs", &self.shutdown_timeout_secs),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect();
        if self.no_exposures {
            out.push(("serve.exposures", "false".to_owned()));
        }
        out
    }
}

pub async fn run(_args: ServeArgs, config: &Config) -> Result<()> {
    let serve = &config.serve;
    let store = Arc::new(ConfigStore::new());
    let reload = Arc::new(Notify::new());
    match serve.source.as_str() {
        "file" => {
            if serve.experiments.is_empty() {
                bail!("nothing to serve: give --experiments FILE (or --source registry)");
            }
            let path = std::path::PathBuf::from(&serve.experiments);
            let snapshot = abacus_serve::source::load_file(&path)
                .context("the experiments file must be valid at startup")?;
            tracing::info!(
                path = %path.display(),
                version = %snapshot.version,
                experiments = snapshot.definitions.experiments.len(),
                flags = snapshot.definitions.flags.len(),
                "loaded the experiments file"
            );
            store.install(snapshot);
            tokio::spawn(abacus_serve::source::watch_file(
                store.clone(),
                path,
                Duration::from_millis(serve.file_poll_ms.max(10)),
                reload.clone(),
                std::future::pending(),
            ));
        }
        "registry" => {
            let ch = connect(config).await?;
            tokio::spawn(abacus_serve::source::poll_registry(
                store.clone(),
                ch,
                Duration::from_secs(serve.registry_poll_secs.max(1)),
                reload.clone(),
                std::future::pending(),
            ));
        }
        other => bail!("serve.source must be `file` or `registry` (got \"{other}\")"),
    }
    let metrics = Arc::new(Metrics::default());
    let exposures = if serve.exposures {
        Exposures::new(&config.kafka, serve, metrics.clone())
            .context("cannot set up exposure logging (use --no-exposures to serve without)")?
    } else {
        tracing::info!("exposure logging is off (--no-exposures)");
        Exposures::disabled(metrics.clone())
    };
    let listener = tokio::net::TcpListener::bind(&serve.listen)
        .await
        .with_context(|| format!("cannot listen on {}", serve.listen))?;
    if !serve.api_keys.is_empty() {
        tracing::info!(
            keys = serve.api_keys.len(),
            "evaluation endpoints require an API key"
        );
    }
    tokio::spawn(reload_on_sighup(reload));
    let state = AppState::new(
        store,
        Arc::new(exposures),
        metrics,
        Limits::from(serve),
        Duration::from_secs(serve.shutdown_timeout_secs),
    );
    abacus_serve::run(listener, state, crate::shutdown_signal())
        .await
        .context("abacus serve failed")
}

async fn reload_on_sighup(reload: Arc<Notify>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reloads happen on file change only");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading");
        reload.notify_one();
    }
}
