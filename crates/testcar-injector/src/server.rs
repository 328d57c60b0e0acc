//! The two listeners: HTTPS `POST /mutate` (rustls, HTTP/1.1 and h2, keep-alive) and plain
//! HTTP `/healthz`, `/readyz`, `/metrics`. Shutdown stops accepting, lets in-flight requests
//! finish (bounded by a grace period), then returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::admission;
use crate::admission::{Decision, Reason};
use crate::metrics::Metrics;
use crate::mutate::Injector;

/// Largest AdmissionReview accepted. The API server takes request bodies up to 3 MiB, and
/// controllers send pods as protobuf, whose JSON in the review can be twice as large; an
/// UPDATE review carries the old object too. 16 MiB covers all of that with room to spare,
/// so that no real pod is ever refused; anything bigger is not from an API server.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Longest a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared state of both listeners.
#[derive(Debug)]
pub struct AppState {
    /// Decides and patches.
    pub injector: Injector,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// False until serving, and again once shutdown begins.
    pub ready: AtomicBool,
}

/// The HTTPS router: `POST /mutate` only.
pub fn webhook_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        // Readiness on the webhook's own TLS port too: a pod whose certificate or listener is
        // broken must not look ready to the Service the API server calls.
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The plain-HTTP router: health, readiness, metrics.
pub fn ops_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn mutate(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            state
                .metrics
                .admission(Decision::Error, Reason::BodyRejected, started.elapsed());
            tracing::warn!(%status, error = %rejection.body_text(), limit = MAX_BODY_BYTES, "admission body refused");
            // The unread body is still on the wire: tell the client not to reuse this connection.
            return (
                status,
                [(header::CONNECTION, "close")],
                format!("{}\n", rejection.body_text()),
            )
                .into_response();
        }
    };
    let r = admission::review(&state.injector, &body);
    let took = started.elapsed();
    state.metrics.admission(r.decision, r.reason, took);
    tracing::info!(
        uid = %r.uid,
        namespace = %r.namespace,
        pod = %r.pod,
        decision = r.decision.as_str(),
        reason = r.reason.as_str(),
        dry_run = r.dry_run,
        patch_ops = r.patch_ops,
        warnings = r.warnings.len(),
        micros = took.as_micros() as u64,
        "admission"
    );
    for warning in &r.warnings {
        tracing::debug!(uid = %r.uid, %warning, "admission warning");
    }
    // Always 200: the outcome, even "cannot read this", is inside the AdmissionReview.
    ([(header::CONTENT_TYPE, "application/json")], r.body).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Bounds of the HTTPS listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long open requests may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// Longest a client may take to send a request's headers (and longest an idle
    /// keep-alive connection waits for the next request).
    pub header_read_timeout: Duration,
    /// Most connections open at once; the next one is accepted when one closes.
    pub max_connections: usize,
}

/// Serve `app` over TLS on `listener` until `shutdown`, then wait up to
/// `limits.shutdown_grace` for open requests to finish.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: CancellationToken,
    limits: Limits,
) {
    let grace = limits.shutdown_grace;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let tracker = TaskTracker::new();
    loop {
        // A slot first: past the limit, clients wait in the listen backlog instead of each
        // costing a task, a TLS session and a file descriptor.
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let shutdown = shutdown.clone();
        let span = tracing::debug_span!("connection", %peer);
        tracker.spawn(
            async move {
                let _slot = slot;
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                };
                let mut builder = auto::Builder::new(TokioExecutor::new());
                // Slow loris: headers sent a byte at a time would hold the connection forever.
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout);
                let conn = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
                tokio::pin!(conn);
                tokio::select! {
                    res = conn.as_mut() => {
                        if let Err(error) = res { tracing::debug!(%error, "connection ended"); }
                    }
                    _ = shutdown.cancelled() => {
                        // Finish the request in flight, then close.
                        conn.as_mut().graceful_shutdown();
                        if let Err(error) = conn.await { tracing::debug!(%error, "connection ended"); }
                    }
                }
            }
            .instrument(span),
        );
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            open = tracker.len(),
            "grace period over; closing open connections"
        );
    }
}
