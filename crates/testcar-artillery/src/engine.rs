//! Runs a loaded script: the `before` flow, open-model arrivals on tokio (one VU per
//! arrival, `maxVusers` enforced), the `after` flow, then checks, verdict and report.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value as Json, json};
use testcar_contract::{
    Check, CheckKind, CheckStatus, HttpMetrics, LoadShare, Report, RunnerKind, Status, Suite,
    VuserCounts,
};
use tokio::task::JoinSet;

use crate::arrivals;
use crate::client::Connector;
use crate::expr::Val;
use crate::metrics::{INTENDED_RESPONSE_TIME, Metrics, Record};
use crate::script::{EnsureKind, Expectation, Request, Script, Step};
use crate::template::{Globals, Vars};
use crate::vu::{Endpoint, FlowKind, Shared, Vu, endpoint_name};
use crate::{Outcome, Progress, RunOptions};

/// Run `script` to the end (or until cancelled) and judge it.
///
/// The load runs on its own thread with a single-threaded tokio runtime: a VU's task, its
/// connection and its timers then never hop between threads, which costs far less CPU per
/// request than a work-stealing runtime (one core handles tens of thousands of requests
/// per second), and the engine uses at most one core of the pod it tests.
pub async fn run(script: Script, opts: RunOptions) -> Outcome {
    let started = Instant::now();
    let name = script.name.clone();
    let source = script.path.display().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("testcar-artillery".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => {
                    let _ = tx.send(Ok(rt.block_on(run_inner(script, opts, started))));
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot start the engine's runtime: {e}")));
                }
            }
        });
    let failure = match spawned {
        Err(e) => format!("cannot start the engine's thread: {e}"),
        Ok(_) => match rx.await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(e)) => e,
            // The thread ended without an outcome: a panic inside the engine. That is a
            // bug, but the agent still gets a verdict.
            Err(_) => "engine failure: the engine stopped unexpectedly".to_string(),
        },
    };
    let mut suite = Suite::new(name, RunnerKind::Artillery);
    suite.source = Some(source);
    suite.status = Status::Error;
    suite.error = Some(failure);
    suite.duration_ms = started.elapsed().as_millis() as u64;
    Outcome {
        suite,
        report: json!({"aggregate": {}, "intermediate": []}),
    }
}

async fn run_inner(mut script: Script, opts: RunOptions, started: Instant) -> Outcome {
    let mut suite = Suite::new(script.name.clone(), RunnerKind::Artillery);
    suite.source = Some(script.path.display().to_string());
    if let Some(replicas) = opts.load_share.filter(|n| *n > 0) {
        arrivals::share(&mut script.config.phases, replicas);
        suite.load_share = Some(LoadShare { replicas });
    }
    let target = opts
        .target
        .clone()
        .unwrap_or_else(|| script.config.target.clone());
    let connector = match Connector::new(
        script.config.reject_unauthorized,
        opts.auth.as_ref().and_then(|a| a.client_tls()),
    ) {
        Ok(c) => match script.config.pool {
            Some(n) => c.with_pool(n as usize),
            None => c,
        },
        Err(e) => {
            suite.status = Status::Error;
            suite.error = Some(e.to_string());
            return Outcome {
                suite,
                report: json!({"aggregate": {}, "intermediate": []}),
            };
        }
    };
    let mut endpoints = HashMap::new();
    visit_requests(&script, &mut |r| {
        let prefix = &script.config.by_endpoint.prefix;
        endpoints.insert(
            r.id,
            endpoint_name(&script, &target, r).map(|name| Endpoint::new(prefix, &name)),
        );
    });
    let sh = Arc::new(Shared {
        globals: Globals {
            target,
            environment: script.config.environment.clone(),
            test_id: uuid::Uuid::new_v4().simple().to_string(),
            dotenv: script.config.dotenv.clone(),
        },
        script,
        metrics: Metrics::new(),
        connector,
        auth: opts.auth.clone(),
        base_vars: std::sync::Mutex::new(Vars::new()),
        tallies: Default::default(),
        endpoints,
        cancel: opts.cancel.clone(),
        running: Default::default(),
        ws_tried: Default::default(),
        ws_answered: Default::default(),
    });

    let progress_task = opts.progress.clone().map(|tx| {
        let sh = sh.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut last = (Instant::now(), 0u64);
            loop {
                tick.tick().await;
                let p = progress_snapshot(&sh.metrics, started, &mut last);
                let _ = tx.send(p);
            }
        })
    });

    let mut error: Option<String> = None;
    if sh.script.before.is_some() {
        let mut vu = Vu::new_hook(&sh);
        match vu.run(FlowKind::Before).await {
            Ok(()) => *sh.base_vars.lock().unwrap_or_else(|p| p.into_inner()) = vu.into_vars(),
            Err(f) => {
                error = Some(format!(
                    "the before flow failed ({}); no virtual users were started",
                    f.code
                ))
            }
        }
    }
    if error.is_none() {
        run_phases(&sh).await;
    }
    // The `after` flow sees what `before` left (never a scenario's captures), as in
    // Artillery; when it fails (a failed capture or match, a refused connection) Artillery
    // 2 still writes its report and then exits 1: a failed check here.
    let mut after_failed = None;
    if error.is_none() && !sh.cancel.is_cancelled() && sh.script.after.is_some() {
        let mut vu = Vu::new_hook(&sh);
        if let Err(f) = vu.run(FlowKind::After).await {
            tracing::warn!(code = %f.code, "the after flow failed");
            after_failed = Some(f.code);
        }
    }
    if let Some(t) = progress_task {
        t.abort();
        // The last word, so a consumer's figures include the final second.
        if let Some(tx) = &opts.progress {
            let mut last = (started, 0);
            let _ = tx.send(progress_snapshot(&sh.metrics, started, &mut last));
        }
    }
    let span = started.elapsed();
    let report = sh.metrics.report(span);
    suite.metrics = Some(http_metrics(&sh.metrics, span));
    suite.checks = checks(&sh, span);
    if let Some(code) = after_failed {
        suite.checks.push(after_flow_check(code));
    }
    let strict_failed = suite
        .checks
        .iter()
        .any(|c| c.status == CheckStatus::Failed && !c.name.ends_with("(optional)"));
    suite.status = if strict_failed {
        Status::Failed
    } else {
        Status::Passed
    };
    if sh.cancel.is_cancelled() && error.is_none() {
        error = Some(
            "cancelled before the end of the phases; the report holds what was measured".into(),
        );
    }
    if error.is_none() {
        if let Some(m) = &suite.metrics {
            // HTTP requests without a response, or WebSockets of which none was answered.
            let tried = m.requests > 0 || sh.ws_tried.load(Ordering::Relaxed) > 0;
            let answered = m.responses > 0 || sh.ws_answered.load(Ordering::Relaxed) > 0;
            if tried && !answered {
                let errs: Vec<String> = m.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
                error = Some(format!("no response from the target ({})", errs.join(", ")));
            }
        }
    }
    if let Some(e) = error {
        suite.status = Status::Error;
        suite.error = Some(e);
    }
    if let Some(dir) = &opts.report_dir {
        let path = dir.join("report.json");
        let written = std::fs::create_dir_all(dir).and_then(|_| {
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(&report).unwrap_or_default(),
            )
        });
        match written {
            Ok(()) => suite.reports.push(Report {
                kind: "artillery-report".into(),
                path: "report.json".into(),
            }),
            Err(e) => tracing::warn!(error = %e, path = %path.display(), "cannot write the report"),
        }
    }
    suite.duration_ms = started.elapsed().as_millis() as u64;
    Outcome { suite, report }
}

async fn run_phases(sh: &Arc<Shared>) {
    let weights: Vec<u32> = sh.script.scenarios.iter().map(|s| s.weight).collect();
    let total_weight: u32 = weights.iter().sum();
    let created_names: Vec<String> = sh
        .script
        .scenarios
        .iter()
        .map(|s| format!("vusers.created_by_name.{}", s.name))
        .collect();
    let created_names = Arc::new(created_names);
    let t0 = tokio::time::Instant::now();
    let mut set = JoinSet::new();
    for arrival in arrivals::arrivals(&sh.script.config.phases) {
        let due = t0 + arrival.at;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = sh.cancel.cancelled() => break,
        }
        while set.try_join_next().is_some() {}
        let phase = &sh.script.config.phases[arrival.phase];
        if let Some(max) = phase.max_vusers {
            if sh.running.load(Ordering::Relaxed) >= max {
                sh.metrics.counter("vusers.skipped", 1);
                continue;
            }
        }
        let scenario = pick(&weights, total_weight);
        let intended = due.into_std();
        sh.running.fetch_add(1, Ordering::Relaxed);
        let sh2 = sh.clone();
        let names = created_names.clone();
        set.spawn(async move {
            let sh = &*sh2;
            sh.metrics.record(&[
                Record::Counter(&names[scenario], 1),
                Record::Counter("vusers.created", 1),
            ]);
            let began = Instant::now();
            let mut vu = Vu::new(sh, intended);
            let result = vu.run(FlowKind::Scenario(scenario)).await;
            drop(vu);
            match result {
                Ok(()) => sh.metrics.record(&[
                    Record::Counter("vusers.failed", 0),
                    Record::Counter("vusers.completed", 1),
                    Record::Histogram("vusers.session_length", began.elapsed()),
                ]),
                // A VU stopped by cancellation neither completed nor failed.
                Err(f) if f.code == "ECANCELED" => {}
                Err(_) => sh.metrics.counter("vusers.failed", 1),
            }
            sh.running.fetch_sub(1, Ordering::Relaxed);
        });
    }
    loop {
        tokio::select! {
            next = set.join_next() => if next.is_none() { break },
            _ = sh.cancel.cancelled() => {
                // Give in-flight VUs a moment to notice, then stop them.
                let _ = tokio::time::timeout(Duration::from_millis(200), async { while set.join_next().await.is_some() {} }).await;
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
        }
    }
}

fn pick(weights: &[u32], total: u32) -> usize {
    if weights.len() == 1 || total == 0 {
        return 0;
    }
    let mut r = rand::rng().random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return i;
        }
        r -= w;
    }
    weights.len() - 1
}

fn visit_requests<'s>(script: &'s Script, f: &mut dyn FnMut(&'s Request)) {
    fn walk<'s>(steps: &'s [Step], f: &mut dyn FnMut(&'s Request)) {
        for s in steps {
            match s {
                Step::Request(r) => f(r),
                Step::Loop(l) => walk(&l.steps, f),
                Step::Parallel(steps) => walk(steps, f),
                Step::Think(_) | Step::Log(_) | Step::WsSend(_) => {}
            }
        }
    }
    if let Some(b) = &script.before {
        walk(b, f);
    }
    for s in &script.scenarios {
        walk(&s.flow, f);
    }
    if let Some(a) = &script.after {
        walk(a, f);
    }
}

fn http_metrics(m: &Metrics, span: Duration) -> HttpMetrics {
    let counters = m.counters();
    let mut summaries = m.summaries();
    let histograms = m
        .histograms()
        .into_iter()
        .filter_map(|(name, h)| match h.encode() {
            Ok(text) => Some((name, text)),
            Err(e) => {
                tracing::warn!(histogram = %name, error = %e, "cannot encode a histogram; the result carries its summary only");
                None
            }
        })
        .collect();
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    let requests = get("http.requests");
    let mut out = HttpMetrics {
        requests,
        responses: get("http.responses"),
        downloaded_bytes: get("http.downloaded_bytes"),
        request_rate: requests as f64 / span.as_secs_f64().max(1e-3),
        response_time: summaries.remove("http.response_time"),
        response_time_intended: summaries.remove(INTENDED_RESPONSE_TIME),
        vusers: VuserCounts {
            created: get("vusers.created"),
            completed: get("vusers.completed"),
            failed: get("vusers.failed"),
            skipped: get("vusers.skipped"),
        },
        histograms,
        ..Default::default()
    };
    for (k, v) in counters {
        if let Some(code) = k.strip_prefix("http.codes.") {
            out.codes.insert(code.to_string(), v);
        } else if let Some(code) = k.strip_prefix("errors.") {
            out.errors.insert(code.to_string(), v);
        } else if !matches!(
            k.as_str(),
            "http.requests"
                | "http.responses"
                | "http.downloaded_bytes"
                | "vusers.created"
                | "vusers.completed"
                | "vusers.failed"
                | "vusers.skipped"
        ) {
            out.counters.insert(k, v);
        }
    }
    out.summaries = summaries;
    out
}

/// The failed check a failed `after` flow adds (Artillery exits 1 after its report).
fn after_flow_check(code: String) -> Check {
    Check {
        name: "after flow completes".into(),
        kind: CheckKind::Expect,
        status: CheckStatus::Failed,
        observed: None,
        expected: None,
        passes: Some(0),
        failures: Some(1),
        message: Some(format!(
            "the after flow failed ({code}); it sees the variables of `before`, `config.variables` and the payload, never a scenario's captures"
        )),
    }
}

fn checks(sh: &Shared, span: Duration) -> Vec<Check> {
    let mut out = Vec::new();
    if sh.script.config.expect.is_some() {
        let tallies = sh.tallies.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut default_200 = Vec::new();
        visit_requests(&sh.script, &mut |r| {
            let key = r.id;
            let list: Vec<String> = if r.expects.is_empty() {
                default_200.clear();
                default_200.push("statusCode 200".to_string());
                default_200.clone()
            } else {
                r.expects.iter().map(describe).collect()
            };
            for (i, desc) in list.iter().enumerate() {
                let Some(t) = tallies.get(&(key, i)) else {
                    continue;
                };
                out.push(Check {
                    name: format!("{} {} {}", r.method.as_str(), r.url.raw(), desc),
                    kind: CheckKind::Expect,
                    status: if t.failures == 0 {
                        CheckStatus::Passed
                    } else {
                        CheckStatus::Failed
                    },
                    observed: None,
                    expected: None,
                    passes: Some(t.passes),
                    failures: Some(t.failures),
                    message: t.first_failure.clone(),
                });
            }
        });
    }
    if !sh.script.config.ensure.is_empty() {
        let values = sh.metrics.ensure_values(span);
        for c in &sh.script.config.ensure {
            let v = c.expr.eval(&|name| {
                values
                    .get(name)
                    .map(|v| Val::Num(*v))
                    .unwrap_or(Val::Missing)
            });
            let mut names = Vec::new();
            c.expr.names(&mut names);
            let observed: serde_json::Map<String, Json> = names
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        values.get(n).map(|v| json!(v)).unwrap_or(Json::Null),
                    )
                })
                .collect();
            let missing: Vec<&String> = names.iter().filter(|n| !values.contains_key(*n)).collect();
            let held = v.truthy();
            let observed = match (c.kind, names.as_slice()) {
                (EnsureKind::Threshold, [one]) => observed.get(one).cloned(),
                _ => Some(Json::Object(observed)),
            };
            out.push(Check {
                name: if c.strict {
                    c.original.clone()
                } else {
                    format!("{} (optional)", c.original)
                },
                kind: match c.kind {
                    EnsureKind::Threshold => CheckKind::Threshold,
                    EnsureKind::Condition => CheckKind::Condition,
                },
                status: if held {
                    CheckStatus::Passed
                } else {
                    CheckStatus::Failed
                },
                observed,
                expected: Some(Json::String(c.original.clone())),
                passes: None,
                failures: None,
                message: (!held).then(|| {
                    if missing.is_empty() {
                        "the condition did not hold".to_string()
                    } else {
                        format!(
                            "no data for {}",
                            missing
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                }),
            });
        }
    }
    out
}

fn describe(e: &Expectation) -> String {
    let raw = |t: &crate::template::Template| t.raw().to_string();
    let json_raw = |t: &crate::template::JsonTemplate| match t {
        crate::template::JsonTemplate::Lit(v) => v.to_string(),
        crate::template::JsonTemplate::Str(t) => t.raw().to_string(),
        crate::template::JsonTemplate::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| match i {
                    crate::template::JsonTemplate::Lit(v) => v.to_string(),
                    crate::template::JsonTemplate::Str(t) => t.raw().to_string(),
                    _ => "?".into(),
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
        crate::template::JsonTemplate::Object(_) => "{..}".into(),
    };
    match e {
        Expectation::StatusCode(t) => format!("statusCode {}", json_raw(t)),
        Expectation::NotStatusCode(t) => format!("notStatusCode {}", json_raw(t)),
        Expectation::ContentType(t) => format!("contentType {}", raw(t)),
        Expectation::HasProperty(t) => format!("hasProperty {}", raw(t)),
        Expectation::NotHasProperty(t) => format!("notHasProperty {}", raw(t)),
        Expectation::Equals(ts) => format!(
            "equals {}",
            ts.iter().map(raw).collect::<Vec<_>>().join(", ")
        ),
        Expectation::HasHeader(t) => format!("hasHeader {}", raw(t)),
        Expectation::HeaderEquals(n, v) => format!("headerEquals {} {}", raw(n), raw(v)),
        Expectation::MatchesRegexp(t) => format!("matchesRegexp {}", raw(t)),
    }
}

/// The live figures; `last` is the previous snapshot's time and request count (for the rate).
fn progress_snapshot(metrics: &Metrics, started: Instant, last: &mut (Instant, u64)) -> Progress {
    let counters = metrics.counters();
    let requests = counters.get("http.requests").copied().unwrap_or(0);
    let now = Instant::now();
    let rate =
        requests.saturating_sub(last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
    *last = (now, requests);
    let response_time = metrics.histogram("http.response_time");
    Progress {
        elapsed: started.elapsed(),
        requests,
        responses: counters.get("http.responses").copied().unwrap_or(0),
        errors: counters
            .iter()
            .filter(|(k, _)| k.starts_with("errors."))
            .map(|(_, v)| v)
            .sum(),
        rate,
        p99_ms: response_time
            .as_ref()
            .map(|h| crate::metrics::summarize(h).p99),
        response_time: response_time.map(Arc::new),
    }
}
