//! Tables by default; invalid input exits 2 naming the flag.

use crate::*;

#[test]
fn default_output_is_a_table() {
    let out = abacus(&[
        "proportions",
        "--control-users",
        "10000",
        "--control-conversions",
        "1000",
        "--treatment-users",
        "10000",
        "--treatment-conversions",
        "1100",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for label in [
        "control",
        "treatment",
        "absolute lift",
        "relative lift",
        "p-value",
        "significant",
    ] {
        assert!(text.contains(label), "missing {label}:\n{text}");
    }
    assert!(!text.trim_start().starts_with('{'), "{text}");
    let out = abacus(&[
        "sample-size",
        "--baseline",
        "0.05",
        "--mde",
        "0.1",
        "--daily-users",
        "10000",
    ]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("31234") && text.contains("days"), "{text}");
}

/// Invalid arguments: exit code 2, and the first line of stderr names the flag.
#[test]
fn invalid_arguments_exit_2_naming_the_flag() {
    let props = |cu: &str, cc: &str, tu: &str, tc: &str| {
        vec![
            "proportions",
            "--control-users",
            cu,
            "--control-conversions",
            cc,
            "--treatment-users",
            tu,
            "--treatment-conversions",
            tc,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let with = |mut v: Vec<String>, extra: &[&str]| {
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        // found by the library, reported on one line
        (props("10", "12", "10", "1"), "--control-conversions"),
        (props("10", "1", "10", "11"), "--treatment-conversions"),
        (props("0", "0", "10", "1"), "--control-users"),
        (
            with(
                vec!["srm".into()],
                &["--observed", "1,2,3", "--weights", "1,1"],
            ),
            "--weights",
        ),
        (
            with(
                vec!["srm".into()],
                &["--observed", "0,0", "--weights", "1,1"],
            ),
            "--observed",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "0.5", "--mde", "1.5"],
            ),
            "--mde",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "0.5", "--mde", "0"],
            ),
            "--mde",
        ),
        (
            with(
                vec!["means".into()],
                &[
                    "--control-n",
                    "1",
                    "--control-mean",
                    "1",
                    "--control-sd",
                    "1",
                    "--treatment-n",
                    "5",
                    "--treatment-mean",
                    "1",
                    "--treatment-sd",
                    "1",
                ],
            ),
            "--control-n",
        ),
        (
            with(
                vec!["sequential".into()],
                &[
                    "--control-users",
                    "10",
                    "--control-conversions",
                    "1",
                    "--treatment-users",
                    "10",
                    "--treatment-conversions",
                    "20",
                ],
            ),
            "--treatment-conversions",
        ),
        (
            with(props("10", "1", "10", "1"), &["--mixing-variance", "0"])
                .into_iter()
                .map(|a| {
                    if a == "proportions" {
                        "sequential".into()
                    } else {
                        a
                    }
                })
                .collect(),
            "--mixing-variance",
        ),
        // found by clap's value parsers
        (props("-5", "1", "10", "1"), "--control-users"),
        (props("ten", "1", "10", "1"), "--control-users"),
        (
            with(props("10", "1", "10", "1"), &["--alpha", "1.5"]),
            "--alpha",
        ),
        (
            with(props("10", "1", "10", "1"), &["--alpha", "0"]),
            "--alpha",
        ),
        (
            with(
                vec!["adjust".into()],
                &["--p-values", "0.1,1.5", "--method", "holm"],
            ),
            "--p-values",
        ),
        (
            with(
                vec!["adjust".into()],
                &["--p-values", "0.1", "--method", "sidak"],
            ),
            "--method",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "1.2", "--mde", "0.1"],
            ),
            "--baseline",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "0.1", "--mde", "0.1", "--power", "1"],
            ),
            "--power",
        ),
        (
            with(
                vec!["srm".into()],
                &["--observed", "10,10", "--weights", "1,-1"],
            ),
            "--weights",
        ),
        (
            with(
                vec!["means".into()],
                &[
                    "--control-n",
                    "10",
                    "--control-mean",
                    "1",
                    "--control-sd",
                    "-1",
                    "--treatment-n",
                    "5",
                    "--treatment-mean",
                    "1",
                    "--treatment-sd",
                    "1",
                ],
            ),
            "--control-sd",
        ),
        (
            with(vec!["sequential".into()], &["--control-users", "10"]),
            "--control-conversions",
        ),
        // new calculators
        (
            with(
                vec!["ratio".into()],
                &["--control", "10,1,2", "--treatment", "10,1,2,3,4,5"],
            ),
            "--control",
        ),
        (
            with(
                vec!["ratio".into()],
                &["--control", "10,1,0,3,0,0", "--treatment", "10,1,2,3,4,5"],
            ),
            "'--control': control denominator sum must be non-zero",
        ),
        (
            with(vec!["power".into()], &["--control-users", "100"]),
            "--baseline",
        ),
        (
            with(
                vec!["power".into()],
                &["--baseline", "0.1", "--control-users", "100"],
            ),
            "--mde",
        ),
        (
            with(
                vec!["power".into()],
                &[
                    "--sd",
                    "1",
                    "--baseline",
                    "0.1",
                    "--mde",
                    "0.1",
                    "--delta",
                    "1",
                    "--control-users",
                    "100",
                ],
            ),
            "--sd",
        ),
        (
            with(
                vec!["mde".into()],
                &["--baseline", "0.5", "--control-users", "0"],
            ),
            "--control-users",
        ),
        (
            with(
                vec!["sample-size".into()],
                &["--baseline", "0.1", "--mde", "0.1", "--formula", "exact"],
            ),
            "--formula",
        ),
        (
            with(
                vec!["cuped".into()],
                &["--control", "10,1,1,1,1", "--treatment", "10,1,1,1,1,1"],
            ),
            "--control",
        ),
        (
            with(
                vec!["cuped".into()],
                &["--control", "10,1,1,1,1,1", "--treatment", "1,1,1,1,1,1"],
            ),
            "'--treatment': treatment needs at least 2 observations",
        ),
        (
            with(
                vec!["cuped".into()],
                &[
                    "--control",
                    "10,1,1,1,1,1",
                    "--treatment",
                    "10,11,11,1,1,1",
                    "--binary",
                ],
            ),
            "'--treatment': treatment outcome sum must be between 0 and n",
        ),
        (
            with(vec!["bayes".into()], &["--control-users", "10"]),
            "--treatment-users",
        ),
        (
            with(props("100", "0", "100", "3"), &["--prior-mean", "0"])
                .into_iter()
                .map(|a| {
                    if a == "proportions" {
                        "bayes".into()
                    } else {
                        a
                    }
                })
                .collect(),
            "--prior-sd",
        ),
        (
            with(props("100", "0", "100", "3"), &[])
                .into_iter()
                .map(|a| {
                    if a == "proportions" {
                        "bayes".into()
                    } else {
                        a
                    }
                })
                .collect(),
            "'--control-users': bayesian comparison is undefined: control does not vary",
        ),
        (
            with(props("100", "2", "100", "3"), &["--chance-to-win", "0.3"])
                .into_iter()
                .map(|a| {
                    if a == "proportions" {
                        "bayes".into()
                    } else {
                        a
                    }
                })
                .collect(),
            "'--chance-to-win': chance to win must be between 0.5 and 1",
        ),
        (
            with(props("100", "2", "100", "3"), &["--expected-users", "0"])
                .into_iter()
                .map(|a| {
                    if a == "proportions" {
                        "sequential".into()
                    } else {
                        a
                    }
                })
                .collect(),
            "'--expected-users': expected users must be at least 1",
        ),
    ];
    for (args, flag) in cases {
        let out = abacus(&strs(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?}: message does not name {flag}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}

/// Errors the library finds are exactly one line on stderr.
#[test]
fn library_validation_errors_are_one_line() {
    let out = abacus(&[
        "proportions",
        "--control-users",
        "10",
        "--control-conversions",
        "12",
        "--treatment-users",
        "10",
        "--treatment-conversions",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "error: invalid value for '--control-conversions': conversions (12) exceed users (10) in control\n"
    );
}
