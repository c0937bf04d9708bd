use super::*;

const DEFS: &str = r#"
[[experiment]]
id = "checkout"
name = "c"
hypothesis = "h"
control = "control"
start = "2026-01-01T00:00:00Z"
end = "2026-02-01T00:00:00Z"
  [[experiment.variant]]
  name = "control"
  weight = 1
  [[experiment.variant]]
  name = "treatment"
  weight = 1
  [[experiment.metric]]
  name = "purchase"
  kind = "conversion"
  event = "purchase"
  primary = true

[[experiment]]
id = "pricing"
name = "p"
hypothesis = "h"
control = "a"
start = "2026-01-15T00:00:00Z"
  [[experiment.variant]]
  name = "b"
  weight = 1
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "c"
  weight = 1
  [[experiment.metric]]
  name = "revenue"
  kind = "revenue"
  event = "purchase"
  primary = true

[[experiment]]
id = "later"
name = "l"
hypothesis = "h"
control = "a"
start = "2026-03-01T00:00:00Z"
  [[experiment.variant]]
  name = "a"
  weight = 1
  [[experiment.variant]]
  name = "b"
  weight = 1
  [[experiment.metric]]
  name = "purchase"
  kind = "conversion"
  event = "purchase"
"#;

fn defs() -> Vec<Experiment> {
    abacus_assign::parse(DEFS).unwrap().experiments
}

fn run() -> RunInfo {
    RunInfo {
        run_id: 7,
        computed_at: 1,
        as_of_ms: 2,
        alpha: 0.05,
    }
}

fn as_of() -> DateTime<Utc> {
    "2026-04-01T00:00:00Z".parse().unwrap()
}

/// A deterministic pseudo-random stream in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn pairs_are_formed_per_user_and_only_for_overlapping_periods() {
    let e = defs();
    let members: Vec<Member> = e
        .iter()
        .map(|experiment| Member {
            experiment,
            base_run_id: 1,
        })
        .collect();
    let mut pairs = Pairs::new(&members, as_of());
    // checkout × pricing overlap; "later" starts after checkout ended but overlaps pricing
    assert_eq!(pairs.len(), 2);
    // codes: checkout control 1, treatment 2; pricing b 3, a 4, c 5; later a 6, b 7
    let mut rng = Lcg(42);
    let mut direct = vec![vec![(0u64, 0.0f64, 0.0f64); 3]; 2];
    for _ in 0..20_000 {
        let va = usize::from(rng.next() < 0.5);
        let vb = (rng.next() * 3.0) as usize;
        // planted interaction: treatment converts +10 points more under pricing "c"
        let p = 0.1 + 0.02 * va as f64 + if va == 1 && vb == 2 { 0.1 } else { 0.0 };
        let x = f64::from(u8::from(rng.next() < p));
        let revenue = 10.0 * rng.next();
        // (member, run_id, code, ok, x, y); an older row of checkout (another variant, run 0)
        // and a row that does not count (ok = 0) of "later" must be ignored
        pairs.add_user(&mut [
            (1, 0, 2 - va as u32, 1, 1.0 - x, 0.0),
            (2, 1, 3 + vb as u32, 1, revenue, 0.0),
            (1, 1, 1 + va as u32, 1, x, 0.0),
            (3, 1, 6, 0, 1.0, 0.0),
        ]);
        let d = &mut direct[va][vb];
        d.0 += 1;
        d.1 += x;
        d.2 += x * x;
    }
    let rows = pairs.finish(&run());
    // checkout (conversion) and pricing (revenue) differ: both directions; pricing × later
    // has the same definition? no: revenue vs conversion, so both directions too
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let first = &rows[0];
    assert_eq!(
        (first.experiment_a.as_str(), first.experiment_b.as_str()),
        ("checkout", "pricing")
    );
    // columns control first: a, b, c
    assert_eq!(first.variants_b, ["a", "b", "c"]);
    assert_eq!(first.variants_a, ["control", "treatment"]);
    // the table the test saw, built directly (pricing variants in file order b, a, c)
    let order = [1usize, 0, 2];
    let table: Vec<Vec<CellEstimate>> = (0..2)
        .map(|va| {
            order
                .iter()
                .map(|&vb| {
                    let (n, s, ss) = direct[va][vb];
                    CellEstimate::from_mean(&MeanSummary::from_sums(n, s, ss)).unwrap()
                })
                .collect()
        })
        .collect();
    let want = interaction_test(&table, 0.05).unwrap();
    assert!((first.chi2 - want.chi2).abs() < 1e-9 * want.chi2);
    assert_eq!(first.df, 2);
    assert!(first.p_value < 1e-6, "{first:?}");
    assert_eq!(first.flagged, 1);
    assert_eq!(first.overlap_users, 20_000);
    // the reverse direction: pricing's revenue across checkout's variants, no interaction
    let back = &rows[1];
    assert_eq!(
        (back.experiment_a.as_str(), back.experiment_b.as_str()),
        ("pricing", "checkout")
    );
    assert_eq!(back.variants_a, ["a", "b", "c"]);
    assert_eq!(back.flagged, 0, "{back:?}");
    // Holm over the four tests: adjusted p-values are never below the raw ones
    for r in &rows {
        assert!(r.p_value_adjusted >= r.p_value, "{r:?}");
        assert!(r.error.is_empty() || r.p_value_adjusted == 1.0);
    }
}

#[test]
fn small_cells_are_reported_not_tested() {
    let e = defs();
    let members: Vec<Member> = e[..2]
        .iter()
        .map(|experiment| Member {
            experiment,
            base_run_id: 1,
        })
        .collect();
    let mut pairs = Pairs::new(&members, as_of());
    for u in 0..300u32 {
        pairs.add_user(&mut [
            (1, 1, 1 + u % 2, 1, f64::from(u % 3 == 0), 0.0),
            (2, 1, 3 + u % 3, 1, 1.0, 0.0),
        ]);
    }
    let rows = pairs.finish(&run());
    assert!(
        rows.iter().all(|r| r.error.starts_with("too few users")),
        "{rows:#?}"
    );
    assert!(rows
        .iter()
        .all(|r| r.flagged == 0 && r.p_value_adjusted == 1.0));
    // unknown codes and a second entry of the same experiment and run are ignored
    pairs.add_user(&mut [
        (2, 1, 99, 1, 1.0, 0.0),
        (1, 1, 1, 1, 1.0, 0.0),
        (1, 1, 2, 1, 1.0, 0.0),
    ]);
}

#[test]
fn every_placeholder_has_a_value() {
    let e = defs();
    let members: Vec<Member> = e
        .iter()
        .map(|experiment| Member {
            experiment,
            base_run_id: 3,
        })
        .collect();
    let s = entries_sql(&members, 1_000);
    assert_eq!(s.sql.matches('?').count(), s.values.len(), "{}", s.sql);
    let sql = s.render();
    assert!(
        sql.contains("'checkout:control', 'checkout:treatment', 'pricing:b'"),
        "{sql}"
    );
}
