//! One look at one pod's verdict: the `testcar` container's log, the previous instance's
//! log after a restart, then the agent's `/result` through the API server's pod proxy.
//! Anything short of a result says why, so a timeout can name what is missing.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};
use kube::api::LogParams;
use kube::{Api, Client, ResourceExt};
use serde::Serialize;
use testcar_contract::endpoints::{Access, Endpoint, EndpointPolicy, READ_TOKEN_HEADER};
use testcar_contract::env::{ENDPOINTS, LISTEN, READ_TOKEN};
use testcar_contract::line::find_last_result;
use testcar_contract::paths::{AGENT_PORT, AGENT_PORT_NAME, CONTAINER_NAME};
use testcar_contract::{Run, SCHEMA_ID};

use crate::api_error;

/// Lines read from the end of a log; the result is the agent's last line and the agent
/// stays idle after printing it, so the tail always holds it.
pub const LOG_TAIL_LINES: i64 = 5000;

/// Where a verdict was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The running (or last) `testcar` container's log.
    Log,
    /// The previous instance's log (`previous=true`), after a restart.
    PreviousLog,
    /// `GET /result` on the agent through the API server's pod proxy.
    Proxy,
}

impl Source {
    /// Name as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Log => "log",
            Source::PreviousLog => "previous-log",
            Source::Proxy => "proxy",
        }
    }
}

/// What one look found.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// A result document.
    Reported {
        /// The run.
        run: Box<Run>,
        /// Where it was read.
        source: Source,
    },
    /// No result yet; the reason says what was seen.
    Pending {
        /// Why there is no result yet.
        reason: String,
    },
    /// The pod has no `testcar` container: it was not injected.
    NoSidecar,
    /// The pod or container has stopped for good without a result.
    Stopped {
        /// What happened.
        reason: String,
    },
}

/// A probe and the container's restart count.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What was found.
    pub probe: Probe,
    /// `restartCount` of the `testcar` container.
    pub restarts: i32,
}

/// A look that cannot succeed by waiting.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The API server refused to show the logs (RBAC).
    #[error(
        "cannot read the log of pod {pod}: {}{}",
        api_error::describe(source),
        api_error::rbac_hint(source, "get on pods/log")
    )]
    Logs {
        /// The pod.
        pod: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
}

/// The agent's container, regular or native (init) sidecar.
fn sidecar(pod: &Pod) -> Option<&Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == CONTAINER_NAME)
}

/// Whether the pod carries the agent, as a regular or a native (init) sidecar.
pub fn has_sidecar(pod: &Pod) -> bool {
    sidecar(pod).is_some()
}

/// The port the agent serves `/result` on: the injector moves it off 9464 when the app
/// already uses that port, and says so in the agent's listen address and its named port.
fn agent_port(pod: &Pod) -> u16 {
    let Some(c) = sidecar(pod) else {
        return AGENT_PORT;
    };
    let from_env = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == LISTEN)
        .and_then(|e| e.value.as_deref())
        .and_then(|v| v.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok());
    let named = || {
        c.ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(AGENT_PORT_NAME))
            .and_then(|p| u16::try_from(p.container_port).ok())
    };
    from_env.or_else(named).unwrap_or(AGENT_PORT)
}

/// The pod's read token, as the injector wrote it into the agent's environment. Anyone who
/// can read the pod spec can read it: the same people who can read the verdict in its log.
fn agent_read_token(pod: &Pod) -> Option<&str> {
    sidecar(pod)?
        .env
        .iter()
        .flatten()
        .find(|e| e.name == READ_TOKEN)
        .and_then(|e| e.value.as_deref())
        .filter(|v| !v.is_empty())
}

/// Where the pod's agent serves its HTML report (`/report`), when its endpoint policy
/// (`TESTCAR_ENDPOINTS` in the agent's environment, else the default) serves it at all.
pub fn html_report(pod: &Pod) -> Option<HtmlReport> {
    let c = sidecar(pod)?;
    let policy = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == ENDPOINTS)
        .and_then(|e| e.value.as_deref())
        .map(|v| v.parse::<EndpointPolicy>().unwrap_or_default())
        .unwrap_or_default();
    let access = policy.access(Endpoint::Report);
    if access == Access::Off {
        return None;
    }
    let port = agent_port(pod);
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    Some(HtmlReport {
        access: access.as_str(),
        port,
        proxy_path: format!("/api/v1/namespaces/{ns}/pods/{name}:{port}/proxy/report"),
    })
}

/// How to open a pod's HTML report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HtmlReport {
    /// The pod's access level for `/report`: `local` (port-forward only), `token` (also
    /// remote callers with the pod's read token) or `open`.
    pub access: &'static str,
    /// The agent's port.
    pub port: u16,
    /// The API server's pod-proxy path to the report.
    pub proxy_path: String,
}

fn sidecar_status(pod: &Pod) -> Option<&ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .find(|c| c.name == CONTAINER_NAME)
}

/// Why a pod that has not started its agent is waiting, from its conditions.
fn not_started_reason(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let unscheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        })
        .map(|c| {
            format!(
                "pod not scheduled: {}{}",
                c.reason.as_deref().unwrap_or("Unschedulable"),
                c.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )
        });
    unscheduled.unwrap_or_else(|| {
        format!("container {CONTAINER_NAME} has not started (pod phase {phase})")
    })
}

/// Look at one pod once.
pub async fn probe(client: &Client, pods: &Api<Pod>, pod: &Pod) -> Result<Observation, ProbeError> {
    let name = pod.name_any();
    if !has_sidecar(pod) {
        return Ok(Observation {
            probe: Probe::NoSidecar,
            restarts: 0,
        });
    }
    let Some(cs) = sidecar_status(pod) else {
        return Ok(Observation {
            probe: Probe::Pending {
                reason: not_started_reason(pod),
            },
            restarts: 0,
        });
    };
    let restarts = cs.restart_count;
    let state = cs.state.clone().unwrap_or_default();
    let running = state.running.is_some();
    let mut notes: Vec<String> = Vec::new();

    // The current instance has a log unless it is waiting (not started, or in back-off
    // after a crash, when only the previous instance's log exists).
    if let Some(waiting) = &state.waiting {
        notes.push(format!(
            "container {CONTAINER_NAME} waiting: {}{}",
            waiting.reason.as_deref().unwrap_or("unknown reason"),
            waiting
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    } else {
        match read_log(pods, &name, false).await? {
            Ok(log) => match find_last_result(&log) {
                Ok(run) => {
                    return Ok(Observation {
                        probe: Probe::Reported {
                            run: Box::new(run),
                            source: Source::Log,
                        },
                        restarts,
                    });
                }
                Err(e) => notes.push(e.to_string()),
            },
            Err(reason) => notes.push(format!("log not readable: {reason}")),
        }
    }

    if restarts > 0 {
        match read_log(pods, &name, true).await? {
            Ok(log) => match find_last_result(&log) {
                Ok(run) => {
                    return Ok(Observation {
                        probe: Probe::Reported {
                            run: Box::new(run),
                            source: Source::PreviousLog,
                        },
                        restarts,
                    });
                }
                Err(e) => notes.push(format!("previous instance: {e}")),
            },
            Err(reason) => notes.push(format!("previous log not readable: {reason}")),
        }
    }

    if running {
        match read_proxy_result(client, pod).await {
            Ok(run) => {
                return Ok(Observation {
                    probe: Probe::Reported {
                        run: Box::new(run),
                        source: Source::Proxy,
                    },
                    restarts,
                });
            }
            Err(reason) => notes.push(format!("agent /result: {reason}")),
        }
    }

    let reason = notes.join("; ");
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("");
    let restart_never =
        pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("Never");
    let stopped = if phase == "Failed" || phase == "Succeeded" {
        let why = pod
            .status
            .as_ref()
            .and_then(|s| s.reason.clone().or_else(|| s.message.clone()))
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        Some(format!("pod phase {phase}{why} and no result: {reason}"))
    } else if let (Some(t), true) = (&state.terminated, restart_never) {
        Some(format!(
            "container {CONTAINER_NAME} exited with code {} and will not restart; no result: {reason}",
            t.exit_code
        ))
    } else {
        None
    };
    Ok(Observation {
        probe: match stopped {
            Some(reason) => Probe::Stopped { reason },
            None => Probe::Pending { reason },
        },
        restarts,
    })
}

/// The log text, or why it could not be read now; an `Err` is returned only when waiting
/// cannot help.
async fn read_log(
    pods: &Api<Pod>,
    name: &str,
    previous: bool,
) -> Result<Result<String, String>, ProbeError> {
    let params = LogParams {
        container: Some(CONTAINER_NAME.to_string()),
        previous,
        tail_lines: Some(LOG_TAIL_LINES),
        ..LogParams::default()
    };
    match pods.logs(name, &params).await {
        Ok(text) => Ok(Ok(text)),
        Err(source) if api_error::is_fatal(&source) => Err(ProbeError::Logs {
            pod: name.to_string(),
            source,
        }),
        Err(e) => {
            tracing::debug!(pod = %name, previous, error = %api_error::describe(&e), "log not readable");
            Ok(Err(api_error::describe(&e)))
        }
    }
}

/// `GET /api/v1/namespaces/NS/pods/NAME:PORT/proxy/result` (PORT usually 9464).
async fn read_proxy_result(client: &Client, pod: &Pod) -> Result<Run, String> {
    let ns = pod.namespace().unwrap_or_default();
    let path = format!(
        "/api/v1/namespaces/{ns}/pods/{}:{}/proxy/result",
        pod.name_any(),
        agent_port(pod)
    );
    let mut request = http::Request::get(&path).header(http::header::ACCEPT, "application/json");
    // The API server keeps `Authorization` for itself and passes this header on to the agent.
    if let Some(token) = agent_read_token(pod) {
        request = request.header(READ_TOKEN_HEADER, token);
    }
    let request = request.body(Vec::new()).map_err(|e| e.to_string())?;
    let text = client.request_text(request).await.map_err(|e| {
        format!(
            "{}{}",
            api_error::describe(&e),
            api_error::rbac_hint(&e, "get on pods/proxy")
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("schema").and_then(|s| s.as_str()) != Some(SCHEMA_ID) {
        let status = value
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown");
        return Err(format!("not a {SCHEMA_ID} document yet (status {status})"));
    }
    serde_json::from_value(value).map_err(|e| format!("invalid {SCHEMA_ID} document: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn sidecar_found_as_container_or_native_init_container() {
        let regular = mk_pod(serde_json::json!({
            "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "app"}, {"name": "testcar"}]}
        }));
        let native = mk_pod(serde_json::json!({
            "metadata": {"name": "b"},
            "spec": {"containers": [{"name": "app"}],
                     "initContainers": [{"name": "testcar", "restartPolicy": "Always"}]}
        }));
        let none = mk_pod(serde_json::json!({
            "metadata": {"name": "c"},
            "spec": {"containers": [{"name": "app"}]}
        }));
        assert!(has_sidecar(&regular));
        assert!(has_sidecar(&native));
        assert!(!has_sidecar(&none));
    }

    #[test]
    fn html_report_follows_the_pods_endpoint_policy_and_port() {
        let with = |env: serde_json::Value| {
            html_report(&mk_pod(serde_json::json!({
                "metadata": {"name": "orders-a", "namespace": "shop"},
                "spec": {"containers": [{"name": "app"}, {"name": "testcar", "env": env}]}
            })))
        };
        let default = with(serde_json::json!([])).unwrap();
        assert_eq!(default.access, "token");
        assert_eq!(default.port, AGENT_PORT);
        assert_eq!(
            default.proxy_path,
            format!("/api/v1/namespaces/shop/pods/orders-a:{AGENT_PORT}/proxy/report")
        );
        let open = with(serde_json::json!([
            {"name": "TESTCAR_ENDPOINTS", "value": "result=token,report=open"},
            {"name": "TESTCAR_LISTEN", "value": "0.0.0.0:9470"}
        ]))
        .unwrap();
        assert_eq!((open.access, open.port), ("open", 9470));
        assert!(
            open.proxy_path
                .ends_with("/pods/orders-a:9470/proxy/report")
        );
        assert_eq!(
            with(serde_json::json!([{"name": "TESTCAR_ENDPOINTS", "value": "report=off"}])),
            None
        );
        let no_sidecar = mk_pod(serde_json::json!({
            "metadata": {"name": "c"}, "spec": {"containers": [{"name": "app"}]}
        }));
        assert_eq!(html_report(&no_sidecar), None);
    }

    #[test]
    fn agent_port_follows_a_moved_agent() {
        let with = |agent: serde_json::Value| {
            agent_port(&mk_pod(serde_json::json!({
                "metadata": {"name": "a"},
                "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 9464}]}, agent]}
            })))
        };
        // the listen address wins: on the host network no port is declared
        assert_eq!(
            with(serde_json::json!({"name": "testcar",
                "env": [{"name": "TESTCAR_LISTEN", "value": "127.0.0.1:9465"}]})),
            9465
        );
        assert_eq!(
            with(serde_json::json!({"name": "testcar",
                "ports": [{"name": "testcar", "containerPort": 9466}]})),
            9466
        );
        assert_eq!(
            with(serde_json::json!({"name": "testcar",
                "env": [{"name": "TESTCAR_LISTEN", "value": "not-an-address"}],
                "ports": [{"name": "metrics", "containerPort": 1}]})),
            AGENT_PORT
        );
    }

    #[test]
    fn unscheduled_pod_says_why() {
        let pod = mk_pod(serde_json::json!({
            "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "testcar"}]},
            "status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu."
            }]}
        }));
        assert_eq!(
            not_started_reason(&pod),
            "pod not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
        );
    }
}
