//! The dashboard's HTTP contract over a real socket: security headers on every answer, ETags
//! with 304s, access control (bearer token, basic auth, open health check), read-only methods,
//! and the loader's error shown on the page when the database has no result tables. The pages'
//! content is tested in the browser (tests/e2e).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::Arc;

use abacus_aggregator::AggregateConfig;
use abacus_dashboard::{AppState, DashboardConfig};
use abacus_testkit::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn serve(config: DashboardConfig, db: &TestDatabase) -> std::net::SocketAddr {
    let state = Arc::new(AppState::new(
        db.clickhouse().clone(),
        AggregateConfig::default(),
        &config,
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(abacus_dashboard::run(
        listener,
        state,
        std::future::pending(),
    ));
    addr
}

#[tokio::test]
async fn headers_etags_and_errors_without_auth() {
    // A database without result tables: the loader fails and the page says so.
    let db = TestDatabase::create_empty("dashboard_http").await;
    let addr = serve(DashboardConfig::default(), &db).await;
    let page = request(addr, "GET", "/", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("http") && !csp.contains('*'), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(
        page.body.contains("role=\"alert\""),
        "the load error is shown: {}",
        page.body
    );
    let etag = page.header("etag").unwrap().to_owned();
    let again = request(addr, "GET", "/", &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.header("content-security-policy").is_some());

    let missing = request(addr, "GET", "/experiments/nope", &[]).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("nope"));
    let post = request(addr, "POST", "/", &[]).await;
    assert_eq!(post.status, 405);
    let css = request(addr, "GET", "/assets/dashboard.css", &[]).await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let js = request(addr, "GET", "/assets/live.js", &[]).await;
    assert!(js.body.contains("If-None-Match"));
    db.drop().await;
}

#[tokio::test]
async fn a_token_or_basic_auth_is_required_when_configured() {
    let db = TestDatabase::create_empty("dashboard_auth").await;
    let addr = serve(
        DashboardConfig {
            token: "t0ken".into(),
            basic_user: "ana".into(),
            basic_password: "pw".into(),
            ..DashboardConfig::default()
        },
        &db,
    )
    .await;
    let denied = request(addr, "GET", "/", &[]).await;
    assert_eq!(denied.status, 401);
    assert!(denied
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    assert!(denied.header("content-security-policy").is_some());
    assert_eq!(
        request(addr, "GET", "/", &[("Authorization", "Bearer wrong")])
            .await
            .status,
        401
    );
    assert_eq!(
        request(addr, "GET", "/", &[("Authorization", "Bearer t0ken")])
            .await
            .status,
        200
    );
    // "x:t0ken" and "ana:pw" in base64
    assert_eq!(
        request(addr, "GET", "/", &[("Authorization", "Basic eDp0MGtlbg==")])
            .await
            .status,
        200
    );
    assert_eq!(
        request(addr, "GET", "/", &[("Authorization", "Basic YW5hOnB3")])
            .await
            .status,
        200
    );
    assert_eq!(
        request(addr, "GET", "/assets/live.js", &[]).await.status,
        401
    );
    // Probes need no credentials and learn nothing.
    let health = request(addr, "GET", "/healthz", &[]).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    db.drop().await;
}
