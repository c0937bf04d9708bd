//! The whole job through the binary: `abacus produce` (with an assignment bug on the A/A
//! experiment) → `abacus ingest --once` → `abacus aggregate --once` → `abacus report` in all
//! three formats, against the real broker and ClickHouse. The HTML report is opened in
//! headless Chromium and the screenshot must show the charts.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::Command;

use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};

fn abacus(db: &str, topic: &str, group: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_abacus"));
    cmd.env("ABACUS_CLICKHOUSE_URL", abacus_testkit::clickhouse_url())
        .env("ABACUS_CLICKHOUSE_DATABASE", db)
        .env("ABACUS_KAFKA_BROKERS", kafka_brokers())
        .env("ABACUS_KAFKA_TOPIC", topic)
        .env("ABACUS_KAFKA_GROUP", group)
        .env("RUST_LOG", "warn");
    cmd
}

fn ok(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_owned();
        }
    }
    panic!(
        "headless Chromium is needed to check the HTML report: install Debian's `chromium` \
         package (apt-get install chromium), which scripts/test does on a fresh machine"
    );
}

/// Pixels of the screenshot close to `rgb`.
fn count_color(png_path: &std::path::Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| px.len() >= 3 && px[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_ingest_aggregate_report_in_every_format() {
    let db = TestDatabase::create("report_e2e").await;
    let topic = unique_name("report_e2e");
    let group = unique_name("report_e2e");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/experiments.toml");
    let run = |args: &[&str], what: &str| {
        ok(
            abacus(db.name(), &topic, &group)
                .args(args)
                .output()
                .unwrap(),
            what,
        )
    };

    run(&["experiments", "apply", examples], "experiments apply");
    run(
        &[
            "produce",
            "--experiments",
            examples,
            "--users",
            "12000",
            "--seed",
            "11",
            "--quiet",
            "--effect",
            "checkout-redesign:treatment:purchase=+8%",
            "--assignment-bug",
            "pricing-annual-discount=45,55",
            "--history",
            "0.8",
            "--base-rate",
            "purchase=0.3",
        ],
        "produce",
    );
    run(&["ingest", "--once"], "ingest");
    let summary = run(
        &["aggregate", "--once", "--as-of", "2026-12-01"],
        "aggregate",
    );
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("pricing-annual-discount") && l.contains("FAIL")),
        "{summary}"
    );
    assert_eq!(summary.matches("FAIL").count(), 1, "{summary}");

    // Table: every experiment, the SRM banner on the bugged one only.
    let table = run(&["report"], "report");
    for id in [
        "checkout-redesign",
        "checkout-button-color",
        "aa-baseline",
        "pricing-annual-discount",
    ] {
        assert!(table.contains(id), "{table}");
    }
    assert_eq!(table.matches("SAMPLE RATIO MISMATCH").count(), 1, "{table}");
    assert!(table.contains("guardrail"), "{table}");

    // JSON contract.
    let json: serde_json::Value = serde_json::from_str(&run(
        &[
            "report",
            "--format",
            "json",
            "--experiment",
            "pricing-annual-discount",
        ],
        "report json",
    ))
    .unwrap();
    for key in [
        "experiment_id",
        "as_of",
        "variants",
        "srm",
        "diagnostics",
        "metrics",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(json["srm"]["mismatch"], true);
    assert!(json["srm"]["chi2"].as_f64().unwrap() > 10.0);
    assert!(json["diagnostics"]["multiple_exposure_users"].is_u64());
    assert_eq!(json["variants"][0]["variant"], "monthly-first");
    let metric = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "upgrade_rate")
        .unwrap();
    for key in [
        "metric",
        "kind",
        "variant",
        "control_users",
        "treatment_users",
        "control_value",
        "treatment_value",
        "control_conversions",
        "treatment_conversions",
        "abs_lift",
        "rel_lift",
        "ci_abs_low",
        "ci_abs_high",
        "p_value",
        "p_value_adjusted",
        "significant",
    ] {
        assert!(metric.get(key).is_some(), "metric lacks {key}: {metric}");
    }
    let aa: serde_json::Value = serde_json::from_str(&run(
        &["report", "--format", "json", "--experiment", "aa-baseline"],
        "report json",
    ))
    .unwrap();
    assert_eq!(aa["srm"]["mismatch"], false);
    let ratio = aa["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "ratio")
        .unwrap();
    assert!(ratio.get("control_conversions").is_none(), "{ratio}");

    // CUPED (checkout-redesign): the adjusted estimate with the unadjusted one beside it.
    let checkout: serde_json::Value = serde_json::from_str(&run(
        &[
            "report",
            "--format",
            "json",
            "--experiment",
            "checkout-redesign",
        ],
        "report json",
    ))
    .unwrap();
    let metrics = checkout["metrics"].as_array().unwrap();
    let metric = |name: &str| metrics.iter().find(|m| m["metric"] == name).unwrap();
    let purchase = metric("purchase_rate");
    assert_eq!(purchase["cuped"], true, "{purchase}");
    assert_eq!(purchase["verdict_uses"], "adjusted");
    assert_eq!(purchase["engine"], "frequentist");
    assert!(
        purchase["variance_reduction"].as_f64().unwrap() > 0.1,
        "{purchase}"
    );
    for key in [
        "abs_lift",
        "rel_lift",
        "ci_abs_low",
        "ci_abs_high",
        "p_value",
    ] {
        assert!(
            purchase["unadjusted"][key].is_f64(),
            "unadjusted lacks {key}: {purchase}"
        );
    }
    // Buying and spending before exposure predict them in the experiment (users' propensity
    // and spending level): the adjusted interval is narrower.
    let revenue = metric("revenue_per_user");
    assert!(
        revenue["variance_reduction"].as_f64().unwrap() > 0.1,
        "{revenue}"
    );
    let width = |m: &serde_json::Value| {
        m["ci_abs_high"].as_f64().unwrap() - m["ci_abs_low"].as_f64().unwrap()
    };
    assert!(
        width(revenue) < 0.95 * width(&revenue["unadjusted"]),
        "{revenue}"
    );
    assert_eq!(metric("d7_retention")["cuped"], false);
    assert!(table.contains("CUPED: variance reduced by"), "{table}");

    // Another baseline is recomputed from the run's user rows with the aggregator's methods:
    // recomputing against the control reproduces the stored rows exactly, and the three-arm
    // experiment against `green` compares blue and orange with green.
    let reports = abacus_report::load(db.clickhouse(), Some("checkout-button-color"))
        .await
        .unwrap();
    let stored = &reports[0];
    let config = abacus_aggregator::AggregateConfig::default();
    let again = abacus_report::baseline::recompute(db.clickhouse(), stored, "blue", &config)
        .await
        .unwrap();
    assert_eq!(again.results, stored.results);
    assert_eq!(again.series, stored.series);
    assert_eq!(again.segments, stored.segments);
    // A run compared by cluster is never rebased per user (its intervals would be too narrow).
    let mut clustered = stored.clone();
    clustered.run.design = "cluster".into();
    clustered.run.unit = "company_id".into();
    let refused = abacus_report::baseline::rebase(db.clickhouse(), &clustered, "green", &config)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("randomized by `company_id`"), "{refused}");
    let green: serde_json::Value = serde_json::from_str(&run(
        &[
            "report",
            "--format",
            "json",
            "--experiment",
            "checkout-button-color",
            "--baseline",
            "green",
        ],
        "report json --baseline",
    ))
    .unwrap();
    assert_eq!(green["baseline"], "green");
    let arms: Vec<(&str, &str)> = green["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["variant"].as_str().unwrap(),
                m["control"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(arms, [("blue", "green"), ("orange", "green")]);

    // Older runs too (#16 follow-up): the aggregator keeps each run's inputs, so after a newer
    // pass the first run still rebases, exactly as it did when it was the newest.
    let green_then = abacus_report::baseline::rebase(db.clickhouse(), stored, "green", &config)
        .await
        .unwrap();
    run(
        &[
            "aggregate",
            "--once",
            "--experiment",
            "checkout-button-color",
            "--as-of",
            "2026-12-02",
        ],
        "second aggregate",
    );
    let runs = abacus_report::read::runs_of(db.clickhouse(), "checkout-button-color")
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    let older = runs.iter().find(|r| r.run_id == stored.run.run_id).unwrap();
    let older =
        abacus_report::read::load_run(db.clickhouse(), older.clone(), stored.definition.as_ref())
            .await
            .unwrap();
    let again = abacus_report::baseline::recompute(db.clickhouse(), &older, "blue", &config)
        .await
        .unwrap();
    assert_eq!(again.results, older.results);
    assert_eq!(again.series, older.series);
    assert_eq!(again.segments, older.segments);
    let green_now = abacus_report::baseline::rebase(db.clickhouse(), &older, "green", &config)
        .await
        .unwrap();
    assert_eq!(green_now.results, green_then.results);
    assert_eq!(green_now.series, green_then.series);

    // HTML: self-contained, renders its charts in headless Chromium.
    let dir = std::env::temp_dir().join(unique_name("report_html"));
    std::fs::create_dir_all(&dir).unwrap();
    let html_path = dir.join("report.html");
    let out = abacus(db.name(), &topic, &group)
        .args(["report", "--format", "html", "--out"])
        .arg(&html_path)
        .output()
        .unwrap();
    ok(out, "report html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("<svg") && html.contains("forest plot") && html.contains("cumulative lift")
    );
    for outside in ["<script", "<link", "<img", "src=", "url(", "@import"] {
        assert!(
            !html.contains(outside),
            "the page must load nothing ({outside})"
        );
    }
    let shot = dir.join("report.png");
    let status = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,4000",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html_path.display()))
        .output()
        .unwrap();
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    // interval bars (#2563eb) and series bands (#93c5fd) are drawn
    let bars = count_color(&shot, [0x25, 0x63, 0xeb]);
    let bands = count_color(&shot, [0x93, 0xc5, 0xfd]);
    assert!(bars > 2_000, "interval bars not rendered ({bars} pixels)");
    assert!(bands > 20_000, "series bands not rendered ({bands} pixels)");
    std::fs::remove_dir_all(&dir).unwrap();
    db.drop().await;
}
