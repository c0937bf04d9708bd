//! Deterministic synthetic traffic for the experiments of an `experiments.toml`: users are put
//! into variants with the assignment library (as a real producer would), exposed once (some
//! twice) and then convert with known true effects. The same seed gives the same messages.
//!
//! Model, per user: an arrival time `t0`, uniform over the experiments' time span; an exposure
//! to every experiment running at `t0` whose assignment includes the user; then, for every
//! event name the experiments' metrics use, a conversion with probability
//! `base_rate × Π (1 + effect of the user's variant)` — so a variant's true relative lift on a
//! conversion rate is exactly its effect — followed by a geometric number of repeats. Events
//! happen within 14 days of `t0`; values are log-normal (heavy-tailed, like revenue).

use std::collections::BTreeMap;

use abacus_assign::{Definitions, Experiment};

use crate::history::{Profile, HISTORY_DAYS};
use crate::units;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Seed of every random choice.
    pub seed: u64,
    /// Users to simulate.
    pub users: u64,
    /// Index of the first user (`user-<index>`), so that a second run can add new users.
    pub first_user: u64,
    /// Stop after this many unique valid events (if set).
    pub max_events: Option<u64>,
    /// Share of users with at least one event of a name, by event name (default 0.1).
    pub base_rates: BTreeMap<String, f64>,
    /// True relative effects: (experiment, variant, event) → effect (0.08 = +8%).
    pub effects: BTreeMap<(String, String, String), f64>,
    /// Producer bugs: experiment → variant weights used instead of the designed ones.
    pub assignment_bugs: BTreeMap<String, Vec<u32>>,
    /// Share of valid events sent twice (same `event_id`).
    pub duplicates: f64,
    /// Share of extra malformed messages.
    pub malformed: f64,
    /// Share of valid events held back and sent at the end (late arrivals).
    pub late: f64,
    /// Share of users with events in the 14 days before their first exposure; above 0, every
    /// user also gets a propensity shared by their events before and after exposure (see
    /// [`crate::history`]). 0 (default): no history.
    pub history: f64,
    /// Mean users per cluster of a cluster-randomized experiment (`unit = "company_id"`).
    pub cluster_size: f64,
    /// Intra-cluster correlation of conversions within a cluster (0 = none).
    pub cluster_icc: f64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            seed: 1,
            users: 100_000,
            first_user: 0,
            max_events: None,
            base_rates: BTreeMap::new(),
            effects: BTreeMap::new(),
            assignment_bugs: BTreeMap::new(),
            duplicates: 0.02,
            malformed: 0.005,
            late: 0.01,
            history: 0.0,
            cluster_size: 50.0,
            cluster_icc: 0.0,
        }
    }
}

/// Default share of users who have an event of a given name.
pub const DEFAULT_BASE_RATE: f64 = 0.1;

/// One Kafka message to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Partitioning key (the user id; garbage for malformed messages).
    pub key: String,
    /// The JSON payload (or garbage).
    pub payload: Vec<u8>,
}

/// Ground truth of what was generated, for reconciliation.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Truth {
    /// Messages in total (all kinds).
    pub messages: u64,
    /// Distinct valid events (each `event_id` once).
    pub unique_events: u64,
    /// Valid events sent a second time.
    pub duplicates: u64,
    /// Malformed messages.
    pub malformed: u64,
    /// Valid events sent late (at the end, with old timestamps).
    pub late: u64,
    /// Exposures by experiment and variant (users, counting each user once).
    pub exposed_users: BTreeMap<String, BTreeMap<String, u64>>,
    /// Users simulated.
    pub users: u64,
}

const REGIONS: [&str; 4] = ["eu", "us", "apac", "latam"];
const DEVICES: [&str; 3] = ["ios", "android", "web"];
const PLANS: [&str; 3] = ["free", "pro", "team"];
const HORIZON_DAYS: i64 = 14;

/// The generator: call [`Generator::next_user`] until it returns `None`, then
/// [`Generator::finish`] for held-back messages.
pub struct Generator<'a> {
    plan: Plan,
    experiments: Vec<&'a Experiment>,
    events: Vec<String>,
    revenue_events: Vec<String>,
    span: (DateTime<Utc>, DateTime<Utc>),
    rng: StdRng,
    user: u64,
    held_back: Vec<Message>,
    truth: Truth,
    /// Unit attributes of the experiments (`unit = …`), with whether they are switchback units.
    unit_keys: Vec<(String, bool)>,
    /// Events the cluster frailty acts on ([`units::cluster_events`]).
    cluster_events: std::collections::BTreeSet<String>,
}

impl std::fmt::Debug for Generator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("user", &self.user)
            .field("truth", &self.truth)
            .finish()
    }
}

impl<'a> Generator<'a> {
    /// Prepares a run over the experiments of `defs`.
    pub fn new(defs: &'a Definitions, plan: Plan) -> Result<Self, String> {
        let experiments: Vec<&Experiment> = defs.experiments.iter().collect();
        if experiments.is_empty() {
            return Err("the experiments file defines no experiment".into());
        }
        for (exp, weights) in &plan.assignment_bugs {
            let e = experiments
                .iter()
                .find(|e| &e.id == exp)
                .ok_or_else(|| format!("--assignment-bug names unknown experiment {exp:?}"))?;
            if weights.len() != e.variants.len() || weights.iter().all(|w| *w == 0) {
                return Err(format!(
                    "--assignment-bug for {exp:?} needs {} positive weights",
                    e.variants.len()
                ));
            }
        }
        for (exp, variant, _) in plan.effects.keys() {
            let e = experiments
                .iter()
                .find(|e| &e.id == exp)
                .ok_or_else(|| format!("--effect names unknown experiment {exp:?}"))?;
            if e.variant(variant).is_none() {
                return Err(format!(
                    "--effect names unknown variant {variant:?} of {exp:?}"
                ));
            }
        }
        let mut events: Vec<String> = experiments
            .iter()
            .flat_map(|e| {
                e.metrics
                    .iter()
                    .flat_map(|m| std::iter::once(m.event.clone()).chain(m.denominator.clone()))
            })
            .collect();
        events.sort();
        events.dedup();
        let revenue_events = experiments
            .iter()
            .flat_map(|e| e.metrics.iter())
            .filter(|m| {
                matches!(
                    m.kind,
                    abacus_assign::MetricKind::Revenue | abacus_assign::MetricKind::Ratio
                )
            })
            .map(|m| m.event.clone())
            .collect();
        let start = experiments
            .iter()
            .map(|e| e.start)
            .min()
            .unwrap_or_else(Utc::now);
        let end = experiments
            .iter()
            .map(|e| e.end.unwrap_or(e.start + Duration::days(HORIZON_DAYS)))
            .max()
            .unwrap_or(start + Duration::days(HORIZON_DAYS));
        let unit_keys = units::unit_keys(&experiments);
        let cluster_events = units::cluster_events(&experiments);
        Ok(Self {
            rng: StdRng::seed_from_u64(plan.seed),
            plan,
            experiments,
            events,
            revenue_events,
            span: (start, end),
            user: 0,
            held_back: Vec::new(),
            truth: Truth::default(),
            unit_keys,
            cluster_events,
        })
    }

    /// The messages of the next user (in send order), or `None` when done.
    pub fn next_user(&mut self) -> Option<Vec<Message>> {
        if self.user >= self.plan.users
            || self
                .plan
                .max_events
                .is_some_and(|m| self.truth.unique_events >= m)
        {
            return None;
        }
        let index = self.plan.first_user + self.user;
        self.user += 1;
        self.truth.users += 1;
        let user_id = format!("user-{:08}", index);
        let (start, end) = self.span;
        let span_ms = (end - start).num_milliseconds().max(1);
        let t0 = start + Duration::milliseconds(self.rng.random_range(0..span_ms));
        let region = REGIONS[self.rng.random_range(0..REGIONS.len())];
        let device = DEVICES[self.rng.random_range(0..DEVICES.len())];
        let plan_name = PLANS[self.rng.random_range(0..PLANS.len())];
        let unit_values = units::values(
            &self.unit_keys,
            self.plan.seed,
            index,
            self.plan.cluster_size,
        );
        let unit_metadata = units::metadata(&unit_values);

        let mut out = Vec::new();
        let mut seq = 0u32;
        let mut multiplier: BTreeMap<String, f64> = BTreeMap::new();
        for exp in self.experiments.clone() {
            if !exp.is_running(t0) {
                continue;
            }
            let key = match &exp.unit {
                Some(unit) => match unit_values.iter().find(|(k, _)| k == unit) {
                    Some((_, v)) => v.clone(),
                    None => continue,
                },
                None => user_id.clone(),
            };
            let variant = if exp.design == abacus_assign::Design::Switchback {
                let Some(v) = exp
                    .window_index(t0)
                    .and_then(|w| exp.switchback_variant(&key, w))
                else {
                    continue;
                };
                v.name.clone()
            } else {
                let Some(v) = self.variant_of(exp, &key) else {
                    continue;
                };
                v
            };
            *self
                .truth
                .exposed_users
                .entry(exp.id.clone())
                .or_default()
                .entry(variant.clone())
                .or_default() += 1;
            for event in &self.events {
                if let Some(effect) =
                    self.plan
                        .effects
                        .get(&(exp.id.clone(), variant.clone(), event.clone()))
                {
                    *multiplier.entry(event.clone()).or_insert(1.0) *= 1.0 + effect;
                }
            }
            let exposures = if self.rng.random_bool(0.3) { 2 } else { 1 };
            for n in 0..exposures {
                // A switchback exposure stays in its window (the variant changes with it).
                let later = if exp.design == abacus_assign::Design::Switchback {
                    let wanted = Duration::seconds(i64::from(n) * self.rng.random_range(1..60));
                    // Not past the window's last millisecond: the next one may be another variant.
                    let window = exp.window_ms().max(1);
                    let since = (t0 - exp.start).num_milliseconds().rem_euclid(window);
                    wanted.min(Duration::milliseconds(window - since - 1))
                } else {
                    Duration::minutes(i64::from(n) * self.rng.random_range(1..600))
                };
                let at = t0 + later;
                let payload = format!(
                    r#"{{"event_id":"{seed}-{index}-{seq}","event_type":"exposure","experiment_id":"{exp}","variant":"{variant}","user_id":"{user_id}","timestamp":"{ts}","metadata":{{"region":"{region}","device":"{device}","plan":"{plan_name}"{unit_metadata}}}}}"#,
                    seed = self.plan.seed,
                    exp = exp.id,
                    ts = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                );
                seq += 1;
                out.push(payload);
            }
        }
        if out.is_empty() {
            return Some(Vec::new());
        }
        // Only with history: nothing is drawn otherwise, so old seeds give the same messages.
        let profile =
            (self.plan.history > 0.0).then(|| Profile::draw(&mut self.rng, self.plan.history));
        let who = Who {
            index,
            user_id: &user_id,
            region,
            device,
            profile,
            units: &unit_metadata,
        };
        let cluster = self
            .unit_keys
            .iter()
            .zip(&unit_values)
            .find(|((_, switchback), _)| !switchback)
            .map(|(_, (_, v))| v.clone());
        for event in self.events.clone() {
            let base = self
                .plan
                .base_rates
                .get(&event)
                .copied()
                .unwrap_or(DEFAULT_BASE_RATE)
                * profile.map_or(1.0, |p| p.propensity);
            if profile.is_some_and(|p| p.has_history) {
                // Before the first exposure: the same propensity, no effect of any variant.
                let from = t0 - Duration::days(HISTORY_DAYS);
                self.conversions(&mut out, &mut seq, &who, &event, base, from);
            }
            let frailty = match cluster.as_deref() {
                Some(c) if self.cluster_events.contains(&event) => {
                    units::frailty(self.plan.seed, c, self.plan.cluster_icc, base)
                }
                _ => 1.0,
            };
            let p = base * frailty * multiplier.get(&event).copied().unwrap_or(1.0);
            self.conversions(&mut out, &mut seq, &who, &event, p, t0);
        }
        Some(self.wrap(out, &user_id))
    }

    /// With probability `p`, a geometric number of `event`s at random times in the
    /// `HORIZON_DAYS` after `from`, appended to `out`.
    fn conversions(
        &mut self,
        out: &mut Vec<String>,
        seq: &mut u32,
        who: &Who<'_>,
        event: &str,
        p: f64,
        from: DateTime<Utc>,
    ) {
        if !self.rng.random_bool(p.clamp(0.0, 1.0)) {
            return;
        }
        let mut count = 1;
        while count < 20 && self.rng.random_bool(0.35) {
            count += 1;
        }
        for _ in 0..count {
            let at =
                from + Duration::milliseconds(self.rng.random_range(1..HORIZON_DAYS * 86_400_000));
            let value = if self.revenue_events.iter().any(|e| e == event) {
                // log-normal: median e^3 ≈ 20, heavy right tail (correlated within a user
                // when users have a profile)
                let z: f64 = match &who.profile {
                    Some(profile) => profile.value_z(&mut self.rng),
                    None => standard_normal(&mut self.rng),
                };
                format!(r#","event_value":{:.2}"#, (3.0 + 1.2 * z).exp())
            } else {
                String::new()
            };
            let payload = format!(
                r#"{{"event_id":"{seed}-{index}-{seq}","event_type":"conversion","event_name":"{event}","user_id":"{user_id}","timestamp":{ms}{value},"metadata":{{"region":"{region}","device":"{device}"{units}}}}}"#,
                seed = self.plan.seed,
                index = who.index,
                user_id = who.user_id,
                region = who.region,
                device = who.device,
                units = who.units,
                ms = at.timestamp_millis(),
            );
            *seq += 1;
            out.push(payload);
        }
    }

    /// Applies duplicates, lateness and malformed messages to one user's events.
    fn wrap(&mut self, payloads: Vec<String>, user_id: &str) -> Vec<Message> {
        let mut messages = Vec::with_capacity(payloads.len() + 2);
        for payload in payloads {
            self.truth.unique_events += 1;
            let message = Message {
                key: user_id.to_owned(),
                payload: payload.into_bytes(),
            };
            if self.rng.random_bool(self.plan.duplicates) {
                self.truth.duplicates += 1;
                // Half of the resends follow at once, half much later.
                if self.rng.random_bool(0.5) {
                    messages.push(message.clone());
                } else {
                    self.held_back.push(message.clone());
                }
            }
            if self.rng.random_bool(self.plan.late) {
                self.truth.late += 1;
                self.held_back.push(message);
            } else {
                messages.push(message);
            }
            if self.rng.random_bool(self.plan.malformed) {
                self.truth.malformed += 1;
                messages.push(self.malformed_message(user_id));
            }
        }
        self.truth.messages += messages.len() as u64;
        messages
    }

    fn malformed_message(&mut self, user_id: &str) -> Message {
        let n = self.truth.malformed;
        let payload: Vec<u8> = match self.rng.random_range(0..6) {
            0 => format!(r#"{{"event_id":"bad-{n}","event_type":"conversion","user_id":"{user_id}""#).into_bytes(),
            1 => format!(r#"{{"event_id":"bad-{n}","event_type":"exposure","user_id":"{user_id}","timestamp":1}}"#).into_bytes(),
            2 => format!(r#"{{"event_id":{n},"event_type":"conversion","event_name":"purchase","user_id":"{user_id}","timestamp":1}}"#).into_bytes(),
            3 => format!(r#"{{"event_id":"bad-{n}","event_type":"conversion","event_name":"purchase","user_id":"{user_id}","timestamp":"yesterday"}}"#).into_bytes(),
            4 => vec![0xff, 0xfe, 0xfd, b'{', 0x00],
            _ => Vec::new(),
        };
        Message {
            key: user_id.to_owned(),
            payload,
        }
    }

    /// The variant the producer puts the user in: the library's assignment, unless the plan
    /// simulates an assignment bug for this experiment.
    fn variant_of(&self, exp: &Experiment, user_id: &str) -> Option<String> {
        let assignment = exp.assignment(user_id);
        assignment.variant?;
        match self.plan.assignment_bugs.get(&exp.id) {
            None => assignment.variant.map(|v| v.name.clone()),
            Some(weights) => {
                let total: u32 = weights.iter().sum();
                let point = u64::from(assignment.variant_bucket) * u64::from(total)
                    / u64::from(abacus_assign::BUCKETS);
                let mut acc = 0u64;
                for (variant, w) in exp.variants.iter().zip(weights) {
                    acc += u64::from(*w);
                    if point < acc {
                        return Some(variant.name.clone());
                    }
                }
                exp.variants.last().map(|v| v.name.clone())
            }
        }
    }

    /// Held-back messages (late events and late resends), in a shuffled order.
    pub fn finish(&mut self) -> Vec<Message> {
        let mut rest = std::mem::take(&mut self.held_back);
        for i in (1..rest.len()).rev() {
            let j = self.rng.random_range(0..=i);
            rest.swap(i, j);
        }
        self.truth.messages += rest.len() as u64;
        rest
    }

    /// What was generated so far.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }
}

/// The user whose events are being generated.
struct Who<'a> {
    index: u64,
    user_id: &'a str,
    region: &'a str,
    device: &'a str,
    profile: Option<Profile>,
    /// `,"company_id":"…"` for the user's unit values.
    units: &'a str,
}

/// A standard normal draw (Box–Muller).
pub(crate) fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
