//! The production deployment files under `deploy/` (systemd units, Kubernetes manifests) are
//! checked against the binary they run: every command line they contain is run with `--help`
//! through the built `abacus`, every `ABACUS_*` variable they set must be a setting the binary
//! knows, the ConfigMap's `abacus.toml` must load, and the systemd units must pass
//! `systemd-analyze verify` (when systemd-analyze is installed). No service is needed.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "deploy_files/kubernetes.rs"]
mod kubernetes;
#[path = "deploy_files/systemd.rs"]
mod systemd;

const ABACUS: &str = env!("CARGO_BIN_EXE_abacus");
const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");

/// Where the units and manifests expect the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/abacus";
/// The Secret every manifest reads credentials from (never committed with values).
const SECRET_NAME: &str = "abacus-credentials";
/// `ingest.shutdown_timeout_secs` default; ingest itself allows 5 s more before giving up.
const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
const SHUTDOWN_SLACK_SECS: u64 = 5;

/// Runs the built `abacus` with a clean environment (plus `env`) in a directory without an
/// `abacus.toml`.
fn abacus(args: &[String], env: &[(String, String)]) -> Output {
    Command::new(ABACUS)
        .args(args)
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap()
}

/// Checks that `args` (a command line without the program) is one `abacus` accepts, by
/// running it with `--help` appended: clap rejects unknown subcommands and flags before it
/// prints help, and help exits 0 without reading config or connecting anywhere.
fn assert_accepted(args: &[String], origin: &str) {
    let mut with_help = args.to_vec();
    with_help.push("--help".into());
    let out = abacus(&with_help, &[]);
    if out.status.success() {
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    panic!(
        "{origin}: `abacus {}` is not a valid command line (exit {:?}):\n{stderr}",
        args.join(" "),
        out.status.code()
    );
}

/// A fresh directory for one test, removed again by `Drop`.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("abacus-deploy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `ABACUS_<SECTION>_<KEY>`: upper case, digits and underscores, at least three parts.
fn follows_env_convention(name: &str) -> bool {
    let parts: Vec<&str> = name.split('_').collect();
    parts.len() >= 3
        && parts[0] == "ABACUS"
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// Runs `abacus config show` with `vars` set and returns the names it reports as applied
/// ("# from environment: A, B"). Fails when it exits non-zero or warns about a variable that
/// matches no setting.
fn applied_env_vars(config: Option<&Path>, vars: &[(String, String)], origin: &str) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(path) = config {
        args.push("--config".to_owned());
        args.push(path.display().to_string());
    }
    args.extend(["config".to_owned(), "show".to_owned()]);
    let out = abacus(&args, vars);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{origin}: `abacus config show` failed with {vars:?}:\n{stderr}"
    );
    assert!(
        !stderr.contains("matches no setting"),
        "{origin}: an ABACUS_* variable matches no setting:\n{stderr}"
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("# from environment: "))
        .map(|l| l.split(", ").map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The value following `flag` in `args`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}
