//! Optional access control: a bearer token, or basic auth (the token as password, or a
//! configured user and password). Credentials are compared in constant time and never logged.

use axum::http::HeaderMap;
use base64::Engine as _;

use crate::DashboardConfig;

/// Who may read.
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<String>,
    basic: Option<(String, String)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token.is_some())
            .field("basic", &self.basic.is_some())
            .finish()
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // Constant time for equal lengths; the length of a secret is not treated as secret.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// From the configuration; open when neither a token nor basic auth is set.
    pub fn from_config(c: &DashboardConfig) -> Self {
        Self {
            token: Some(c.token.clone()).filter(|t| !t.is_empty()),
            basic: (!c.basic_user.is_empty())
                .then(|| (c.basic_user.clone(), c.basic_password.clone())),
        }
    }

    /// Whether any credential is required.
    pub fn is_open(&self) -> bool {
        self.token.is_none() && self.basic.is_none()
    }

    /// Whether the request's `Authorization` header is accepted.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if self.is_open() {
            return true;
        }
        let Some(value) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let (Some(token), Some(given)) = (&self.token, value.strip_prefix("Bearer ")) {
            return same(token.as_bytes(), given.trim().as_bytes());
        }
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let token_ok = self
            .token
            .as_ref()
            .is_some_and(|t| same(t.as_bytes(), password.as_bytes()));
        let basic_ok = self.basic.as_ref().is_some_and(|(u, p)| {
            same(u.as_bytes(), user.as_bytes()) & same(p.as_bytes(), password.as_bytes())
        });
        token_ok || basic_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn open_without_credentials_configured() {
        assert!(Auth::default().allows(&HeaderMap::new()));
    }

    #[test]
    fn token_as_bearer_or_basic_password() {
        let auth = Auth::from_config(&DashboardConfig {
            token: "s3cret".into(),
            ..DashboardConfig::default()
        });
        assert!(!auth.allows(&HeaderMap::new()));
        assert!(auth.allows(&headers("Bearer s3cret")));
        assert!(!auth.allows(&headers("Bearer s3cre")));
        assert!(auth.allows(&headers(&basic("anyone", "s3cret"))));
        assert!(!auth.allows(&headers(&basic("anyone", "wrong"))));
        assert!(!auth.allows(&headers("Basic !!!")));
    }

    #[test]
    fn basic_user_and_password() {
        let auth = Auth::from_config(&DashboardConfig {
            basic_user: "ana".into(),
            basic_password: "pw".into(),
            ..DashboardConfig::default()
        });
        assert!(auth.allows(&headers(&basic("ana", "pw"))));
        assert!(!auth.allows(&headers(&basic("bob", "pw"))));
        assert!(!auth.allows(&headers("Bearer pw")));
    }
}
