//! Faults during a suite (the manifest's `faults:`): a fault proxy in front of the target,
//! signals to a process beside the agent and evictions of the workload's other pods,
//! switched on and off on a schedule, recorded with their real times, and always healed
//! when the suite ends, times out or is stopped.

pub mod config;
pub mod kernel;
pub mod pods;
pub mod process;
pub mod proxy;
pub mod schedule;

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use testcar_contract::FaultRecord;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::{
    FaultAction, FaultConfigError, FaultSpec, PodChoice, ProcessSel, ProxyDef, RawFault, Schedule,
};
pub use pods::KubeEnv;
use proxy::{Effects, Proxy};

/// Name of the Jepsen-style nemesis event file written in the suite's folder.
pub const EVENTS_FILE: &str = "faults.jsonl";

/// Faults that could not be set up; the suite is `error` and does not run.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// Network faults need a target to stand in front of.
    #[error(
        "faults: {0} faults work through a proxy in front of the target, and this suite has no target (give the agent --target or TESTCAR_TARGET, or the suite a target of its own)"
    )]
    NoTarget(&'static str),
    /// The target is not a URL with a host.
    #[error("faults: the target {target} cannot be proxied: {message}")]
    BadTarget {
        /// The target, credentials removed.
        target: String,
        /// Why.
        message: String,
    },
    /// The proxy did not start.
    #[error("faults: {0}")]
    Proxy(#[from] proxy::ProxyError),
    /// Pod faults cannot reach the Kubernetes API.
    #[error("faults: {0}")]
    Pods(#[from] pods::PodSetupError),
    /// Kernel network faults cannot work here (no NET_ADMIN, no tool).
    #[error("faults: {0}")]
    Kernel(#[from] kernel::KernelError),
    /// A fault names a run-wide proxy that is not running.
    #[error("faults: no proxy named {0:?} (declare it under `proxies:` in the manifest)")]
    NoProxy(String),
    /// A run-wide proxy's target does not resolve.
    #[error("proxies: {name}: cannot resolve {target}: {message}")]
    ProxyTarget {
        /// The proxy.
        name: String,
        /// Its target.
        target: String,
        /// Why.
        message: String,
    },
}

/// The run-wide proxies (`proxies:`), by name; they live from the start of the run to its end.
pub type NamedProxies = Arc<BTreeMap<String, Arc<Proxy>>>;

/// Start the run-wide proxies: listening, relaying untouched until a fault names them.
pub async fn start_proxies(defs: &[ProxyDef]) -> Result<NamedProxies, FaultError> {
    let mut out = BTreeMap::new();
    for (i, def) in defs.iter().enumerate() {
        if out.contains_key(&def.name) {
            return Err(FaultError::ProxyTarget {
                name: def.name.clone(),
                target: def.target.clone(),
                message: "two manifests declare a proxy of this name".into(),
            });
        }
        let bad = |message: String| FaultError::ProxyTarget {
            name: def.name.clone(),
            target: def.target.clone(),
            message,
        };
        let upstream = tokio::net::lookup_host(def.target.as_str())
            .await
            .map_err(|e| bad(e.to_string()))?
            .next()
            .ok_or_else(|| bad("no address".into()))?;
        let proxy = Proxy::start_on(def.listen, upstream, 0x9e37 + i as u64).await?;
        tracing::info!(proxy = %def.name, listen = %proxy.addr(), upstream = %upstream, "run-wide fault proxy started");
        out.insert(def.name.clone(), Arc::new(proxy));
    }
    Ok(Arc::new(out))
}

/// Stop the run-wide proxies and close their connections.
pub async fn stop_proxies(proxies: &NamedProxies) {
    for proxy in proxies.values() {
        proxy.stop().await;
    }
}

/// The faults of one running suite. Heal with [`Faults::heal`]; dropping it heals what it
/// can synchronously (continues stopped processes, closes the proxy).
#[derive(Debug)]
pub struct Faults {
    shared: Arc<Shared>,
    proxy_target: Option<String>,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    healed: bool,
}

#[derive(Debug)]
struct Shared {
    proxy: Option<Proxy>,
    named: NamedProxies,
    /// The Kubernetes API client, when a pod fault is configured.
    pods: Option<pods::PodApi>,
    upstream: String,
    base_dir: PathBuf,
    suite_dir: PathBuf,
    t0: Instant,
    started: DateTime<Utc>,
    /// Network faults on now, by fault index, with the run-wide proxy they act on.
    net: Mutex<BTreeMap<usize, (Option<String>, FaultAction)>>,
    /// Processes stopped now, by fault index.
    paused: Mutex<BTreeMap<usize, Vec<i32>>>,
    /// Kernel faults on now (qdiscs, iptables rules), by fault index.
    kernel: Mutex<BTreeMap<usize, kernel::Undo>>,
    records: Mutex<Vec<FaultRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Faults {
    /// Start the proxy (when a network fault is configured), the Kubernetes API client (when
    /// a pod fault is) and the schedule. `target` is the suite's target; `suite_dir`
    /// receives the event file and restart logs.
    pub async fn start(
        specs: &[FaultSpec],
        target: Option<&str>,
        named: &NamedProxies,
        kube: &KubeEnv,
        base_dir: PathBuf,
        suite_dir: PathBuf,
    ) -> Result<Faults, FaultError> {
        if let Some(name) = specs
            .iter()
            .filter_map(|s| s.proxy.as_ref())
            .find(|n| !named.contains_key(*n))
        {
            return Err(FaultError::NoProxy(name.clone()));
        }
        let network = specs
            .iter()
            .find(|s| s.action.is_network() && s.proxy.is_none());
        let (proxy, upstream, proxy_target) = match network {
            None => (None, String::new(), None),
            Some(spec) => {
                let target = target.ok_or(FaultError::NoTarget(spec.action.kind()))?;
                let (upstream, host_port, rewrite) = resolve(target).await?;
                let seed = specs.len() as u64 ^ 0x7e57_ca12;
                let proxy = Proxy::start(upstream, seed).await?;
                let rewritten = rewrite(proxy.addr());
                (Some(proxy), host_port, Some(rewritten))
            }
        };
        for spec in specs {
            if let Some(tool) = spec.action.kernel_tool() {
                kernel::preflight(spec.action.kind(), tool)?;
            }
        }
        let pods = match specs.iter().find(|s| s.action.is_pod()) {
            Some(spec) => Some(pods::PodApi::new(kube, spec.action.kind())?),
            None => None,
        };
        let shared = Arc::new(Shared {
            proxy,
            named: named.clone(),
            pods,
            upstream,
            base_dir,
            suite_dir,
            t0: Instant::now(),
            started: Utc::now(),
            net: Mutex::default(),
            paused: Mutex::default(),
            kernel: Mutex::default(),
            records: Mutex::default(),
        });
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for (idx, spec) in specs.iter().enumerate() {
            tasks.spawn(drive(shared.clone(), idx, spec.clone(), cancel.clone()));
        }
        Ok(Faults {
            shared,
            proxy_target,
            cancel,
            tasks,
            healed: false,
        })
    }

    /// The target the suite should use: the proxy's, when network faults are configured.
    pub fn target(&self) -> Option<&str> {
        self.proxy_target.as_deref()
    }

    /// The proxy's counters, when there is one.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.shared.proxy.as_ref()
    }

    /// Heal every fault that is on, stop the proxy, and return what happened, in order of
    /// start; writes the nemesis events to `faults.jsonl` in the suite's folder.
    pub async fn heal(mut self) -> Vec<FaultRecord> {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some(proxy) = &self.shared.proxy {
            proxy.stop().await;
        }
        // A task that panicked midway may have left a process stopped or a rule in place.
        continue_all(&self.shared);
        undo_kernel(&self.shared);
        self.healed = true;
        let mut records = std::mem::take(&mut *lock(&self.shared.records));
        records.sort_by_key(|r| r.start);
        if let Err(e) = write_events(&self.shared, &records) {
            tracing::warn!(error = %e, dir = %self.shared.suite_dir.display(), "could not write the fault events");
        }
        records
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        if !self.healed {
            self.cancel.cancel();
            continue_all(&self.shared);
            undo_kernel(&self.shared);
            // The proxy's own Drop (when the last task lets go of it) closes it; its effects
            // are cleared now so nothing is cut meanwhile, and so are those of the run-wide
            // proxies this suite's faults were on.
            if let Some(p) = &self.shared.proxy {
                p.set(Effects::default());
            }
            let on = std::mem::take(&mut *lock(&self.shared.net));
            for name in on.values().filter_map(|(n, _)| n.as_ref()) {
                if let Some(p) = self.shared.named.get(name) {
                    p.set(Effects::default());
                }
            }
        }
    }
}

fn continue_all(shared: &Shared) {
    let paused = std::mem::take(&mut *lock(&shared.paused));
    for pids in paused.values() {
        if let Err(e) = process::signal_all(pids, Signal::SIGCONT) {
            tracing::warn!(error = %e, "fault: could not continue a stopped process");
        }
    }
}

fn undo_kernel(shared: &Shared) {
    let on = std::mem::take(&mut *lock(&shared.kernel));
    for undo in on.values() {
        if let Err(e) = kernel::undo(undo) {
            tracing::warn!(error = %e, "fault: could not undo a kernel network fault");
        }
    }
}

/// The socket address behind `target`, its `host:port` for the record, and how to write
/// the target with the proxy in front.
async fn resolve(
    target: &str,
) -> Result<(SocketAddr, String, impl Fn(SocketAddr) -> String), FaultError> {
    let shown = crate::readiness::redact(target);
    let bad = |message: String| FaultError::BadTarget {
        target: shown.clone(),
        message,
    };
    let url = reqwest::Url::parse(target).map_err(|e| bad(e.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| bad("no host".into()))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| bad("no port".into()))?;
    let host_port = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addr = tokio::net::lookup_host(host_port.clone())
        .await
        .map_err(|e| bad(format!("cannot resolve {host_port}: {e}")))?
        .next()
        .ok_or_else(|| bad(format!("{host_port} resolves to no address")))?;
    let scheme = url.scheme().to_string();
    let rest = {
        let mut s = url.path().trim_end_matches('/').to_string();
        if let Some(q) = url.query() {
            s.push('?');
            s.push_str(q);
        }
        s
    };
    Ok((addr, host_port, move |proxy: SocketAddr| {
        format!("{scheme}://{proxy}{rest}")
    }))
}

/// Run one fault's windows until they end or the suite does.
async fn drive(shared: Arc<Shared>, idx: usize, spec: FaultSpec, cancel: CancellationToken) {
    for (n, w) in schedule::windows(&spec.schedule).enumerate() {
        tokio::select! {
            _ = tokio::time::sleep_until(shared.t0 + w.start) => {}
            _ = cancel.cancelled() => return,
        }
        let rec = match &spec.action {
            FaultAction::Evict(c) | FaultAction::DeletePod(c) => {
                apply_pod(&shared, &spec.action, c, n as u64).await
            }
            _ => apply(&shared, idx, &spec),
        };
        let healed_by = match w.end {
            Some(end) => tokio::select! {
                _ = tokio::time::sleep_until(shared.t0 + end) => "schedule",
                _ = cancel.cancelled() => "suite end",
            },
            None => {
                cancel.cancelled().await;
                "suite end"
            }
        };
        heal(&shared, idx, &spec.action, rec, healed_by);
        if cancel.is_cancelled() {
            return;
        }
    }
}

/// Switch the fault on; returns its record's index.
fn apply(shared: &Shared, idx: usize, spec: &FaultSpec) -> usize {
    let action = &spec.action;
    let target = match spec
        .proxy
        .as_ref()
        .and_then(|n| Some((n, shared.named.get(n)?)))
    {
        Some((name, p)) => format!("{name} ({} → {})", p.addr(), p.upstream()),
        None => shared.upstream.clone(),
    };
    let mut record = started(action, target);
    match action {
        FaultAction::Pause(sel) | FaultAction::Kill { process: sel, .. } => {
            let signal = if matches!(action, FaultAction::Pause(_)) {
                Signal::SIGSTOP
            } else {
                Signal::SIGKILL
            };
            record.target = sel.to_string();
            match process::find(sel, &shared.base_dir) {
                Ok(pids) => {
                    record.target = format!("{sel} (pid {})", join(&pids));
                    // Remember before signalling: a heal racing this must continue them.
                    if signal == Signal::SIGSTOP {
                        lock(&shared.paused).insert(idx, pids.clone());
                    }
                    if let Err(e) = process::signal_all(&pids, signal) {
                        record.error = Some(e.to_string());
                    }
                }
                Err(e) => record.error = Some(e.to_string()),
            }
        }
        // Applied by `apply_pod`, never here.
        FaultAction::Evict(_) | FaultAction::DeletePod(_) => {}
        FaultAction::Netem {
            interface,
            latency,
            jitter,
            loss,
        } => {
            record.target = format!("interface {interface}");
            match kernel::netem_on(interface, *latency, *jitter, *loss) {
                Ok(undo) => {
                    lock(&shared.kernel).insert(idx, undo);
                }
                Err(e) => record.error = Some(e.to_string()),
            }
        }
        FaultAction::Partition { peers } => {
            record.target = format!("peers {}", peers.join(", "));
            match kernel::partition_on(peers, idx) {
                Ok(undo) => {
                    lock(&shared.kernel).insert(idx, undo);
                }
                Err(e) => record.error = Some(e.to_string()),
            }
        }
        _ => {
            lock(&shared.net).insert(idx, (spec.proxy.clone(), action.clone()));
            update_proxy(shared);
        }
    }
    match &record.error {
        Some(error) => {
            tracing::warn!(fault = %record.kind, target = %record.target, %error, "fault not applied")
        }
        None => tracing::info!(fault = %record.kind, target = %record.target, "fault on"),
    }
    let mut records = lock(&shared.records);
    records.push(record);
    records.len() - 1
}

/// Evict or delete another pod of the workload; returns the record's index. A refusal by a
/// PodDisruptionBudget is an outcome, not an error.
async fn apply_pod(
    shared: &Shared,
    action: &FaultAction,
    choice: &PodChoice,
    window: u64,
) -> usize {
    let mut record = started(action, String::new());
    match &shared.pods {
        Some(api) => {
            record.target = format!("pods of {}/{}", api.pod().namespace, api.pod().name);
            let evict = matches!(action, FaultAction::Evict(_));
            match api.disrupt(choice, evict, window).await {
                Ok((target, outcome)) => {
                    record.target = target;
                    record.outcome = Some(outcome.word().into());
                    if let pods::Outcome::Refused(why) | pods::Outcome::Skipped(why) = outcome {
                        record.detail = Some(why);
                    }
                }
                Err(e) => record.error = Some(e.to_string()),
            }
        }
        None => record.error = Some("no Kubernetes API client (a bug: it is made at start)".into()),
    }
    match (&record.error, &record.outcome) {
        (Some(error), _) => {
            tracing::warn!(fault = %record.kind, target = %record.target, %error, "fault not applied")
        }
        (None, outcome) => tracing::info!(
            fault = %record.kind,
            target = %record.target,
            outcome = outcome.as_deref().unwrap_or_default(),
            detail = record.detail.as_deref().unwrap_or_default(),
            "fault on"
        ),
    }
    let mut records = lock(&shared.records);
    records.push(record);
    records.len() - 1
}

/// Switch the fault off and close its record.
fn heal(shared: &Shared, idx: usize, action: &FaultAction, rec: usize, healed_by: &str) {
    let mut error = None;
    match action {
        FaultAction::Pause(_) => {
            let pids = lock(&shared.paused).remove(&idx);
            if let Some(pids) = pids {
                if let Err(e) = process::signal_all(&pids, Signal::SIGCONT) {
                    error = Some(e.to_string());
                }
            }
        }
        FaultAction::Kill {
            restart: Some(cmd), ..
        } => {
            // Nothing was killed (not found, refused): starting another copy would double it.
            let killed = lock(&shared.records)
                .get(rec)
                .is_some_and(|r| r.error.is_none());
            let log = shared.suite_dir.join("faults-restart.log");
            if killed {
                if let Err(e) = process::restart(cmd, &shared.base_dir, &log) {
                    error = Some(e.to_string());
                }
            }
        }
        // Nothing to undo: the workload's controller replaces the pod.
        FaultAction::Kill { restart: None, .. }
        | FaultAction::Evict(_)
        | FaultAction::DeletePod(_) => {}
        FaultAction::Netem { .. } | FaultAction::Partition { .. } => {
            let undo = lock(&shared.kernel).remove(&idx);
            if let Some(undo) = undo {
                if let Err(e) = kernel::undo(&undo) {
                    error = Some(e.to_string());
                }
            }
        }
        _ => {
            lock(&shared.net).remove(&idx);
            update_proxy(shared);
        }
    }
    let mut records = lock(&shared.records);
    if let Some(r) = records.get_mut(rec) {
        r.end = Some(Utc::now());
        r.healed_by = Some(healed_by.into());
        if r.error.is_none() {
            r.error = error;
        }
        tracing::info!(fault = %r.kind, target = %r.target, healed_by, "fault healed");
    }
}

/// Each proxy's effects: the sum of the network faults on it now.
fn update_proxy(shared: &Shared) {
    let net = lock(&shared.net);
    if let Some(proxy) = &shared.proxy {
        proxy.set(effects_of(
            net.values().filter(|(n, _)| n.is_none()).map(|(_, a)| a),
        ));
    }
    let names: std::collections::BTreeSet<&String> = shared
        .named
        .keys()
        .filter(|k| net.values().any(|(n, _)| n.as_ref() == Some(*k)))
        .collect();
    // Run-wide proxies this suite touched: recomputed, cleared when nothing is on them.
    for (name, proxy) in shared.named.iter() {
        let mine = net.values().filter(|(n, _)| n.as_ref() == Some(name));
        if names.contains(name) || proxy.effects() != Effects::default() {
            proxy.set(effects_of(mine.map(|(_, a)| a)));
        }
    }
}

fn effects_of<'a>(actions: impl Iterator<Item = &'a FaultAction>) -> Effects {
    let mut e = Effects::default();
    for action in actions {
        match action {
            FaultAction::Latency { latency, jitter } => {
                e.latency += *latency;
                e.jitter += *jitter;
            }
            FaultAction::Bandwidth { bytes_per_sec } => {
                e.rate = Some(e.rate.map_or(*bytes_per_sec, |r| r.min(*bytes_per_sec)));
            }
            FaultAction::Reset => e.reset = true,
            FaultAction::Stall => e.stall = true,
            FaultAction::Cut => e.cut = true,
            FaultAction::Drop { fraction } => e.drop = e.drop.max(*fraction),
            FaultAction::Pause(_)
            | FaultAction::Kill { .. }
            | FaultAction::Evict(_)
            | FaultAction::DeletePod(_)
            | FaultAction::Netem { .. }
            | FaultAction::Partition { .. } => {}
        }
    }
    e
}

fn join(pids: &[i32]) -> String {
    pids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Jepsen-style `:nemesis` events (`:info` `:start`/`:stop`), `time` in nanoseconds since
/// the faults started, one JSON object a line.
fn write_events(shared: &Shared, records: &[FaultRecord]) -> std::io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let nanos = |t: DateTime<Utc>| {
        (t - shared.started)
            .num_nanoseconds()
            .unwrap_or_default()
            .max(0)
    };
    let mut events = Vec::new();
    for r in records {
        let value = serde_json::json!({"kind": r.kind, "target": r.target, "params": r.params});
        events.push((nanos(r.start), "start", value.clone()));
        if let Some(end) = r.end {
            events.push((nanos(end), "stop", value));
        }
    }
    events.sort_by_key(|e| e.0);
    std::fs::create_dir_all(&shared.suite_dir)?;
    let mut out = String::new();
    for (index, (time, f, value)) in events.into_iter().enumerate() {
        let line = serde_json::json!({
            "index": index, "time": time, "type": "info", "process": "nemesis", "f": f, "value": value,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::write(shared.suite_dir.join(EVENTS_FILE), out)
}

/// The record of a fault window that starts now.
fn started(action: &FaultAction, target: String) -> FaultRecord {
    FaultRecord {
        kind: action.kind().into(),
        target,
        params: action.params(),
        start: Utc::now(),
        end: None,
        healed_by: None,
        error: None,
        outcome: None,
        detail: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(yaml: &str) -> Vec<FaultSpec> {
        let raw: Vec<RawFault> = testcar_yaml::from_str(yaml).unwrap();
        config::check(raw).unwrap()
    }

    #[tokio::test]
    async fn network_faults_without_target_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Faults::start(
            &spec("- kind: cut\n"),
            None,
            &NamedProxies::default(),
            &KubeEnv::default(),
            dir.path().into(),
            dir.path().into(),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("no target"), "{e}");
    }

    #[tokio::test]
    async fn target_is_rewritten_and_windows_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults::start(
            &spec("- kind: latency\n  latency: 5ms\n  duration: 50ms\n- kind: cut\n  at: 10s\n"),
            Some("http://127.0.0.1:9/api/"),
            &NamedProxies::default(),
            &KubeEnv::default(),
            dir.path().into(),
            dir.path().join("s"),
        )
        .await
        .unwrap();
        let t = faults.target().unwrap().to_string();
        assert!(
            t.starts_with("http://127.0.0.1:") && t.ends_with("/api"),
            "{t}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let records = faults.heal().await;
        assert_eq!(
            records.len(),
            1,
            "the cut at 10s never started: {records:?}"
        );
        assert_eq!(records[0].kind, "latency");
        assert_eq!(records[0].target, "127.0.0.1:9");
        assert_eq!(records[0].healed_by.as_deref(), Some("schedule"));
        assert!(records[0].end.unwrap() >= records[0].start);
        let events = std::fs::read_to_string(dir.path().join("s").join(EVENTS_FILE)).unwrap();
        assert_eq!(events.lines().count(), 2, "{events}");
        assert!(events.contains("\"process\":\"nemesis\""), "{events}");
    }
}
