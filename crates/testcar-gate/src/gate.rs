//! The wait loop: poll the workload's pods until every one has a verdict (or the timeout),
//! report progress on the way, and judge: passed only if every pod passed and at least
//! `--min-pods` reported.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client, ResourceExt};
use testcar_contract::Status;
use testcar_contract::duration::format_duration;
use tokio::time::Instant;

use crate::hint::{self, WebhookLookup};
use crate::report::{GATE_SCHEMA_ID, GateReport, PodReport, PodStatus, WorkloadRef};
use crate::verdict::{self, Observation, Probe, Source};
use crate::workload::{self, Selection, Workload};

/// Pods probed at the same time.
const CONCURRENT_PROBES: usize = 8;
/// How often the list of what is still missing is repeated while nothing changes.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What to gate and how long to wait.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// Namespace of the workload.
    pub namespace: String,
    /// The workload.
    pub workload: Workload,
    /// Upper bound on the whole wait.
    pub timeout: Duration,
    /// Fewest pods that must report.
    pub min_pods: usize,
    /// Pause between polls.
    pub interval: Duration,
    /// Stop at the first pod that did not pass.
    pub fail_fast: bool,
}

#[derive(Debug)]
struct Tracked {
    restarts: i32,
    state: PodState,
    html_report: Option<verdict::HtmlReport>,
}

#[derive(Debug)]
enum PodState {
    Waiting(String),
    Reported(Box<testcar_contract::Run>, Source),
    Broken(String),
}

impl Tracked {
    fn terminal(&self) -> bool {
        !matches!(self.state, PodState::Waiting(_))
    }

    fn status(&self) -> PodStatus {
        match &self.state {
            PodState::Waiting(_) => PodStatus::Pending,
            PodState::Reported(run, _) => run.status.into(),
            PodState::Broken(_) => PodStatus::Error,
        }
    }
}

/// The gate's running state; kept outside the polling future so that a timeout that cuts
/// a poll short loses nothing already seen.
#[derive(Debug, Default)]
struct State {
    pods: BTreeMap<String, Tracked>,
    selection: Selection,
    /// Last transient problem listing the workload (API errors, controller lag).
    workload_note: Option<String>,
    fatal: Option<String>,
    webhooks: Option<WebhookLookup>,
}

impl State {
    fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for t in self.pods.values() {
            match t.status() {
                PodStatus::Passed => c.0 += 1,
                PodStatus::Failed => c.1 += 1,
                PodStatus::Error => c.2 += 1,
                PodStatus::Pending => c.3 += 1,
            }
        }
        c
    }

    fn needed(&self, opts: &GateOptions) -> usize {
        match self.selection.expected {
            Some(e) => e.max(1),
            None => opts.min_pods.max(1),
        }
    }

    fn done(&self, opts: &GateOptions) -> bool {
        if self.fatal.is_some() || self.selection.expected == Some(0) {
            return true;
        }
        if opts.fail_fast
            && self
                .pods
                .values()
                .any(|t| t.terminal() && t.status() != PodStatus::Passed)
        {
            return true;
        }
        self.selection.not_ready.is_none()
            && self.pods.len() >= self.needed(opts)
            && self.pods.values().all(Tracked::terminal)
    }

    /// What is still missing, for the progress heartbeat and the timeout message.
    fn missing(&self, opts: &GateOptions) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(n) = &self.selection.not_ready {
            out.push(n.clone());
        }
        if let Some(n) = &self.workload_note {
            out.push(n.clone());
        }
        let need = self.needed(opts);
        if self.pods.len() < need {
            let of = match &self.selection.replica_set {
                Some(rs) => format!(" of ReplicaSet {rs}"),
                None => String::new(),
            };
            out.push(match self.selection.expected {
                Some(e) => format!("{} of {e} expected pod(s){of} seen", self.pods.len()),
                None => format!(
                    "{} pod(s) seen, --min-pods {}",
                    self.pods.len(),
                    opts.min_pods
                ),
            });
        }
        for (name, t) in &self.pods {
            if let PodState::Waiting(reason) = &t.state {
                out.push(format!("{name}: {reason}"));
            }
        }
        out
    }
}

fn describe(opts: &GateOptions, sel: &Selection) -> String {
    let mut s = format!("{} in namespace {}", opts.workload, opts.namespace);
    if let Some(r) = &sel.revision {
        s.push_str(&format!(", revision {r}"));
    }
    if let Some(rs) = &sel.replica_set {
        s.push_str(&format!(" (ReplicaSet {rs})"));
    }
    if let Some(e) = sel.expected {
        s.push_str(&format!(", {e} replica(s)"));
    }
    if sel.ignored > 0 {
        s.push_str(&format!(
            ", {} pod(s) of older revisions or terminating ignored",
            sel.ignored
        ));
    }
    if sel.scale_outs > 0 {
        s.push_str(&format!(
            ", {} scale-out pod(s) of the verified ReplicaSet not gated (testcar.io/status: skipped-scale-out)",
            sel.scale_outs
        ));
    }
    s
}

/// Wait for the verdicts and judge. Progress lines go to `progress` (stderr in the binary).
/// Never fails: API errors, timeouts and missing pods become an `error` verdict with the
/// reason, so that the reports are written in every case.
pub async fn run_gate(client: &Client, opts: &GateOptions, progress: &mut dyn Write) -> GateReport {
    let started = Utc::now();
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut state = State::default();
    let mut said_selection = String::new();
    let mut said_counts = String::new();
    let mut said_not_ready: Option<String> = None;
    let mut last_heartbeat = start;
    let _ = writeln!(
        progress,
        "testcar-gate: waiting up to {} for {} in namespace {}",
        format_duration(opts.timeout),
        opts.workload,
        opts.namespace
    );

    let timed_out = loop {
        let mut events: Vec<String> = Vec::new();
        let polled =
            tokio::time::timeout_at(deadline, poll(client, opts, &mut state, &mut events)).await;
        if state.selection.not_ready != said_not_ready {
            if let Some(why) = &state.selection.not_ready {
                let _ = writeln!(progress, "testcar-gate: waiting: {why}");
            }
            said_not_ready = state.selection.not_ready.clone();
        }
        let sel_line = describe(opts, &state.selection);
        if state.selection.not_ready.is_none() && sel_line != said_selection {
            let _ = writeln!(progress, "testcar-gate: gating {sel_line}");
            said_selection = sel_line;
        }
        for e in &events {
            let _ = writeln!(progress, "testcar-gate: {e}");
        }
        let (p, f, e, w) = state.counts();
        let counts = format!(
            "pods seen {}{}, done {} (passed {p}, failed {f}, error {e}), waiting {w}",
            state.pods.len(),
            state
                .selection
                .expected
                .map(|x| format!("/{x}"))
                .unwrap_or_default(),
            p + f + e
        );
        if counts != said_counts {
            let _ = writeln!(progress, "testcar-gate: {counts}");
            said_counts = counts;
        }
        if polled.is_err() {
            break true;
        }
        if state.done(opts) {
            break false;
        }
        let now = Instant::now();
        if now >= deadline {
            break true;
        }
        if now.duration_since(last_heartbeat) >= HEARTBEAT {
            last_heartbeat = now;
            let _ = writeln!(
                progress,
                "testcar-gate: still waiting ({} elapsed, {} left): {}",
                format_duration(Duration::from_secs(now.duration_since(start).as_secs())),
                format_duration(Duration::from_secs(deadline.duration_since(now).as_secs())),
                state.missing(opts).join("; ")
            );
        }
        tokio::time::sleep_until((now + opts.interval).min(deadline)).await;
    };

    judge(opts, state, started, timed_out)
}

/// One round: resolve the pods, probe the ones without a verdict.
async fn poll(client: &Client, opts: &GateOptions, state: &mut State, events: &mut Vec<String>) {
    let selection = match workload::select(client, &opts.namespace, &opts.workload).await {
        Ok(sel) => sel,
        Err(e) if e.is_fatal() => {
            let rbac = match &e {
                workload::WorkloadError::Api { source, .. } => crate::api_error::rbac_hint(
                    source,
                    "get/list on pods, deployments, replicasets, statefulsets",
                ),
                _ => String::new(),
            };
            state.fatal = Some(format!("{e}{rbac}"));
            return;
        }
        Err(e) => {
            tracing::debug!(error = %e, "workload look-up failed; retrying");
            state.workload_note = Some(e.to_string());
            return;
        }
    };
    state.workload_note = None;

    // A new revision while waiting (another rollout) replaces the one under test.
    if state.selection.revision.is_some()
        && selection.revision.is_some()
        && state.selection.revision != selection.revision
    {
        events.push(format!(
            "{} moved from revision {} to {}; gating the new revision",
            opts.workload,
            state.selection.revision.as_deref().unwrap_or("-"),
            selection.revision.as_deref().unwrap_or("-")
        ));
        state.pods.clear();
    }
    let current: BTreeMap<String, &Pod> =
        selection.pods.iter().map(|p| (p.name_any(), p)).collect();
    // A pod that went away keeps its verdict; one that never reported is forgotten.
    state.pods.retain(|name, t| {
        let keep = current.contains_key(name) || matches!(t.state, PodState::Reported(..));
        if !keep {
            events.push(format!("{name} is gone before reporting"));
        }
        keep
    });
    for (name, pod) in &current {
        state
            .pods
            .entry(name.clone())
            .or_insert_with(|| Tracked {
                restarts: 0,
                state: PodState::Waiting("not looked at yet".into()),
                html_report: None,
            })
            .html_report = verdict::html_report(pod);
    }

    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &opts.namespace);
    let to_probe: Vec<&Pod> = current
        .iter()
        .filter(|(name, _)| state.pods.get(*name).is_some_and(|t| !t.terminal()))
        .map(|(_, p)| *p)
        .collect();
    let results: Vec<(String, &Pod, Result<Observation, verdict::ProbeError>)> =
        futures::stream::iter(to_probe)
            .map(|pod| {
                let api = &pods_api;
                async move { (pod.name_any(), pod, verdict::probe(client, api, pod).await) }
            })
            .buffer_unordered(CONCURRENT_PROBES)
            .collect()
            .await;

    for (name, pod, result) in results {
        let obs = match result {
            Ok(obs) => obs,
            Err(e) => {
                state.fatal = Some(e.to_string());
                continue;
            }
        };
        let new_state = match obs.probe {
            Probe::Reported { run, source } => {
                let restarts = if obs.restarts > 0 {
                    format!(", container restarted {} time(s)", obs.restarts)
                } else {
                    String::new()
                };
                events.push(format!(
                    "{name}: {} (from {}{restarts})",
                    run.status,
                    source.as_str()
                ));
                tracing::debug!(pod = %name, status = %run.status, source = source.as_str(), "verdict");
                PodState::Reported(run, source)
            }
            Probe::Pending { reason } => PodState::Waiting(reason),
            Probe::Stopped { reason } => {
                events.push(format!("{name}: error: {reason}"));
                PodState::Broken(reason)
            }
            Probe::NoSidecar => {
                if state.webhooks.is_none() {
                    state.webhooks = Some(hint::lookup_webhooks(client).await);
                }
                let text = hint::compose(
                    pod,
                    &opts.workload,
                    state.webhooks.as_ref().expect("set above"),
                );
                events.push(format!("{name}: error: {text}"));
                PodState::Broken(text)
            }
        };
        if let Some(t) = state.pods.get_mut(&name) {
            t.restarts = obs.restarts;
            t.state = new_state;
        }
    }
    state.selection = selection;
}

fn judge(
    opts: &GateOptions,
    state: State,
    started: chrono::DateTime<Utc>,
    timed_out: bool,
) -> GateReport {
    let finished = Utc::now();
    let missing = state.missing(opts);
    let sel = &state.selection;
    let mut errors: Vec<String> = Vec::new();
    if let Some(f) = &state.fatal {
        errors.push(f.clone());
    }
    if state.fatal.is_none() && state.pods.is_empty() {
        if sel.expected == Some(0) {
            errors.push(format!("no pods: {} has 0 replicas", opts.workload));
        } else {
            let notes: Vec<&String> = sel
                .not_ready
                .iter()
                .chain(state.workload_note.iter())
                .chain(sel.create_failure.iter())
                .collect();
            errors.push(format!(
                "no pods found for {} within {}{}",
                describe(opts, sel),
                format_duration(opts.timeout),
                notes.iter().map(|n| format!("; {n}")).collect::<String>()
            ));
        }
    } else if timed_out && state.fatal.is_none() {
        errors.push(format!(
            "timed out after {}; still missing: {}{}",
            format_duration(opts.timeout),
            if missing.is_empty() {
                "nothing".to_string()
            } else {
                missing.join("; ")
            },
            sel.create_failure
                .as_ref()
                .map(|f| format!("; {f}"))
                .unwrap_or_default()
        ));
    }
    let broken = state
        .pods
        .values()
        .filter(|t| matches!(t.state, PodState::Broken(_)))
        .count();
    if broken > 0 {
        let first = state
            .pods
            .values()
            .find_map(|t| match &t.state {
                PodState::Broken(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_default();
        errors.push(if broken == 1 {
            first
        } else {
            format!("{broken} pods cannot report; first: {first}")
        });
    }
    let reported = state
        .pods
        .values()
        .filter(|t| matches!(t.state, PodState::Reported(..)))
        .count();
    let stopped_early = opts.fail_fast && !timed_out && state.pods.values().any(|t| !t.terminal());
    if reported < opts.min_pods && !state.pods.is_empty() && !stopped_early {
        errors.push(format!(
            "only {reported} pod(s) reported a result; --min-pods is {}",
            opts.min_pods
        ));
    }

    // A pod whose own run is an error makes the gate an error; say which and why.
    for (name, t) in &state.pods {
        if let PodState::Reported(run, _) = &t.state {
            if run.status == Status::Error {
                let why = run.error.clone().unwrap_or_else(|| {
                    run.suites
                        .iter()
                        .filter(|s| s.status == Status::Error)
                        .map(|s| {
                            format!(
                                "suite {}: {}",
                                s.name,
                                s.error.as_deref().unwrap_or("could not be run")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                errors.push(format!("pod {name} could not test: {why}"));
            }
        }
    }
    let mut status = state
        .pods
        .values()
        .filter_map(|t| match &t.state {
            PodState::Reported(run, _) => Some(run.status),
            _ => None,
        })
        .fold(Status::Passed, Status::worst);
    // One rollout, one load: the pods' suites merged by name. A shared load is judged on
    // the merged figures, and shares that do not add up to the script's load are an error.
    let runs: Vec<(&str, &testcar_contract::Run)> = state
        .pods
        .iter()
        .filter_map(|(name, t)| match &t.state {
            PodState::Reported(run, _) => Some((name.as_str(), &**run)),
            _ => None,
        })
        .collect();
    let rollout = (!runs.is_empty()).then(|| crate::merge::merge(&runs, sel.expected));
    if let Some(r) = &rollout {
        status = status.worst(r.status());
        errors.extend(r.problems.iter().cloned());
    }
    // Under --fail-fast the failure found is the verdict, not the pods left unchecked.
    let error = if errors.is_empty() || (stopped_early && status == Status::Failed && broken == 0) {
        None
    } else {
        status = Status::Error;
        Some(errors.join("; "))
    };
    let pods = state
        .pods
        .into_iter()
        .map(|(name, t)| {
            let status = t.status();
            let (source, message, run) = match t.state {
                PodState::Waiting(r) => (None, Some(r), None),
                PodState::Broken(r) => (None, Some(r), None),
                PodState::Reported(run, source) => (Some(source), run.error.clone(), Some(*run)),
            };
            PodReport {
                name,
                status,
                source,
                restarts: t.restarts,
                message,
                run,
                html_report: t.html_report,
            }
        })
        .collect::<Vec<_>>();
    GateReport {
        schema: GATE_SCHEMA_ID.to_string(),
        namespace: opts.namespace.clone(),
        workload: WorkloadRef {
            kind: opts.workload.kind().to_string(),
            name: opts.workload.name().to_string(),
            revision: sel.revision.clone(),
            replica_set: sel.replica_set.clone(),
        },
        status,
        error,
        min_pods: opts.min_pods,
        expected_pods: sel.expected,
        pods_seen: pods.len(),
        pods_reported: reported,
        pods_ignored: sel.ignored,
        started,
        finished,
        duration_ms: (finished - started).num_milliseconds().max(0) as u64,
        pods,
        rollout,
    }
}

/// The report of a gate that could not even start (no client): an error with the reason.
pub fn error_report(opts: &GateOptions, message: String) -> GateReport {
    let state = State {
        fatal: Some(message),
        ..State::default()
    };
    judge(opts, state, Utc::now(), false)
}
