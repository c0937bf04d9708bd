//! Keeping secrets out of everything Abacus prints: URLs with a password in their userinfo
//! (`https://user:password@host`) and settings whose names mark them as secret.
//!
//! Every error, log line and `config show` output that names the ClickHouse URL goes through
//! [`redact_url`]; every printed client setting (Kafka's `[kafka.client]`, for instance) goes
//! through [`is_secret_key`].

/// What replaces a secret in output.
pub const REDACTED: &str = "<redacted>";

/// The URL with the password of its userinfo replaced by `<redacted>`
/// (`https://admin:pw@host/` → `https://admin:<redacted>@host/`). A URL without userinfo, or
/// text that is not a URL, is returned unchanged; userinfo without a password (`user@host`) is
/// kept, since a user name is not a secret.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!(
                "{scheme}://{user}:{REDACTED}@{host}{}",
                &rest[authority_end..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Whether a setting named `key` holds a secret (passwords, client secrets, tokens, JAAS and
/// OAUTHBEARER configurations, private keys, API keys, credentials). Matching is on parts of
/// the name, case-insensitive, so `sasl.password`, `ssl.key.password`,
/// `sasl.oauthbearer.client.secret`, `sasl.oauthbearer.config` and `api_keys` all count.
/// Over-redacting a harmless setting is the accepted cost of never printing a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "jaas",
        "oauthbearer.config",
        "key.pem",
        "private",
        "token",
        "credential",
        "api_key",
        "apikey",
        "api.key",
    ]
    .iter()
    .any(|s| key.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_userinfo_are_redacted() {
        assert_eq!(
            redact_url("https://admin:pw@ch.example:8443/x?y=1"),
            "https://admin:<redacted>@ch.example:8443/x?y=1"
        );
        assert_eq!(
            redact_url("http://a:b:c@h"),
            "http://a:<redacted>@h",
            "a password containing ':'"
        );
        assert_eq!(
            redact_url("http://u:p%40ss@h@real-host:8123"),
            "http://u:<redacted>@real-host:8123",
            "the last '@' of the authority ends the userinfo"
        );
        assert_eq!(redact_url("http://user@h:8123"), "http://user@h:8123");
        assert_eq!(redact_url("http://h:8123/p@th"), "http://h:8123/p@th");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn secret_setting_names() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "sasl.jaas.config",
            "ssl.key.pem",
            "api_keys",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "sasl.username",
            "sasl.mechanism",
            "security.protocol",
            "ssl.ca.location",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
