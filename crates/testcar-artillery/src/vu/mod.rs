//! One virtual user running a flow. The VU's state lives here; what it does is split by
//! stage: the flow loop (`flow`), building a request (`build`), sending it with redirects,
//! cookies and credentials (`send`), reading the response (`response`) and metrics (`record`);
//! a `ws` scenario's WebSocket (`ws`).

mod build;
mod flow;
mod record;
mod response;
mod send;
mod ws;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::client::{Connector, Origin, VuConnections};
use crate::metrics::Metrics;
use crate::script::model::{RequestId, Script, Variable};
use crate::template::{Globals, Scope, Vars};

pub use record::endpoint_name;

/// A rendered request: URL, headers, body.
type Built = (String, Vec<(String, String)>, Bytes);

/// Tally of one expectation over all responses.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Responses where it held.
    pub passes: u64,
    /// Responses where it did not.
    pub failures: u64,
    /// The first failure, for the check's message.
    pub first_failure: Option<String>,
}

/// What every VU of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// The script.
    pub script: Script,
    /// The metrics.
    pub metrics: Metrics,
    /// TLS and connection settings.
    pub connector: Connector,
    /// `target`, `$environment`, `$testId`.
    pub globals: Globals,
    /// Credentials applied to every request.
    pub auth: Option<Arc<dyn testcar_auth::RequestAuth>>,
    /// Variables captured by the `before` flow, seen by every VU.
    pub base_vars: Mutex<Vars>,
    /// Expectation tallies by (request, index).
    pub tallies: Mutex<HashMap<(RequestId, usize), Tally>>,
    /// metrics-by-endpoint names, by request (`None`: the request is not counted per
    /// endpoint).
    pub endpoints: HashMap<RequestId, Option<Endpoint>>,
    /// Stop now.
    pub cancel: CancellationToken,
    /// VUs running now (for `maxVusers`).
    pub running: AtomicU64,
    /// WebSocket connections tried, and those the server answered (opened, or refused
    /// with an HTTP status): none answered means the target never answered.
    pub ws_tried: AtomicU64,
    /// See `ws_tried`.
    pub ws_answered: AtomicU64,
}

/// A request's metrics-by-endpoint names, built once per run rather than per response.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `<prefix>.response_time.<endpoint>`.
    pub response_time: String,
    /// `<prefix>.<endpoint>.codes.` (the status follows).
    pub codes: String,
    /// `<prefix>.<endpoint>.errors.` (the code follows).
    pub errors: String,
}

impl Endpoint {
    /// The names under `prefix` for endpoint `name`.
    pub fn new(prefix: &str, name: &str) -> Endpoint {
        Endpoint {
            response_time: format!("{prefix}.response_time.{name}"),
            codes: format!("{prefix}.{name}.codes."),
            errors: format!("{prefix}.{name}.errors."),
        }
    }
}

/// Why a VU stopped early: the error code Artillery would count under `errors.<code>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}")]
pub struct VuFailure {
    /// The code or message.
    pub code: String,
}

impl VuFailure {
    fn new(code: impl Into<String>) -> VuFailure {
        VuFailure { code: code.into() }
    }
}

/// Which flow a VU runs.
#[derive(Debug, Clone, Copy)]
pub enum FlowKind {
    /// A scenario, by index.
    Scenario(usize),
    /// The `before` flow.
    Before,
    /// The `after` flow.
    After,
}

/// The state of one VU.
#[derive(Debug)]
pub struct Vu<'s> {
    sh: &'s Shared,
    vars: Vars,
    conns: VuConnections,
    cookies: crate::cookies::CookieJar,
    /// Artillery sends the jar with every request only once a response has set a cookie or
    /// when default cookies are configured; a request's own `cookie` uses it just for itself.
    jar_in_use: bool,
    intended: Option<Instant>,
    /// `before`/`after` flows: Artillery keeps their requests out of the run's metrics.
    quiet: bool,
    /// The last URL sent and its parse: a VU mostly repeats URLs (loops, one origin).
    last_url: Option<(String, Arc<(url::Url, Origin)>)>,
    /// Reused buffer for metric names built per response.
    name_buf: String,
    /// The WebSocket of a `ws` scenario, open while its flow runs.
    ws: Option<ws::WsConn>,
}

impl<'s> Vu<'s> {
    /// A new VU with its variables: `before` captures, payload row, `variables`, `$uuid`.
    pub fn new(sh: &'s Shared, intended: Instant) -> Vu<'s> {
        let mut vars = sh
            .base_vars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for p in &sh.script.config.payloads {
            p.assign(&mut vars);
        }
        let mut rng = rand::rng();
        for (name, v) in &sh.script.config.variables {
            let value = match v {
                Variable::One(v) => v.clone(),
                Variable::OneOf(items) if items.is_empty() => Json::Null,
                Variable::OneOf(items) => items[rng.random_range(0..items.len())].clone(),
            };
            vars.insert(name.clone(), value);
        }
        // A v4 UUID from the thread's CSPRNG: no system call per VU.
        let uuid = uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        vars.insert("$uuid".into(), Json::String(uuid.to_string()));
        Vu {
            sh,
            vars,
            conns: VuConnections::default(),
            cookies: Default::default(),
            jar_in_use: !sh.script.config.default_cookies.is_empty(),
            intended: Some(intended),
            quiet: false,
            last_url: None,
            name_buf: String::new(),
            ws: None,
        }
    }

    /// A VU for the `before`/`after` flows, whose requests stay out of the metrics.
    pub fn new_hook(sh: &'s Shared) -> Vu<'s> {
        let mut vu = Vu::new(sh, Instant::now());
        vu.quiet = true;
        vu
    }

    /// The VU's variables (after the flow: what it captured).
    pub fn into_vars(self) -> Vars {
        self.vars
    }

    /// Run a flow to its end or to the first failure.
    pub async fn run(&mut self, which: FlowKind) -> Result<(), VuFailure> {
        let sh = self.sh;
        let steps = match which {
            FlowKind::Scenario(i) => &sh.script.scenarios[i].flow,
            FlowKind::Before => sh.script.before.as_deref().unwrap_or(&[]),
            FlowKind::After => sh.script.after.as_deref().unwrap_or(&[]),
        };
        let ws = match which {
            FlowKind::Scenario(i) => sh.script.scenarios[i].ws.as_ref(),
            _ => None,
        };
        let Some(ws) = ws else {
            return self.steps(steps).await;
        };
        // Artillery's ws engine connects before the first step and closes after the last.
        self.ws_open(ws).await?;
        let result = self.steps(steps).await;
        self.ws_close();
        result
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            vars: &self.vars,
            globals: &self.sh.globals,
        }
    }
}
