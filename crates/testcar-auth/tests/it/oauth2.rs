//! OAuth2 client-credentials against a real authorization server (npm `oidc-provider`)
//! with a 3-second token lifetime: first token, background refresh during the test, one
//! refresh + retry after a 401, both client authentication methods, the server's error on a
//! wrong secret, exec files rewritten on refresh, and no secret in logs, errors or Debug.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::{OidcServer, assert_no_secrets, capture_logs, captured_logs, put, send};
use testcar_auth::{RequestParts, parse_config, start};

const BASIC_SECRET: &str = "basic-secret-9f3Kq2";
const POST_SECRET: &str = "post-secret-Zr81w";

fn mk_clients() -> serde_json::Value {
    json!([
        {"client_id": "svc-basic", "client_secret": BASIC_SECRET, "grant_types": ["client_credentials"],
         "redirect_uris": [], "response_types": [], "token_endpoint_auth_method": "client_secret_basic",
         "scope": "api:read api:write"},
        {"client_id": "svc-post", "client_secret": POST_SECRET, "grant_types": ["client_credentials"],
         "redirect_uris": [], "response_types": [], "token_endpoint_auth_method": "client_secret_post",
         "scope": "api:read"}
    ])
}

fn mk_yaml(server: &OidcServer, client: &str, method: &str, extra: &str) -> String {
    format!(
        "steps:\n  - oauth2:\n      tokenUrl: {}\n      clientId: {client}\n      clientSecretFile: client-secret\n      authMethod: {method}\n{extra}",
        server.url("/token")
    )
}

async fn bearer(auth: &dyn testcar_auth::RequestAuth) -> String {
    let h = auth
        .headers(RequestParts {
            method: "GET",
            url: "http://127.0.0.1/",
            body: b"",
        })
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].0, "Authorization");
    h[0].1
        .strip_prefix("Bearer ")
        .expect("a bearer")
        .to_string()
}

#[tokio::test]
async fn basic_auth_token_is_refreshed_in_the_background_and_after_401() {
    capture_logs();
    let Some(server) = OidcServer::start(3, mk_clients()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client-secret", &format!("{BASIC_SECRET}\n"));
    let yaml = mk_yaml(
        &server,
        "svc-basic",
        "client_secret_basic",
        "      scope: [api:read, api:write]\n",
    );
    let started = std::time::Instant::now();
    let chain = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let auth = chain.request_auth();
    let client = support::http_client(None);
    let whoami = server.url("/api/whoami");

    let first = bearer(auth.as_ref()).await;
    let (status, body) = send(&client, auth.as_ref(), "GET", &whoami, b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"client": "svc-basic", "scope": "api:read api:write"})
    );

    // exec suites get the token as files, rewritten when it is refreshed
    let exec_dir = dir.path().join("exec");
    let vars = chain.exec_env(&exec_dir).unwrap();
    let token_file = vars
        .iter()
        .find(|(k, _)| k == "TESTCAR_BEARER_TOKEN_FILE")
        .map(|(_, v)| v.clone())
        .expect("bearer file");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), first);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // lifetime 3s: the background task refreshes at 1.5s. Asking for the token only
    // refreshes it synchronously once it has expired, so a new token seen before the first
    // one's 3s are up was fetched in the background.
    let mut second = first.clone();
    while started.elapsed() < Duration::from_millis(2900) && second == first {
        tokio::time::sleep(Duration::from_millis(100)).await;
        second = bearer(auth.as_ref()).await;
    }
    assert_ne!(
        first, second,
        "the token was not refreshed in the background"
    );
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), second);
    let headers_file = vars
        .iter()
        .find(|(k, _)| k == "TESTCAR_AUTH_HEADERS_FILE")
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&headers_file.1).unwrap(),
        format!("Authorization: Bearer {second}\n")
    );
    let (status, _) = send(&client, auth.as_ref(), "GET", &whoami, b"").await;
    assert_eq!(status, 200);
    assert!(captured_logs().contains("oauth2 token refreshed"));

    let debug = format!("{chain:?} {auth:?}");
    assert_no_secrets(
        &[("Debug output", &debug), ("logs", &captured_logs())],
        &[BASIC_SECRET, &first, &second],
    );
    assert_no_secrets(
        &[("exec env names", &format!("{vars:?}"))],
        &[BASIC_SECRET, &first, &second],
    );
}

#[tokio::test]
async fn revoked_token_gets_one_refresh_and_retry() {
    capture_logs();
    let Some(server) = OidcServer::start(60, mk_clients()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client-secret", BASIC_SECRET);
    let yaml = mk_yaml(&server, "svc-basic", "client_secret_basic", "");
    let chain = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let auth = chain.request_auth();
    let client = support::http_client(None);
    let whoami = server.url("/api/whoami");
    let first = bearer(auth.as_ref()).await;
    // the server revokes the token: the service answers 401, the runner asks for one
    // refresh and the retry succeeds with a new token
    let revoked = client
        .post(server.url("/test/revoke"))
        .body(first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    let (status, body) = send(&client, auth.as_ref(), "GET", &whoami, b"").await;
    assert_eq!(status, 200, "{body}");
    let second = bearer(auth.as_ref()).await;
    assert_ne!(first, second);
    // many requests seeing the same 401 at once share one token request
    let before = bearer(auth.as_ref()).await;
    let results = futures::future::join_all((0..8).map(|_| auth.refresh())).await;
    assert!(results.iter().all(|r| matches!(r, Ok(true))));
    let after = bearer(auth.as_ref()).await;
    assert_ne!(before, after);
    assert_no_secrets(
        &[("logs", &captured_logs())],
        &[BASIC_SECRET, &first, &second, &after],
    );
}

#[tokio::test]
async fn client_secret_post_works() {
    capture_logs();
    let Some(server) = OidcServer::start(60, mk_clients()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client-secret", POST_SECRET);
    let yaml = mk_yaml(
        &server,
        "svc-post",
        "client_secret_post",
        "      scope: api:read\n      extraParams:\n        resource_hint: x\n",
    );
    let chain = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let client = support::http_client(None);
    let (status, body) = send(
        &client,
        chain.request_auth().as_ref(),
        "GET",
        &server.url("/api/whoami"),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("svc-post"), "{body}");
}

#[tokio::test]
async fn wrong_secret_reports_the_servers_error() {
    capture_logs();
    let Some(server) = OidcServer::start(60, mk_clients()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-secret-Hq77";
    put(dir.path(), "client-secret", wrong);
    let yaml = mk_yaml(&server, "svc-basic", "client_secret_basic", "");
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.step, "oauth2");
    assert!(
        text.contains("answered 401 Unauthorized: invalid_client (client authentication failed)"),
        "{text}"
    );
    assert!(text.contains(&server.url("/token")), "{text}");

    // a scope the client may not have: the server's error comes through too
    put(dir.path(), "client-secret", POST_SECRET);
    let yaml = mk_yaml(
        &server,
        "svc-post",
        "client_secret_post",
        "      scope: api:write\n",
    );
    let err2 = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(err2.contains("invalid_scope"), "{err2}");

    assert_no_secrets(
        &[
            ("error", &text),
            ("error", &err2),
            ("debug", &format!("{err:?}")),
            ("logs", &captured_logs()),
        ],
        &[wrong, POST_SECRET, BASIC_SECRET],
    );
}

#[tokio::test]
async fn unreachable_token_endpoint_and_missing_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let yaml = format!(
        "steps:\n  - oauth2:\n      name: sso\n      tokenUrl: http://127.0.0.1:{port}/token\n      clientId: a\n      clientSecretFile: client-secret\n      timeout: 2s\n"
    );
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap_err();
    assert_eq!(err.step, "sso");
    assert!(
        err.message
            .starts_with("clientSecretFile: cannot read secret file"),
        "{err}"
    );
    put(dir.path(), "client-secret", "s");
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap_err();
    assert!(err.message.contains("unreachable"), "{err}");
}

/// A one-shot token endpoint on 127.0.0.1 that records the raw request it got.
async fn record_one_token_request() -> (u16, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
        }
        let body = r#"{"access_token":"recorded-token","token_type":"bearer","expires_in":"120"}"#;
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(resp.as_bytes()).await.unwrap();
        String::from_utf8(req).unwrap()
    });
    (port, task)
}

#[tokio::test]
async fn token_request_carries_every_parameter() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client-secret", "p@ss:wörd&=");
    let (port, recorded) = record_one_token_request().await;
    let yaml = format!(
        "steps:\n  - oauth2:\n      tokenUrl: http://127.0.0.1:{port}/oauth/token\n      clientId: my client\n      clientSecretFile: client-secret\n      scope: [a, b]\n      audience: https://api.example\n      resource: [https://r1.example, https://r2.example]\n      extraParams:\n        tenant: blue\n"
    );
    let chain = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let req = recorded.await.unwrap();
    let (head, body) = req.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /oauth/token HTTP/1.1\r\n"), "{head}");
    // RFC 6749 §2.3.1: id and secret are form-urlencoded, then Basic-encoded
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode("my+client:p%40ss%3Aw%C3%B6rd%26%3D");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Basic {basic}"))),
        "{head}"
    );
    assert_eq!(
        body,
        "grant_type=client_credentials&scope=a+b&audience=https%3A%2F%2Fapi.example&resource=https%3A%2F%2Fr1.example&resource=https%3A%2F%2Fr2.example&tenant=blue"
    );
    // token_type is case-insensitive and expires_in may be a string
    assert_eq!(
        bearer(chain.request_auth().as_ref()).await,
        "recorded-token"
    );
}

#[tokio::test]
async fn client_secret_post_puts_credentials_in_the_body() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client-secret", "post-secret");
    let (port, recorded) = record_one_token_request().await;
    let yaml = format!(
        "steps:\n  - oauth2:\n      tokenUrl: http://127.0.0.1:{port}/token\n      clientId: c1\n      clientSecretFile: client-secret\n      authMethod: client_secret_post\n"
    );
    start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let req = recorded.await.unwrap();
    let (head, body) = req.split_once("\r\n\r\n").unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("authorization:"),
        "{head}"
    );
    assert_eq!(
        body,
        "grant_type=client_credentials&client_id=c1&client_secret=post-secret"
    );
}
