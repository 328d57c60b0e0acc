//! Consistency suites against an in-process HTTP key-value service on 127.0.0.1: served
//! correctly the history is linearizable; with reads served from a copy that lags behind
//! the writes it is not. Also: credentials, an unreachable target, and interruption.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use testcar_auth::{AuthError, ClientTls, RequestAuth, RequestParts};
use testcar_consistency::suite::parse_suite;
use testcar_consistency::{SuiteOptions, run_suite};
use testcar_contract::{CheckStatus, Status};

/// A key-value service. Writes are logged with their time; reads answer with the newest
/// write at least `lag` old, i.e. from a replica that is `lag` behind.
#[derive(Clone)]
struct Kv {
    log: Arc<Mutex<Vec<(Instant, String, String)>>>,
    lag: Duration,
    token: Option<&'static str>,
    unauthorized: Arc<AtomicUsize>,
}

impl Kv {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        match self.token {
            None => true,
            Some(t) => {
                let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some(&format!("Bearer {t}"));
                if !ok {
                    self.unauthorized.fetch_add(1, Ordering::Relaxed);
                }
                ok
            }
        }
    }
    fn current(&self, key: &str, at: Instant) -> String {
        let log = self.log.lock().unwrap();
        log.iter()
            .rev()
            .find(|(t, k, _)| k == key && *t <= at)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    }
}

async fn kv_get(
    State(kv): State<Kv>,
    headers: HeaderMap,
    UrlPath(key): UrlPath<String>,
) -> (StatusCode, String) {
    if !kv.authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let at = Instant::now()
        .checked_sub(kv.lag)
        .unwrap_or_else(Instant::now);
    let v = kv.current(&key, at);
    (
        StatusCode::OK,
        serde_json::json!({ "value": v }).to_string(),
    )
}

async fn kv_put(
    State(kv): State<Kv>,
    headers: HeaderMap,
    UrlPath(key): UrlPath<String>,
    body: String,
) -> StatusCode {
    if !kv.authorized(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    kv.log.lock().unwrap().push((Instant::now(), key, body));
    StatusCode::NO_CONTENT
}

async fn kv_append(
    State(kv): State<Kv>,
    headers: HeaderMap,
    UrlPath(key): UrlPath<String>,
    body: String,
) -> StatusCode {
    if !kv.authorized(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    let mut log = kv.log.lock().unwrap();
    let old = log
        .iter()
        .rev()
        .find(|(_, k, _)| *k == key)
        .map(|(_, _, v)| v.clone())
        .unwrap_or_default();
    log.push((Instant::now(), key, old + &body));
    StatusCode::NO_CONTENT
}

async fn start(lag: Duration, token: Option<&'static str>) -> (String, Kv) {
    let kv = Kv {
        log: Arc::default(),
        lag,
        token,
        unauthorized: Arc::default(),
    };
    let app = Router::new()
        .route("/kv/{key}", get(kv_get).put(kv_put))
        .route("/kv/{key}/append", post(kv_append))
        .with_state(kv.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), kv)
}

const SUITE: &str = include_str!("../../test_data/kv-http.consistency.yaml");

fn suite(extra: &str) -> testcar_consistency::ConsistencySuite {
    parse_suite(
        &format!("{SUITE}{extra}"),
        Path::new("kv-http.consistency.yaml"),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_service_is_linearizable_and_history_is_saved() {
    let (target, _kv) = start(Duration::ZERO, None).await;
    let results = tempfile::tempdir().unwrap();
    let s = run_suite(
        suite(""),
        SuiteOptions {
            target: Some(target),
            results_dir: Some(results.path().to_path_buf()),
            ..SuiteOptions::default()
        },
    )
    .await;
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    assert_eq!(s.checks.len(), 1);
    assert_eq!(s.checks[0].status, CheckStatus::Passed);
    let m = s.metrics.as_ref().unwrap();
    assert_eq!(m.requests, 300);
    assert_eq!(m.responses, 300);
    assert!(m.response_time.is_some());
    let kinds: Vec<_> = s.reports.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["history-jsonl", "history-html"]);
    // The saved history checks the same with the CLI's reader.
    let jsonl = results.path().join(&s.reports[0].path);
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let h = testcar_consistency::format::parse(
        &text,
        "h.jsonl",
        testcar_consistency::Format::Jsonl,
        testcar_consistency::ModelKind::Kv,
    )
    .unwrap();
    assert_eq!(h.ops.len(), 300);
    assert!(h.timed);
    let html = std::fs::read_to_string(results.path().join(&s.reports[1].path)).unwrap();
    assert!(html.contains("linearizable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_are_not_linearizable() {
    let (target, _kv) = start(Duration::from_millis(40), None).await;
    let results = tempfile::tempdir().unwrap();
    let s = run_suite(
        suite(""),
        SuiteOptions {
            target: Some(target),
            results_dir: Some(results.path().to_path_buf()),
            ..SuiteOptions::default()
        },
    )
    .await;
    assert_eq!(s.status, Status::Failed, "{s:#?}");
    let c = &s.checks[0];
    assert_eq!(c.status, CheckStatus::Failed);
    assert_eq!(c.observed, Some(serde_json::json!("not linearizable")));
    let msg = c.message.as_deref().unwrap();
    assert!(msg.contains("could not place"), "{msg}");
    let html = std::fs::read_to_string(results.path().join(&s.reports[1].path)).unwrap();
    assert!(html.contains("class=\"op stuck\""));
}

#[tokio::test]
async fn unreachable_target_is_an_error_not_a_pass() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = run_suite(
        suite(""),
        SuiteOptions {
            target: Some(format!("http://127.0.0.1:{port}")),
            ..SuiteOptions::default()
        },
    )
    .await;
    assert_eq!(s.status, Status::Error, "{s:#?}");
    assert!(
        s.error
            .as_deref()
            .unwrap()
            .contains("no operation completed")
    );
    assert!(
        s.metrics
            .unwrap()
            .errors
            .get("ECONNREFUSED")
            .copied()
            .unwrap_or(0)
            > 0
    );
}

/// A bearer token that is stale until refreshed once.
#[derive(Debug, Default)]
struct Bearer {
    refreshed: AtomicUsize,
}

const SECRET: &str = "s3cret-token-value";

impl RequestAuth for Bearer {
    fn headers<'a>(
        &'a self,
        _req: RequestParts<'a>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
        let token = if self.refreshed.load(Ordering::Relaxed) > 0 {
            SECRET
        } else {
            "expired"
        };
        Box::pin(async move {
            Ok(vec![(
                "authorization".to_string(),
                format!("Bearer {token}"),
            )])
        })
    }
    fn refresh(&self) -> futures::future::BoxFuture<'_, Result<bool, AuthError>> {
        self.refreshed.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(true) })
    }
    fn client_tls(&self) -> Option<&ClientTls> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_applied_refreshed_on_401_and_never_recorded() {
    let (target, kv) = start(Duration::ZERO, Some(SECRET)).await;
    let results = tempfile::tempdir().unwrap();
    let auth = Arc::new(Bearer::default());
    let s = run_suite(
        suite(""),
        SuiteOptions {
            target: Some(target),
            auth: Some(auth.clone()),
            results_dir: Some(results.path().to_path_buf()),
            ..SuiteOptions::default()
        },
    )
    .await;
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    assert!(auth.refreshed.load(Ordering::Relaxed) >= 1);
    assert!(
        kv.unauthorized.load(Ordering::Relaxed) >= 1,
        "the stale token was refused first"
    );
    let doc = serde_json::to_string(&s).unwrap();
    assert!(!doc.contains(SECRET));
    for r in &s.reports {
        let text = std::fs::read_to_string(results.path().join(&r.path)).unwrap();
        assert!(!text.contains(SECRET), "{} leaks the token", r.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interruption_keeps_and_checks_what_was_recorded() {
    let (target, _kv) = start(Duration::ZERO, None).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c2.cancel();
    });
    let long = SUITE.replace("count: 300", "duration: 30s");
    let s = run_suite(
        parse_suite(&long, Path::new("kv-http.consistency.yaml")).unwrap(),
        SuiteOptions {
            target: Some(target),
            cancel,
            ..SuiteOptions::default()
        },
    )
    .await;
    assert_eq!(s.status, Status::Error, "{s:#?}");
    assert!(s.error.as_deref().unwrap().starts_with("interrupted after"));
    assert_eq!(
        s.checks[0].status,
        CheckStatus::Passed,
        "what was recorded is still judged"
    );
    assert!(s.duration_ms < 10_000);
}
