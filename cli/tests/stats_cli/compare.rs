//! proportions, means, ratio, cuped and bayes against the fixtures.

use crate::*;

#[test]
fn proportions_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["proportions"].as_array().expect("cases") {
        let mut args = vec!["proportions".to_string()];
        args.extend(count_args(case));
        let out = json(&strs(&args));
        has_keys(
            &out,
            &[
                "control_rate",
                "treatment_rate",
                "abs_lift",
                "rel_lift",
                "z",
                "p_value",
                "ci_abs_low",
                "ci_abs_high",
                "ci_rel_low",
                "ci_rel_high",
                "significant",
                "method",
            ],
        );
        let what = format!("proportions {args:?}");
        for key in [
            "control_rate",
            "treatment_rate",
            "abs_lift",
            "rel_lift",
            "z",
            "p_value",
        ] {
            close(&out[key], &case[key], &format!("{what} {key}"));
        }
        close(&out["ci_abs_low"], &case["ci_abs"][0], &what);
        close(&out["ci_abs_high"], &case["ci_abs"][1], &what);
        close(&out["ci_rel_low"], &case["ci_rel"][0], &what);
        close(&out["ci_rel_high"], &case["ci_rel"][1], &what);
        assert_eq!(out["significant"], case["significant"], "{what}");
        assert_eq!(out["method"], case["method"], "{what}");
    }
}

#[test]
fn means_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["means"].as_array().expect("cases") {
        let (c, t) = (&case["control"], &case["treatment"]);
        let args = vec![
            "means".to_string(),
            "--control-n".into(),
            s(&c["n"]),
            "--control-mean".into(),
            s(&c["mean"]),
            "--control-sd".into(),
            s(&c["sd"]),
            "--treatment-n".into(),
            s(&t["n"]),
            "--treatment-mean".into(),
            s(&t["mean"]),
            "--treatment-sd".into(),
            s(&t["sd"]),
            "--alpha".into(),
            s(&case["alpha"]),
        ];
        let out = json(&strs(&args));
        has_keys(
            &out,
            &[
                "abs_lift",
                "rel_lift",
                "t",
                "df",
                "p_value",
                "ci_abs_low",
                "ci_abs_high",
                "ci_rel_low",
                "ci_rel_high",
                "significant",
            ],
        );
        let what = format!("means {}", case["name"]);
        for key in ["abs_lift", "rel_lift", "t", "df", "p_value"] {
            close(&out[key], &case[key], &format!("{what} {key}"));
        }
        close(&out["ci_abs_low"], &case["ci_abs"][0], &what);
        close(&out["ci_abs_high"], &case["ci_abs"][1], &what);
        close(&out["ci_rel_low"], &case["ci_rel"][0], &what);
        close(&out["ci_rel_high"], &case["ci_rel"][1], &what);
        assert_eq!(out["significant"], case["significant"], "{what}");
    }
}

fn ratio_arm(v: &Value) -> String {
    [
        "n",
        "sum_num",
        "sum_den",
        "sum_num_sq",
        "sum_den_sq",
        "sum_num_den",
    ]
    .iter()
    .map(|k| s(&v[*k]))
    .collect::<Vec<_>>()
    .join(",")
}

#[test]
fn ratio_json_matches_fixtures() {
    let doc = fixture();
    for case in doc["ratios"].as_array().expect("cases") {
        let args = vec![
            "ratio".to_string(),
            "--control".into(),
            ratio_arm(&case["control"]),
            "--treatment".into(),
            ratio_arm(&case["treatment"]),
            "--alpha".into(),
            s(&case["alpha"]),
        ];
        let out = json(&strs(&args));
        has_keys(
            &out,
            &[
                "control_ratio",
                "treatment_ratio",
                "abs_lift",
                "rel_lift",
                "p_value",
                "ci_abs_low",
                "ci_abs_high",
                "ci_rel_low",
                "ci_rel_high",
                "significant",
            ],
        );
        let what = format!("ratio {args:?}");
        for key in ["control_ratio", "treatment_ratio", "z", "p_value", "se"] {
            close(&out[key], &case[key], &what);
        }
        close(&out["ci_abs_low"], &case["ci_abs"][0], &what);
        close(&out["ci_abs_high"], &case["ci_abs"][1], &what);
        close(&out["ci_rel_low"], &case["ci_rel"][0], &what);
        close(&out["ci_rel_high"], &case["ci_rel"][1], &what);
    }
}

const GBSTATS: &str = include_str!("../../../stats/tests/fixtures/gbstats.json");

pub fn gbstats() -> Value {
    serde_json::from_str(GBSTATS).expect("gbstats.json is valid JSON")
}

pub fn cuped_arm(v: &Value) -> String {
    ["n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy"]
        .iter()
        .map(|k| s(&v[*k]))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn cuped_json_matches_gbstats() {
    let doc = gbstats();
    for case in doc["cuped"].as_array().expect("cases") {
        let mut args = vec![
            "cuped".to_string(),
            "--control".into(),
            cuped_arm(&case["control"]),
            "--treatment".into(),
            cuped_arm(&case["treatment"]),
            "--alpha".into(),
            s(&case["alpha"]),
        ];
        if case["kind"] == "binary" {
            args.push("--binary".into());
        }
        let out = json(&strs(&args));
        has_keys(
            &out,
            &[
                "theta",
                "control_mean",
                "treatment_mean",
                "abs_lift",
                "rel_lift",
                "ci_abs_low",
                "ci_abs_high",
                "ci_rel_low",
                "ci_rel_high",
                "p_value",
                "variance_reduction",
                "significant",
            ],
        );
        let what = format!("cuped {}", case["name"]);
        for key in [
            "theta",
            "control_mean",
            "treatment_mean",
            "abs_lift",
            "rel_lift",
            "p_value",
            "variance_reduction",
        ] {
            close(&out[key], &case[key], &format!("{what} {key}"));
        }
        close(&out["ci_abs_low"], &case["ci_abs"][0], &what);
        close(&out["ci_abs_high"], &case["ci_abs"][1], &what);
        close(&out["ci_rel_low"], &case["ci_rel"][0], &what);
        close(&out["ci_rel_high"], &case["ci_rel"][1], &what);
        assert_eq!(out["significant"], case["significant"], "{what}");
    }
}

#[test]
fn bayes_json_matches_gbstats() {
    let doc = gbstats();
    let mut tried = 0;
    for case in doc["bayes"].as_array().expect("cases") {
        let (c, t) = (&case["control"], &case["treatment"]);
        let mut args: Vec<String> = match case["kind"].as_str() {
            Some("proportions") => vec![
                "--control-users".into(),
                s(&c["users"]),
                "--control-conversions".into(),
                s(&c["conversions"]),
                "--treatment-users".into(),
                s(&t["users"]),
                "--treatment-conversions".into(),
                s(&t["conversions"]),
            ],
            Some("means") => vec![
                "--control-n".into(),
                s(&c["n"]),
                "--control-mean".into(),
                s(&c["mean"]),
                "--control-sd".into(),
                s(&c["sd"]),
                "--treatment-n".into(),
                s(&t["n"]),
                "--treatment-mean".into(),
                s(&t["mean"]),
                "--treatment-sd".into(),
                s(&t["sd"]),
            ],
            _ => continue,
        };
        args.insert(0, "bayes".into());
        args.extend(["--alpha".into(), s(&case["alpha"])]);
        if !case["prior"].is_null() {
            args.extend([
                "--prior-mean".into(),
                s(&case["prior"]["mean"]),
                "--prior-sd".into(),
                s(&case["prior"]["sd"]),
            ]);
        }
        if case["inverse"] == true {
            args.push("--lower-is-better".into());
        }
        let out = json(&strs(&args));
        let keys = [
            "chance_to_win",
            "risk_control",
            "risk_treatment",
            "rel_lift",
            "abs_lift",
        ];
        has_keys(&out, &keys);
        has_keys(
            &out,
            &[
                "ci_rel_low",
                "ci_rel_high",
                "ci_abs_low",
                "ci_abs_high",
                "decision",
            ],
        );
        let what = format!("bayes {args:?}");
        for key in keys {
            close(&out[key], &case[key], &format!("{what} {key}"));
        }
        close(&out["ci_rel_low"], &case["ci_rel"][0], &what);
        close(&out["ci_rel_high"], &case["ci_rel"][1], &what);
        close(&out["ci_abs_low"], &case["ci_abs"][0], &what);
        close(&out["ci_abs_high"], &case["ci_abs"][1], &what);
        tried += 1;
    }
    assert!(tried >= 10, "{tried} cases");
}
