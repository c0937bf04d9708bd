//! Statistical acceptance tests of assignment over 100,000 users (`user-0` … `user-99999`):
//! uniformity of splits, independence across namespaces, disjoint layers and stability when
//! traffic or other experiments change. Chi-square p-values come from `statrs`; the user set
//! is fixed, so every test gives the same answer on every run.

use abacus_assign::{parse, Definitions, Experiment};
use statrs::distribution::{ChiSquared, ContinuousCDF};

const USERS: usize = 100_000;
/// The acceptance threshold of the issue.
const MIN_P: f64 = 0.001;

fn users() -> impl Iterator<Item = String> {
    (0..USERS).map(|i| format!("user-{i}"))
}

/// One `[[experiment]]` table with the given fields and variant weights `v0`, `v1`, ….
fn table(id: &str, extra: &str, weights: &[u32]) -> String {
    let mut t = format!(
        "[[experiment]]\nid = \"{id}\"\nname = \"{id}\"\ncontrol = \"v0\"\nstart = \"2026-11-01\"\n{extra}\n"
    );
    for (i, w) in weights.iter().enumerate() {
        t += &format!("[[experiment.variant]]\nname = \"v{i}\"\nweight = {w}\n");
    }
    t + "[[experiment.metric]]\nname = \"m\"\nkind = \"conversion\"\nevent = \"purchase\"\n"
}

fn defs(tables: &[String]) -> Definitions {
    parse(&tables.concat()).unwrap_or_else(|e| panic!("invalid test definitions: {e}"))
}

fn one(id: &str, extra: &str, weights: &[u32]) -> Experiment {
    defs(&[table(id, extra, weights)]).experiments.remove(0)
}

/// Index of the user's variant, or `None` when excluded.
fn variant_index(e: &Experiment, user: &str) -> Option<usize> {
    let v = e.assign(user)?;
    e.variants.iter().position(|x| x.name == v.name)
}

/// p-value of Pearson's chi-square goodness-of-fit test with `df` degrees of freedom.
fn chi_square_p(observed: &[f64], expected: &[f64], df: f64) -> f64 {
    let stat: f64 = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    ChiSquared::new(df).expect("df > 0").sf(stat)
}

/// Counts per variant of all users, checked against the weights.
fn split_p(e: &Experiment) -> f64 {
    let mut counts = vec![0f64; e.variants.len()];
    for u in users() {
        counts[variant_index(e, &u).expect("traffic 1 includes everyone")] += 1.0;
    }
    let total: f64 = e.variants.iter().map(|v| f64::from(v.weight)).sum();
    let expected: Vec<f64> = e
        .variants
        .iter()
        .map(|v| USERS as f64 * f64::from(v.weight) / total)
        .collect();
    chi_square_p(&counts, &expected, (counts.len() - 1) as f64)
}

#[test]
fn splits_match_the_weights() {
    for weights in [&[50, 50][..], &[90, 10], &[1, 1, 1]] {
        let e = one("split", "", weights);
        let p = split_p(&e);
        println!("weights {weights:?}: chi-square p = {p:.4}");
        assert!(p > MIN_P, "weights {weights:?}: p = {p}");
    }
}

#[test]
fn namespace_buckets_are_uniform() {
    // 100 equal groups of 100 buckets each.
    let mut counts = vec![0f64; 100];
    for u in users() {
        counts[(abacus_assign::hash::namespace_bucket("checkout", &u) / 100) as usize] += 1.0;
    }
    let p = chi_square_p(&counts, &[USERS as f64 / 100.0; 100], 99.0);
    println!("namespace buckets in 100 groups: chi-square p = {p:.4}");
    assert!(p > MIN_P, "p = {p}");
}

/// p-value of the chi-square independence test of an r×c table.
fn independence_p(table: &[Vec<f64>]) -> f64 {
    let n: f64 = table.iter().flatten().sum();
    let rows: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..table[0].len())
        .map(|j| table.iter().map(|r| r[j]).sum())
        .collect();
    let (mut observed, mut expected) = (Vec::new(), Vec::new());
    for (i, r) in table.iter().enumerate() {
        for (j, o) in r.iter().enumerate() {
            observed.push(*o);
            expected.push(rows[i] * cols[j] / n);
        }
    }
    let df = ((rows.len() - 1) * (cols.len() - 1)) as f64;
    chi_square_p(&observed, &expected, df)
}

#[test]
fn experiments_in_different_namespaces_are_independent() {
    let d = defs(&[
        table("first", "namespace = \"alpha\"", &[50, 50]),
        table("second", "namespace = \"beta\"", &[50, 50]),
    ]);
    let mut t = vec![vec![0f64; 2]; 2];
    for u in users() {
        let a = variant_index(&d.experiments[0], &u).expect("in");
        let b = variant_index(&d.experiments[1], &u).expect("in");
        t[a][b] += 1.0;
    }
    let p = independence_p(&t);
    println!("2x2 table {t:?}: chi-square p = {p:.4}");
    assert!(p > MIN_P, "p = {p}");
}

#[test]
fn variant_is_independent_of_the_traffic_bucket() {
    // Same text for id and namespace: the seeds keep the two hashes apart.
    let e = one(
        "checkout",
        "namespace = \"checkout\"\ntraffic = 0.5",
        &[50, 50],
    );
    let mut t = vec![vec![0f64; 2]; 2];
    for u in users() {
        let a = e.assignment(&u);
        let half = usize::from(a.namespace_bucket >= 2500 && a.namespace_bucket < 7500);
        t[half][usize::from(a.variant_bucket >= 5000)] += 1.0;
    }
    let p = independence_p(&t);
    assert!(p > MIN_P, "p = {p}");
    let included: Vec<f64> = {
        let mut c = vec![0f64; 2];
        for u in users() {
            if let Some(i) = variant_index(&e, &u) {
                c[i] += 1.0;
            }
        }
        c
    };
    let n = included.iter().sum::<f64>();
    let p = chi_square_p(&included, &[n / 2.0, n / 2.0], 1.0);
    assert!(p > MIN_P, "split of included users {included:?}: p = {p}");
}

#[test]
fn experiments_in_one_layer_share_no_user_and_get_their_traffic() {
    let d = defs(&[
        table("left", "layer = \"l\"\ntraffic = 0.5", &[1, 1]),
        table("right", "layer = \"l\"\ntraffic = 0.2", &[1, 1, 1]),
    ]);
    let mut counts = [0f64; 3];
    for u in users() {
        let a = d.experiments[0].assign(&u);
        let b = d.experiments[1].assign(&u);
        assert!(
            a.is_none() || b.is_none(),
            "{u} is in both experiments of the layer"
        );
        counts[if a.is_some() {
            0
        } else if b.is_some() {
            1
        } else {
            2
        }] += 1.0;
    }
    let n = USERS as f64;
    let p = chi_square_p(&counts, &[0.5 * n, 0.2 * n, 0.3 * n], 2.0);
    println!("layer shares {counts:?}: chi-square p = {p:.4}");
    assert!(p > MIN_P, "p = {p}");
}

/// The variant of every user (None = excluded).
fn all(e: &Experiment) -> Vec<Option<usize>> {
    users().map(|u| variant_index(e, &u)).collect()
}

#[test]
fn raising_traffic_only_adds_users() {
    let low = all(&one("grow", "traffic = 0.2", &[50, 50]));
    let high = all(&one("grow", "traffic = 0.5", &[50, 50]));
    let kept = low
        .iter()
        .zip(&high)
        .filter(|(l, h)| l.is_some() && l == h)
        .count();
    let before = low.iter().filter(|l| l.is_some()).count();
    let after = high.iter().filter(|h| h.is_some()).count();
    println!("traffic 0.2 -> 0.5: {before} users before, {after} after, {kept} kept their variant");
    assert_eq!(
        kept, before,
        "a user assigned at 0.2 changed variant at 0.5"
    );
    assert!(after > 2 * before, "{before} -> {after}");
}

#[test]
fn changing_one_experiment_never_moves_users_of_others() {
    let base = [
        table("a", "layer = \"l\"\ntraffic = 0.3", &[50, 50]),
        table("b", "layer = \"l\"\ntraffic = 0.3", &[50, 50]),
        table("c", "namespace = \"other\"", &[1, 1, 1]),
    ];
    let before = defs(&base);
    let reweighted = defs(&[
        table("a", "layer = \"l\"\ntraffic = 0.3", &[90, 10]),
        base[1].clone(),
        base[2].clone(),
    ]);
    // Adding an experiment at the end of the layer, and raising the last one's traffic.
    let appended = defs(&[
        base[0].clone(),
        table("b", "layer = \"l\"\ntraffic = 0.4", &[50, 50]),
        base[2].clone(),
        table("d", "layer = \"l\"\ntraffic = 0.2", &[50, 50]),
    ]);
    for changed in [&reweighted, &appended] {
        for id in ["b", "c"] {
            let old = all(before.experiment(id).expect("b, c"));
            let new = all(changed.experiment(id).expect("b, c"));
            let moved = old
                .iter()
                .zip(&new)
                .filter(|(o, n)| o.is_some() && o != n)
                .count();
            assert_eq!(moved, 0, "experiment {id}: {moved} users moved");
        }
    }
    let a_old = all(before.experiment("a").expect("a"));
    let a_new = all(appended.experiment("a").expect("a"));
    assert_eq!(a_old, a_new);
    // The appended experiment only takes users no one had in the layer.
    let d = appended.experiment("d").expect("d");
    assert_eq!(d.buckets.start, 7000);
}
