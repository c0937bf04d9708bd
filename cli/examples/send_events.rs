//! How a Rust service sends experiment events to Abacus: assign the user with the assignment
//! library (the same hashing `abacus assign` and the aggregator's definitions use), publish an
//! `exposure` when the user sees the variant and a `conversion` when they act, keyed by user id.
//!
//! Run against the local stack (`deploy/local/stack up`):
//!
//! ```sh
//! cargo run -p abacus --example send_events -- user-42
//! ```
//!
//! Broker and topic come from `ABACUS_KAFKA_BROKERS` / `ABACUS_KAFKA_TOPIC` (defaults
//! `127.0.0.1:9092` / `abacus-events`).

use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<()> {
    let user_id = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "user-42".to_owned());
    let brokers =
        std::env::var("ABACUS_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let topic = std::env::var("ABACUS_KAFKA_TOPIC").unwrap_or_else(|_| "abacus-events".to_owned());

    // The definitions your service ships with (or loads at startup).
    let defs = abacus_assign::parse(include_str!("../../examples/experiments.toml"))
        .context("invalid experiments.toml")?;
    let experiment = defs
        .experiments
        .iter()
        .find(|e| e.id == "checkout-redesign")
        .context("checkout-redesign is not defined")?;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        // Durable and ordered per partition; resends keep their event_id, so they are deduped.
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .create()
        .context("cannot create the Kafka producer")?;

    let now_ms = chrono::Utc::now().timestamp_millis();
    let Some(variant) = experiment.assign(&user_id) else {
        println!(
            "{user_id} is not in {} (outside its traffic share)",
            experiment.id
        );
        return Ok(());
    };
    // Render the variant, then log the exposure. The event_id must be stable for this exposure
    // (a retry sends the same id): here one exposure per user, session and experiment.
    let exposure = json!({
        "event_id": format!("exp-{}-{user_id}-session-1", experiment.id),
        "event_type": "exposure",
        "experiment_id": experiment.id,
        "variant": variant.name,
        "user_id": user_id,
        "timestamp": now_ms,
        "metadata": {"region": "eu", "device": "web"},
    });
    // Later, the user buys: an untagged conversion counts for every experiment the user was
    // exposed to before it. Use the business id (order id) as the event_id.
    let purchase = json!({
        "event_id": "order-10001",
        "event_type": "conversion",
        "event_name": "purchase",
        "event_value": 49.90,
        "user_id": user_id,
        "timestamp": now_ms + 60_000,
    });
    for event in [exposure, purchase] {
        let payload = event.to_string();
        producer
            .send(
                FutureRecord::to(&topic).key(&user_id).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(err, _)| err)
            .with_context(|| format!("cannot publish to {topic} at {brokers}"))?;
        println!("sent {payload}");
    }
    Ok(())
}
