//! The sidecar's HTTP endpoints on one port: `/result` (the document, or the state and
//! progress while pending or running), `/report` (the HTML page once there is a result),
//! `/healthz` and `/metrics` (Prometheus text). Who may call `/result`, `/report` and
//! `/metrics` is the pod's endpoint policy (see `access.rs`); `/healthz` and `/passed` are
//! open because the kubelet probes them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use testcar_contract::endpoints::Endpoint;
use tokio_util::sync::CancellationToken;

use crate::access::Guard;
use crate::state::AgentState;

/// What the handlers share: the live state, the results folder and the access guard.
#[derive(Debug, Clone)]
struct Shared {
    state: Arc<AgentState>,
    results_dir: Arc<PathBuf>,
    guard: Arc<Guard>,
}

impl axum::extract::FromRef<Shared> for Arc<AgentState> {
    fn from_ref(shared: &Shared) -> Self {
        shared.state.clone()
    }
}

/// The router over `state`; `/report` draws the Artillery reports kept in `results_dir`.
/// Handlers read the caller's address, so serve it with `ConnectInfo<SocketAddr>`.
pub fn router(state: Arc<AgentState>, results_dir: PathBuf, guard: Guard) -> Router {
    Router::new()
        .route("/result", get(result))
        .route(testcar_contract::paths::PASSED_PATH, get(passed))
        .route("/report", get(report))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Shared {
            state,
            results_dir: Arc::new(results_dir),
            guard: Arc::new(guard),
        })
}

async fn result(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = shared.guard.check(Endpoint::Result, peer, &headers) {
        return denied.into_response();
    }
    // The document as the result line has it (field order included), else the state.
    match shared.state.result() {
        Some(run) => Json(run).into_response(),
        None => Json(shared.state.to_json()).into_response(),
    }
}

/// Readiness by verdict: only `passed` is ready. Failed and error stay unready for good, so
/// the pod never takes traffic; a restarted agent answers from its stored result.
async fn passed(State(state): State<Arc<AgentState>>) -> Response {
    match state.result() {
        Some(run) if run.status == testcar_contract::result::Status::Passed => {
            "passed\n".into_response()
        }
        Some(run) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("verdict {}: this pod stays unready\n", run.status.as_str()),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no verdict yet: the tests are pending or running\n",
        )
            .into_response(),
    }
}

async fn report(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = shared.guard.check(Endpoint::Report, peer, &headers) {
        return denied.into_response();
    }
    match shared.state.result() {
        Some(run) => {
            let (reports, _) = testcar_report::reports_in_results_dir(&run, &shared.results_dir);
            Html(testcar_report::render_html(&run, &reports)).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "no result yet: the run is pending or running; see /result\n",
        )
            .into_response(),
    }
}

async fn metrics(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = shared.guard.check(Endpoint::Metrics, peer, &headers) {
        return denied.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.state.metrics.encode(),
    )
        .into_response()
}

/// Serve on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AgentState>,
    results_dir: PathBuf,
    guard: Guard,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(state, results_dir, guard).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    const TOKEN: &str = "pod-read-token-for-the-router-test";

    /// The router as the sidecar serves it, seen from `peer`.
    async fn mk_call(peer: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let guard = Guard::new(Default::default(), Some(TOKEN.into()));
        let dir = tempfile::tempdir().unwrap();
        let app = router(Arc::new(AgentState::new()), dir.path().into(), guard)
            .layer(MockConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        let mut request = Request::get(path);
        if let Some(t) = token {
            request = request.header("x-testcar-token", t);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_pod_elsewhere_in_the_cluster_cannot_read_results_without_the_token() {
        let remote = "10.244.0.23:40000";
        let (status, body) = mk_call(remote, "/result", None).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("x-testcar-token"), "{body}");
        assert_eq!(mk_call(remote, "/report", None).await.0, 401);
        assert_eq!(mk_call(remote, "/result", Some("wrong")).await.0, 403);
        let (status, body) = mk_call(remote, "/result", Some(TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("pending"), "{body}");
        // metrics stay open for Prometheus; the kubelet's probes need no token
        assert_eq!(mk_call(remote, "/metrics", None).await.0, 200);
        assert_eq!(mk_call(remote, "/healthz", None).await.0, 200);
        assert_eq!(mk_call(remote, "/passed", None).await.0, 503);
    }

    #[tokio::test]
    async fn the_pod_itself_and_port_forward_read_without_a_token() {
        assert_eq!(mk_call("127.0.0.1:40000", "/result", None).await.0, 200);
        assert_eq!(mk_call("[::1]:40000", "/result", None).await.0, 200);
    }
}
