//! The sidecar's HTTP endpoints on one port: `/result` (the document, or the state and
//! progress while pending or running), `/report` (the HTML page once there is a result),
//! `/healthz` and `/metrics` (Prometheus text).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::state::AgentState;

/// What the handlers share: the live state and the results folder.
#[derive(Debug, Clone)]
struct Shared {
    state: Arc<AgentState>,
    results_dir: Arc<PathBuf>,
}

impl axum::extract::FromRef<Shared> for Arc<AgentState> {
    fn from_ref(shared: &Shared) -> Self {
        shared.state.clone()
    }
}

/// The router over `state`; `/report` draws the Artillery reports kept in `results_dir`.
pub fn router(state: Arc<AgentState>, results_dir: PathBuf) -> Router {
    Router::new()
        .route("/result", get(result))
        .route(testcar_contract::paths::PASSED_PATH, get(passed))
        .route("/report", get(report))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Shared {
            state,
            results_dir: Arc::new(results_dir),
        })
}

async fn result(State(state): State<Arc<AgentState>>) -> Response {
    // The document as the result line has it (field order included), else the state.
    match state.result() {
        Some(run) => Json(run).into_response(),
        None => Json(state.to_json()).into_response(),
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

async fn report(State(shared): State<Shared>) -> Response {
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

async fn metrics(State(state): State<Arc<AgentState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Serve on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AgentState>,
    results_dir: PathBuf,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state, results_dir))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
