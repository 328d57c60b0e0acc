//! One virtual user running a flow: templates, requests on the VU's own connections,
//! captures, expectations, think, loops and logs — recording Artillery's metrics as it goes.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use rand::Rng;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::capture::{self, Captured, Response};
use crate::client::{Connector, Origin, Received, RequestError, VuConnections};
use crate::expect;
use crate::expr::Val;
use crate::metrics::{INTENDED_RESPONSE_TIME, Metrics, Record};
use crate::script::{Body, Expectation, LoopOver, Method, Request, Script, Step, Variable};
use crate::template::{Globals, Scope, Vars, lookup, parse_path, set_path};

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
    /// Expectation tallies by (request address, index).
    pub tallies: Mutex<HashMap<(usize, usize), Tally>>,
    /// metrics-by-endpoint names, by request address (`None`: the request is not counted
    /// per endpoint).
    pub endpoints: HashMap<usize, Option<Endpoint>>,
    /// Stop now.
    pub cancel: CancellationToken,
    /// VUs running now (for `maxVusers`).
    pub running: AtomicU64,
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

/// A list of steps being run: the flow itself, or a loop's body.
struct Frame<'s> {
    steps: &'s [Step],
    /// Index of the next step.
    next: usize,
    /// Set for a loop's body.
    repeat: Option<Repeat>,
}

/// Where a loop stands.
struct Repeat {
    /// The current `$loopCount`.
    i: i64,
    /// Stop before this count; -1 repeats until the VU fails or is cancelled.
    to: i64,
    /// The list of `over`, if any.
    items: Option<Vec<Json>>,
}

impl Repeat {
    /// `$loopElement` of the current iteration.
    fn element(&self) -> Json {
        match &self.items {
            Some(items) => items.get(self.i as usize).cloned().unwrap_or(Json::Null),
            None => Json::from(self.i),
        }
    }
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
        }
    }

    /// A VU for the `before`/`after` flows, whose requests stay out of the metrics.
    pub fn new_hook(sh: &'s Shared) -> Vu<'s> {
        let mut vu = Vu::new(sh, Instant::now());
        vu.quiet = true;
        vu
    }

    fn record(&self, records: &[Record<'_>]) {
        if !self.quiet {
            self.sh.metrics.record(records);
        }
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
        self.steps(steps).await
    }

    /// Run `steps` with an explicit stack of loop frames rather than recursion: a recursive
    /// async function needs a boxed future per loop iteration, which a tight `loop` of
    /// requests would pay on every request.
    async fn steps(&mut self, steps: &'s [Step]) -> Result<(), VuFailure> {
        let mut stack: Vec<Frame<'s>> = vec![Frame {
            steps,
            next: 0,
            repeat: None,
        }];
        while let Some(top) = stack.last_mut() {
            if self.sh.cancel.is_cancelled() {
                return Err(VuFailure::new("ECANCELED"));
            }
            let Some(step) = top.steps.get(top.next) else {
                // The end of a loop's body: start its next iteration, or leave it.
                let again = match &mut top.repeat {
                    Some(rep) => {
                        rep.i += 1;
                        rep.to == -1 || rep.i < rep.to
                    }
                    None => false,
                };
                if !again {
                    // Artillery leaves `$loopCount` one past the last iteration (and
                    // `$loopElement` undefined after `over`) once a loop ends.
                    if let Some(rep) = &top.repeat {
                        let (i, over) = (rep.i, rep.items.is_some());
                        if let Some(v) = self.vars.get_mut("$loopCount") {
                            *v = Json::from(i);
                        }
                        if over {
                            self.vars.remove("$loopElement");
                        }
                    }
                }
                if again {
                    top.next = 0;
                    let rep = top.repeat.as_ref().expect("checked above");
                    let (i, element) = (rep.i, rep.element());
                    self.set_loop_vars(i, element);
                } else {
                    stack.pop();
                }
                continue;
            };
            top.next += 1;
            match step {
                Step::Request(r) => self.request(r).await?,
                Step::Think(t) => {
                    let d = {
                        let text = t.render(&self.scope()).into_owned();
                        crate::script::think_duration(&text).map_err(VuFailure::new)?
                    };
                    let d = match self.sh.script.config.think_jitter {
                        Some(j) => j.apply(d, rand::rng().random::<f64>()),
                        None => d,
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = self.sh.cancel.cancelled() => return Err(VuFailure::new("ECANCELED")),
                    }
                    self.intended = None;
                }
                Step::Log(t) => {
                    let line = t.render(&self.scope()).into_owned();
                    tracing::info!(target: "artillery::log", "{line}");
                }
                Step::Parallel(steps) => stack.push(Frame {
                    steps,
                    next: 0,
                    repeat: None,
                }),
                Step::Loop(l) => {
                    let items: Option<Vec<Json>> = match &l.over {
                        Some(LoopOver::List(items)) => {
                            let scope = self.scope();
                            Some(items.iter().map(|i| i.render(&scope)).collect())
                        }
                        Some(LoopOver::Var(name)) => {
                            let v = parse_path(name).and_then(|p| lookup(&self.scope(), &p));
                            match v {
                                Some(Json::Array(items)) => Some(items),
                                // Artillery runs no iteration over a non-list.
                                _ => Some(Vec::new()),
                            }
                        }
                        None => None,
                    };
                    let (from, to) = match (&items, &l.count) {
                        (Some(items), _) => (0, items.len() as i64),
                        (None, Some(count)) => loop_range(&count.render(&self.scope())),
                        (None, None) => (0, -1),
                    };
                    if to == -1 || from < to {
                        let rep = Repeat { i: from, to, items };
                        let element = rep.element();
                        self.set_loop_vars(from, element);
                        stack.push(Frame {
                            steps: &l.steps,
                            next: 0,
                            repeat: Some(rep),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn set_loop_vars(&mut self, i: i64, element: Json) {
        // Updated in place: no key allocation per iteration.
        match self.vars.get_mut("$loopCount") {
            Some(v) => *v = Json::from(i),
            None => {
                self.vars.insert("$loopCount".into(), Json::from(i));
            }
        }
        match self.vars.get_mut("$loopElement") {
            Some(v) => *v = element,
            None => {
                self.vars.insert("$loopElement".into(), element);
            }
        }
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            vars: &self.vars,
            globals: &self.sh.globals,
        }
    }

    async fn request(&mut self, r: &'s Request) -> Result<(), VuFailure> {
        let sh = self.sh;
        if let Some(cond) = &r.if_true {
            let scope = self.scope();
            let v = cond.eval(
                &|name| match parse_path(name).and_then(|p| lookup(&scope, &p)) {
                    Some(Json::Number(n)) => Val::Num(n.as_f64().unwrap_or(0.0)),
                    Some(Json::Bool(b)) => Val::Num(if b { 1.0 } else { 0.0 }),
                    Some(Json::String(s)) => Val::Str(s),
                    Some(Json::Null) | None => Val::Missing,
                    Some(other) => Val::Str(other.to_string()),
                },
            );
            if !v.truthy() {
                return Ok(());
            }
        }
        let ready_at = Instant::now();
        let intended = self.intended.take().unwrap_or(ready_at).min(ready_at);
        let (url, mut headers, body) = self.build(r)?;
        let defaults = &sh.script.config.default_cookies;
        if !r.cookies.is_empty() || !defaults.is_empty() {
            // As Artillery does: set in the jar for the URL as requested, request values
            // overriding the defaults, so they are sent now and to later matching requests.
            if let Some(target) = self.parse_url(&url) {
                let mut set: Vec<(&str, String)> = Vec::new();
                for (name, value) in defaults.iter().chain(&r.cookies) {
                    let value = value.render(&self.scope()).into_owned();
                    match set.iter_mut().find(|(n, _)| *n == name.as_str()) {
                        Some(slot) => slot.1 = value,
                        None => set.push((name, value)),
                    }
                }
                for (name, value) in set {
                    self.cookies.store(&target.0, &format!("{name}={value}"));
                }
            }
        }
        let endpoint = sh
            .endpoints
            .get(&(r as *const Request as usize))
            .and_then(Option::as_ref);
        let mut method = r.method;
        let mut url = url;
        let mut body = body;
        let mut retried_auth = false;
        let mut hops = 0;
        let (received, final_url) = loop {
            let target = match self.parse_url(&url) {
                Some(p) => p,
                None => {
                    self.count_error("ERR_INVALID_URL", endpoint);
                    return Err(VuFailure::new("ERR_INVALID_URL"));
                }
            };
            let (parsed, origin) = &*target;
            let mut extra: Vec<(String, String)> = Vec::new();
            if !self.cookies.is_empty() && (self.jar_in_use || !r.cookies.is_empty()) {
                if let Some(cookie) = self.cookies.header_for(parsed) {
                    extra.push(("cookie".into(), cookie));
                }
            }
            if let Some(auth) = &sh.auth {
                let parts = testcar_auth::RequestParts {
                    method: method.as_str(),
                    url: &url,
                    body: &body,
                };
                match auth.headers(parts).await {
                    Ok(more) => extra.extend(more),
                    Err(e) => {
                        tracing::warn!(error = %e, "credentials unavailable");
                        self.count_error("EAUTH", endpoint);
                        return Err(VuFailure::new("EAUTH"));
                    }
                }
            }
            let req =
                build_request(method, parsed, &headers, &extra, body.clone()).map_err(|e| {
                    self.count_error(&e.code, endpoint);
                    VuFailure::new(e.code)
                })?;
            self.record(&[
                Record::Counter("http.requests", 1),
                Record::Rate("http.request_rate"),
            ]);
            let res = self
                .conns
                .send(
                    &sh.connector,
                    origin,
                    req,
                    || build_request(method, parsed, &headers, &extra, body.clone()),
                    sh.script.config.timeout,
                )
                .await;
            let received = match res {
                Ok(rcv) => rcv,
                Err(RequestError { code, detail }) => {
                    tracing::debug!(%code, %detail, url = %url, "request failed");
                    self.count_error(&code, endpoint);
                    return Err(VuFailure::new(code));
                }
            };
            self.record_response(&received, intended);
            for v in received.parts.headers.get_all(http::header::SET_COOKIE) {
                if let Ok(text) = v.to_str() {
                    self.cookies.store(parsed, text);
                    self.jar_in_use = true;
                }
            }
            let status = received.parts.status.as_u16();
            if status == 401 && !retried_auth {
                if let Some(auth) = &sh.auth {
                    retried_auth = true;
                    match auth.refresh().await {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "credential refresh failed"),
                    }
                }
            }
            let location = received
                .parts
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            if r.follow_redirect && matches!(status, 301 | 302 | 303 | 307 | 308) && hops < 10 {
                if let Some(next) = location.and_then(|l| parsed.join(l).ok()) {
                    hops += 1;
                    // got (under Artillery) rewrites the method to GET on a 303 only; a
                    // 301/302 repeats the method and body, as RFC 9110 allows.
                    if status == 303 && method != Method::Get && method != Method::Head {
                        method = Method::Get;
                        body = Bytes::new();
                        headers.retain(|(k, _)| {
                            !k.eq_ignore_ascii_case("content-type")
                                && !k.eq_ignore_ascii_case("content-length")
                        });
                    }
                    url = next.to_string();
                    continue;
                }
            }
            break (received, url);
        };
        let mut received = received;
        if r.gzip {
            match crate::client::decode(&received.parts.headers, received.body.clone()) {
                Ok(body) => received.body = body,
                Err(RequestError { code, detail }) => {
                    tracing::debug!(%code, %detail, url = %final_url, "cannot decode the body");
                    self.count_error(&code, endpoint);
                    return Err(VuFailure::new(code));
                }
            }
        }
        self.after_response(r, &received, &final_url, endpoint)
    }

    /// The parsed URL and origin of `url`, from the cache when it is the last one sent.
    fn parse_url(&mut self, url: &str) -> Option<Arc<(url::Url, Origin)>> {
        if let Some((last, parsed)) = &self.last_url {
            if last == url {
                return Some(parsed.clone());
            }
        }
        let parsed = url::Url::parse(url).ok()?;
        let origin = Origin {
            tls: parsed.scheme() == "https",
            host: parsed
                .host_str()
                .unwrap_or("")
                .trim_matches(['[', ']'])
                .to_string(),
            port: parsed.port_or_known_default().unwrap_or(80),
        };
        let parsed = Arc::new((parsed, origin));
        self.last_url = Some((url.to_string(), parsed.clone()));
        Some(parsed)
    }

    /// URL, headers and body of a request step, rendered.
    fn build(&self, r: &Request) -> Result<Built, VuFailure> {
        let sh = self.sh;
        let scope = self.scope();
        let rendered = r.url.render(&scope);
        let mut url = if rendered.starts_with('/') {
            format!("{}{}", sh.globals.target.trim_end_matches('/'), rendered)
        } else {
            rendered.into_owned()
        };
        if !r.qs.is_empty() {
            if let Ok(mut u) = url::Url::parse(&url) {
                // got's `searchParams` (what Artillery turns `qs` into) replaces a query
                // already in the URL rather than adding to it.
                u.set_query(None);
                {
                    let mut q = u.query_pairs_mut();
                    for (k, v) in &r.qs {
                        match v.render(&scope) {
                            Json::Array(items) => {
                                for i in items {
                                    q.append_pair(k, &crate::template::json_text(&i));
                                }
                            }
                            v => {
                                q.append_pair(k, &crate::template::json_text(&v));
                            }
                        }
                    }
                }
                url = u.to_string();
            }
        }
        let mut headers: Vec<(String, String)> = Vec::with_capacity(4 + r.headers.len());
        headers.push((
            "user-agent".into(),
            "Artillery (https://artillery.io)".into(),
        ));
        let set = |headers: &mut Vec<(String, String)>, name: &str, value: String| {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            headers.push((name.to_string(), value));
        };
        for (k, v) in &sh.script.config.headers {
            set(&mut headers, k, v.render(&scope).into_owned());
        }
        for (k, v) in &r.headers {
            set(&mut headers, k, v.render(&scope).into_owned());
        }
        let has = |headers: &Vec<(String, String)>, name: &str| {
            headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let body = match &r.body {
            Body::None => Bytes::new(),
            Body::Json(t) => {
                if !has(&headers, "content-type") {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                Bytes::from(serde_json::to_vec(&t.render(&scope)).unwrap_or_default())
            }
            Body::Raw(t) => Bytes::from(t.render(&scope).into_owned()),
            Body::Form(fields) => {
                if !has(&headers, "content-type") {
                    headers.push((
                        "content-type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ));
                }
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in fields {
                    ser.append_pair(k, &v.render(&scope));
                }
                Bytes::from(ser.finish())
            }
            Body::Multipart(parts) => {
                let boundary = multipart_boundary();
                if !has(&headers, "content-type") {
                    headers.push((
                        "content-type".into(),
                        format!("multipart/form-data; boundary={boundary}"),
                    ));
                }
                multipart_body(parts, &boundary, &scope)
            }
        };
        if let Some((user, pass)) = &r.auth {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                user.render(&scope),
                pass.render(&scope)
            ));
            set(&mut headers, "authorization", format!("Basic {token}"));
        }
        // got asks for compressed bodies unless `gzip: false` (brotli is left out: the
        // engine cannot decode it, and a server may not send what was not asked for).
        if r.gzip && !has(&headers, "accept-encoding") {
            headers.push(("accept-encoding".into(), "gzip, deflate".into()));
        }
        Ok((url, headers, body))
    }

    fn count_error(&self, code: &str, endpoint: Option<&Endpoint>) {
        let name = format!("errors.{code}");
        match endpoint {
            Some(ep) => {
                let ep_name = format!("{}{code}", ep.errors);
                self.record(&[Record::Counter(&name, 1), Record::Counter(&ep_name, 1)]);
            }
            None => self.record(&[Record::Counter(&name, 1)]),
        }
    }

    fn record_endpoint(&mut self, rcv: &Received, ep: &Endpoint) {
        use std::fmt::Write;
        let rt = rcv.first_byte_at.saturating_duration_since(rcv.sent_at);
        let mut by_code = std::mem::take(&mut self.name_buf);
        by_code.clear();
        by_code.push_str(&ep.codes);
        let _ = write!(by_code, "{}", rcv.parts.status.as_u16());
        self.record(&[
            Record::Counter(&by_code, 1),
            Record::Histogram(&ep.response_time, rt),
        ]);
        self.name_buf = by_code;
    }

    fn record_response(&mut self, rcv: &Received, intended: Instant) {
        let status = rcv.parts.status.as_u16();
        let rt = rcv.first_byte_at.saturating_duration_since(rcv.sent_at);
        let rt_intended = rcv.first_byte_at.saturating_duration_since(intended);
        let owned_code;
        let code = match code_name(status) {
            Some(c) => c,
            None => {
                owned_code = format!("http.codes.{status}");
                owned_code.as_str()
            }
        };
        let class = match status {
            200..=299 => Some("http.response_time.2xx"),
            300..=399 => Some("http.response_time.3xx"),
            400..=499 => Some("http.response_time.4xx"),
            500..=599 => Some("http.response_time.5xx"),
            _ => None,
        };
        let mut records: [Record<'_>; 6] = [
            Record::Counter(code, 1),
            Record::Counter("http.responses", 1),
            Record::Counter("http.downloaded_bytes", rcv.wire_bytes),
            Record::Histogram("http.response_time", rt),
            Record::Histogram(INTENDED_RESPONSE_TIME, rt_intended),
            Record::Counter("", 0),
        ];
        let mut n = 5;
        if let Some(class) = class {
            records[n] = Record::Histogram(class, rt);
            n += 1;
        }
        if !self.quiet {
            self.sh.metrics.record(&records[..n]);
        }
        if self.sh.script.config.extended_metrics {
            // A reused connection had no set-up: zero DNS and TCP time, no TLS handshake.
            let c = rcv.connected.unwrap_or_default();
            let mut ext = [
                Record::Histogram("http.dns", c.dns),
                Record::Histogram("http.tcp", c.tcp),
                Record::Histogram("http.total", rcv.total()),
                Record::Counter("", 0),
            ];
            let mut n = 3;
            if let Some(tls) = c.tls {
                ext[n] = Record::Histogram("http.tls", tls);
                n += 1;
            }
            self.record(&ext[..n]);
        }
    }

    /// The response hooks of metrics-by-endpoint and apdex for the response that ended a
    /// request. A failed expectation the expect plugin reports as an error stops the hooks
    /// of the plugins listed after it (`failed_expect`).
    fn plugin_hooks(&mut self, rcv: &Received, endpoint: Option<&Endpoint>, failed_expect: bool) {
        let config = &self.sh.script.config;
        if let Some(ep) = endpoint {
            if !failed_expect || config.by_endpoint.before_expect {
                self.record_endpoint(rcv, ep);
            }
        }
        if let Some(a) = &config.apdex {
            if !failed_expect || a.before_expect {
                self.record_apdex(rcv, a.threshold_ms);
            }
        }
    }

    /// The apdex plugin's counters, judged on the response's total time. The plugin sets all
    /// three counters on every response, so each appears (as 0) from the first one.
    fn record_apdex(&self, rcv: &Received, threshold_ms: f64) {
        let total_ms = rcv.total().as_secs_f64() * 1e3;
        let (s, t, f) = if total_ms <= threshold_ms {
            (1, 0, 0)
        } else if total_ms <= 4.0 * threshold_ms {
            (0, 1, 0)
        } else {
            (0, 0, 1)
        };
        self.record(&[
            Record::Counter("apdex.satisfied", s),
            Record::Counter("apdex.tolerated", t),
            Record::Counter("apdex.frustrated", f),
        ]);
    }

    /// Captures, expectations and the per-endpoint counters of the response that ended the
    /// request (the last of a redirect chain), in the order Artillery's response hooks run.
    fn after_response(
        &mut self,
        r: &Request,
        rcv: &Received,
        url: &str,
        endpoint: Option<&Endpoint>,
    ) -> Result<(), VuFailure> {
        let sh = self.sh;
        let ct = rcv
            .parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let needs_body = !r.captures.is_empty()
            || !r.matches.is_empty()
            || !r.expects.is_empty()
            || sh
                .script
                .config
                .expect
                .as_ref()
                .is_some_and(|e| e.default_200);
        if !needs_body {
            self.plugin_hooks(rcv, endpoint, false);
            return Ok(());
        }
        let text = String::from_utf8_lossy(&rcv.body);
        let json: Option<Json> = if expect::is_json_type(ct) || ct.starts_with("application/json") {
            serde_json::from_str(&text).ok()
        } else {
            None
        };
        let res = Response {
            status: rcv.parts.status.as_u16(),
            headers: &rcv.parts.headers,
            text: &text,
            json: json.as_ref(),
        };
        // Captures first (all or nothing, like Artillery), then expectations.
        let mut captured = Vec::new();
        let mut capture_failed = false;
        for c in &r.captures {
            match capture::capture(c, &res, &self.scope()) {
                Captured::Value(v) => captured.push((c.var.clone(), Some(v))),
                Captured::Missing => {
                    if c.strict.unwrap_or(sh.script.config.strict_capture) {
                        capture_failed = true;
                    } else if matches!(c.source, crate::script::CaptureSource::Json(_)) {
                        // Artillery stores `undefined` for a JSONPath that matched nothing
                        // (rendered "undefined" in text), and "" for a header or regexp.
                        captured.push((c.var.clone(), None));
                    } else {
                        captured.push((c.var.clone(), Some(Json::String(String::new()))));
                    }
                }
            }
        }
        for m in &r.matches {
            // Artillery compares with `!==`: same type and value, never equal for objects.
            let expected = m.value.as_ref().map(|v| v.render(&self.scope()));
            let same = match (capture::capture(m, &res, &self.scope()), expected) {
                (Captured::Value(got), Some(want)) => match (&got, &want) {
                    (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
                    (Json::Array(_) | Json::Object(_), _) => false,
                    _ => got == want,
                },
                _ => false,
            };
            if !same && m.strict != Some(false) {
                capture_failed = true;
            }
        }
        if !capture_failed {
            for (k, v) in captured {
                match v {
                    Some(v) => set_path(&mut self.vars, &k, v),
                    None if !k.contains(['.', '[']) => {
                        self.vars.remove(&k);
                    }
                    None => set_path(&mut self.vars, &k, Json::Null),
                }
            }
        }
        let mut expect_failed = false;
        if let Some(opts) = &sh.script.config.expect {
            let default = [Expectation::StatusCode(crate::template::JsonTemplate::Lit(
                Json::from(200),
            ))];
            let list: &[Expectation] = if r.expects.is_empty() && opts.default_200 {
                &default
            } else {
                &r.expects
            };
            let key = r as *const Request as usize;
            let scope = self.scope();
            for (i, e) in list.iter().enumerate() {
                let out = expect::check(e, &res, &scope);
                let type_name = match e {
                    Expectation::HeaderEquals(name, _) => {
                        format!("header {} values equals", name.render(&scope))
                    }
                    other => other.type_name().to_string(),
                };
                let (total, by_type) = if out.ok {
                    (
                        "plugins.expect.ok",
                        format!("plugins.expect.ok.{type_name}"),
                    )
                } else {
                    expect_failed = true;
                    (
                        "plugins.expect.failed",
                        format!("plugins.expect.failed.{type_name}"),
                    )
                };
                self.record(&[Record::Counter(total, 1), Record::Counter(&by_type, 1)]);
                if opts.format != "silent" {
                    tracing::debug!(ok = out.ok, expectation = %type_name, expected = %out.expected, got = %out.got, %url, "expectation");
                }
                let mut tallies = sh.tallies.lock().unwrap_or_else(|p| p.into_inner());
                let t = tallies.entry((key, i)).or_default();
                if out.ok {
                    t.passes += 1;
                } else {
                    t.failures += 1;
                    if t.first_failure.is_none() {
                        t.first_failure = Some(format!(
                            "expected {}, got {} ({} {})",
                            out.expected,
                            out.got,
                            r.method.as_str(),
                            url
                        ));
                    }
                }
            }
            if expect_failed && opts.failures_as_errors {
                self.plugin_hooks(rcv, endpoint, true);
                // Named like the plugin does: the request's name, or its URL as requested
                // (before redirects and without `qs`).
                let what = match (&r.name, opts.use_only_names) {
                    (Some(name), true) => name.clone(),
                    _ => {
                        let rendered = r.url.render(&self.scope());
                        if rendered.starts_with('/') {
                            format!("{}{rendered}", sh.globals.target)
                        } else {
                            rendered.into_owned()
                        }
                    }
                };
                let code = format!("Failed expectations for request {what}");
                self.count_error(&code, None);
                return Err(VuFailure::new(code));
            }
        }
        self.plugin_hooks(rcv, endpoint, false);
        if capture_failed {
            let code = "Failed capture or match";
            self.count_error(code, None);
            return Err(VuFailure::new(code));
        }
        Ok(())
    }
}

/// A boundary shaped like the form-data package's: 26 dashes and 24 hex digits.
fn multipart_boundary() -> String {
    let n: u128 = rand::random();
    format!("--------------------------{:024x}", n & ((1u128 << 96) - 1))
}

/// A multipart/form-data body laid out as the form-data package writes it.
fn multipart_body(
    parts: &[(String, crate::script::FormPart)],
    boundary: &str,
    scope: &Scope<'_>,
) -> Bytes {
    use crate::script::FormPart;
    let mut out: Vec<u8> = Vec::new();
    let quote = |s: &str| s.replace('"', "%22").replace(['\r', '\n'], " ");
    for (name, part) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            FormPart::Text {
                value,
                content_type,
            } => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"\r\n",
                        quote(name)
                    )
                    .as_bytes(),
                );
                if let Some(ct) = content_type {
                    out.extend_from_slice(
                        format!("Content-Type: {}\r\n", ct.render(scope)).as_bytes(),
                    );
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value.render(scope).as_bytes());
            }
            FormPart::File {
                name: file,
                bytes,
                content_type,
            } => {
                let ct = match content_type {
                    Some(ct) => ct.render(scope).into_owned(),
                    None => mime_of(file).to_string(),
                };
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {ct}\r\n\r\n",
                        quote(name),
                        quote(file)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(bytes);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Bytes::from(out)
}

/// The media type of a file by its extension (the common ones; else octet-stream).
fn mime_of(file: &str) -> &'static str {
    let ext = file
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

/// `http.codes.<status>` for the common statuses, without formatting per response.
fn code_name(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "http.codes.200",
        201 => "http.codes.201",
        202 => "http.codes.202",
        204 => "http.codes.204",
        301 => "http.codes.301",
        302 => "http.codes.302",
        303 => "http.codes.303",
        304 => "http.codes.304",
        307 => "http.codes.307",
        308 => "http.codes.308",
        400 => "http.codes.400",
        401 => "http.codes.401",
        403 => "http.codes.403",
        404 => "http.codes.404",
        409 => "http.codes.409",
        429 => "http.codes.429",
        500 => "http.codes.500",
        502 => "http.codes.502",
        503 => "http.codes.503",
        504 => "http.codes.504",
        _ => return None,
    })
}

/// `count`: a number or an Artillery range `"from-to"`.
fn loop_range(text: &str) -> (i64, i64) {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        return (0, n as i64);
    }
    if let Some((a, b)) = t.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.trim().parse(), b.trim().parse()) {
            return (a, b);
        }
    }
    (0, 0)
}

fn build_request(
    method: Method,
    url: &url::Url,
    headers: &[(String, String)],
    extra: &[(String, String)],
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, RequestError> {
    use url::Position;
    let invalid = |detail: String| RequestError {
        code: "ERR_INVALID_HTTP_TOKEN".into(),
        detail,
    };
    let uri = http::Uri::try_from(&url[Position::BeforePath..Position::AfterQuery])
        .map_err(|e| invalid(e.to_string()))?;
    let host = http::HeaderValue::from_str(&url[Position::BeforeHost..Position::AfterPort])
        .map_err(|e| invalid(e.to_string()))?;
    let mut map = http::HeaderMap::with_capacity(headers.len() + extra.len() + 2);
    map.insert(http::header::HOST, host);
    for (k, v) in headers.iter().chain(extra) {
        let name =
            http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let value = http::HeaderValue::from_str(v).map_err(|e| invalid(e.to_string()))?;
        map.append(name, value);
    }
    if !body.is_empty() || matches!(method, Method::Post | Method::Put | Method::Patch) {
        map.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
    let mut req = http::Request::new(Full::new(body));
    *req.method_mut() = method.http();
    *req.uri_mut() = uri;
    *req.headers_mut() = map;
    Ok(req)
}

/// The metrics-by-endpoint name of a request (the plugin's `calculateBaseUrl`), from the
/// URL as written, so templated URLs group under one name.
pub fn endpoint_name(script: &Script, target: &str, r: &Request) -> Option<String> {
    let opts = &script.config.by_endpoint;
    let raw = r.url.raw();
    let full = if raw.starts_with('/') {
        format!("{target}{raw}")
    } else {
        raw.to_string()
    };
    let base = match (url::Url::parse(target), url::Url::parse(&full)) {
        (Ok(t), Ok(u)) => {
            let mut s = String::new();
            if u.host_str() != t.host_str() {
                s.push_str(u.host_str().unwrap_or(""));
            }
            if u.port() != t.port() {
                if let Some(p) = u.port() {
                    s.push_str(&format!(":{p}"));
                }
            }
            s.push_str(u.path());
            if !opts.strip_query {
                if let Some(q) = u.query() {
                    s.push('?');
                    s.push_str(q);
                }
            }
            percent_decode(&s)
        }
        _ => raw.to_string(),
    };
    match &r.name {
        None if opts.ignore_unnamed => None,
        None => Some(base),
        Some(n) if opts.only_names => Some(n.clone()),
        Some(n) => Some(format!("{base} ({n})")),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
