//! Unit tests of configuration layering (no I/O besides temporary files).

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("abacus-config-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("abacus.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_without_file_env_or_flags() {
    let loaded = load(Some(Path::new("/nonexistent/abacus.toml")), &env(&[]), &[]);
    assert!(loaded
        .unwrap_err()
        .to_string()
        .contains("/nonexistent/abacus.toml"));
    let loaded = load(None, &env(&[]), &[]).unwrap();
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn flags_override_env_override_file_override_defaults() {
    let path = write_temp(
        "layers",
        "[clickhouse]\nurl = \"http://file:8123\"\ndatabase = \"from_file\"\nuser = \"file_user\"\n",
    );
    let vars = env(&[
        ("ABACUS_CLICKHOUSE_DATABASE", "from_env"),
        ("ABACUS_CLICKHOUSE_USER", "env_user"),
    ]);
    let flags = [("clickhouse.user", "flag_user".to_owned())];
    let loaded = load(Some(&path), &vars, &flags).unwrap();
    let ch = &loaded.config.clickhouse;
    assert_eq!(ch.url, "http://file:8123"); // file beats default
    assert_eq!(ch.database, "from_env"); // env beats file
    assert_eq!(ch.user, "flag_user"); // flag beats env
    assert_eq!(ch.connect_timeout_secs, 5); // default stays
    assert_eq!(
        loaded.env_applied,
        ["ABACUS_CLICKHOUSE_DATABASE", "ABACUS_CLICKHOUSE_USER"]
    );
}

#[test]
fn unknown_keys_in_the_file_are_errors_that_name_the_key() {
    let path = write_temp("unknown", "[clickhouse]\nurll = \"x\"\n");
    let err = format!("{:#}", load(Some(&path), &env(&[]), &[]).unwrap_err());
    assert!(err.contains("urll"), "{err}");
    let path = write_temp("unknown-section", "[clikhouse]\nurl = \"x\"\n");
    let err = format!("{:#}", load(Some(&path), &env(&[]), &[]).unwrap_err());
    assert!(err.contains("clikhouse"), "{err}");
}

#[test]
fn env_values_are_typed_and_bad_ones_name_the_variable() {
    let loaded = load(
        None,
        &env(&[("ABACUS_CLICKHOUSE_CONNECT_TIMEOUT_SECS", "9")]),
        &[],
    )
    .unwrap();
    assert_eq!(loaded.config.clickhouse.connect_timeout_secs, 9);
    let err = format!(
        "{:#}",
        load(
            None,
            &env(&[("ABACUS_CLICKHOUSE_CONNECT_TIMEOUT_SECS", "soon")]),
            &[]
        )
        .unwrap_err()
    );
    assert!(
        err.contains("ABACUS_CLICKHOUSE_CONNECT_TIMEOUT_SECS"),
        "{err}"
    );
}

#[test]
fn kafka_client_settings_pass_through_from_file_and_env() {
    let path = write_temp(
        "client",
        "[kafka]\nbrokers = \"b:9093\"\n[kafka.client]\n\"security.protocol\" = \"SASL_SSL\"\n",
    );
    let vars = env(&[
        ("ABACUS_KAFKA_CLIENT_SASL_PASSWORD", "hunter2"),
        ("ABACUS_KAFKA_TOPIC", "t1,t2"),
        ("ABACUS_KAFKA_GROUP", "g"),
        ("ABACUS_KAFKA_BROKERS", "e:9092"),
        ("ABACUS_NOT_A_SETTING", "x"),
        ("ABACUS_STACK_DIR", "ignored"),
    ]);
    let loaded = load(Some(&path), &vars, &[]).unwrap();
    let kafka = &loaded.config.kafka;
    assert_eq!(kafka.brokers, "e:9092");
    assert_eq!(kafka.topics(), ["t1", "t2"]);
    assert_eq!(kafka.group, "g");
    assert_eq!(kafka.client["security.protocol"], "SASL_SSL");
    assert_eq!(kafka.client["sasl.password"], "hunter2");
    assert_eq!(loaded.env_unknown, ["ABACUS_NOT_A_SETTING"]);
}

#[test]
fn secrets_are_redacted() {
    let mut config = Config::default();
    config.clickhouse.password = "pw".into();
    config.clickhouse.url = "https://admin:pw2@ch.example:8443/".into();
    config
        .kafka
        .client
        .insert("sasl.password".into(), "pw3".into());
    config
        .kafka
        .client
        .insert("sasl.username".into(), "svc".into());
    let text = redacted_toml(&config).unwrap();
    assert!(!text.contains("pw"), "{text}");
    assert!(
        text.contains("https://admin:<redacted>@ch.example:8443/"),
        "{text}"
    );
    assert!(text.contains("svc"), "{text}");
}

#[test]
fn the_committed_example_file_is_valid_and_complete() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../abacus.example.toml"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let parsed: Config = toml::from_str(&text).unwrap();
    // Every default setting appears in the example (so it documents all of them).
    let defaults = Value::try_from(Config::default()).unwrap();
    let example: Value = toml::from_str(&text).unwrap();
    for (section, fields) in defaults.as_table().unwrap() {
        for field in fields.as_table().unwrap().keys() {
            assert!(
                example.get(section).and_then(|s| s.get(field)).is_some() || field == "client",
                "abacus.example.toml lacks {section}.{field}"
            );
        }
    }
    let _ = parsed;
}

#[test]
fn serve_api_keys_come_from_the_environment_and_are_redacted() {
    let env: BTreeMap<String, String> = [(
        "ABACUS_SERVE_API_KEYS".to_owned(),
        "key-one,key-two".to_owned(),
    )]
    .into();
    let loaded = load(Some(Path::new("/dev/null")), &env, &[]).unwrap();
    assert_eq!(loaded.config.serve.api_keys, ["key-one", "key-two"]);
    let text = redacted_toml(&loaded.config).unwrap();
    assert!(
        !text.contains("key-one") && !text.contains("key-two"),
        "{text}"
    );
    assert!(text.contains("<redacted>"), "{text}");
    assert!(!format!("{:?}", loaded.config).contains("key-one"));
}
