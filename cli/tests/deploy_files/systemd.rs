//! `deploy/systemd`: units run real command lines, carry the production settings, pass
//! `systemd-analyze verify` and stay hardened; the env example names only settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    applied_env_vars, assert_accepted, flag_value, follows_env_convention, TempDir, ABACUS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECS, DEPLOY, INSTALLED_BINARY, SHUTDOWN_SLACK_SECS,
};

fn systemd_dir() -> PathBuf {
    Path::new(DEPLOY).join("systemd")
}

/// The unit files of `deploy/systemd`, by file name.
fn unit_files() -> BTreeMap<String, String> {
    let units: BTreeMap<String, String> = std::fs::read_dir(systemd_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "service" || e == "timer")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = units.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "abacus-aggregate.service",
            "abacus-aggregate.timer",
            "abacus-dashboard.service",
            "abacus-ingest.service",
            "abacus-serve.service"
        ]
    );
    units
}

/// `(section, key) -> values` of a unit file (comments and blank lines skipped).
fn parse_unit(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut section = String::new();
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        out.entry((section.clone(), key.trim().to_owned()))
            .or_default()
            .push(value.trim().to_owned());
    }
    out
}

fn setting<'a>(
    unit: &'a BTreeMap<(String, String), Vec<String>>,
    section: &str,
    key: &str,
) -> Option<&'a str> {
    unit.get(&(section.to_owned(), key.to_owned()))
        .and_then(|v| v.last())
        .map(String::as_str)
}

#[test]
fn systemd_units_run_real_abacus_command_lines() {
    for (name, text) in unit_files().iter().filter(|(n, _)| n.ends_with(".service")) {
        let unit = parse_unit(text);
        let exec = setting(&unit, "Service", "ExecStart").expect("ExecStart");
        let mut words = exec.split_whitespace().map(str::to_owned);
        assert_eq!(words.next().as_deref(), Some(INSTALLED_BINARY), "{name}");
        let args: Vec<String> = words.collect();
        assert_eq!(
            flag_value(&args, "--config"),
            Some("/etc/abacus/abacus.toml"),
            "{name}"
        );
        assert_accepted(&args, name);
    }
}

#[test]
fn systemd_units_have_the_production_settings() {
    let units = unit_files();
    for (name, text) in units.iter().filter(|(n, _)| n.ends_with(".service")) {
        let unit = parse_unit(text);
        let s = |key: &str| setting(&unit, "Service", key);
        assert_eq!(s("User"), Some("abacus"), "{name}");
        assert_eq!(
            unit.get(&("Service".to_owned(), "EnvironmentFile".to_owned()))
                .and_then(|v| v.first())
                .map(String::as_str),
            Some("/etc/abacus/abacus.env"),
            "{name}"
        );
        assert_eq!(
            setting(&unit, "Unit", "After"),
            Some("network-online.target"),
            "{name}"
        );
        for (key, value) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
        ] {
            assert_eq!(s(key), Some(value), "{name}: {key}");
        }
    }

    let ingest = parse_unit(&units["abacus-ingest.service"]);
    let s = |key: &str| setting(&ingest, "Service", key);
    assert_eq!(s("Restart"), Some("on-failure"));
    assert_eq!(s("KillSignal"), Some("SIGTERM"));
    let stop: u64 = s("TimeoutStopSec")
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec in plain seconds");
    assert!(
        stop >= DEFAULT_SHUTDOWN_TIMEOUT_SECS + SHUTDOWN_SLACK_SECS + 10,
        "TimeoutStopSec {stop} leaves no room above ingest's shutdown timeout"
    );
    assert_eq!(
        setting(&ingest, "Install", "WantedBy"),
        Some("multi-user.target")
    );

    let dashboard = parse_unit(&units["abacus-dashboard.service"]);
    let d = |key: &str| setting(&dashboard, "Service", key);
    assert_eq!(d("Restart"), Some("on-failure"));
    assert_eq!(d("KillSignal"), Some("SIGTERM"));
    assert_eq!(
        setting(&dashboard, "Install", "WantedBy"),
        Some("multi-user.target")
    );

    let serve = parse_unit(&units["abacus-serve.service"]);
    let s = |key: &str| setting(&serve, "Service", key);
    assert_eq!(s("Restart"), Some("on-failure"));
    assert_eq!(s("KillSignal"), Some("SIGTERM"));
    assert_eq!(
        s("ExecReload"),
        Some("/bin/kill -HUP $MAINPID"),
        "systemctl reload sends SIGHUP (serve reloads its experiments file)"
    );
    let stop: u64 = s("TimeoutStopSec")
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec in plain seconds");
    assert!(
        stop >= 10 + 10,
        "TimeoutStopSec {stop} leaves no room above serve's shutdown timeout (10 s)"
    );
    assert!(
        s("ExecStart").is_some_and(|c| c.contains(" serve ") && c.contains("--experiments")),
        "serve runs with an experiments file"
    );

    let aggregate = parse_unit(&units["abacus-aggregate.service"]);
    assert_eq!(setting(&aggregate, "Service", "Type"), Some("oneshot"));
    let timer = parse_unit(&units["abacus-aggregate.timer"]);
    let t = |key: &str| setting(&timer, "Timer", key);
    assert_eq!(t("OnCalendar"), Some("*-*-* 02:30:00"));
    assert_eq!(t("Persistent"), Some("true"));
    assert!(t("RandomizedDelaySec").is_some());
    assert_eq!(t("Unit"), Some("abacus-aggregate.service"));
    assert_eq!(
        setting(&timer, "Install", "WantedBy"),
        Some("timers.target")
    );
}

#[test]
fn systemd_env_example_names_only_settings_and_holds_no_secrets() {
    let text = std::fs::read_to_string(systemd_dir().join("abacus.env.example")).unwrap();
    let mut vars = Vec::new();
    for line in text.lines() {
        let commented = line.starts_with('#');
        let Some((name, value)) = line.trim_start_matches('#').split_once('=') else {
            continue;
        };
        if !name.starts_with("ABACUS_") || name.contains(char::is_whitespace) {
            continue; // prose that happens to contain '='
        }
        assert!(
            commented || value.is_empty(),
            "abacus.env.example sets a value for {name}: keep it an empty, commented template"
        );
        let value = if name == "ABACUS_LOG_FORMAT" {
            value
        } else {
            "placeholder"
        };
        vars.push((name.to_owned(), value.to_owned()));
    }
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    for required in [
        "ABACUS_CLICKHOUSE_PASSWORD",
        "ABACUS_KAFKA_CLIENT_SASL_PASSWORD",
    ] {
        assert!(
            names.contains(&required),
            "abacus.env.example lacks {required}"
        );
    }
    let applied = applied_env_vars(None, &vars, "abacus.env.example");
    for (name, _) in &vars {
        assert!(
            follows_env_convention(name),
            "abacus.env.example: {name} is not ABACUS_<SECTION>_<KEY>"
        );
        assert!(
            applied.contains(name) || name == "ABACUS_LOG_FORMAT",
            "abacus.env.example: {name} sets no setting (applied: {applied:?})"
        );
    }
}

/// `systemd-analyze` from PATH, or `None` when it is not installed.
fn systemd_analyze() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("systemd-analyze"))
        .find(|p| p.is_file())
}

/// Writes the units into `dir` with ExecStart pointing at the built binary (verify checks that
/// it exists and is executable), plus `extra` appended to the ingest unit's [Service].
fn stage_units(dir: &Path, extra: &str) -> Vec<PathBuf> {
    unit_files()
        .into_iter()
        .map(|(name, text)| {
            let mut text = text.replace(INSTALLED_BINARY, ABACUS);
            if name == "abacus-ingest.service" && !extra.is_empty() {
                text = text.replace("[Service]\n", &format!("[Service]\n{extra}\n"));
            }
            let path = dir.join(&name);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

/// Runs `systemd-analyze verify` on `units` and returns what it reported about them: a
/// non-zero exit, and every output line naming one of the units or their directory. Lines
/// about other units of the host are printed but not returned (`--recursive-errors=no` keeps
/// them out in the first place).
fn verify_findings(tool: &Path, dir: &Path, units: &[PathBuf]) -> Vec<String> {
    let out = Command::new(tool)
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .args(units)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = |line: &str| {
        line.contains(&*dir.to_string_lossy())
            || units
                .iter()
                .any(|u| line.contains(&*u.file_name().unwrap().to_string_lossy()))
    };
    let mut findings: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if ours(line) {
            findings.push(line.to_owned());
        } else {
            eprintln!("note: systemd-analyze verify (not about our units): {line}");
        }
    }
    if !out.status.success() {
        findings.push(format!(
            "systemd-analyze verify exited with {:?}",
            out.status.code()
        ));
    }
    findings
}

#[test]
fn systemd_units_pass_systemd_analyze() {
    let Some(tool) = systemd_analyze() else {
        eprintln!(
            "SKIPPED systemd_units_pass_systemd_analyze: systemd-analyze is not installed (not \
             on PATH), so the units were not checked with `systemd-analyze verify`"
        );
        return;
    };
    let dir = TempDir::new("systemd");
    let units = stage_units(&dir.0, "");
    let findings = verify_findings(&tool, &dir.0, &units);
    assert!(
        findings.is_empty(),
        "systemd-analyze verify reported problems in deploy/systemd:\n{}",
        findings.join("\n")
    );

    // The check sees mistakes: the same units with one unknown key must be reported.
    let broken_dir = TempDir::new("systemd-broken");
    let broken = stage_units(&broken_dir.0, "NoSuchSetting=1");
    let findings = verify_findings(&tool, &broken_dir.0, &broken);
    assert!(
        findings.iter().any(|l| l.contains("NoSuchSetting")),
        "systemd-analyze verify did not report an unknown key, so the check above proves \
         nothing: {findings:?}"
    );

    // The hardening keeps the services' exposure low (systemd's scale: 0 safe .. 10 unsafe).
    for unit in units
        .iter()
        .filter(|u| u.extension().is_some_and(|e| e == "service"))
    {
        let out = Command::new(&tool)
            .args(["security", "--offline=true", "--man=no"])
            .arg(unit)
            .env("SYSTEMD_LOG_COLOR", "0")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let exposure: f64 = stdout
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")
            })
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no exposure level from systemd-analyze security for {}:\n{stdout}{}",
                    unit.display(),
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        assert!(
            exposure <= 3.0,
            "{}: exposure {exposure} (systemd-analyze security), hardening was weakened",
            unit.display()
        );
    }
}
