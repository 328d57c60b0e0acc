//! Running a consistency suite: concurrent clients send the operation mix to the service,
//! every call and return is recorded, and the history is checked and saved (JSONL + HTML)
//! in the results folder. Nothing measured is lost when the run is interrupted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use testcar_auth::{RequestAuth, RequestCredentials, RequestParts};
use testcar_contract::{
    Check, CheckKind, CheckStatus, HttpMetrics, LatencySummary, Report, RunnerKind, Status, Suite,
};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::check::{CheckOptions, Linearizability, check};
use crate::history::{History, Input, Op, Outcome, Output};
use crate::model::ModelKind;
use crate::suite::{ConsistencySuite, Decode, OperationSpec, OutputSpec};
use crate::template::Vars;

/// How to run a suite.
#[derive(Debug, Clone, Default)]
pub struct SuiteOptions {
    /// Base URL of the service; overrides the suite's `target`.
    pub target: Option<String>,
    /// Credentials applied to every request.
    pub auth: Option<Arc<dyn RequestAuth>>,
    /// Where the history (JSONL) and its HTML view are written.
    pub results_dir: Option<PathBuf>,
    /// Cancelled = stop sending, check and keep what was recorded.
    pub cancel: CancellationToken,
}

/// One operation as recorded, with what the metrics need.
#[derive(Debug)]
struct Recorded {
    op: Op,
    requests: u64,
    status: Option<u16>,
    error: Option<&'static str>,
    bytes: u64,
    latency_ms: Option<f64>,
}

struct Shared {
    suite: ConsistencySuite,
    target: String,
    http: reqwest::Client,
    auth: Option<Arc<dyn RequestAuth>>,
    start: Instant,
    deadline: Option<Instant>,
    issued: AtomicU64,
    /// Next free slot per operation with a `rate`.
    slots: Vec<Mutex<Instant>>,
    cumulative: Vec<f64>,
    stop: CancellationToken,
    auth_error: std::sync::Mutex<Option<String>>,
}

fn tls_config(auth: Option<&dyn RequestAuth>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = auth.and_then(|a| a.client_tls());
    if let Some(t) = tls {
        for r in &t.roots {
            roots
                .add(r.clone())
                .map_err(|e| format!("extra root certificate: {e}"))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match tls.and_then(|t| t.key.as_ref().map(|k| (t, k))) {
        Some((t, key)) => builder
            .with_client_auth_cert(t.cert_chain.clone(), key.clone_key())
            .map_err(|e| format!("client certificate: {e}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

fn error_suite(mut suite: Suite, started: Instant, message: String) -> Suite {
    suite.status = Status::Error;
    suite.error = Some(message);
    suite.duration_ms = started.elapsed().as_millis() as u64;
    suite
}

/// Run `suite` and judge its history. Never panics; problems become a suite in `error`.
pub async fn run_suite(suite: ConsistencySuite, opts: SuiteOptions) -> Suite {
    let started = Instant::now();
    let mut result = Suite::new(suite.name.clone(), RunnerKind::Consistency);
    result.source = suite
        .source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let Some(target) = opts.target.clone().or_else(|| suite.target.clone()) else {
        return error_suite(
            result,
            started,
            "no target: set `target` in the suite or give the agent one".into(),
        );
    };
    let target = target.trim_end_matches('/').to_string();
    let tls = match tls_config(opts.auth.as_deref()) {
        Ok(t) => t,
        Err(e) => return error_suite(result, started, format!("TLS setup: {e}")),
    };
    let http = match reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(suite.timeout)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => return error_suite(result, started, format!("HTTP client: {e}")),
    };
    let mut acc = 0.0;
    let cumulative = suite
        .operations
        .iter()
        .map(|o| {
            acc += o.weight;
            acc
        })
        .collect();
    let now = Instant::now();
    let shared = Arc::new(Shared {
        slots: suite.operations.iter().map(|_| Mutex::new(now)).collect(),
        deadline: suite.duration.map(|d| now + d),
        suite,
        target,
        http,
        auth: opts.auth.clone(),
        start: now,
        issued: AtomicU64::new(0),
        cumulative,
        stop: opts.cancel.child_token(),
        auth_error: std::sync::Mutex::new(None),
    });
    tracing::info!(suite = %shared.suite.name, target = %shared.target, clients = shared.suite.clients, "consistency suite started");
    let mut tasks = Vec::new();
    for c in 0..shared.suite.clients {
        let span =
            tracing::info_span!("consistency_client", suite = %shared.suite.name, client = c);
        tasks.push(tokio::spawn(
            client_loop(shared.clone(), c as u64).instrument(span),
        ));
    }
    let mut recorded = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => recorded.extend(r),
            Err(e) => tracing::error!(%e, "consistency client task failed"),
        }
    }
    let interrupted = opts.cancel.is_cancelled();
    let elapsed = shared.start.elapsed();
    result.metrics = Some(metrics(&recorded, elapsed));
    let suite = &shared.suite;
    let history = History::in_call_order(
        recorded.into_iter().map(|r| r.op).collect(),
        true,
        suite.initial.clone(),
    );
    let completed = history
        .ops
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Ok(_) | Outcome::Fail))
        .count();
    let model = suite.model;
    let check_opts = CheckOptions {
        timeout: Some(suite.check_timeout),
        ..CheckOptions::default()
    };
    let (history, verdict) = match tokio::task::spawn_blocking(move || {
        let v = check(model, &history, &check_opts);
        (history, v)
    })
    .await
    {
        Ok((h, Ok(v))) => (h, v),
        Ok((_, Err(e))) => {
            return error_suite(
                result,
                started,
                format!("history does not fit the model: {e}"),
            );
        }
        Err(e) => return error_suite(result, started, format!("checker failed: {e}")),
    };
    if let Some(dir) = &opts.results_dir {
        match write_reports(dir, &suite.name, model, &history, &verdict) {
            Ok(reports) => result.reports = reports,
            Err(e) => tracing::warn!(%e, dir = %dir.display(), "could not write the history"),
        }
    }
    let (status, message) = match verdict.result {
        Linearizability::Linearizable => (CheckStatus::Passed, None),
        Linearizability::NotLinearizable => (CheckStatus::Failed, Some(verdict.explain(&history))),
        Linearizability::Unknown => (CheckStatus::Error, Some(verdict.explain(&history))),
    };
    let mut check = Check {
        name: format!("linearizable ({} model)", model.name()),
        kind: CheckKind::Consistency,
        status,
        observed: Some(serde_json::Value::String(verdict.result.as_str().into())),
        expected: Some(serde_json::Value::String("linearizable".into())),
        passes: Some(completed as u64),
        failures: None,
        message,
    };
    // A verdict over a history where nothing completed would be a pass over no data.
    if completed == 0 {
        check.status = CheckStatus::Error;
        check.message = Some(format!(
            "no operation completed ({} recorded): nothing to judge",
            history.ops.len()
        ));
    }
    result.checks.push(check);
    result.status = result.status_from_checks();
    if let Some(e) = shared.auth_error.lock().ok().and_then(|g| g.clone()) {
        result.status = Status::Error;
        result.error = Some(e);
    } else if completed == 0 {
        result.error = Some("no operation completed: is the service reachable?".into());
    } else if interrupted {
        result.status = Status::Error;
        result.error = Some(format!(
            "interrupted after {} operations; the recorded history was checked",
            history.ops.len()
        ));
    } else if verdict.result == Linearizability::Unknown {
        result.error = Some(format!(
            "the linearizability check ran out of its time budget ({})",
            humantime::format_duration(suite.check_timeout)
        ));
    }
    result.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(suite = %suite.name, verdict = verdict.result.as_str(), operations = history.ops.len(), "consistency suite finished");
    result
}

fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_reports(
    dir: &std::path::Path,
    name: &str,
    model: ModelKind,
    history: &History,
    verdict: &crate::check::Verdict,
) -> std::io::Result<Vec<Report>> {
    std::fs::create_dir_all(dir)?;
    let stem = file_stem(name);
    let jsonl = format!("{stem}.history.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(&jsonl))?);
    crate::format::jsonl::write(history, model, &mut f)?;
    std::io::Write::flush(&mut f)?;
    let html = format!("{stem}.history.html");
    std::fs::write(dir.join(&html), crate::html::render(name, history, verdict))?;
    Ok(vec![
        Report {
            kind: "history-jsonl".into(),
            path: jsonl,
        },
        Report {
            kind: "history-html".into(),
            path: html,
        },
    ])
}

fn summary(mut v: Vec<f64>) -> Option<LatencySummary> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(LatencySummary {
        count: v.len() as u64,
        min: v[0],
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
        p50: pct(0.5),
        p75: pct(0.75),
        p90: pct(0.9),
        p95: pct(0.95),
        p99: pct(0.99),
        p999: pct(0.999),
    })
}

fn metrics(recorded: &[Recorded], elapsed: Duration) -> HttpMetrics {
    let mut m = HttpMetrics::default();
    let mut lat = Vec::new();
    for r in recorded {
        m.requests += r.requests;
        if let Some(s) = r.status {
            m.responses += 1;
            *m.codes.entry(s.to_string()).or_default() += 1;
        }
        if let Some(e) = r.error {
            *m.errors.entry(e.to_string()).or_default() += 1;
        }
        m.downloaded_bytes += r.bytes;
        if let Some(l) = r.latency_ms {
            lat.push(l);
        }
        let outcome = match r.op.outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Fail => "fail",
            Outcome::Rejected => "rejected",
            Outcome::Unknown => "unknown",
        };
        *m.counters
            .entry(format!("consistency.{outcome}"))
            .or_default() += 1;
        *m.counters
            .entry(format!("consistency.ops.{}", r.op.input.name()))
            .or_default() += 1;
    }
    m.request_rate = if elapsed.as_secs_f64() > 0.0 {
        m.requests as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    m.response_time = summary(lat);
    m
}

async fn client_loop(shared: Arc<Shared>, client: u64) -> Vec<Recorded> {
    let mut rng = StdRng::from_os_rng();
    let suite = &shared.suite;
    let mut out = Vec::new();
    let total = *shared.cumulative.last().unwrap_or(&0.0);
    for seq in 0u64.. {
        if shared.stop.is_cancelled() || shared.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(count) = suite.count {
            if shared.issued.fetch_add(1, Ordering::Relaxed) >= count {
                break;
            }
        }
        let pick = rng.random::<f64>() * total;
        let idx = shared
            .cumulative
            .iter()
            .position(|c| pick < *c)
            .unwrap_or(suite.operations.len() - 1);
        let spec = &suite.operations[idx];
        if let Some(rate) = spec.rate {
            let slot = {
                let mut next = shared.slots[idx].lock().await;
                let slot = (*next).max(Instant::now());
                *next = slot + Duration::from_secs_f64(1.0 / rate);
                slot
            };
            tokio::select! {
                _ = shared.stop.cancelled() => break,
                _ = tokio::time::sleep_until(slot.into()) => {}
            }
            if shared.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        let key = suite.keys[rng.random_range(0..suite.keys.len())].clone();
        let (input, from, to, value, amount) = input_for(spec, suite, client, seq, &key, &mut rng);
        let vars = Vars {
            target: &shared.target,
            key: &key,
            value: &value,
            from: &from,
            to: &to,
            amount,
            client,
            seq,
        };
        let call = shared.start.elapsed().as_nanos() as u64;
        let sent = Instant::now();
        let rec = tokio::select! {
            _ = shared.stop.cancelled() => Exchange { outcome: Outcome::Unknown, returned: false, requests: 1, status: None,
                error: None, bytes: 0, note: Some("interrupted".into()) },
            x = exchange(&shared, spec, &vars, &input) => x,
        };
        let ret = rec
            .returned
            .then(|| shared.start.elapsed().as_nanos() as u64);
        out.push(Recorded {
            latency_ms: rec.status.map(|_| sent.elapsed().as_secs_f64() * 1000.0),
            op: Op {
                id: 0,
                client,
                key: (suite.model != ModelKind::Bank).then_some(key),
                call,
                ret,
                input,
                outcome: rec.outcome,
                line: 0,
                note: rec.note,
            },
            requests: rec.requests,
            status: rec.status,
            error: rec.error,
            bytes: rec.bytes,
        });
    }
    out
}

type Inputs = (Input, String, String, String, i64);

fn input_for(
    spec: &OperationSpec,
    suite: &ConsistencySuite,
    client: u64,
    seq: u64,
    key: &str,
    rng: &mut StdRng,
) -> Inputs {
    let small = |rng: &mut StdRng| rng.random_range(0..suite.values).to_string();
    // kv values are unique, so the checker can tell writes apart; appends end with a
    // separator so concatenations stay unambiguous.
    let unique = format!("c{client}-{seq}");
    match spec.name.as_str() {
        "write" => {
            let v = small(rng);
            (Input::Write(v.clone()), String::new(), String::new(), v, 0)
        }
        "cas" => {
            let (f, t) = (small(rng), small(rng));
            (
                Input::Cas {
                    from: f.clone(),
                    to: t.clone(),
                },
                f,
                t,
                String::new(),
                0,
            )
        }
        "put" => (
            Input::Put(unique.clone()),
            String::new(),
            String::new(),
            unique,
            0,
        ),
        "append" => {
            let v = format!("{unique};");
            (Input::Append(v.clone()), String::new(), String::new(), v, 0)
        }
        "delete" => (
            Input::Delete,
            String::new(),
            String::new(),
            String::new(),
            0,
        ),
        "transfer" => {
            let from = key.to_string();
            let mut to = suite.keys[rng.random_range(0..suite.keys.len())].clone();
            while to == from {
                to = suite.keys[rng.random_range(0..suite.keys.len())].clone();
            }
            let amount = rng.random_range(1..=suite.amount);
            (
                Input::Transfer {
                    from: from.clone(),
                    to: to.clone(),
                    amount,
                },
                from,
                to,
                String::new(),
                amount,
            )
        }
        "balances" => (
            Input::Balances,
            String::new(),
            String::new(),
            String::new(),
            0,
        ),
        "get" => (Input::Get, String::new(), String::new(), String::new(), 0),
        _ => (Input::Read, String::new(), String::new(), String::new(), 0),
    }
}

struct Exchange {
    outcome: Outcome,
    returned: bool,
    requests: u64,
    status: Option<u16>,
    error: Option<&'static str>,
    bytes: u64,
    note: Option<String>,
}

fn error_code(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "ETIMEDOUT"
    } else if e.is_connect() {
        "ECONNREFUSED"
    } else if e.is_body() || e.is_decode() {
        "EBODY"
    } else {
        "EREQUEST"
    }
}

async fn exchange(
    shared: &Shared,
    spec: &OperationSpec,
    vars: &Vars<'_>,
    input: &Input,
) -> Exchange {
    let url = spec.url.render(vars);
    let body = spec
        .body
        .as_ref()
        .map(|b| b.render(vars))
        .unwrap_or_default();
    let mut x = Exchange {
        outcome: Outcome::Unknown,
        returned: true,
        requests: 0,
        status: None,
        error: None,
        bytes: 0,
        note: None,
    };
    let mut creds = RequestCredentials::new(shared.auth.as_deref());
    // Two sends at most: the second only after a 401 the credentials could refresh.
    for _ in 0..2 {
        let mut req = shared.http.request(spec.method.clone(), &url);
        for (k, v) in &spec.headers {
            req = req.header(k.as_str(), v.render(vars));
        }
        let parts = RequestParts {
            method: spec.method.as_str(),
            url: &url,
            body: body.as_bytes(),
        };
        match creds.headers(parts).await {
            Ok(h) => {
                for (k, v) in h {
                    req = req.header(k, v);
                }
            }
            Err(e) => {
                // Not sent: it surely took no effect (and a cas never compared).
                // Credentials failing stops the suite.
                let e = e.cause();
                x.outcome = Outcome::Rejected;
                x.error = Some("EAUTH");
                x.note = Some(e.to_string());
                if let Ok(mut g) = shared.auth_error.lock() {
                    g.get_or_insert_with(|| format!("credentials: {e}"));
                }
                shared.stop.cancel();
                return x;
            }
        }
        if !body.is_empty() {
            req = req.body(body.clone());
        }
        x.requests += 1;
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                x.error = Some(error_code(&e));
                // A refused connection sent nothing (a cas never compared); anything else
                // may have reached the service.
                x.outcome = if e.is_connect() {
                    Outcome::Rejected
                } else {
                    Outcome::Unknown
                };
                x.note = Some(x.error.unwrap_or_default().to_string());
                return x;
            }
        };
        let status = resp.status().as_u16();
        // A failed refresh leaves the 401 as the answer, recorded like any other.
        if matches!(creds.resend_after(status).await, Ok(true)) {
            continue;
        }
        x.status = Some(status);
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                x.error = Some(error_code(&e));
                x.note = Some(format!(
                    "HTTP {status}, body: {}",
                    x.error.unwrap_or_default()
                ));
                return x;
            }
        };
        x.bytes = bytes.len() as u64;
        x.note = Some(format!("HTTP {status}"));
        let ok = match &spec.ok {
            Some(list) => list.contains(&status),
            None => (200..300).contains(&status),
        };
        if spec.fail.contains(&status) {
            x.outcome = Outcome::Fail;
        } else if ok {
            match interpret(spec, input, &bytes) {
                Ok(o) => x.outcome = o,
                Err(e) => x.note = Some(format!("HTTP {status}: {e}")),
            }
        }
        return x;
    }
    x
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Read the outcome of a completed request from its body.
fn interpret(spec: &OperationSpec, input: &Input, body: &[u8]) -> Result<Outcome, String> {
    let parse = || {
        serde_json::from_slice::<serde_json::Value>(body)
            .map_err(|e| format!("body is not JSON: {e}"))
    };
    if let Some(pointer) = &spec.applied {
        let doc = parse()?;
        return match doc.pointer(pointer) {
            None | Some(serde_json::Value::Bool(false)) => Ok(Outcome::Fail),
            Some(serde_json::Value::Bool(true)) => Ok(Outcome::Ok(Output::None)),
            Some(other) => Err(format!(
                "applied {pointer}: expected true or false, found {other}"
            )),
        };
    }
    if !input.is_read() {
        return Ok(Outcome::Ok(Output::None));
    }
    let value: Option<String> = match spec.output.as_ref() {
        None | Some(OutputSpec::Body) => {
            if matches!(input, Input::Balances) {
                return balances(&parse()?);
            }
            Some(String::from_utf8_lossy(body).into_owned())
        }
        Some(OutputSpec::Pointer {
            pointer,
            decode,
            missing,
        }) => {
            let doc = parse()?;
            let found = doc.pointer(pointer);
            if matches!(input, Input::Balances) {
                return balances(found.ok_or_else(|| format!("output {pointer}: not found"))?);
            }
            match found.and_then(json_text) {
                None => missing.clone(),
                Some(t) => Some(match decode {
                    Decode::None => t,
                    Decode::Base64 => {
                        let raw = base64::engine::general_purpose::STANDARD
                            .decode(t.as_bytes())
                            .map_err(|e| format!("output {pointer}: not base64: {e}"))?;
                        String::from_utf8(raw)
                            .map_err(|_| format!("output {pointer}: not UTF-8"))?
                    }
                }),
            }
        }
    };
    Ok(Outcome::Ok(Output::Value(match input {
        Input::Get => Some(value.unwrap_or_default()),
        _ => value,
    })))
}

fn balances(v: &serde_json::Value) -> Result<Outcome, String> {
    let obj = v
        .as_object()
        .ok_or("balances: expected a JSON object {account: number}")?;
    let mut b = BTreeMap::new();
    for (k, n) in obj {
        b.insert(
            k.clone(),
            n.as_i64()
                .ok_or_else(|| format!("balance of {k}: expected an integer"))?,
        );
    }
    Ok(Outcome::Ok(Output::Balances(b)))
}
