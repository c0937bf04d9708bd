//! A large experiments file (92,020 experiments, about 50 MB, the size at which `experiments
//! apply` failed on ClickHouse 18.16 with `Unknown identifier`) is stored completely by one
//! `abacus experiments apply`, applying it again stores nothing, and validating it stays within
//! the documented memory bound (peak RSS at most 10× the file's size; it was 27×).

use std::fmt::Write as _;
use std::process::{Command, Output};

use abacus_testkit::{clickhouse_url, TestDatabase};

const EXPERIMENTS: usize = 92_020;

/// About 560 bytes per experiment, with the characters that SQL text would have to escape
/// (quotes, backslashes, newlines) in its name and hypothesis.
fn large_file() -> String {
    let mut text = String::with_capacity(EXPERIMENTS * 600);
    for i in 0..EXPERIMENTS {
        let _ = write!(
            text,
            r#"[[experiment]]
id = "exp-{i:06}"
name = "Experiment {i}: the 'quoted' \"name\" with a \\ backslash"
hypothesis = """A change numbered {i}
raises conversion; see n\n and (1, 2), now()"""
namespace = "ns-{ns}"
control = "control"
start = "2026-11-01T00:00:00Z"
segments = ["region", "device", "plan"]

  [[experiment.variant]]
  name = "control"
  weight = 50
  [[experiment.variant]]
  name = "treatment"
  weight = 50

  [[experiment.metric]]
  name = "purchase_rate"
  kind = "conversion"
  event = "purchase"
  primary = true

"#,
            ns = i % 997
        );
    }
    text
}

fn abacus(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_abacus"))
        .args(["--clickhouse-url", &clickhouse_url(), "--database", db])
        .args(args)
        .env_remove("ABACUS_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("abacus runs")
}

/// Peak RSS in bytes of `abacus ARGS`, measured by GNU time (Debian's `time` package, which
/// scripts/test installs).
fn peak_rss(args: &[&str]) -> u64 {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-rss-kb %M", env!("CARGO_BIN_EXE_abacus")])
        .args(args)
        .env_remove("ABACUS_CONFIG")
        .output()
        .expect("GNU time is needed for this test: apt-get install time (scripts/test does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kb: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kb "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {stderr}"));
    kb * 1024
}

#[tokio::test]
async fn a_50_mb_file_is_applied_completely_once_and_validated_in_bounded_memory() {
    let dir = std::env::temp_dir().join(abacus_testkit::unique_name("large_experiments"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("experiments.toml");
    let text = large_file();
    std::fs::write(&path, &text).unwrap();
    let file = path.to_str().unwrap();
    let size = text.len() as u64;
    assert!(size > 48_000_000, "the file has {size} bytes");

    let rss = peak_rss(&["experiments", "validate", file]);
    println!(
        "validate: peak RSS {} MB for a {} MB file ({:.1}×)",
        rss / 1_000_000,
        size / 1_000_000,
        rss as f64 / size as f64
    );
    assert!(
        rss <= 10 * size,
        "peak RSS {rss} bytes for a {size}-byte file"
    );

    let db = TestDatabase::create("large_experiments").await;
    let out = abacus(db.name(), &["experiments", "apply", file]);
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        db.count("SELECT count() FROM experiments").await,
        EXPERIMENTS as u64
    );
    assert_eq!(
        db.count("SELECT uniqExact(experiment_id) FROM experiments WHERE version = 1")
            .await,
        EXPERIMENTS as u64
    );
    // The stored text is the definition, quotes, backslashes and newlines included.
    let show = abacus(db.name(), &["experiments", "show", "exp-000007"]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains(r#"the 'quoted' "name" with a \ backslash"#),
        "{shown}"
    );

    let again = abacus(db.name(), &["experiments", "apply", file]);
    assert!(
        again.status.success(),
        "the second apply failed: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        db.count("SELECT count() FROM experiments").await,
        EXPERIMENTS as u64,
        "an unchanged file stores nothing"
    );
    db.drop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
