//! Comparing a validated experiments file with the registry ([`plan`]) and storing the
//! difference as new versions ([`apply`]).
//!
//! Experiments stored earlier but absent from the file are left as they are (the registry
//! keeps every definition ever applied); the plan lists them in [`Plan::not_in_file`].

use std::collections::BTreeMap;

use abacus_assign::{Definitions, Experiment, BUCKETS};
use abacus_schema::{ClickHouse, SchemaError};

use crate::store::{canonical_json, checksum, current, ExperimentRow, StoredExperiment};
use crate::RegistryError;

/// What applying the file does to one experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Not stored yet: becomes version 1.
    New,
    /// Differs from the stored current version `from`: becomes version `from + 1`.
    Changed {
        /// The current stored version.
        from: u32,
    },
    /// Identical to the stored current version.
    Unchanged {
        /// The current stored version.
        version: u32,
    },
}

/// One experiment of the file and what applying it does.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The validated definition from the file.
    pub experiment: Experiment,
    /// New, changed or unchanged.
    pub action: Action,
    /// Top-level fields that differ from the stored version (empty unless changed).
    pub changed_fields: Vec<String>,
    /// How users already assigned by the stored version would move (empty when none would).
    pub moves: Vec<String>,
    /// Canonical JSON to store.
    pub json: String,
    /// Its SHA-256.
    pub checksum: String,
}

impl Change {
    /// The version this change stores, if it stores one.
    pub fn new_version(&self) -> Option<u32> {
        match self.action {
            Action::New => Some(1),
            Action::Changed { from } => Some(from + 1),
            Action::Unchanged { .. } => None,
        }
    }
}

/// What applying a file would do.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// One entry per experiment of the file, in file order.
    pub changes: Vec<Change>,
    /// Ids stored in the registry but absent from the file (left untouched).
    pub not_in_file: Vec<String>,
}

impl Plan {
    /// Whether applying would store anything.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(|c| c.new_version().is_none())
    }
}

/// Compares `definitions` with the current versions in the registry.
pub async fn plan(ch: &ClickHouse, definitions: &Definitions) -> Result<Plan, RegistryError> {
    let stored: BTreeMap<String, StoredExperiment> = current(ch)
        .await?
        .into_iter()
        .map(|s| (s.experiment.id.clone(), s))
        .collect();
    let mut changes = Vec::new();
    for e in &definitions.experiments {
        let json = canonical_json(e)?;
        let sum = checksum(&json);
        let (action, changed_fields, moves) = match stored.get(&e.id) {
            None => (Action::New, Vec::new(), Vec::new()),
            Some(s) if s.checksum == sum => (
                Action::Unchanged { version: s.version },
                Vec::new(),
                Vec::new(),
            ),
            Some(s) => (
                Action::Changed { from: s.version },
                changed_fields(&s.experiment, e)?,
                moves(&s.experiment, e),
            ),
        };
        changes.push(Change {
            experiment: e.clone(),
            action,
            changed_fields,
            moves,
            json,
            checksum: sum,
        });
    }
    let in_file: std::collections::HashSet<&str> = definitions
        .experiments
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    let not_in_file = stored
        .keys()
        .filter(|id| !in_file.contains(id.as_str()))
        .cloned()
        .collect();
    Ok(Plan {
        changes,
        not_in_file,
    })
}

/// Stores every new and changed experiment of `plan` as a new version, in one INSERT, and
/// returns the `(id, version)` pairs stored. Nothing is written when the plan is a no-op.
///
/// The rows go as RowBinary (no SQL text to parse, whatever the size of the file; ClickHouse
/// 18.16's VALUES parser failed on a 50 MB statement) with the time set here, and in one block
/// (`max_insert_block_size` above the row count), so either every version is stored or none.
pub async fn apply(ch: &ClickHouse, plan: &Plan) -> Result<Vec<(String, u32)>, RegistryError> {
    let stored: Vec<(&Change, u32)> = plan
        .changes
        .iter()
        .filter_map(|c| c.new_version().map(|v| (c, v)))
        .collect();
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let applied_at = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX);
    let failed = |e: clickhouse::error::Error| -> RegistryError {
        SchemaError::query("store experiment definitions", &e).into()
    };
    let block = (stored.len() + 1).max(1_048_576).to_string();
    let mut insert = ch
        .client()
        .insert::<ExperimentRow>("experiments")
        .await
        .map_err(failed)?
        .with_setting("max_insert_block_size", block);
    for (c, version) in &stored {
        let row = ExperimentRow {
            experiment_id: c.experiment.id.clone(),
            version: *version,
            applied_at,
            checksum: c.checksum.clone(),
            definition: c.json.clone(),
        };
        insert.write(&row).await.map_err(failed)?;
    }
    insert.end().await.map_err(failed)?;
    let out: Vec<(String, u32)> = stored
        .iter()
        .map(|(c, v)| (c.experiment.id.clone(), *v))
        .collect();
    for (id, version) in &out {
        tracing::info!(experiment = %id, version, database = ch.database(), "experiment definition stored");
    }
    Ok(out)
}

/// Top-level JSON fields that differ, in alphabetical order.
fn changed_fields(old: &Experiment, new: &Experiment) -> Result<Vec<String>, RegistryError> {
    let value = |e: &Experiment| {
        serde_json::to_value(e).map_err(|err| RegistryError::Encode {
            id: e.id.clone(),
            message: err.to_string(),
        })
    };
    let (old, new) = (value(old)?, value(new)?);
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return Ok(Vec::new());
    };
    Ok(new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect())
}

/// How users assigned by `old` would move under `new`, one sentence per effect.
pub fn moves(old: &Experiment, new: &Experiment) -> Vec<String> {
    if old.namespace != new.namespace {
        return vec![format!(
            "namespace changes from \"{}\" to \"{}\": every user is assigned anew",
            old.namespace, new.namespace
        )];
    }
    let mut out = Vec::new();
    let leaving = (old.buckets.start..old.buckets.end)
        .filter(|b| !new.buckets.contains(*b))
        .count();
    if leaving > 0 {
        out.push(format!(
            "slice {} becomes {}: users in {leaving} of its {} buckets leave the experiment",
            old.buckets,
            new.buckets,
            old.buckets.len()
        ));
    }
    let name = |e: &Experiment, b: u32| e.variant_at(b).map(|v| v.name.clone());
    let switched = (0..BUCKETS)
        .filter(|b| name(old, *b) != name(new, *b))
        .count();
    if switched > 0 {
        out.push(format!(
            "variant ranges change: {:.2} % of its users switch variant",
            100.0 * switched as f64 / f64::from(BUCKETS)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Definitions {
        abacus_assign::parse(include_str!("../../examples/experiments.toml")).expect("valid")
    }

    #[test]
    fn raising_traffic_moves_no_one_and_reweighting_is_reported() {
        let old = example().experiments[0].clone();
        let mut wider = old.clone();
        wider.buckets.end = 6000;
        assert!(moves(&old, &wider).is_empty());
        let mut narrower = old.clone();
        narrower.buckets.end = 4000;
        assert_eq!(
            moves(&old, &narrower),
            ["slice [0, 5000) becomes [0, 4000): users in 1000 of its 5000 buckets leave the experiment"]
        );
        let mut reweighted = old.clone();
        reweighted.variants[0].buckets.end = 9000;
        reweighted.variants[1].buckets.start = 9000;
        assert_eq!(
            moves(&old, &reweighted),
            ["variant ranges change: 40.00 % of its users switch variant"]
        );
    }

    #[test]
    fn changed_fields_are_top_level_keys() {
        let old = example().experiments[0].clone();
        let mut new = old.clone();
        new.traffic = 0.6;
        new.buckets.end = 6000;
        assert_eq!(changed_fields(&old, &new).unwrap(), ["buckets", "traffic"]);
    }
}
