//! OAuth2 client-credentials against a real authorization server (npm `oidc-provider`)
//! with a 3-second token lifetime: first token, background refresh during the test, one
//! refresh + retry after a 401, both client authentication methods, the server's error on a
//! wrong secret, exec files rewritten on refresh, and no secret in logs, errors or Debug.

mod support;

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

    // lifetime 3s: the background task refreshes at 1.5s, before the first token expires
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let second = bearer(auth.as_ref()).await;
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
