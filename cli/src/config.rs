//! Loads the effective configuration: defaults, then `abacus.toml`, then `ABACUS_*`
//! environment variables, then command-line flags (each layer overrides the one before).
//!
//! Environment variables are named `ABACUS_<SECTION>_<KEY>` in upper case, e.g.
//! `ABACUS_CLICKHOUSE_URL`. librdkafka settings in `[kafka.client]` are set with
//! `ABACUS_KAFKA_CLIENT_<PROPERTY>`, dots written as `_` (`ABACUS_KAFKA_CLIENT_SASL_PASSWORD`
//! sets `sasl.password`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use toml::Value;

use abacus_aggregator::AggregateConfig;
use abacus_dashboard::DashboardConfig;
use abacus_ingest::{IngestConfig, KafkaConfig};
use abacus_schema::redact::{is_secret_key, redact_url, REDACTED};
use abacus_schema::ClickHouseConfig;
use abacus_serve::ServeConfig;

/// Name of the config file looked up in the working directory when none is given.
pub const DEFAULT_FILE: &str = "abacus.toml";

/// Environment variables with the `ABACUS_` prefix that are not config keys.
const NON_CONFIG_VARS: &[&str] = &["ABACUS_CONFIG", "ABACUS_LOG_FORMAT"];

/// Everything `abacus` can be configured with (one section per component).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// ClickHouse connection.
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    /// Kafka connection, topics and consumer group.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// Ingest batching, limits, dedupe and retries.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Aggregation passes: watermark overlap, SRM threshold, sequential test.
    #[serde(default)]
    pub aggregate: AggregateConfig,
    /// The dashboard: listen address, refresh period, optional token or basic auth.
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// `abacus serve`: source, listen address, limits, API keys, exposure logging.
    #[serde(default)]
    pub serve: ServeConfig,
}

/// Where the configuration came from, for `config show` and logs.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Environment variables that set a value.
    pub env_applied: Vec<String>,
    /// `ABACUS_*` variables that match no setting (reported as warnings).
    pub env_unknown: Vec<String>,
}

/// Loads the configuration. `file` is the `--config` path (or `ABACUS_CONFIG`); without it,
/// `./abacus.toml` is read when it exists. `env` is the process environment; `flags` are
/// `(section.key, value)` pairs from the command line.
pub fn load(
    file: Option<&Path>,
    env: &BTreeMap<String, String>,
    flags: &[(&str, String)],
) -> Result<Loaded> {
    let mut merged = Value::try_from(Config::default()).context("failed to serialize defaults")?;
    let defaults = merged.clone();

    let path = match file {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()),
    };
    if let Some(path) = &path {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read config file {}", path.display()))?;
        // Parse once into the typed struct for precise errors (unknown keys, wrong types, line).
        toml::from_str::<Config>(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        let value: Value = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        merge(&mut merged, value);
    }

    let (env_value, env_applied, env_unknown) = env_layer(&defaults, env)?;
    merge(&mut merged, env_value);

    for (key, value) in flags {
        let (section, field) = key
            .split_once('.')
            .context("flag key must be section.key")?;
        let typed = parse_like(&defaults[section][field], value)
            .with_context(|| format!("invalid value for --{}", field.replace('_', "-")))?;
        merge(&mut merged, table([(section, table([(field, typed)]))]));
    }

    let config: Config = merged
        .try_into()
        .context("invalid configuration after applying environment and flags")?;
    Ok(Loaded {
        config,
        file: path,
        env_applied,
        env_unknown,
    })
}

/// Builds the layer of `ABACUS_<SECTION>_<KEY>` overrides, typed like the defaults.
fn env_layer(
    defaults: &Value,
    env: &BTreeMap<String, String>,
) -> Result<(Value, Vec<String>, Vec<String>)> {
    let mut layer = Value::Table(Default::default());
    let mut applied = Vec::new();
    let mut known = Vec::new();
    let sections = defaults.as_table().context("defaults are a table")?;
    for (section, fields) in sections {
        let Some(fields) = fields.as_table() else {
            continue;
        };
        for (field, default) in fields {
            if default.is_table() {
                // Pass-through map such as [kafka.client]: every variable under the prefix.
                let prefix = format!(
                    "ABACUS_{}_{}_",
                    section.to_uppercase(),
                    field.to_uppercase()
                );
                for (name, value) in env.range(prefix.clone()..) {
                    let Some(property) = name.strip_prefix(&prefix) else {
                        break;
                    };
                    let property = property.to_lowercase().replace('_', ".");
                    let entry = table([(
                        field.as_str(),
                        table([(property.as_str(), Value::String(value.clone()))]),
                    )]);
                    merge(&mut layer, table([(section.as_str(), entry)]));
                    applied.push(name.clone());
                    known.push(name.clone());
                }
                continue;
            }
            let name = format!("ABACUS_{}_{}", section.to_uppercase(), field.to_uppercase());
            known.push(name.clone());
            if let Some(value) = env.get(&name) {
                let typed = parse_like(default, value)
                    .with_context(|| format!("invalid value in {name}"))?;
                merge(
                    &mut layer,
                    table([(section.as_str(), table([(field.as_str(), typed)]))]),
                );
                applied.push(name);
            }
        }
    }
    let unknown = env
        .keys()
        .filter(|k| k.starts_with("ABACUS_") && !k.starts_with("ABACUS_STACK_"))
        .filter(|k| !known.contains(k) && !NON_CONFIG_VARS.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok((layer, applied, unknown))
}

/// Parses `text` into a value of the same TOML type as `like`.
fn parse_like(like: &Value, text: &str) -> Result<Value> {
    Ok(match like {
        Value::String(_) => Value::String(text.to_owned()),
        Value::Integer(_) => Value::Integer(
            text.trim()
                .parse()
                .with_context(|| format!("`{text}` is not an integer"))?,
        ),
        Value::Float(_) => Value::Float(
            text.trim()
                .parse()
                .with_context(|| format!("`{text}` is not a number"))?,
        ),
        Value::Boolean(_) => Value::Boolean(match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => bail!("`{text}` is not a boolean (true or false)"),
        }),
        Value::Array(_) => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        other => bail!("cannot be set from text (a {} setting)", other.type_str()),
    })
}

fn table<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Table(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// Deep-merges `over` into `base` (tables merge key by key, anything else replaces).
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Table(base), Value::Table(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// The configuration as TOML with secrets replaced by `<redacted>`.
pub fn redacted_toml(config: &Config) -> Result<String> {
    let mut config = config.clone();
    if !config.clickhouse.password.is_empty() {
        config.clickhouse.password = REDACTED.into();
    }
    config.clickhouse.url = redact_url(&config.clickhouse.url);
    for secret in [
        &mut config.dashboard.token,
        &mut config.dashboard.basic_password,
    ] {
        if !secret.is_empty() {
            *secret = "<redacted>".into();
        }
    }
    for key in config.serve.api_keys.iter_mut() {
        *key = REDACTED.into();
    }
    for (key, value) in config.kafka.client.iter_mut() {
        if is_secret_key(key) {
            *value = REDACTED.into();
        }
    }
    toml::to_string_pretty(&config).context("failed to render configuration")
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
