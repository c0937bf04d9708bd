//! `abacus produce`: publishes synthetic experiment traffic with known ground truth (the load
//! generator and test tool), then prints what it sent so ingest can be reconciled exactly.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use abacus_loadgen::{publish, Generator, Plan, PublishOptions, Truth};

use crate::config::Config;

/// The long description of `abacus produce --help`.
pub const LONG_ABOUT: &str =
    "Publish synthetic exposure and conversion events for the experiments of an \
experiments.toml to Kafka. Users are assigned with the assignment library, like a real producer; \
conversions follow known true effects; a share of events is resent (duplicates), malformed or \
sent late; with --history, users also have correlated events before their first exposure (for \
CUPED). Prints the ground truth (unique events, duplicates, malformed, late, exposed users per \
variant) so that `abacus ingest` can be reconciled exactly. The same --seed gives the same events.";

/// Flags of `abacus produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The experiments file whose experiments get traffic.
    #[arg(long, value_name = "FILE")]
    pub experiments: PathBuf,
    /// Users to simulate.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub users: u64,
    /// Number of the first simulated user (`user-<N>`): a later run with a higher number adds
    /// new users instead of repeating the first ones.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub first_user: u64,
    /// Stop after this many unique valid events (before duplicates and malformed ones).
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// True relative effect of a variant on an event's conversion rate, e.g.
    /// `checkout-redesign:treatment:purchase=+8%` (repeatable).
    #[arg(long, value_name = "EXP:VARIANT:EVENT=EFFECT")]
    pub effect: Vec<String>,
    /// Share of users with at least one event of this name, e.g. `purchase=0.05`
    /// (repeatable) [default for every event: 0.1].
    #[arg(long, value_name = "EVENT=RATE")]
    pub base_rate: Vec<String>,
    /// Simulate a producer bug: assign this experiment with these weights instead of the
    /// designed ones, e.g. `pricing=45,55` (repeatable).
    #[arg(long, value_name = "EXP=W1,W2,..")]
    pub assignment_bug: Vec<String>,
    /// Share of valid events sent twice with the same event_id.
    #[arg(long, default_value_t = 0.02, value_name = "SHARE")]
    pub duplicates: f64,
    /// Share (relative to valid events) of extra malformed messages.
    #[arg(long, default_value_t = 0.005, value_name = "SHARE")]
    pub malformed: f64,
    /// Share of valid events held back and sent at the end (late, old timestamps).
    #[arg(long, default_value_t = 0.01, value_name = "SHARE")]
    pub late: f64,
    /// Share of users with events in the 14 days before their first exposure, correlated with
    /// their outcome (a propensity shared before and after exposure), for CUPED; 0: no history.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub history: f64,
    /// Mean users per cluster for experiments randomized by a unit attribute
    /// (`unit = "company_id"`): users get `company_id-<n>` values, about this many per value.
    #[arg(long, default_value_t = 50.0, value_name = "USERS")]
    pub cluster_size: f64,
    /// Intra-cluster correlation of conversions within a cluster (0: users of a cluster are
    /// independent; 0.1: a cluster-randomized analysis needs about 1 + 49·0.1 ≈ 6× the
    /// variance of a user-level one for clusters of 50).
    #[arg(long, default_value_t = 0.0, value_name = "ICC")]
    pub cluster_icc: f64,
    /// Messages per second at most (0: as fast as the broker takes them).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub rate_limit: u64,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub partitions: i32,
    /// Print the ground truth as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn share(name: &str, value: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&value) {
        bail!("--{name} must be between 0 and 1, got {value}");
    }
    Ok(value)
}

/// Parses `+8%`, `-3%`, `0.08`.
fn parse_effect(text: &str) -> Result<f64> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (t, 1.0),
    };
    let value: f64 = number
        .trim_start_matches('+')
        .parse()
        .with_context(|| format!("`{text}` is not a number"))?;
    Ok(value * scale)
}

fn plan(args: &ProduceArgs) -> Result<Plan> {
    let mut effects = BTreeMap::new();
    for spec in &args.effect {
        let (target, value) = spec
            .split_once('=')
            .with_context(|| format!("--effect {spec}: expected EXP:VARIANT:EVENT=EFFECT"))?;
        let parts: Vec<&str> = target.split(':').collect();
        let [exp, variant, event] = parts.as_slice() else {
            bail!("--effect {spec}: expected EXP:VARIANT:EVENT=EFFECT");
        };
        let effect = parse_effect(value).with_context(|| format!("--effect {spec}"))?;
        if effect <= -1.0 {
            bail!("--effect {spec}: an effect must be above -100%");
        }
        effects.insert(
            (
                (*exp).to_owned(),
                (*variant).to_owned(),
                (*event).to_owned(),
            ),
            effect,
        );
    }
    let mut base_rates = BTreeMap::new();
    for spec in &args.base_rate {
        let (event, rate) = spec
            .split_once('=')
            .with_context(|| format!("--base-rate {spec}: expected EVENT=RATE"))?;
        let rate: f64 = rate
            .parse()
            .with_context(|| format!("--base-rate {spec}: not a number"))?;
        base_rates.insert(event.to_owned(), share("base-rate", rate)?);
    }
    let mut assignment_bugs = BTreeMap::new();
    for spec in &args.assignment_bug {
        let (exp, weights) = spec
            .split_once('=')
            .with_context(|| format!("--assignment-bug {spec}: expected EXP=W1,W2"))?;
        let weights = weights
            .split(',')
            .map(|w| w.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--assignment-bug {spec}: weights must be whole numbers"))?;
        assignment_bugs.insert(exp.to_owned(), weights);
    }
    Ok(Plan {
        seed: args.seed,
        users: args.users,
        first_user: args.first_user,
        max_events: args.events,
        base_rates,
        effects,
        assignment_bugs,
        duplicates: share("duplicates", args.duplicates)?,
        malformed: share("malformed", args.malformed)?,
        late: share("late", args.late)?,
        history: share("history", args.history)?,
        cluster_size: if args.cluster_size.is_finite() && args.cluster_size >= 1.0 {
            args.cluster_size
        } else {
            bail!(
                "--cluster-size must be at least 1, got {}",
                args.cluster_size
            )
        },
        cluster_icc: share("cluster-icc", args.cluster_icc)?,
    })
}

pub async fn run(args: ProduceArgs, config: &Config) -> Result<()> {
    let text = std::fs::read_to_string(&args.experiments)
        .with_context(|| format!("cannot read {}", args.experiments.display()))?;
    let defs = abacus_assign::parse(&text)
        .with_context(|| format!("invalid experiments file {}", args.experiments.display()))?;
    let plan = plan(&args)?;
    let topics = config.kafka.topics();
    let [topic] = topics.as_slice() else {
        bail!(
            "produce writes to exactly one topic; kafka.topic is {:?}",
            config.kafka.topic
        );
    };
    abacus_loadgen::publish::ensure_topic(&config.kafka, topic, args.partitions).await?;
    // Fail on bad --effect/--assignment-bug names before touching Kafka.
    Generator::new(&defs, plan.clone()).map_err(anyhow::Error::msg)?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} produced {pos} messages to {msg} ({per_sec}, {elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(topic.clone());
        bar
    };
    let options = PublishOptions {
        partitions: args.partitions,
        rate_limit: args.rate_limit,
    };
    let kafka = config.kafka.clone();
    let topic = topic.clone();
    let progress_bar = bar.clone();
    let truth = tokio::task::spawn_blocking(move || -> Result<Truth> {
        let generator = Generator::new(&defs, plan).map_err(anyhow::Error::msg)?;
        Ok(publish(&kafka, &topic, generator, &options, &|sent| {
            progress_bar.set_position(sent)
        })?)
    })
    .await
    .context("producer thread failed")??;
    bar.finish();
    print_truth(&truth, args.json)
}

fn print_truth(truth: &Truth, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(truth)?);
        return Ok(());
    }
    println!(
        "produced {} messages for {} users:",
        truth.messages, truth.users
    );
    println!("  unique valid events   {:>10}", truth.unique_events);
    println!("  duplicates (resent)   {:>10}", truth.duplicates);
    println!("  malformed             {:>10}", truth.malformed);
    println!("  late (sent at the end){:>10}", truth.late);
    for (exp, variants) in &truth.exposed_users {
        let split: Vec<String> = variants.iter().map(|(v, n)| format!("{v} {n}")).collect();
        println!("  exposed users  {exp}: {}", split.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_parse_in_percent_or_fraction() {
        assert!((parse_effect("+8%").unwrap() - 0.08).abs() < 1e-12);
        assert!((parse_effect("-3%").unwrap() + 0.03).abs() < 1e-12);
        assert!((parse_effect("0.1").unwrap() - 0.1).abs() < 1e-12);
        assert!(parse_effect("lots").is_err());
    }
}
