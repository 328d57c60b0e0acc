//! Pod faults: evict or delete another pod of the agent's own workload through the Kubernetes
//! API, as the pod's service account (in-cluster config), so that the cluster's RBAC and
//! PodDisruptionBudgets decide what may be disrupted, never the agent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use testcar_contract::PodRef;

use super::config::PodChoice;
use super::schedule::SplitMix64;

/// Where the kubelet mounts the service account's token, CA and namespace.
pub use testcar_contract::paths::SERVICE_ACCOUNT_DIR;
/// Overrides [`SERVICE_ACCOUNT_DIR`] (tests, a laptop with a copied token).
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "TESTCAR_SERVICE_ACCOUNT_DIR";

/// Each API request's limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the agent knows about its cluster: the API server's address from the environment
/// every pod gets, the service account folder, and its own pod.
#[derive(Debug, Clone, Default)]
pub struct KubeEnv {
    /// `KUBERNETES_SERVICE_HOST`.
    pub host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: Option<String>,
    /// The folder with `token` and `ca.crt`.
    pub sa_dir: PathBuf,
    /// The agent's pod (`TESTCAR_POD_NAME`, `TESTCAR_POD_NAMESPACE`).
    pub pod: Option<PodRef>,
}

impl KubeEnv {
    /// From the process environment.
    pub fn from_env(pod: Option<PodRef>) -> KubeEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        KubeEnv {
            host: var("KUBERNETES_SERVICE_HOST"),
            port: var("KUBERNETES_SERVICE_PORT"),
            sa_dir: var(SERVICE_ACCOUNT_DIR_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR)),
            pod,
        }
    }
}

/// Pod faults cannot work here; the suite is `error` and does not run.
#[derive(Debug, thiserror::Error)]
pub enum PodSetupError {
    /// No API server address.
    #[error(
        "{0} faults talk to the Kubernetes API and KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT are not set (they are in every pod; pod faults only work in a cluster)"
    )]
    NotInCluster(&'static str),
    /// The agent does not know its own pod.
    #[error(
        "{0} faults disrupt another pod of the agent's own workload, and the agent does not know its pod: TESTCAR_POD_NAME and TESTCAR_POD_NAMESPACE are not set (the injector sets them)"
    )]
    NoPod(&'static str),
    /// The service account's files are missing.
    #[error(
        "{kind} faults need the pod's service account token, and {path} cannot be read: {message} (annotate the pod testcar.io/faults: pods so the injector mounts it into the agent, see docs/faults.md#pod-faults)"
    )]
    NoToken {
        /// The fault kind.
        kind: &'static str,
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The cluster CA is unusable.
    #[error("{kind} faults: the cluster CA {path} is not usable: {message}")]
    BadCa {
        /// The fault kind.
        kind: &'static str,
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// A pod fault that did not happen for a reason other than a budget; recorded in the
/// fault's `error`, the suite goes on.
#[derive(Debug, thiserror::Error)]
pub enum PodFaultError {
    /// RBAC does not allow what the fault needs.
    #[error(
        "forbidden: the agent's service account may not {permission} in namespace {namespace}; enable faults.pods in the chart and list the pod's service account in faults.pods.serviceAccounts (docs/faults.md#pod-faults). The API server said: {message}"
    )]
    Forbidden {
        /// Verb and resource, e.g. `create pods/eviction`.
        permission: &'static str,
        /// Where.
        namespace: String,
        /// The API server's message.
        message: String,
    },
    /// Any other answer.
    #[error("{permission} in namespace {namespace}: HTTP {code}: {message}")]
    Api {
        /// Verb and resource.
        permission: &'static str,
        /// Where.
        namespace: String,
        /// HTTP status.
        code: u16,
        /// The API server's message.
        message: String,
    },
    /// The API server did not answer.
    #[error("cannot reach the Kubernetes API at {url}: {message}")]
    Transport {
        /// The API server.
        url: String,
        /// Why.
        message: String,
    },
    /// The token file went away or became unreadable.
    #[error("cannot read the service account token {path}: {message}")]
    Token {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The agent's pod has no controller.
    #[error(
        "the agent's pod {0} has no controller (ownerReference with controller: true): pod faults pick another pod of the same workload"
    )]
    NoOwner(String),
    /// Nothing to disrupt.
    #[error("no other running pod of {owner} to disrupt (the agent never disrupts its own pod)")]
    NoOtherPod {
        /// `ReplicaSet/web-7c9f8d6b5`.
        owner: String,
    },
}

/// What the cluster did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The Eviction API accepted: the pod is being deleted gracefully.
    Evicted,
    /// Deleted.
    Deleted,
    /// A PodDisruptionBudget allowed no disruption; the pod is untouched.
    Refused(String),
    /// The agent's pod is not the workload's oldest: another agent disrupts, so that a
    /// replacement never evicts in turn.
    Skipped(String),
}

impl Outcome {
    /// The word recorded in the result.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Evicted => "evicted",
            Outcome::Deleted => "deleted",
            Outcome::Refused(_) => "refused",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

/// A sibling pod, as listed.
#[derive(Debug, Clone)]
struct Candidate {
    name: String,
    /// RFC 3339 with a `Z`, as the API server writes it: compares as text.
    created: String,
    labels: serde_json::Map<String, Value>,
}

/// The agent's pod and its siblings, from one listing.
#[derive(Debug)]
struct Workload {
    /// `ReplicaSet/web-7c9f8d6b5`.
    owner: String,
    /// Running, not terminating, not the agent's own, sorted by name.
    siblings: Vec<Candidate>,
    /// The agent's own pod's creation time.
    created: String,
}

impl Workload {
    /// The oldest running pod (creation time, then name) other than the agent's, if one
    /// is older than the agent's pod.
    fn older(&self, own: &str) -> Option<&Candidate> {
        self.siblings
            .iter()
            .filter(|c| (c.created.as_str(), c.name.as_str()) < (self.created.as_str(), own))
            .min_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)))
    }
}

/// The agent's client of the Kubernetes API, for pod faults only.
#[derive(Debug)]
pub struct PodApi {
    client: reqwest::Client,
    base: String,
    token_file: PathBuf,
    pod: PodRef,
}

impl PodApi {
    /// From the in-cluster configuration; `kind` names the fault in errors.
    pub fn new(env: &KubeEnv, kind: &'static str) -> Result<PodApi, PodSetupError> {
        let (Some(host), Some(port)) = (&env.host, &env.port) else {
            return Err(PodSetupError::NotInCluster(kind));
        };
        let pod = env.pod.clone().ok_or(PodSetupError::NoPod(kind))?;
        let token_file = env.sa_dir.join("token");
        read_token(&token_file).map_err(|message| PodSetupError::NoToken {
            kind,
            path: token_file.display().to_string(),
            message,
        })?;
        let ca_file = env.sa_dir.join("ca.crt");
        let bad_ca = |message: String| PodSetupError::BadCa {
            kind,
            path: ca_file.display().to_string(),
            message,
        };
        let pem = std::fs::read(&ca_file).map_err(|e| bad_ca(e.to_string()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad_ca(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad_ca("no PEM certificate in it".into()));
        }
        // One crypto provider for the process (ring); a second install attempt is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .tls_certs_only(certs)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| bad_ca(e.to_string()))?;
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(PodApi {
            client,
            base: format!("https://{host}:{port}"),
            token_file,
            pod,
        })
    }

    /// The agent's own pod.
    pub fn pod(&self) -> &PodRef {
        &self.pod
    }

    /// One request; `permission` names what RBAC must allow, for the errors.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        permission: &'static str,
    ) -> Result<(u16, Value), PodFaultError> {
        // Projected tokens rotate: read the file for every request.
        let token = read_token(&self.token_file).map_err(|message| PodFaultError::Token {
            path: self.token_file.display().to_string(),
            message,
        })?;
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .request(method, &url)
            .bearer_auth(token)
            .header("accept", "application/json");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| PodFaultError::Transport {
            url: self.base.clone(),
            message: crate::readiness::describe_reqwest(&e),
        })?;
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let namespace = self.pod.namespace.clone();
        let message = || {
            value["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| text.chars().take(300).collect())
        };
        match code {
            200..=299 | 429 => Ok((code, value)),
            403 => Err(PodFaultError::Forbidden {
                permission,
                namespace,
                message: message(),
            }),
            _ => Err(PodFaultError::Api {
                permission,
                namespace,
                code,
                message: message(),
            }),
        }
    }

    /// The other running pods of the agent's workload (same controller), sorted by name,
    /// and the controller's `Kind/name`.
    async fn workload(&self) -> Result<Workload, PodFaultError> {
        let ns = &self.pod.namespace;
        let (_, own) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/namespaces/{ns}/pods/{}", self.pod.name),
                None,
                "get pods",
            )
            .await?;
        let owner = own["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["controller"] == true)
            .cloned()
            .ok_or_else(|| PodFaultError::NoOwner(format!("{ns}/{}", self.pod.name)))?;
        let owner_name = format!(
            "{}/{}",
            owner["kind"].as_str().unwrap_or("?"),
            owner["name"].as_str().unwrap_or("?")
        );
        let (_, list) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/namespaces/{ns}/pods"),
                None,
                "list pods",
            )
            .await?;
        Ok(Workload {
            owner: owner_name,
            siblings: candidates(&list, &owner["uid"], &self.pod.name),
            created: own["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// Pick a pod (seeded by `choice.seed` and the window's number) and disrupt it. Only
    /// the agent of the workload's oldest running pod does: every replica runs the same
    /// suites, and a replacement disrupting in turn would churn the workload forever.
    pub async fn disrupt(
        &self,
        choice: &PodChoice,
        evict: bool,
        window: u64,
    ) -> Result<(String, Outcome), PodFaultError> {
        let workload = self.workload().await?;
        let ns = &self.pod.namespace;
        if let Some(oldest) = workload.older(&self.pod.name) {
            return Ok((
                format!("pods of {}", workload.owner),
                Outcome::Skipped(format!(
                    "pod {ns}/{} is older than this agent's: only the agent of the workload's oldest running pod disrupts its siblings, so that replacements never disrupt in turn",
                    oldest.name
                )),
            ));
        }
        let pods = workload.siblings;
        if pods.is_empty() {
            return Err(PodFaultError::NoOtherPod {
                owner: workload.owner,
            });
        }
        let victim = &pods[pick(choice.seed, window, pods.len())];
        let path = format!("/api/v1/namespaces/{ns}/pods/{}", victim.name);
        let delete_options = choice.grace_period.map(|g| {
            json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": g.as_secs()})
        });
        let outcome = if evict {
            let mut body = json!({
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": victim.name, "namespace": ns},
            });
            if let Some(o) = delete_options {
                body["deleteOptions"] = o;
            }
            let (code, answer) = self
                .call(
                    reqwest::Method::POST,
                    &format!("{path}/eviction"),
                    Some(body),
                    "create pods/eviction",
                )
                .await?;
            if code == 429 {
                Outcome::Refused(refusal(&answer))
            } else {
                Outcome::Evicted
            }
        } else {
            let (_, pdbs) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"),
                    None,
                    "list poddisruptionbudgets",
                )
                .await?;
            match blocking_budget(&pdbs, &victim.labels) {
                Some(why) => Outcome::Refused(why),
                None => {
                    self.call(
                        reqwest::Method::DELETE,
                        &path,
                        delete_options,
                        "delete pods",
                    )
                    .await?;
                    Outcome::Deleted
                }
            }
        };
        Ok((format!("pod {ns}/{}", victim.name), outcome))
    }
}

fn read_token(path: &Path) -> Result<String, String> {
    let t = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(t)
}

/// The running, not terminating pods of `list` controlled by `owner_uid`, except `own`.
fn candidates(list: &Value, owner_uid: &Value, own: &str) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            let m = &p["metadata"];
            m["name"] != own
                && m["deletionTimestamp"].is_null()
                && p["status"]["phase"] == "Running"
                && m["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["controller"] == true && &o["uid"] == owner_uid)
        })
        .filter_map(|p| {
            Some(Candidate {
                name: p["metadata"]["name"].as_str()?.to_string(),
                created: p["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                labels: p["metadata"]["labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The index the `window`-th window of a fault seeded with `seed` picks among `n` pods.
fn pick(seed: u64, window: u64, n: usize) -> usize {
    let mut rng = SplitMix64(seed ^ window.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (rng.next_u64() % n as u64) as usize
}

/// The API server's words for a 429 from the Eviction API.
fn refusal(answer: &Value) -> String {
    let mut why = answer["message"]
        .as_str()
        .unwrap_or("too many requests")
        .to_string();
    for cause in answer["details"]["causes"].as_array().into_iter().flatten() {
        if let Some(m) = cause["message"].as_str() {
            why.push_str(": ");
            why.push_str(m);
        }
    }
    why
}

/// The first PodDisruptionBudget selecting a pod with `labels` that allows no disruption
/// now, said as a refusal.
fn blocking_budget(pdbs: &Value, labels: &serde_json::Map<String, Value>) -> Option<String> {
    pdbs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| selects(&b["spec"]["selector"], labels))
        .find_map(|b| {
            let allowed = b["status"]["disruptionsAllowed"].as_i64().unwrap_or(0);
            (allowed < 1).then(|| {
                format!(
                    "PodDisruptionBudget {} allows no disruption now (disruptionsAllowed {allowed}, {} healthy of {} desired)",
                    b["metadata"]["name"].as_str().unwrap_or("?"),
                    b["status"]["currentHealthy"].as_i64().unwrap_or(0),
                    b["status"]["desiredHealthy"].as_i64().unwrap_or(0),
                )
            })
        })
}

/// Whether a `LabelSelector` selects `labels`. An empty selector (`{}`) selects every pod;
/// a missing or null one none (policy/v1).
fn selects(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let Some(sel) = selector.as_object() else {
        return false;
    };
    let matches_labels = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let matches_expressions = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let value = labels.get(key);
            let values: Vec<&Value> = e["values"].as_array().into_iter().flatten().collect();
            match e["operator"].as_str().unwrap_or_default() {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        });
    matches_labels && matches_expressions
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODS: &str = include_str!("../../test_data/faults/pods-web.json");
    const PDBS: &str = include_str!("../../test_data/faults/pdbs-web.json");

    #[test]
    fn candidates_are_running_siblings_of_the_same_controller() {
        let list: Value = serde_json::from_str(PODS).unwrap();
        let uid = json!("6f1c1f5e-3b1a-4d5e-9d43-8a4f0e2b7c11");
        let names: Vec<String> = candidates(&list, &uid, "web-7c9f8d6b5-2xkqz")
            .into_iter()
            .map(|c| c.name)
            .collect();
        // Not itself, not the terminating one, not the pending one, not the old ReplicaSet's.
        assert_eq!(names, ["web-7c9f8d6b5-8mn4p", "web-7c9f8d6b5-q7w2c"]);
    }

    #[test]
    fn only_the_oldest_pod_disrupts() {
        let list: Value = serde_json::from_str(PODS).unwrap();
        let uid = json!("6f1c1f5e-3b1a-4d5e-9d43-8a4f0e2b7c11");
        let w = |own: &str, created: &str| Workload {
            owner: "ReplicaSet/web-7c9f8d6b5".into(),
            siblings: candidates(&list, &uid, own),
            created: created.into(),
        };
        // 2xkqz and 8mn4p were created in the same second: the name breaks the tie.
        assert!(
            w("web-7c9f8d6b5-2xkqz", "2026-12-04T21:00:00Z")
                .older("web-7c9f8d6b5-2xkqz")
                .is_none()
        );
        let o = w("web-7c9f8d6b5-8mn4p", "2026-12-04T21:00:00Z");
        assert_eq!(
            o.older("web-7c9f8d6b5-8mn4p").unwrap().name,
            "web-7c9f8d6b5-2xkqz"
        );
        // A replacement, younger than every sibling, never disrupts.
        let o = w("web-7c9f8d6b5-new01", "2026-12-04T21:30:00Z");
        assert_eq!(
            o.older("web-7c9f8d6b5-new01").unwrap().name,
            "web-7c9f8d6b5-2xkqz"
        );
    }

    #[test]
    fn the_pick_is_reproducible_and_spreads() {
        assert_eq!(pick(42, 0, 3), pick(42, 0, 3));
        let picks: std::collections::BTreeSet<usize> = (0..32).map(|w| pick(42, w, 3)).collect();
        assert_eq!(picks.len(), 3, "32 windows reach all 3 pods");
        assert!((0..100).all(|s| pick(s, 0, 1) == 0));
    }

    #[test]
    fn budgets_that_block_and_that_do_not() {
        let pdbs: Value = serde_json::from_str(PDBS).unwrap();
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
        };
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let why = blocking_budget(&pdbs, &web).unwrap();
        assert!(
            why.starts_with("PodDisruptionBudget web-min2 allows no disruption now (disruptionsAllowed 0, 2 healthy of 2 desired)"),
            "{why}"
        );
        // Selected only by the budget that still allows one.
        assert_eq!(blocking_budget(&pdbs, &labels(&[("app", "api")])), None);
        assert_eq!(blocking_budget(&pdbs, &labels(&[("app", "other")])), None);
    }

    #[test]
    fn selectors() {
        let l: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"app": "web", "tier": "front"})).unwrap();
        assert!(selects(&json!({}), &l));
        assert!(!selects(&Value::Null, &l));
        assert!(selects(&json!({"matchLabels": {"app": "web"}}), &l));
        assert!(!selects(&json!({"matchLabels": {"app": "api"}}), &l));
        let expr = |op: &str, values: Value| json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]});
        assert!(selects(&expr("In", json!(["front", "back"])), &l));
        assert!(!selects(&expr("NotIn", json!(["front"])), &l));
        assert!(selects(&expr("Exists", Value::Null), &l));
        assert!(!selects(&expr("DoesNotExist", Value::Null), &l));
    }

    #[test]
    fn refusals_carry_the_budget() {
        let answer = json!({
            "kind": "Status", "status": "Failure", "code": 429, "reason": "TooManyRequests",
            "message": "Cannot evict pod as it would violate the pod's disruption budget.",
            "details": {"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget web-pdb needs 2 healthy pods and has 2 currently"}]}
        });
        assert_eq!(
            refusal(&answer),
            "Cannot evict pod as it would violate the pod's disruption budget.: The disruption budget web-pdb needs 2 healthy pods and has 2 currently"
        );
    }

    #[test]
    fn setup_errors_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = KubeEnv {
            sa_dir: dir.path().into(),
            ..KubeEnv::default()
        };
        let e = PodApi::new(&env, "evict").unwrap_err();
        assert!(e.to_string().contains("KUBERNETES_SERVICE_HOST"), "{e}");
        env.host = Some("10.96.0.1".into());
        env.port = Some("443".into());
        let e = PodApi::new(&env, "evict").unwrap_err();
        assert!(e.to_string().contains("TESTCAR_POD_NAME"), "{e}");
        env.pod = Some(PodRef {
            name: "web-1".into(),
            namespace: "shop".into(),
        });
        let e = PodApi::new(&env, "delete-pod").unwrap_err().to_string();
        assert!(
            e.starts_with("delete-pod faults need the pod's service account token")
                && e.contains("testcar.io/faults: pods"),
            "{e}"
        );
        std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
        std::fs::write(dir.path().join("ca.crt"), "not a pem").unwrap();
        let e = PodApi::new(&env, "evict").unwrap_err().to_string();
        assert!(e.contains("cluster CA"), "{e}");
    }
}
