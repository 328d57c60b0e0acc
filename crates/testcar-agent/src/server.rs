//! The sidecar's HTTP endpoints on one port: `/result` (the document, or the state and
//! progress while pending or running), `/healthz` and `/metrics` (Prometheus text).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::state::AgentState;

/// The router over `state`.
pub fn router(state: Arc<AgentState>) -> Router {
    Router::new()
        .route("/result", get(result))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn result(State(state): State<Arc<AgentState>>) -> Response {
    // The document as the result line has it (field order included), else the state.
    match state.result() {
        Some(run) => Json(run).into_response(),
        None => Json(state.to_json()).into_response(),
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
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
