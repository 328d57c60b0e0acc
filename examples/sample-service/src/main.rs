//! A small HTTP API for Testcar's examples and demo: `/healthz`, `/readyz` (ready after a
//! configurable delay, like a service warming up), CRUD on `/items`, and `/admin/stats`
//! which needs a bearer token.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The sample service.
#[derive(Debug, Parser)]
#[command(name = "sample-service", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port, printed on stdout).
    #[arg(long, env = "SAMPLE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// `/readyz` answers 503 until this long after start.
    #[arg(long, env = "SAMPLE_READY_AFTER", default_value = "0s", value_parser = humantime_secs)]
    ready_after: Duration,
    /// Token `/admin/stats` requires as `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "SAMPLE_TOKEN",
        default_value = "demo-token",
        hide_env_values = true
    )]
    token: String,
    #[command(flatten)]
    log: testcar_telemetry::LogArgs,
}

fn humantime_secs(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, mult) = if let Some(ms) = t.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = t.strip_suffix('s') {
        (s, 1.0)
    } else {
        (t, 1.0)
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| Duration::from_secs_f64(v * mult))
        .ok_or_else(|| format!("{text:?} is not a duration; expected e.g. 2s or 500ms"))
}

/// One stored item.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
    #[serde(default)]
    quantity: u32,
}

/// What a client sends to create or replace an item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewItem {
    name: String,
    #[serde(default)]
    quantity: u32,
}

#[derive(Debug)]
struct App {
    started: Instant,
    ready_after: Duration,
    token: String,
    items: Mutex<BTreeMap<u64, Item>>,
    next_id: Mutex<u64>,
    requests: std::sync::atomic::AtomicU64,
}

type Shared = Arc<App>;

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<Shared>) -> Response {
    if app.started.elapsed() >= app.ready_after {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        problem(StatusCode::SERVICE_UNAVAILABLE, "warming up")
    }
}

async fn list_items(State(app): State<Shared>) -> Json<Vec<Item>> {
    count(&app);
    Json(app.items.lock().unwrap().values().cloned().collect())
}

async fn create_item(
    State(app): State<Shared>,
    body: Result<Json<NewItem>, axum::extract::rejection::JsonRejection>,
) -> Response {
    count(&app);
    let new = match valid_item(body) {
        Ok(new) => new,
        Err((status, why)) => return problem(status, &why),
    };
    let id = {
        let mut next = app.next_id.lock().unwrap();
        *next += 1;
        *next
    };
    let item = Item {
        id,
        name: new.name,
        quantity: new.quantity,
    };
    app.items.lock().unwrap().insert(id, item.clone());
    (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/items/{id}"))],
        Json(item),
    )
        .into_response()
}

/// A create or update body: 400 when it is not an item, 422 when its name is blank.
fn valid_item(
    body: Result<Json<NewItem>, axum::extract::rejection::JsonRejection>,
) -> Result<NewItem, (StatusCode, String)> {
    let Json(new) = body.map_err(|e| (StatusCode::BAD_REQUEST, e.body_text()))?;
    if new.name.trim().is_empty() {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must not be empty".into(),
        ));
    }
    Ok(new)
}

async fn get_item(State(app): State<Shared>, Path(id): Path<u64>) -> Response {
    count(&app);
    match app.items.lock().unwrap().get(&id) {
        Some(item) => Json(item.clone()).into_response(),
        None => problem(StatusCode::NOT_FOUND, "no such item"),
    }
}

async fn put_item(
    State(app): State<Shared>,
    Path(id): Path<u64>,
    body: Result<Json<NewItem>, axum::extract::rejection::JsonRejection>,
) -> Response {
    count(&app);
    let new = match valid_item(body) {
        Ok(new) => new,
        Err((status, why)) => return problem(status, &why),
    };
    let mut items = app.items.lock().unwrap();
    match items.get_mut(&id) {
        Some(item) => {
            item.name = new.name;
            item.quantity = new.quantity;
            Json(item.clone()).into_response()
        }
        None => problem(StatusCode::NOT_FOUND, "no such item"),
    }
}

async fn delete_item(State(app): State<Shared>, Path(id): Path<u64>) -> Response {
    count(&app);
    match app.items.lock().unwrap().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => problem(StatusCode::NOT_FOUND, "no such item"),
    }
}

async fn admin_stats(State(app): State<Shared>, headers: HeaderMap) -> Response {
    count(&app);
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented != Some(app.token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "a valid bearer token is required" })),
        )
            .into_response();
    }
    Json(json!({
        "items": app.items.lock().unwrap().len(),
        "requests": app.requests.load(std::sync::atomic::Ordering::Relaxed),
        "uptimeSeconds": app.started.elapsed().as_secs(),
    }))
    .into_response()
}

fn count(app: &App) {
    app.requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/items", get(list_items).post(create_item))
        .route(
            "/items/{id}",
            get(get_item).put(put_item).delete(delete_item),
        )
        .route("/admin/stats", get(admin_stats))
        .with_state(app)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init();
    let app = Arc::new(App {
        started: Instant::now(),
        ready_after: args.ready_after,
        token: args.token.clone(),
        items: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(0),
        requests: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "sample service listening");
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Ctrl-C on a terminal, SIGTERM in a container: as PID 1 the process gets no default action
/// for SIGTERM, so without this a pod would wait out its whole grace period.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
