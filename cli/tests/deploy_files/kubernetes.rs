//! `deploy/kubernetes`: manifests parse, are the expected kinds, run real command lines, read
//! secrets from `abacus-credentials` as known settings, and fit ingest's shutdown and metrics.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::{
    applied_env_vars, assert_accepted, flag_value, follows_env_convention, TempDir,
    DEFAULT_SHUTDOWN_TIMEOUT_SECS, DEPLOY, INSTALLED_BINARY, SECRET_NAME, SHUTDOWN_SLACK_SECS,
};

fn kubernetes_dir() -> PathBuf {
    Path::new(DEPLOY).join("kubernetes")
}

/// Every document of every `deploy/kubernetes/*.yaml` except `kustomization.yaml`, with its
/// file name.
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(kubernetes_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no manifests in {}",
        kubernetes_dir().display()
    );
    let mut docs = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc = Value::deserialize(de)
                .unwrap_or_else(|e| panic!("{name}: document {} is not YAML: {e}", i + 1));
            if !doc.is_null() {
                docs.push((name.clone(), doc));
            }
        }
    }
    docs
}

fn str_at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(doc, |v, k| v.get(k))?.as_str()
}

fn kind(doc: &Value) -> &str {
    str_at(doc, &["kind"]).unwrap_or("")
}

/// The pod spec of a workload.
fn pod_spec(doc: &Value) -> Option<&Value> {
    match kind(doc) {
        "Deployment" | "Job" => doc.get("spec")?.get("template")?.get("spec"),
        "CronJob" => doc
            .get("spec")?
            .get("jobTemplate")?
            .get("spec")?
            .get("template")?
            .get("spec"),
        _ => None,
    }
}

fn containers(doc: &Value) -> Vec<&Value> {
    pod_spec(doc)
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .map(|x| x.as_str().expect("a list of strings").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `abacus.toml` of the ConfigMap `abacus-config`.
fn configmap_toml(docs: &[(String, Value)]) -> String {
    docs.iter()
        .find(|(_, d)| {
            kind(d) == "ConfigMap" && str_at(d, &["metadata", "name"]) == Some("abacus-config")
        })
        .and_then(|(_, d)| str_at(d, &["data", "abacus.toml"]))
        .expect("a ConfigMap abacus-config with data abacus.toml")
        .to_owned()
}

#[test]
fn kubernetes_manifests_are_well_formed_and_of_the_expected_kinds() {
    let docs = manifests();
    let mut kinds = Vec::new();
    for (file, doc) in &docs {
        for field in [&["apiVersion"][..], &["kind"], &["metadata", "name"]] {
            assert!(
                str_at(doc, field).is_some_and(|s| !s.is_empty()),
                "{file}: a document lacks {}",
                field.join(".")
            );
        }
        assert_ne!(
            kind(doc),
            "Secret",
            "{file}: secrets are created with kubectl, never committed"
        );
        kinds.push(kind(doc).to_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "ConfigMap",
            "CronJob",
            "Deployment",
            "Deployment",
            "Deployment",
            "Job",
            "Namespace",
            "Service",
            "Service"
        ],
        "the manifests define one of each expected kind"
    );
}

#[test]
fn kubernetes_containers_run_real_abacus_command_lines() {
    let docs = manifests();
    let mut subcommands = Vec::new();
    for (file, doc) in &docs {
        for c in containers(doc) {
            let origin = format!("{file} ({})", str_at(doc, &["metadata", "name"]).unwrap());
            assert_eq!(
                strings(c.get("command")),
                [INSTALLED_BINARY],
                "{origin}: command"
            );
            let args = strings(c.get("args"));
            assert_accepted(&args, &origin);
            subcommands.push(args.first().cloned().unwrap_or_default());

            // The config file passed with --config is the mounted ConfigMap.
            let config = flag_value(&args, "--config").expect("--config in args");
            let dir = Path::new(config).parent().unwrap().to_str().unwrap();
            let mount = c
                .get("volumeMounts")
                .and_then(Value::as_sequence)
                .and_then(|m| m.iter().find(|m| str_at(m, &["mountPath"]) == Some(dir)))
                .unwrap_or_else(|| panic!("{origin}: nothing mounted at {dir}"));
            let volume = str_at(mount, &["name"]).unwrap();
            let source = pod_spec(doc)
                .and_then(|s| s.get("volumes"))
                .and_then(Value::as_sequence)
                .and_then(|v| v.iter().find(|v| str_at(v, &["name"]) == Some(volume)))
                .and_then(|v| str_at(v, &["configMap", "name"]));
            assert_eq!(source, Some("abacus-config"), "{origin}: volume {volume}");
            assert_eq!(
                Path::new(config).file_name().unwrap(),
                "abacus.toml",
                "{origin}: --config names the ConfigMap's key"
            );
        }
    }
    subcommands.sort();
    assert_eq!(
        subcommands,
        ["aggregate", "dashboard", "ingest", "schema", "serve"]
    );
}

#[test]
fn kubernetes_environment_variables_are_abacus_settings_and_secrets_come_from_the_secret() {
    let docs = manifests();
    let dir = TempDir::new("k8s-env");
    let config = dir.0.join("abacus.toml");
    std::fs::write(&config, configmap_toml(&docs)).unwrap();
    for (file, doc) in &docs {
        for c in containers(doc) {
            let origin = format!("{file} ({})", str_at(doc, &["metadata", "name"]).unwrap());
            let mut vars = Vec::new();
            let mut secret_vars = Vec::new();
            for e in c
                .get("env")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let name = str_at(e, &["name"]).unwrap().to_owned();
                if let Some(secret) = e.get("valueFrom").and_then(|v| v.get("secretKeyRef")) {
                    assert_eq!(
                        str_at(secret, &["name"]),
                        Some(SECRET_NAME),
                        "{origin}: {name} reads another secret"
                    );
                    assert!(
                        follows_env_convention(&name),
                        "{origin}: secret variable {name} is not ABACUS_<SECTION>_<KEY>"
                    );
                    vars.push((name.clone(), "not-a-real-secret".to_owned()));
                    secret_vars.push(name);
                } else if name.starts_with("ABACUS_") {
                    let value = str_at(e, &["value"])
                        .unwrap_or_else(|| panic!("{origin}: {name} has no literal value"));
                    vars.push((name, value.to_owned()));
                }
            }
            assert!(
                secret_vars
                    .iter()
                    .any(|v| v == "ABACUS_CLICKHOUSE_PASSWORD"),
                "{origin}: the ClickHouse password comes from the secret"
            );
            let applied = applied_env_vars(Some(&config), &vars, &origin);
            for name in &secret_vars {
                assert!(
                    applied.contains(name),
                    "{origin}: {name} sets no setting (applied: {applied:?})"
                );
            }
        }
    }
}

#[test]
fn kubernetes_configmap_loads_and_ingest_shuts_down_within_the_grace_period() {
    let docs = manifests();
    let text = configmap_toml(&docs);
    let dir = TempDir::new("k8s-config");
    let config = dir.0.join("abacus.toml");
    std::fs::write(&config, &text).unwrap();
    applied_env_vars(Some(&config), &[], "configmap.yaml abacus.toml");

    let parsed: toml::Value = toml::from_str(&text).unwrap();
    let shutdown = parsed
        .get("ingest")
        .and_then(|i| i.get("shutdown_timeout_secs"))
        .and_then(toml::Value::as_integer)
        .map_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS, |n| n as u64);

    let (file, ingest) = docs
        .iter()
        .find(|(_, d)| {
            kind(d) == "Deployment" && str_at(d, &["metadata", "name"]) == Some("abacus-ingest")
        })
        .expect("an ingest Deployment");
    let spec = pod_spec(ingest).unwrap();
    let grace = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .expect("terminationGracePeriodSeconds");
    assert!(
        grace >= shutdown + SHUTDOWN_SLACK_SECS + 10,
        "{file}: terminationGracePeriodSeconds {grace} leaves no room above ingest's \
         shutdown timeout {shutdown} s (+{SHUTDOWN_SLACK_SECS} s)"
    );

    // Probes hit the metrics endpoint on the port ingest serves it on, on all interfaces.
    let container = containers(ingest)[0];
    let args = strings(container.get("args"));
    let addr = flag_value(&args, "--metrics-addr").expect("--metrics-addr in ingest args");
    let (host, port) = addr.rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0", "{file}: the kubelet cannot reach {addr}");
    let port: u64 = port.parse().unwrap();
    let named = container
        .get("ports")
        .and_then(Value::as_sequence)
        .and_then(|p| {
            p.iter()
                .find(|p| p.get("containerPort").and_then(Value::as_u64) == Some(port))
        })
        .and_then(|p| str_at(p, &["name"]))
        .unwrap_or_else(|| panic!("{file}: no containerPort {port}"));
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = container.get(probe).and_then(|p| p.get("httpGet"));
        let get = get.unwrap_or_else(|| panic!("{file}: no {probe}.httpGet"));
        assert_eq!(str_at(get, &["path"]), Some("/metrics"), "{file}: {probe}");
        let probe_port = get.get("port").unwrap();
        assert!(
            probe_port.as_str() == Some(named) || probe_port.as_u64() == Some(port),
            "{file}: {probe} port {probe_port:?} is not the metrics port {port}"
        );
    }
    let limits = container.get("resources").and_then(|r| r.get("limits"));
    let requests = container.get("resources").and_then(|r| r.get("requests"));
    assert!(
        limits.and_then(|l| l.get("memory")).is_some() && requests.is_some(),
        "{file}: resources"
    );

    let (file, cron) = docs
        .iter()
        .find(|(_, d)| kind(d) == "CronJob")
        .expect("an aggregate CronJob");
    assert_eq!(
        str_at(cron, &["spec", "concurrencyPolicy"]),
        Some("Forbid"),
        "{file}"
    );
    let schedule = str_at(cron, &["spec", "schedule"]).unwrap();
    assert_eq!(schedule.split_whitespace().count(), 5, "{file}: {schedule}");
}

#[test]
fn kubernetes_dashboard_is_reachable_through_its_service_and_probed_on_healthz() {
    let docs = manifests();
    let (file, dashboard) = docs
        .iter()
        .find(|(_, d)| {
            str_at(d, &["metadata", "name"]) == Some("abacus-dashboard") && kind(d) == "Deployment"
        })
        .expect("a dashboard Deployment");
    let container = containers(dashboard)[0];
    let args = strings(container.get("args"));
    let addr = flag_value(&args, "--listen").expect("--listen in dashboard args");
    let (host, port) = addr.rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0", "{file}: the Service cannot reach {addr}");
    let port: u64 = port.parse().unwrap();
    let named = container
        .get("ports")
        .and_then(Value::as_sequence)
        .and_then(|p| {
            p.iter()
                .find(|p| p.get("containerPort").and_then(Value::as_u64) == Some(port))
        })
        .and_then(|p| str_at(p, &["name"]))
        .unwrap_or_else(|| panic!("{file}: no containerPort {port}"));
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = container.get(probe).and_then(|p| p.get("httpGet"));
        let get = get.unwrap_or_else(|| panic!("{file}: no {probe}.httpGet"));
        assert_eq!(str_at(get, &["path"]), Some("/healthz"), "{file}: {probe}");
        assert_eq!(
            get.get("port").and_then(Value::as_str),
            Some(named),
            "{file}: {probe}"
        );
    }
    // A read-only user of its own: the user and password come from the Secret.
    let env: Vec<&str> = container
        .get("env")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter(|e| e.get("valueFrom").is_some())
        .filter_map(|e| str_at(e, &["name"]))
        .collect();
    assert!(env.contains(&"ABACUS_CLICKHOUSE_USER"), "{file}: {env:?}");
    let service = docs
        .iter()
        .find(|(_, d)| kind(d) == "Service")
        .map(|(_, d)| d)
        .expect("a dashboard Service");
    let selector = service.get("spec").and_then(|s| s.get("selector")).unwrap();
    let labels = dashboard
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .unwrap();
    for (k, v) in selector.as_mapping().unwrap() {
        assert_eq!(labels.get(k), Some(v), "{file}: the Service selects {k:?}");
    }
    let target = service
        .get("spec")
        .and_then(|s| s.get("ports"))
        .and_then(Value::as_sequence)
        .and_then(|p| p.first())
        .and_then(|p| p.get("targetPort"))
        .unwrap();
    assert!(
        target.as_str() == Some(named) || target.as_u64() == Some(port),
        "{file}: the Service targets {target:?}, not the dashboard port"
    );
}

#[test]
fn kustomization_lists_the_manifests_except_the_migration_job() {
    let dir = kubernetes_dir();
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    let k: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(kind(&k), "Kustomization");
    let listed = strings(k.get("resources"));
    for r in &listed {
        assert!(
            dir.join(r).is_file(),
            "kustomization.yaml lists missing {r}"
        );
    }
    let mut expected: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        // A Job cannot be re-applied with a new image; it is applied on its own (see the file).
        .filter(|n| n != "schema-migrate-job.yaml")
        .collect();
    expected.sort();
    let mut listed = listed;
    listed.sort();
    assert_eq!(listed, expected);
}

#[test]
fn kubernetes_serve_is_probed_on_readyz_and_reached_through_its_service() {
    let docs = manifests();
    let named = |k: &str, n: &str| {
        docs.iter()
            .find(|(_, d)| kind(d) == k && str_at(d, &["metadata", "name"]) == Some(n))
            .unwrap_or_else(|| panic!("a {k} {n}"))
    };
    let (file, serve) = named("Deployment", "abacus-serve");
    let container = containers(serve)[0];
    let args = strings(container.get("args"));
    let listen = flag_value(&args, "--listen").expect("--listen in serve args");
    let (host, port) = listen.rsplit_once(':').unwrap();
    assert_eq!(
        host, "0.0.0.0",
        "{file}: the kubelet and the Service cannot reach {listen}"
    );
    let port: u64 = port.parse().unwrap();
    let port_name = container
        .get("ports")
        .and_then(Value::as_sequence)
        .and_then(|p| {
            p.iter()
                .find(|p| p.get("containerPort").and_then(Value::as_u64) == Some(port))
        })
        .and_then(|p| str_at(p, &["name"]))
        .unwrap_or_else(|| panic!("{file}: no containerPort {port}"));
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = container
            .get(probe)
            .and_then(|p| p.get("httpGet"))
            .unwrap_or_else(|| panic!("{file}: no {probe}.httpGet"));
        assert_eq!(str_at(get, &["path"]), Some(path), "{file}: {probe}");
        assert_eq!(str_at(get, &["port"]), Some(port_name), "{file}: {probe}");
    }
    // The experiments file it serves is a mounted ConfigMap key.
    let experiments = flag_value(&args, "--experiments").expect("--experiments in serve args");
    let dir = Path::new(experiments).parent().unwrap().to_str().unwrap();
    let mount = container
        .get("volumeMounts")
        .and_then(Value::as_sequence)
        .and_then(|m| m.iter().find(|m| str_at(m, &["mountPath"]) == Some(dir)))
        .unwrap_or_else(|| panic!("{file}: nothing mounted at {dir}"));
    let volume = str_at(mount, &["name"]).unwrap();
    let source = pod_spec(serve)
        .and_then(|s| s.get("volumes"))
        .and_then(Value::as_sequence)
        .and_then(|v| v.iter().find(|v| str_at(v, &["name"]) == Some(volume)))
        .and_then(|v| str_at(v, &["configMap", "name"]))
        .expect("the experiments volume is a ConfigMap");
    let (_, cm) = named("ConfigMap", source);
    let key = Path::new(experiments)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let text =
        str_at(cm, &["data", key]).unwrap_or_else(|| panic!("ConfigMap {source} has no {key}"));
    abacus_assign::parse(text).unwrap_or_else(|e| panic!("ConfigMap {source}: {e}"));
    // Graceful shutdown fits the grace period (serve.shutdown_timeout_secs defaults to 10).
    let grace = pod_spec(serve)
        .and_then(|s| s.get("terminationGracePeriodSeconds"))
        .and_then(Value::as_u64)
        .expect("terminationGracePeriodSeconds");
    assert!(
        grace >= 10 + 10,
        "{file}: terminationGracePeriodSeconds {grace}"
    );

    let (file, service) = named("Service", "abacus-serve");
    let selector = service.get("spec").and_then(|s| s.get("selector")).unwrap();
    let labels = serve
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .unwrap();
    for (k, v) in selector.as_mapping().unwrap() {
        assert_eq!(
            labels.get(k),
            Some(v),
            "{file}: selector {k:?} matches the serve pods"
        );
    }
    let target = service
        .get("spec")
        .and_then(|s| s.get("ports"))
        .and_then(Value::as_sequence)
        .and_then(|p| p.first())
        .and_then(|p| p.get("targetPort"))
        .unwrap();
    assert!(
        target.as_str() == Some(port_name) || target.as_u64() == Some(port),
        "{file}: targetPort {target:?} is not the serve port"
    );
}
