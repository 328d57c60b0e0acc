//! Pod faults (issue 21) against a stand-in kube-apiserver: an axum server on 127.0.0.1
//! behind TLS from a test CA (the agent trusts only the service account's `ca.crt`, as in a
//! pod), answering the real paths with the API server's own shapes: pods, the Eviction API
//! with a PodDisruptionBudget it enforces (201, then 429), PodDisruptionBudget lists, 403
//! `Status` errors for a missing RBAC rule.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use serde_json::{Value, json};
use testcar_agent::faults::KubeEnv;
use testcar_agent::manifest;
use testcar_agent::runners::{RunContext, run_suite};
use testcar_contract::{FaultRecord, PodRef, Status};
use tokio_util::sync::CancellationToken;

const PODS: &str = include_str!("../../test_data/faults/pods-web.json");
const PDBS: &str = include_str!("../../test_data/faults/pdbs-web.json");
const OWN: &str = "web-7c9f8d6b5-2xkqz";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.pod-faults-SECRET-91b2";

/// What the fake cluster holds and saw.
#[derive(Debug, Default)]
struct World {
    pods: Vec<Value>,
    pdbs: Vec<Value>,
    /// Evictions the web budget still allows.
    allowed: i64,
    /// `verb resource` answered 403, like a Role without that rule.
    forbid: Option<&'static str>,
    /// `METHOD path` of each request.
    requests: Vec<String>,
    /// Requests without the service account's bearer token.
    unauthorized: usize,
}

fn status(code: StatusCode, reason: &str, message: &str, details: Value) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code.as_u16()});
    (code, axum::Json(body)).into_response()
}

fn forbidden(verb: &str, resource: &str) -> Response {
    let (res, sub) = resource.split_once('/').unwrap_or((resource, ""));
    let what = if sub.is_empty() {
        res.to_string()
    } else {
        format!("{res}/{sub}")
    };
    status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "{res} is forbidden: User \"system:serviceaccount:shop:web\" cannot {verb} resource \"{what}\" in API group \"\" in the namespace \"shop\""
        ),
        json!({"kind": res}),
    )
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = world.lock().unwrap();
    let path = uri.path().to_string();
    w.requests.push(format!("{method} {path}"));
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        w.unauthorized += 1;
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            json!({}),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let permission = match (method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v1", "namespaces", _, "pods", _]) => "get pods",
        ("GET", ["api", "v1", "namespaces", _, "pods"]) => "list pods",
        ("POST", ["api", "v1", "namespaces", _, "pods", _, "eviction"]) => "create pods/eviction",
        ("DELETE", ["api", "v1", "namespaces", _, "pods", _]) => "delete pods",
        (
            "GET",
            [
                "apis",
                "policy",
                "v1",
                "namespaces",
                _,
                "poddisruptionbudgets",
            ],
        ) => "list poddisruptionbudgets",
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            );
        }
    };
    if w.forbid == Some(permission) {
        let (verb, resource) = permission.split_once(' ').unwrap();
        return forbidden(verb, resource);
    }
    let find = |w: &World, name: &str| w.pods.iter().position(|p| p["metadata"]["name"] == name);
    match permission {
        "get pods" => match find(&w, parts[5]) {
            Some(i) => axum::Json(w.pods[i].clone()).into_response(),
            None => status(StatusCode::NOT_FOUND, "NotFound", &format!("pods \"{}\" not found", parts[5]), json!({})),
        },
        "list pods" => axum::Json(json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": w.pods})).into_response(),
        "list poddisruptionbudgets" => axum::Json(json!({"kind": "PodDisruptionBudgetList", "apiVersion": "policy/v1", "metadata": {}, "items": w.pdbs})).into_response(),
        "create pods/eviction" => {
            let eviction: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(eviction["apiVersion"], "policy/v1", "{eviction}");
            assert_eq!(eviction["kind"], "Eviction", "{eviction}");
            assert_eq!(eviction["metadata"]["name"], parts[5], "{eviction}");
            let Some(i) = find(&w, parts[5]) else {
                return status(StatusCode::NOT_FOUND, "NotFound", "not found", json!({}));
            };
            if w.allowed < 1 {
                return status(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    json!({"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget web-min2 needs 2 healthy pods and has 2 currently"}]}),
                );
            }
            w.allowed -= 1;
            w.pods[i]["metadata"]["deletionTimestamp"] = json!("2026-12-04T23:00:00Z");
            (StatusCode::CREATED, axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}))).into_response()
        }
        _ => match find(&w, parts[5]) {
            Some(i) => {
                let pod = w.pods.remove(i);
                axum::Json(pod).into_response()
            }
            None => status(StatusCode::NOT_FOUND, "NotFound", "not found", json!({})),
        },
    }
}

/// The stand-in API server over TLS, and the service account folder trusting its CA.
struct FakeApi {
    port: u16,
    world: Arc<Mutex<World>>,
    sa: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeApi {
    async fn start(world: World) -> FakeApi {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "kubernetes");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["kubernetes.default.svc".to_string()]).unwrap();
        leaf.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let sa = tempfile::tempdir().unwrap();
        std::fs::write(sa.path().join("ca.crt"), ca_cert.pem()).unwrap();
        std::fs::write(sa.path().join("token"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(sa.path().join("namespace"), "shop").unwrap();

        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let world = Arc::new(Mutex::new(world));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(world.clone());
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    r = listener.accept() => r.unwrap(),
                    _ = token.cancelled() => return,
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        FakeApi {
            port,
            world,
            sa,
            stop,
        }
    }

    fn kube(&self) -> KubeEnv {
        self.kube_as(OWN)
    }

    fn kube_as(&self, pod: &str) -> KubeEnv {
        KubeEnv {
            host: Some("127.0.0.1".into()),
            port: Some(self.port.to_string()),
            sa_dir: self.sa.path().to_path_buf(),
            pod: Some(PodRef {
                name: pod.into(),
                namespace: "shop".into(),
            }),
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }
}

/// The `web` ReplicaSet's pods (three running: the agent's and two siblings) and budgets.
fn web(allowed: i64) -> World {
    let list: Value = serde_json::from_str(PODS).unwrap();
    let pdbs: Value = serde_json::from_str(PDBS).unwrap();
    World {
        pods: list["items"].as_array().unwrap().clone(),
        pdbs: pdbs["items"].as_array().unwrap().clone(),
        allowed,
        ..World::default()
    }
}

/// Run an exec suite lasting `secs` with `faults` (YAML list items, indented 6) and return
/// the suite's fault records.
async fn run(
    api: &FakeApi,
    secs: u32,
    faults: &str,
) -> (testcar_contract::Suite, Vec<FaultRecord>) {
    run_as(api.kube(), secs, faults).await
}

async fn run_as(
    kube: KubeEnv,
    secs: u32,
    faults: &str,
) -> (testcar_contract::Suite, Vec<FaultRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "suites:\n  - name: chaos\n    exec: [\"sleep\", \"{secs}\"]\n    faults:\n{faults}"
    );
    let path = dir.path().join("testcar.yaml");
    let def = manifest::parse(&text, &path).unwrap().suites.remove(0);
    let ctx = RunContext {
        kube,
        ..RunContext::new(dir.path().join("results"))
    };
    let suite = run_suite(&def, &ctx).await;
    let records = suite.faults.clone();
    let json = serde_json::to_string(&suite).unwrap();
    assert!(
        !json.contains("SECRET"),
        "the token leaked into the result: {json}"
    );
    (suite, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_eviction_passes_the_budget_and_the_next_is_refused() {
    let api = FakeApi::start(web(1)).await;
    let (suite, records) = run(
        &api,
        3,
        "      - kind: evict\n        seed: 3\n      - kind: evict\n        seed: 3\n        at: 1s\n",
    )
    .await;
    assert_eq!(suite.status, Status::Passed, "{suite:?}");
    assert_eq!(records.len(), 2, "{records:?}");
    let mut outcomes: Vec<&str> = records
        .iter()
        .filter_map(|r| r.outcome.as_deref())
        .collect();
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["evicted", "refused"], "{records:?}");
    let by = |o: &str| {
        records
            .iter()
            .find(|r| r.outcome.as_deref() == Some(o))
            .unwrap()
    };
    let evicted = by("evicted");
    assert_eq!(evicted.kind, "evict");
    assert!(
        evicted.target == "pod shop/web-7c9f8d6b5-8mn4p"
            || evicted.target == "pod shop/web-7c9f8d6b5-q7w2c",
        "a running sibling, never the agent's own pod: {}",
        evicted.target
    );
    assert_eq!(evicted.error, None);
    assert_eq!(evicted.healed_by.as_deref(), Some("suite end"));
    assert!(evicted.end.unwrap() >= evicted.start);
    let refused = by("refused");
    assert_eq!(
        refused.error, None,
        "a refusal is not an error: {refused:?}"
    );
    let detail = refused.detail.as_deref().unwrap();
    assert!(
        detail.contains("disruption budget web-min2 needs 2 healthy pods"),
        "{detail}"
    );
    // The evicted pod is terminating: the second eviction went to the other sibling.
    assert_ne!(refused.target, evicted.target);
    assert_ne!(refused.target, format!("pod shop/{OWN}"));
    let w = api.world();
    assert_eq!(w.unauthorized, 0, "every request carried the token");
    assert_eq!(
        w.requests
            .iter()
            .filter(|r| r.ends_with("/eviction"))
            .count(),
        2
    );
    assert!(
        w.requests.iter().all(|r| !r.starts_with("DELETE")),
        "{:?}",
        w.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_oldest_pod_s_agent_disrupts() {
    // 8mn4p is as old as 2xkqz to the second; the name makes 2xkqz the oldest.
    let api = FakeApi::start(web(5)).await;
    let (suite, records) = run_as(
        api.kube_as("web-7c9f8d6b5-8mn4p"),
        1,
        "      - kind: evict\n",
    )
    .await;
    assert_eq!(suite.status, Status::Passed);
    assert_eq!(
        records[0].outcome.as_deref(),
        Some("skipped"),
        "{records:?}"
    );
    assert_eq!(records[0].error, None);
    assert!(
        records[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("pod shop/web-7c9f8d6b5-2xkqz is older than this agent's"),
        "{records:?}"
    );
    assert!(
        api.world()
            .requests
            .iter()
            .all(|r| !r.ends_with("/eviction"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_picks_the_same_pod() {
    let mut picked = Vec::new();
    for _ in 0..2 {
        let api = FakeApi::start(web(5)).await;
        let (_, records) = run(&api, 1, "      - kind: evict\n        seed: 11\n").await;
        picked.push(records[0].target.clone());
    }
    assert_eq!(picked[0], picked[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_rbac_names_the_permission() {
    let mut world = web(1);
    world.forbid = Some("create pods/eviction");
    let api = FakeApi::start(world).await;
    let (suite, records) = run(&api, 1, "      - kind: evict\n").await;
    assert_eq!(
        suite.status,
        Status::Passed,
        "the suite itself ran: {suite:?}"
    );
    let error = records[0].error.as_deref().unwrap();
    assert!(
        error.starts_with(
            "forbidden: the agent's service account may not create pods/eviction in namespace shop"
        ) && error.contains("faults.pods"),
        "{error}"
    );
    assert_eq!(records[0].outcome, None);

    let mut world = web(1);
    world.forbid = Some("list pods");
    let api = FakeApi::start(world).await;
    let (_, records) = run(&api, 1, "      - kind: delete-pod\n").await;
    let error = records[0].error.as_deref().unwrap();
    assert!(
        error.contains("may not list pods in namespace shop"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_other_pod_is_an_error_of_the_fault() {
    let mut world = web(1);
    world
        .pods
        .retain(|p| p["metadata"]["name"] == OWN || p["status"]["phase"] != "Running");
    let api = FakeApi::start(world).await;
    let (suite, records) = run(&api, 1, "      - kind: evict\n").await;
    assert_eq!(suite.status, Status::Passed);
    let error = records[0].error.as_deref().unwrap();
    assert_eq!(
        error,
        "no other running pod of ReplicaSet/web-7c9f8d6b5 to disrupt (the agent never disrupts its own pod)"
    );
    assert!(
        api.world()
            .requests
            .iter()
            .all(|r| !r.ends_with("/eviction"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_pod_checks_the_budgets_first() {
    // web-min2 (disruptionsAllowed 0) selects the web pods: nothing is deleted.
    let api = FakeApi::start(web(0)).await;
    let (_, records) = run(
        &api,
        1,
        "      - kind: delete-pod\n        gracePeriod: 0s\n",
    )
    .await;
    assert_eq!(
        records[0].outcome.as_deref(),
        Some("refused"),
        "{records:?}"
    );
    assert!(
        records[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("PodDisruptionBudget web-min2 allows no disruption now"),
        "{records:?}"
    );
    assert!(
        api.world()
            .requests
            .iter()
            .all(|r| !r.starts_with("DELETE"))
    );

    // Without that budget the pod is deleted.
    let mut world = web(0);
    world.pdbs.retain(|b| b["metadata"]["name"] != "web-min2");
    let api = FakeApi::start(world).await;
    let (_, records) = run(&api, 1, "      - kind: delete-pod\n").await;
    assert_eq!(
        records[0].outcome.as_deref(),
        Some("deleted"),
        "{records:?}"
    );
    let deleted = records[0]
        .target
        .trim_start_matches("pod shop/")
        .to_string();
    let w = api.world();
    assert!(
        w.requests
            .contains(&format!("DELETE /api/v1/namespaces/shop/pods/{deleted}"))
    );
    assert!(
        w.pods
            .iter()
            .all(|p| p["metadata"]["name"] != deleted.as_str())
    );
}

#[tokio::test]
async fn without_the_token_the_suite_says_how_to_get_it() {
    let api = FakeApi::start(web(1)).await;
    std::fs::remove_file(api.sa.path().join("token")).unwrap();
    let (suite, records) = run(&api, 1, "      - kind: evict\n").await;
    assert!(records.is_empty());
    assert_eq!(suite.status, Status::Error);
    let error = suite.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("evict faults need the pod's service account token")
            && error.contains("testcar.io/faults: pods"),
        "{suite:?}"
    );
    assert!(api.world().requests.is_empty());
}
