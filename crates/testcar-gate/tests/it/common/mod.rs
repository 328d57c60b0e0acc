//! A stand-in kube-apiserver for the gate's tests. There is no kube-apiserver on these
//! machines, so an in-process axum server on 127.0.0.1 answers the real API paths and query
//! parameters (`labelSelector`, `container`, `previous`, pod proxy) with recorded-shape
//! payloads from `test_data/` (objects as the API server returns them, `Status` errors with
//! the API server's own messages), and the real kube-rs client reaches it through a
//! generated kubeconfig.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const DEPLOYMENT: &str = include_str!("../../../test_data/deployment-orders.json");
pub const REPLICASETS: &str = include_str!("../../../test_data/replicasets-orders.json");
pub const PODS: &str = include_str!("../../../test_data/pods-orders.json");
pub const STATEFULSET: &str = include_str!("../../../test_data/statefulset-ledger.json");
pub const STS_PODS: &str = include_str!("../../../test_data/pods-ledger.json");
pub const WEBHOOKS: &str = include_str!("../../../test_data/mutatingwebhookconfigurations.json");
pub const PREAMBLE: &str = include_str!("../../../test_data/agent-preamble.log");
pub const IDLE: &str = include_str!("../../../test_data/agent-idle.log");
pub const RUN_PASSED: &str = include_str!("../../../../../docs/examples/passed.json");
pub const RUN_FAILED: &str = include_str!("../../../../../docs/examples/failed.json");
pub const RUN_ERROR: &str = include_str!("../../../../../docs/examples/error.json");

/// The bearer token in the generated kubeconfig; tests check it never shows up in output.
pub const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.gate-test-token-SECRET-7f3a";

pub const CURRENT: [&str; 3] = [
    "orders-7c9f8d6b5-2xkqz",
    "orders-7c9f8d6b5-8mn4p",
    "orders-7c9f8d6b5-q7w2c",
];
pub const OLD: &str = "orders-5b6d8f9c7-zz9tv";

/// What the fake cluster holds.
#[derive(Debug, Default)]
pub struct World {
    pub deployments: Vec<Value>,
    pub replicasets: Vec<Value>,
    pub statefulsets: Vec<Value>,
    pub pods: Vec<Value>,
    /// `None` answers 403, like a gate without the optional RBAC rule.
    pub webhooks: Option<Vec<Value>>,
    /// Successive answers for a pod's `testcar` log; the last one repeats.
    pub logs: HashMap<String, VecDeque<String>>,
    /// Logs of the previous instance (`previous=true`).
    pub previous_logs: HashMap<String, String>,
    /// Body the agent serves at `/result` through the pod proxy.
    pub proxy: HashMap<String, String>,
    /// Answer 403 to every pods/log request.
    pub forbid_logs: bool,
    /// Every request, as `path?query`.
    pub requests: Vec<String>,
    /// Requests that carried the expected bearer token.
    pub authorized: usize,
    /// The `x-testcar-token` of each pod-proxy request, as received.
    pub proxy_tokens: Vec<Option<String>>,
    /// ConfigMaps (the gate's `testcar-verified` record).
    pub configmaps: Vec<Value>,
    /// Answer 403 to every ConfigMap patch, like a gate without the chart's Role.
    pub forbid_configmap_patch: bool,
    /// Each ConfigMap patch: path, content type, body.
    pub configmap_patches: Vec<(String, String, Value)>,
}

/// The literal `TESTCAR_READ_TOKEN` of a pod's `testcar` container.
fn read_token_of(pod: &Value) -> Option<String> {
    let spec = &pod["spec"];
    spec["containers"]
        .as_array()
        .into_iter()
        .chain(spec["initContainers"].as_array())
        .flatten()
        .filter(|c| c["name"] == "testcar")
        .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
        .find(|e| e["name"] == "TESTCAR_READ_TOKEN")
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

pub fn items(list: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(list).unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

impl World {
    /// The `orders` Deployment at revision 7 with its two ReplicaSets and four pods.
    pub fn orders() -> World {
        World {
            deployments: vec![serde_json::from_str(DEPLOYMENT).unwrap()],
            replicasets: items(REPLICASETS),
            pods: items(PODS),
            webhooks: Some(items(WEBHOOKS)),
            ..World::default()
        }
    }

    /// The `ledger` StatefulSet (partition 1: ledger-1 and ledger-2 are updated).
    pub fn ledger() -> World {
        World {
            statefulsets: vec![serde_json::from_str(STATEFULSET).unwrap()],
            pods: items(STS_PODS),
            webhooks: Some(items(WEBHOOKS)),
            ..World::default()
        }
    }

    pub fn set_log(&mut self, pod: &str, logs: &[String]) {
        self.logs
            .insert(pod.to_string(), logs.iter().cloned().collect());
    }

    pub fn pod_mut(&mut self, name: &str) -> &mut Value {
        self.pods
            .iter_mut()
            .find(|p| p["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no pod {name} in the fixture"))
    }

    /// An empty ConfigMap, as the chart creates `testcar-verified`.
    pub fn add_configmap(&mut self, ns: &str, name: &str) {
        self.configmaps.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": "1200",
                         "uid": "3f0e6c1a-8d3b-4a57-b3e4-2c9d7e1f0a11"}
        }));
    }

    pub fn configmap_data(&self, ns: &str, name: &str) -> Option<Value> {
        named(&self.configmaps, ns, name).map(|c| c["data"].clone())
    }

    pub fn requested(&self, needle: &str) -> bool {
        self.requests.iter().any(|r| r.contains(needle))
    }
}

/// The agent's log as it looks after a run: its log records, the result line, an idle line.
pub fn log_with(run_json: &str, pod: &str) -> String {
    let mut run: Value = serde_json::from_str(run_json).unwrap();
    run["pod"] = json!({"name": pod, "namespace": "shop"});
    format!("{PREAMBLE}{}\n{IDLE}", serde_json::to_string(&run).unwrap())
}

/// The agent's log before a result exists.
pub fn log_without_result() -> String {
    PREAMBLE.to_string()
}

pub fn run_with_pod(run_json: &str, pod: &str) -> String {
    let mut run: Value = serde_json::from_str(run_json).unwrap();
    run["pod"] = json!({"name": pod, "namespace": "shop"});
    serde_json::to_string(&run).unwrap()
}

pub struct FakeApi {
    pub addr: SocketAddr,
    pub world: Arc<Mutex<World>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    pub async fn start(world: World) -> FakeApi {
        let world = Arc::new(Mutex::new(world));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeApi { addr, world, task }
    }

    /// A kubeconfig whose current context points elsewhere (a closed port) and whose
    /// `fake` context points at this server, so tests can exercise `--context`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            r#"apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://{addr}
- name: elsewhere
  cluster:
    server: http://127.0.0.1:9
contexts:
- name: fake
  context:
    cluster: fake
    user: gate
    namespace: shop
- name: elsewhere
  context:
    cluster: elsewhere
    user: gate
current-context: fake
users:
- name: gate
  user:
    token: {TOKEN}
"#,
            addr = self.addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    });
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn ok_json(v: Value) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

fn ok_text(t: String) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(t))
        .unwrap()
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .map(|q| {
            url_decode_pairs(q)
                .into_iter()
                .collect::<BTreeMap<String, String>>()
        })
        .unwrap_or_default()
}

fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Equality-based selectors as the API server reads them: `k=v`, `k==v`, `k!=v`, `k`, `!k`.
fn matches(selector: &str, labels: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let label = |k: &str| labels.get(k.trim()).and_then(|v| v.as_str());
        if let Some((k, v)) = term.split_once("!=") {
            label(k) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==") {
            label(k) == Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            label(k) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            label(k).is_none()
        } else {
            label(term).is_some()
        }
    })
}

fn list(
    kind: &str,
    api_version: &str,
    items: &[Value],
    q: &BTreeMap<String, String>,
    ns: &str,
) -> Response {
    let selector = q.get("labelSelector").cloned().unwrap_or_default();
    let items: Vec<Value> = items
        .iter()
        .filter(|o| o["metadata"]["namespace"] == ns)
        .filter(|o| matches(&selector, &o["metadata"]["labels"]))
        .cloned()
        .collect();
    ok_json(
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": "918400"}, "items": items}),
    )
}

fn named<'a>(items: &'a [Value], ns: &str, name: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|o| o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
}

/// A JSON merge patch (RFC 7386) of `doc`, as the API server applies `Patch::Merge`.
fn merge(doc: &mut Value, patch: &Value) {
    match (doc.as_object_mut(), patch.as_object()) {
        (Some(d), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    d.remove(k);
                } else {
                    merge(d.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *doc = patch.clone(),
    }
}

fn patch_configmap(
    w: &mut World,
    ns: &str,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let patch: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return status(400, "BadRequest", &format!("invalid JSON patch: {e}")),
    };
    w.configmap_patches.push((
        format!("/api/v1/namespaces/{ns}/configmaps/{name}"),
        content_type.clone(),
        patch.clone(),
    ));
    if w.forbid_configmap_patch {
        return status(
            403,
            "Forbidden",
            &format!(
                "configmaps \"{name}\" is forbidden: User \"system:serviceaccount:ci:gate\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
            ),
        );
    }
    if content_type != "application/merge-patch+json" {
        return status(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got {content_type}"
            ),
        );
    }
    let Some(cm) = w
        .configmaps
        .iter_mut()
        .find(|o| o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name)
    else {
        return status(404, "NotFound", &format!("configmaps \"{name}\" not found"));
    };
    merge(cm, &patch);
    ok_json(cm.clone())
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = world.lock().unwrap();
    w.requests.push(uri.to_string());
    let expected = format!("Bearer {TOKEN}");
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
    {
        w.authorized += 1;
    } else {
        return status(401, "Unauthorized", "Unauthorized");
    }
    let q = query(&uri);
    let segs: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    if let ["api", "v1", "namespaces", ns, "configmaps", name] = segs.as_slice() {
        if method == Method::PATCH {
            let (ns, name) = (ns.to_string(), name.to_string());
            return patch_configmap(&mut w, &ns, &name, &headers, &body);
        }
    }
    match segs.as_slice() {
        ["apis", "apps", "v1", "namespaces", ns, "deployments", name] => {
            match named(&w.deployments, ns, name) {
                Some(d) => ok_json(d.clone()),
                None => status(
                    404,
                    "NotFound",
                    &format!("deployments.apps \"{name}\" not found"),
                ),
            }
        }
        ["apis", "apps", "v1", "namespaces", ns, "statefulsets", name] => {
            match named(&w.statefulsets, ns, name) {
                Some(d) => ok_json(d.clone()),
                None => status(
                    404,
                    "NotFound",
                    &format!("statefulsets.apps \"{name}\" not found"),
                ),
            }
        }
        ["apis", "apps", "v1", "namespaces", ns, "replicasets"] => {
            list("ReplicaSetList", "apps/v1", &w.replicasets, &q, ns)
        }
        ["api", "v1", "namespaces", ns, "pods"] => list("PodList", "v1", &w.pods, &q, ns),
        ["api", "v1", "namespaces", ns, "pods", name] if name.ends_with(":9464") => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        ["api", "v1", "namespaces", ns, "pods", name] => match named(&w.pods, ns, name) {
            Some(p) => ok_json(p.clone()),
            None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
        },
        ["api", "v1", "namespaces", ns, "pods", name, "log"] => {
            let name = name.to_string();
            if named(&w.pods, ns, &name).is_none() {
                return status(404, "NotFound", &format!("pods \"{name}\" not found"));
            }
            if w.forbid_logs {
                return status(
                    403,
                    "Forbidden",
                    &format!(
                        "pods \"{name}\" is forbidden: User \"system:serviceaccount:ci:gate\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"shop\""
                    ),
                );
            }
            if q.get("container").map(String::as_str) != Some("testcar") {
                return status(
                    400,
                    "BadRequest",
                    &format!(
                        "a container name must be specified for pod {name}, choose one of: [app testcar]"
                    ),
                );
            }
            if q.get("previous").map(String::as_str) == Some("true") {
                return match w.previous_logs.get(&name) {
                    Some(l) => ok_text(l.clone()),
                    None => status(
                        400,
                        "BadRequest",
                        &format!(
                            "previous terminated container \"testcar\" in pod \"{name}\" not found"
                        ),
                    ),
                };
            }
            match w.logs.get_mut(&name) {
                Some(answers) => {
                    let text = if answers.len() > 1 {
                        answers.pop_front().unwrap()
                    } else {
                        answers.front().cloned().unwrap_or_default()
                    };
                    ok_text(text)
                }
                None => ok_text(String::new()),
            }
        }
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "pods",
            target,
            "proxy",
            "result",
        ] => {
            let Some(name) = target.strip_suffix(":9464") else {
                return status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            };
            let ip = named(&w.pods, ns, name)
                .and_then(|p| p["status"]["podIP"].as_str().map(str::to_string))
                .unwrap_or_default();
            // As the real API server does: `Authorization` stays behind, other headers
            // reach the agent, which wants the pod's read token from off the pod.
            let pod_token = named(&w.pods, ns, name).and_then(read_token_of);
            let given = headers
                .get("x-testcar-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            w.proxy_tokens.push(given.clone());
            if let Some(expected) = pod_token {
                if given.as_deref() != Some(expected.as_str()) {
                    return (
                        StatusCode::UNAUTHORIZED,
                        "/result needs the pod's read token in the x-testcar-token header\n",
                    )
                        .into_response();
                }
            }
            match w.proxy.get(name) {
                Some(body) => ok_json(serde_json::from_str(body).unwrap()),
                None => status(
                    503,
                    "ServiceUnavailable",
                    &format!(
                        "error trying to reach service: dial tcp {ip}:9464: connect: connection refused"
                    ),
                ),
            }
        }
        [
            "apis",
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
        ] => match &w.webhooks {
            Some(items) => ok_json(json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfigurationList",
                "metadata": {"resourceVersion": "55012"}, "items": items
            })),
            None => status(
                403,
                "Forbidden",
                "mutatingwebhookconfigurations.admissionregistration.k8s.io is forbidden: User \"system:serviceaccount:ci:gate\" cannot list resource \"mutatingwebhookconfigurations\" in API group \"admissionregistration.k8s.io\" at the cluster scope",
            ),
        },
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}
