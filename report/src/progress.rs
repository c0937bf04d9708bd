//! How far an experiment is: toward its planned sample when the definition has a plan
//! (`plan = { users = N }`, or a baseline, MDE and power the planned users are derived from,
//! see `assign/README.md`), else toward its planned end date. The list page, the experiment
//! page, the decision's "keep running" reason and the JSON (`planned_users`) use the same
//! numbers.

use abacus_assign::Experiment;

use crate::Report;

/// How far an experiment is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// Users analysed against the planned users of the whole experiment.
    Sample {
        /// Users analysed by the run (all variants).
        users: u64,
        /// Planned users (all variants).
        planned: u64,
    },
    /// Share of the planned duration (start to end) reached at the analysis time.
    Duration(f64),
}

impl Progress {
    /// The share reached, from 0 (may exceed 1 for a sample past its plan).
    pub fn share(&self) -> f64 {
        match *self {
            Progress::Sample { users, planned } => users as f64 / planned.max(1) as f64,
            Progress::Duration(share) => share,
        }
    }

    /// Whether the plan is reached.
    pub fn done(&self) -> bool {
        self.share() >= 1.0
    }

    /// `45% of the planned sample (18,000 of 40,000 users)` or `45% of the planned duration`.
    pub fn text(&self) -> String {
        match *self {
            Progress::Sample { users, planned } => format!(
                "{:.0}% of the planned sample ({} of {} users)",
                self.share() * 100.0,
                thousands(users),
                thousands(planned)
            ),
            Progress::Duration(share) => {
                format!("{:.0}% of the planned duration", share * 100.0)
            }
        }
    }

    /// `sample` or `duration`.
    pub fn kind(&self) -> &'static str {
        match self {
            Progress::Sample { .. } => "sample",
            Progress::Duration(_) => "duration",
        }
    }
}

/// `40000` as `40,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Planned users of the whole experiment (all variants): the plan's `users`, or, from its
/// baseline, MDE and power, the users the aggregator plans for each control/treatment pair
/// ([`abacus_aggregator::engine::planned_pair_users`], the pooled z-test) scaled to every
/// variant by the weights, the largest over the treatments. `None` without a usable plan.
pub fn planned_users(e: &Experiment) -> Option<u64> {
    let plan = e.plan?;
    if let Some(users) = plan.users {
        return Some(users);
    }
    let total: f64 = e.variants.iter().map(|v| f64::from(v.weight)).sum();
    let control = f64::from(e.variant(&e.control)?.weight);
    e.variants
        .iter()
        .filter(|v| v.name != e.control)
        .filter_map(|v| {
            let pair = abacus_aggregator::engine::planned_pair_users(e, &v.name).ok()??;
            let share = (control + f64::from(v.weight)) / total;
            (share > 0.0).then(|| (pair as f64 / share).ceil() as u64)
        })
        .max()
}

/// Progress of a run: toward the planned sample when the definition has a plan, else toward
/// its planned end; `None` with neither.
pub fn progress(r: &Report) -> Option<Progress> {
    let def = r.definition.as_ref()?;
    if let Some(planned) = planned_users(def) {
        return Some(Progress::Sample {
            users: r.run.users,
            planned,
        });
    }
    let end = def.end?;
    let planned = end.signed_duration_since(def.start).num_seconds();
    if planned <= 0 {
        return None;
    }
    let elapsed = r.as_of().signed_duration_since(def.start).num_seconds();
    Some(Progress::Duration(
        (elapsed as f64 / planned as f64).clamp(0.0, 1.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn experiment(plan: &str) -> Experiment {
        let text = format!(
            "[[experiment]]\nid = \"e\"\nname = \"E\"\ncontrol = \"a\"\nstart = \"2026-11-01T00:00:00Z\"\n{plan}\n\
             [[experiment.variant]]\nname = \"a\"\nweight = 1\n[[experiment.variant]]\nname = \"b\"\nweight = 1\n\
             [[experiment.variant]]\nname = \"c\"\nweight = 2\n\
             [[experiment.metric]]\nname = \"m\"\nkind = \"conversion\"\nevent = \"purchase\"\nprimary = true\n"
        );
        abacus_assign::parse(&text).unwrap().experiments.remove(0)
    }

    #[test]
    fn planned_users_come_from_the_plan_or_its_power_settings() {
        assert_eq!(planned_users(&experiment("")), None);
        assert_eq!(
            planned_users(&experiment("plan = { users = 40000 }")),
            Some(40_000)
        );
        // a/c (1:2) needs more users than a/b (1:1); the pair a/c is 3/4 of the traffic.
        let e = experiment("plan = { baseline = 0.05, mde = 0.1 }");
        let pair_c = abacus_aggregator::engine::planned_pair_users(&e, "c")
            .unwrap()
            .unwrap();
        let pair_b = abacus_aggregator::engine::planned_pair_users(&e, "b")
            .unwrap()
            .unwrap();
        let expected = ((pair_c as f64 / 0.75).ceil() as u64).max(pair_b * 2);
        assert_eq!(planned_users(&e), Some(expected));
    }

    #[test]
    fn sample_progress_reads_like_the_page() {
        let mut r = fixtures::report();
        r.definition = Some(experiment("plan = { users = 4000 }"));
        let p = progress(&r).unwrap();
        assert_eq!(
            p,
            Progress::Sample {
                users: 1000,
                planned: 4000
            }
        );
        assert_eq!(p.text(), "25% of the planned sample (1,000 of 4,000 users)");
        assert!(!p.done());
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
