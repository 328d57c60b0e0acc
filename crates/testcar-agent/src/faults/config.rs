//! The `faults:` list of a suite in `testcar.yaml`: what to break, where, and when. Checked
//! when the manifest is read so a typo fails before any test runs, naming the key.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use testcar_contract::duration::format_duration;

use crate::manifest::de_duration;

/// The longest a single window may last or start after the suite (a typo guard).
const MAX_OFFSET: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most windows a random schedule may ask for.
const MAX_RANDOM_COUNT: u32 = 10_000;

/// A fault as written, before checking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFault {
    kind: String,
    #[serde(default, deserialize_with = "de_duration")]
    at: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    duration: Option<Duration>,
    #[serde(default)]
    repeat: Option<RawRepeat>,
    #[serde(default)]
    random: Option<RawRandom>,
    #[serde(default, deserialize_with = "de_duration")]
    latency: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    jitter: Option<Duration>,
    #[serde(default)]
    rate: Option<testcar_yaml::Value>,
    #[serde(default)]
    fraction: Option<f64>,
    #[serde(default)]
    process: Option<RawProcess>,
    #[serde(default)]
    restart: Option<Vec<String>>,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default, deserialize_with = "de_duration")]
    grace_period: Option<Duration>,
    #[serde(default)]
    interface: Option<String>,
    #[serde(default)]
    loss: Option<f64>,
    #[serde(default)]
    peers: Option<Vec<String>>,
}

/// A run-wide proxy as written (`proxies:` at the top of the manifest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProxy {
    name: String,
    listen: String,
    target: String,
}

/// A run-wide proxy: listens on `listen` from the start of the run to its end and relays to
/// `target`; faults name it with `proxy: NAME`. For links the suite does not drive itself
/// (a cluster's peers, a database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyDef {
    /// Name faults use.
    pub name: String,
    /// Where it listens.
    pub listen: std::net::SocketAddr,
    /// `host:port` it relays to.
    pub target: String,
}

/// A `proxies:` entry that does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proxies[{index}] ({name}): {key}: {message}")]
pub struct ProxyConfigError {
    /// Position in the list.
    pub index: usize,
    /// The entry's name.
    pub name: String,
    /// The key at fault.
    pub key: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Check the manifest's `proxies:`.
pub fn check_proxies(raw: Vec<RawProxy>) -> Result<Vec<ProxyDef>, ProxyConfigError> {
    let mut out: Vec<ProxyDef> = Vec::with_capacity(raw.len());
    for (index, p) in raw.into_iter().enumerate() {
        let err = |key: &'static str, message: String| ProxyConfigError {
            index,
            name: p.name.clone(),
            key,
            message,
        };
        if p.name.trim().is_empty() {
            return Err(err("name", "must not be empty".into()));
        }
        if out.iter().any(|o| o.name == p.name) {
            return Err(err("name", "another proxy already has this name".into()));
        }
        let listen: std::net::SocketAddr = p.listen.parse().map_err(|_| {
            err(
                "listen",
                format!(
                    "expected an address and port such as 127.0.0.1:12380, found {:?}",
                    p.listen
                ),
            )
        })?;
        let target = p
            .target
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let ok = target
            .rsplit_once(':')
            .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok_and(|n| n > 0));
        if !ok {
            return Err(err(
                "target",
                format!(
                    "expected host:port such as 127.0.0.1:2380, found {:?}",
                    p.target
                ),
            ));
        }
        out.push(ProxyDef {
            name: p.name,
            listen,
            target: target.to_string(),
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRepeat {
    #[serde(default, deserialize_with = "de_duration")]
    every: Option<Duration>,
    #[serde(default)]
    times: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRandom {
    seed: u64,
    count: u32,
    #[serde(default, deserialize_with = "de_duration")]
    within: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProcess {
    #[serde(default)]
    pid_file: Option<PathBuf>,
    #[serde(default)]
    name: Option<String>,
}

/// A fault entry that does not make sense, with the key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("faults[{index}] ({kind}): {key}: {message}")]
pub struct FaultConfigError {
    /// Position in the suite's `faults:` list.
    pub index: usize,
    /// The entry's `kind` as written.
    pub kind: String,
    /// The key at fault.
    pub key: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Responses are held `latency` ± `jitter` before they go on.
    Latency {
        /// Added delay.
        latency: Duration,
        /// Uniform spread around it.
        jitter: Duration,
    },
    /// Each direction carries at most `bytes_per_sec`.
    Bandwidth {
        /// The limit.
        bytes_per_sec: u64,
    },
    /// Open connections and new ones are reset (TCP RST).
    Reset,
    /// Nothing flows; connections stay open and resume when healed.
    Stall,
    /// This fraction of new connections is reset at once.
    Drop {
        /// Between 0 and 1.
        fraction: f64,
    },
    /// A partition: new connections are never forwarded, open ones carry nothing.
    Cut,
    /// The process is stopped (SIGSTOP) and continued (SIGCONT) when healed.
    Pause(ProcessSel),
    /// The process is killed (SIGKILL) and, when healed, restarted by `restart`.
    Kill {
        /// Which process.
        process: ProcessSel,
        /// Command that starts it again, in the suite's folder.
        restart: Option<Vec<String>>,
    },
    /// Another pod of the agent's workload is evicted through the Eviction API (its
    /// PodDisruptionBudgets decide); nothing to undo: its controller replaces it.
    Evict(PodChoice),
    /// Another pod of the agent's workload is deleted, unless a PodDisruptionBudget
    /// selecting it allows no disruption now.
    DeletePod(PodChoice),
    /// `tc netem` on an interface of the pod (NET_ADMIN): every packet leaving it delayed
    /// and/or a share lost.
    Netem {
        /// The interface, e.g. `eth0`.
        interface: String,
        /// Added delay.
        latency: Duration,
        /// Its spread.
        jitter: Duration,
        /// Share of packets lost, 0 to 1.
        loss: f64,
    },
    /// iptables drops every packet from and to these addresses (NET_ADMIN).
    Partition {
        /// IPv4 addresses or CIDRs.
        peers: Vec<String>,
    },
}

/// How a pod fault picks its pod and ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodChoice {
    /// Seeds the choice among the candidates (sorted by name): the same seed and the same
    /// pods give the same pod.
    pub seed: u64,
    /// `gracePeriodSeconds` of the deletion; `None` keeps the pod's own.
    pub grace_period: Option<Duration>,
}

impl FaultAction {
    /// The kind as written.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultAction::Latency { .. } => "latency",
            FaultAction::Bandwidth { .. } => "bandwidth",
            FaultAction::Reset => "reset",
            FaultAction::Stall => "stall",
            FaultAction::Drop { .. } => "drop",
            FaultAction::Cut => "cut",
            FaultAction::Pause(_) => "pause",
            FaultAction::Kill { .. } => "kill",
            FaultAction::Evict(_) => "evict",
            FaultAction::DeletePod(_) => "delete-pod",
            FaultAction::Netem { .. } => "netem",
            FaultAction::Partition { .. } => "partition",
        }
    }

    /// Whether it works through the fault proxy (else on a process or a pod).
    pub fn is_network(&self) -> bool {
        !matches!(
            self,
            FaultAction::Pause(_)
                | FaultAction::Kill { .. }
                | FaultAction::Evict(_)
                | FaultAction::DeletePod(_)
                | FaultAction::Netem { .. }
                | FaultAction::Partition { .. }
        )
    }

    /// Whether it changes the pod's network in the kernel (needs NET_ADMIN), and the tool.
    pub fn kernel_tool(&self) -> Option<&'static str> {
        match self {
            FaultAction::Netem { .. } => Some("tc"),
            FaultAction::Partition { .. } => Some("iptables"),
            _ => None,
        }
    }

    /// Whether it acts on another pod through the Kubernetes API.
    pub fn is_pod(&self) -> bool {
        matches!(self, FaultAction::Evict(_) | FaultAction::DeletePod(_))
    }

    /// Its settings, for the result.
    pub fn params(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        match self {
            FaultAction::Latency { latency, jitter } => {
                m.insert("latency".into(), format_duration(*latency).into());
                if !jitter.is_zero() {
                    m.insert("jitter".into(), format_duration(*jitter).into());
                }
            }
            FaultAction::Bandwidth { bytes_per_sec } => {
                m.insert("bytesPerSec".into(), (*bytes_per_sec).into());
            }
            FaultAction::Drop { fraction } => {
                m.insert("fraction".into(), (*fraction).into());
            }
            FaultAction::Reset | FaultAction::Stall | FaultAction::Cut => {}
            FaultAction::Pause(p) => {
                m.insert("process".into(), p.to_string().into());
            }
            FaultAction::Kill { process, restart } => {
                m.insert("process".into(), process.to_string().into());
                if let Some(cmd) = restart {
                    m.insert("restart".into(), cmd.join(" ").into());
                }
            }
            FaultAction::Netem {
                interface,
                latency,
                jitter,
                loss,
            } => {
                m.insert("interface".into(), interface.clone().into());
                if !latency.is_zero() {
                    m.insert("latency".into(), format_duration(*latency).into());
                }
                if !jitter.is_zero() {
                    m.insert("jitter".into(), format_duration(*jitter).into());
                }
                if *loss > 0.0 {
                    m.insert("loss".into(), (*loss).into());
                }
            }
            FaultAction::Partition { peers } => {
                m.insert("peers".into(), peers.clone().into());
            }
            FaultAction::Evict(c) | FaultAction::DeletePod(c) => {
                m.insert("seed".into(), c.seed.into());
                if let Some(g) = c.grace_period {
                    m.insert("gracePeriod".into(), format_duration(g).into());
                }
            }
        }
        m
    }
}

/// How a process fault finds its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSel {
    /// The pid written in this file (relative to the suite's folder).
    PidFile(PathBuf),
    /// Every process whose name (`/proc/<pid>/comm`, or its program's file name) is this.
    Name(String),
}

impl std::fmt::Display for ProcessSel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessSel::PidFile(p) => write!(f, "pidFile {}", p.display()),
            ProcessSel::Name(n) => write!(f, "name {n}"),
        }
    }
}

/// When a fault is on.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// From `at` for `duration` (until the suite ends without one), again every `every`
    /// (`times` windows in all, or until the suite ends).
    Fixed {
        /// Offset from the suite's start.
        at: Duration,
        /// Length of each window.
        duration: Option<Duration>,
        /// Period between window starts.
        every: Option<Duration>,
        /// Number of windows (with `every`).
        times: Option<u32>,
    },
    /// `count` windows of `duration`, their starts drawn from a seeded generator in
    /// `[at, at + within)`; the same seed gives the same windows.
    Random {
        /// Offset from the suite's start.
        at: Duration,
        /// Length of each window.
        duration: Duration,
        /// Generator seed.
        seed: u64,
        /// Number of windows.
        count: u32,
        /// Span the starts are drawn from.
        within: Duration,
    },
}

/// A checked fault entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// What it does.
    pub action: FaultAction,
    /// The run-wide proxy it acts on (`proxy: NAME`); else the suite's own proxy.
    pub proxy: Option<String>,
    /// When.
    pub schedule: Schedule,
}

/// Check the raw `faults:` entries of one suite.
pub fn check(raw: Vec<RawFault>) -> Result<Vec<FaultSpec>, FaultConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(index, f)| check_one(index, f))
        .collect()
}

fn check_one(index: usize, f: RawFault) -> Result<FaultSpec, FaultConfigError> {
    let kind = f.kind.clone();
    let err = |key: &'static str, message: String| FaultConfigError {
        index,
        kind: kind.clone(),
        key,
        message,
    };
    let network = ["latency", "bandwidth", "reset", "stall", "drop", "cut"];
    let is_process = matches!(f.kind.as_str(), "pause" | "kill");
    let is_pod = matches!(f.kind.as_str(), "evict" | "delete-pod");
    let is_kernel = matches!(f.kind.as_str(), "netem" | "partition");
    if !network.contains(&f.kind.as_str()) && !is_process && !is_pod && !is_kernel {
        return Err(err(
            "kind",
            "expected one of latency, bandwidth, reset, stall, drop, cut (network, through the agent's proxy), pause, kill (a process beside the agent), evict, delete-pod (another pod of the workload, through the Kubernetes API) or netem, partition (the pod's network, with NET_ADMIN)".into(),
        ));
    }
    // Keys that belong to other kinds are mistakes, not silently ignored settings.
    let owned: [(&'static str, bool, &[&str]); 11] = [
        ("latency", f.latency.is_some(), &["latency", "netem"]),
        ("jitter", f.jitter.is_some(), &["latency", "netem"]),
        ("interface", f.interface.is_some(), &["netem"]),
        ("loss", f.loss.is_some(), &["netem"]),
        ("peers", f.peers.is_some(), &["partition"]),
        ("rate", f.rate.is_some(), &["bandwidth"]),
        ("fraction", f.fraction.is_some(), &["drop"]),
        ("process", f.process.is_some(), &["pause", "kill"]),
        ("restart", f.restart.is_some(), &["kill"]),
        ("seed", f.seed.is_some(), &["evict", "delete-pod"]),
        (
            "gracePeriod",
            f.grace_period.is_some(),
            &["evict", "delete-pod"],
        ),
    ];
    if f.proxy.is_some() && (is_process || is_pod || is_kernel) {
        return Err(err(
            "proxy",
            "only network faults (latency, bandwidth, reset, stall, drop, cut) take this key"
                .into(),
        ));
    }
    for (key, set, kinds) in owned {
        if set && !kinds.contains(&f.kind.as_str()) {
            return Err(err(
                key,
                format!("only {} faults take this key", kinds.join(", ")),
            ));
        }
    }
    let action = match f.kind.as_str() {
        "latency" => {
            let latency = f.latency.ok_or_else(|| {
                err(
                    "latency",
                    "required: the delay added to each response, e.g. 200ms".into(),
                )
            })?;
            let jitter = f.jitter.unwrap_or_default();
            if jitter > latency {
                return Err(err(
                    "jitter",
                    format!(
                        "must not exceed latency ({}): the delay cannot go below zero",
                        format_duration(latency)
                    ),
                ));
            }
            FaultAction::Latency { latency, jitter }
        }
        "bandwidth" => {
            let raw = f.rate.ok_or_else(|| {
                err(
                    "rate",
                    "required: bytes per second, e.g. 64KiB/s, 1MB/s or 8000".into(),
                )
            })?;
            let bytes_per_sec = parse_rate(&raw).map_err(|m| err("rate", m))?;
            FaultAction::Bandwidth { bytes_per_sec }
        }
        "reset" => FaultAction::Reset,
        "stall" => FaultAction::Stall,
        "cut" => FaultAction::Cut,
        "netem" => {
            let latency = f.latency.unwrap_or_default();
            let jitter = f.jitter.unwrap_or_default();
            let loss = f.loss.unwrap_or_default();
            if !(0.0..=1.0).contains(&loss) {
                return Err(err(
                    "loss",
                    format!("expected a share of packets between 0 and 1, e.g. 0.1, found {loss}"),
                ));
            }
            if latency.is_zero() && loss == 0.0 {
                return Err(err(
                    "latency",
                    "a netem fault needs latency (e.g. 100ms), loss (e.g. 0.1) or both".into(),
                ));
            }
            if jitter > latency {
                return Err(err(
                    "jitter",
                    format!("must not exceed latency ({})", format_duration(latency)),
                ));
            }
            let interface = f.interface.unwrap_or_else(|| "eth0".into());
            let ok = !interface.is_empty()
                && interface.len() < 16
                && interface
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
            if !ok {
                return Err(err(
                    "interface",
                    format!(
                        "expected a network interface name such as eth0 or lo, found {interface:?}"
                    ),
                ));
            }
            FaultAction::Netem {
                interface,
                latency,
                jitter,
                loss,
            }
        }
        "partition" => {
            let peers = f.peers.unwrap_or_default();
            if peers.is_empty() {
                return Err(err(
                    "peers",
                    "required: the addresses cut off, e.g. [10.0.0.7, 10.0.1.0/24]".into(),
                ));
            }
            for p in &peers {
                let (addr, bits) = p.split_once('/').unwrap_or((p, "32"));
                let valid = addr.parse::<std::net::Ipv4Addr>().is_ok()
                    && bits.parse::<u8>().is_ok_and(|b| b <= 32);
                if !valid {
                    return Err(err(
                        "peers",
                        format!(
                            "expected IPv4 addresses or CIDRs such as 10.0.0.7 or 10.0.1.0/24, found {p:?}"
                        ),
                    ));
                }
            }
            FaultAction::Partition { peers }
        }
        "evict" | "delete-pod" => {
            if f.grace_period.is_some_and(|g| g > MAX_OFFSET) {
                return Err(err("gracePeriod", "must be at most a week".into()));
            }
            let choice = PodChoice {
                seed: f.seed.unwrap_or_default(),
                grace_period: f.grace_period,
            };
            if f.kind == "evict" {
                FaultAction::Evict(choice)
            } else {
                FaultAction::DeletePod(choice)
            }
        }
        "drop" => {
            let fraction = f.fraction.ok_or_else(|| {
                err(
                    "fraction",
                    "required: the share of new connections dropped, between 0 and 1, e.g. 0.5"
                        .into(),
                )
            })?;
            if !(fraction > 0.0 && fraction <= 1.0) {
                return Err(err(
                    "fraction",
                    format!("expected a number above 0 and at most 1, found {fraction}"),
                ));
            }
            FaultAction::Drop { fraction }
        }
        _ => {
            let p = f.process.ok_or_else(|| {
                err(
                    "process",
                    "required: `process: {pidFile: FILE}` or `process: {name: NAME}`".into(),
                )
            })?;
            let sel = match (p.pid_file, p.name) {
                (Some(file), None) => ProcessSel::PidFile(file),
                (None, Some(name)) if !name.trim().is_empty() => ProcessSel::Name(name),
                (None, Some(_)) => return Err(err("process", "name: must not be empty".into())),
                _ => {
                    return Err(err(
                        "process",
                        "expected exactly one of `pidFile` and `name`".into(),
                    ));
                }
            };
            if f.kind == "pause" {
                FaultAction::Pause(sel)
            } else {
                if let Some(cmd) = &f.restart {
                    if cmd.is_empty() || cmd[0].trim().is_empty() {
                        return Err(err(
                            "restart",
                            "expected a command and its arguments, e.g. [\"sh\", \"start.sh\"]"
                                .into(),
                        ));
                    }
                }
                FaultAction::Kill {
                    process: sel,
                    restart: f.restart,
                }
            }
        }
    };
    let at = f.at.unwrap_or_default();
    if at > MAX_OFFSET {
        return Err(err("at", "must be at most a week".into()));
    }
    if let Some(d) = f.duration {
        if d.is_zero() && !matches!(action, FaultAction::Kill { .. }) && !action.is_pod() {
            return Err(err(
                "duration",
                "must be above zero (leave it out to keep the fault on until the suite ends)"
                    .into(),
            ));
        }
        if d > MAX_OFFSET {
            return Err(err("duration", "must be at most a week".into()));
        }
    }
    let schedule = match (f.repeat, f.random) {
        (Some(_), Some(_)) => {
            return Err(err(
                "random",
                "a fault takes `repeat` or `random`, not both".into(),
            ));
        }
        (Some(r), None) => {
            let every = r.every.ok_or_else(|| {
                err(
                    "repeat",
                    "every: required, the period between window starts, e.g. 10s".into(),
                )
            })?;
            let duration = f.duration.ok_or_else(|| {
                err(
                    "duration",
                    "required with `repeat`: how long each window lasts".into(),
                )
            })?;
            if every <= duration {
                return Err(err(
                    "repeat",
                    format!(
                        "every: must be longer than duration ({}) so windows do not overlap",
                        format_duration(duration)
                    ),
                ));
            }
            if r.times == Some(0) {
                return Err(err("repeat", "times: must be at least 1".into()));
            }
            Schedule::Fixed {
                at,
                duration: Some(duration),
                every: Some(every),
                times: r.times,
            }
        }
        (None, Some(r)) => {
            let duration = f.duration.ok_or_else(|| {
                err(
                    "duration",
                    "required with `random`: how long each window lasts".into(),
                )
            })?;
            let within = r.within.ok_or_else(|| {
                err(
                    "random",
                    "within: required, the span window starts are drawn from, e.g. 60s".into(),
                )
            })?;
            if r.count == 0 || r.count > MAX_RANDOM_COUNT {
                return Err(err(
                    "random",
                    format!("count: expected 1 to {MAX_RANDOM_COUNT}"),
                ));
            }
            if within.is_zero() || within > MAX_OFFSET {
                return Err(err(
                    "random",
                    "within: must be above zero and at most a week".into(),
                ));
            }
            Schedule::Random {
                at,
                duration,
                seed: r.seed,
                count: r.count,
                within,
            }
        }
        (None, None) => Schedule::Fixed {
            at,
            duration: f.duration,
            every: None,
            times: None,
        },
    };
    Ok(FaultSpec {
        action,
        proxy: f.proxy,
        schedule,
    })
}

/// `64KiB/s`, `1MB/s`, `500B/s`, `8000` (bytes per second).
fn parse_rate(v: &testcar_yaml::Value) -> Result<u64, String> {
    let bad =
        || "expected bytes per second, e.g. 64KiB/s, 1MB/s, 500B/s or a plain number".to_string();
    let n = match v {
        testcar_yaml::Value::Number(n) => n.as_u64().ok_or_else(bad)?,
        testcar_yaml::Value::String(s) => {
            let s = s.trim();
            let s = s.strip_suffix("/s").unwrap_or(s).trim();
            let split = s
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let num: f64 = num.parse().map_err(|_| bad())?;
            let mult = match unit.trim() {
                "" | "B" => 1.0,
                "KB" | "kB" => 1e3,
                "MB" => 1e6,
                "GB" => 1e9,
                "KiB" => 1024.0,
                "MiB" => 1024.0 * 1024.0,
                "GiB" => 1024.0 * 1024.0 * 1024.0,
                _ => return Err(bad()),
            };
            (num * mult) as u64
        }
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err("must be above zero (use `stall` to stop traffic)".into());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(yaml: &str) -> Result<FaultSpec, FaultConfigError> {
        let raw: Vec<RawFault> = testcar_yaml::from_str(yaml).unwrap();
        check(raw).map(|mut v| v.remove(0))
    }

    #[test]
    fn latency_with_window() {
        let f =
            one("- kind: latency\n  latency: 200ms\n  jitter: 20ms\n  at: 1s\n  duration: 5s\n")
                .unwrap();
        assert_eq!(
            f.action,
            FaultAction::Latency {
                latency: Duration::from_millis(200),
                jitter: Duration::from_millis(20)
            }
        );
        assert_eq!(
            f.schedule,
            Schedule::Fixed {
                at: Duration::from_secs(1),
                duration: Some(Duration::from_secs(5)),
                every: None,
                times: None
            }
        );
    }

    #[test]
    fn rates() {
        let r = |s: &str| parse_rate(&testcar_yaml::Value::String(s.into()));
        assert_eq!(r("64KiB/s"), Ok(65536));
        assert_eq!(r("1MB/s"), Ok(1_000_000));
        assert_eq!(r("500B/s"), Ok(500));
        assert!(r("fast").is_err());
        assert!(r("0/s").is_err());
    }

    #[test]
    fn errors_name_the_key() {
        let e = one("- kind: latncy\n").unwrap_err();
        assert_eq!(e.key, "kind");
        let e = one("- kind: latency\n").unwrap_err();
        assert_eq!(e.key, "latency");
        assert!(
            e.to_string()
                .starts_with("faults[0] (latency): latency: required")
        );
        let e = one("- kind: latency\n  latency: 10ms\n  jitter: 50ms\n").unwrap_err();
        assert_eq!(e.key, "jitter");
        let e = one("- kind: drop\n  fraction: 1.5\n").unwrap_err();
        assert_eq!(e.key, "fraction");
        let e = one("- kind: reset\n  fraction: 0.5\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "faults[0] (reset): fraction: only drop faults take this key"
        );
        let e = one("- kind: pause\n").unwrap_err();
        assert_eq!(e.key, "process");
        let e = one("- kind: pause\n  process: {name: a, pidFile: b}\n").unwrap_err();
        assert_eq!(e.key, "process");
        let e = one("- kind: cut\n  duration: 1s\n  repeat: {every: 1s}\n").unwrap_err();
        assert_eq!(e.key, "repeat");
        let e = one("- kind: cut\n  repeat: {every: 5s}\n").unwrap_err();
        assert_eq!(e.key, "duration");
        let e = one("- kind: cut\n  duration: 1s\n  random: {seed: 1, count: 0, within: 5s}\n")
            .unwrap_err();
        assert_eq!(e.key, "random");
        let e = one("- kind: kill\n  process: {name: x}\n  restart: []\n").unwrap_err();
        assert_eq!(e.key, "restart");
    }

    #[test]
    fn random_and_repeat() {
        let f = one("- kind: stall\n  duration: 1s\n  random: {seed: 7, count: 3, within: 20s}\n")
            .unwrap();
        assert!(matches!(
            f.schedule,
            Schedule::Random {
                seed: 7,
                count: 3,
                ..
            }
        ));
        let f = one("- kind: kill\n  process: {pidFile: db.pid}\n  restart: [sh, start.sh]\n  duration: 2s\n  repeat: {every: 10s, times: 3}\n").unwrap();
        assert!(matches!(f.action, FaultAction::Kill { .. }));
        assert!(matches!(f.schedule, Schedule::Fixed { times: Some(3), .. }));
    }

    #[test]
    fn pod_faults() {
        let f = one("- kind: evict\n  seed: 7\n  at: 2s\n").unwrap();
        assert_eq!(
            f.action,
            FaultAction::Evict(PodChoice {
                seed: 7,
                grace_period: None
            })
        );
        assert!(f.action.is_pod() && !f.action.is_network());
        let f = one("- kind: delete-pod\n  gracePeriod: 0s\n  duration: 0s\n").unwrap();
        assert_eq!(f.action.kind(), "delete-pod");
        assert_eq!(f.action.params()["gracePeriod"], "0s");
        let e = one("- kind: evict\n  proxy: n1\n").unwrap_err();
        assert_eq!(e.key, "proxy");
        let e = one("- kind: cut\n  seed: 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "faults[0] (cut): seed: only evict, delete-pod faults take this key"
        );
        let e = one("- kind: evict-pod\n").unwrap_err();
        assert!(e.message.contains("evict, delete-pod"), "{e}");
    }

    #[test]
    fn kernel_faults() {
        let f = one("- kind: netem\n  interface: lo\n  latency: 100ms\n  loss: 0.1\n").unwrap();
        assert_eq!(f.action.kernel_tool(), Some("tc"));
        assert_eq!(f.action.params()["interface"], "lo");
        let f = one("- kind: partition\n  peers: [10.0.0.7, 10.0.1.0/24]\n").unwrap();
        assert_eq!(f.action.kernel_tool(), Some("iptables"));
        assert!(!f.action.is_network());
        assert_eq!(one("- kind: netem\n").unwrap_err().key, "latency");
        assert_eq!(one("- kind: netem\n  loss: 2\n").unwrap_err().key, "loss");
        assert_eq!(
            one("- kind: netem\n  latency: 1ms\n  interface: \"eth0; rm\"\n")
                .unwrap_err()
                .key,
            "interface"
        );
        assert_eq!(one("- kind: partition\n").unwrap_err().key, "peers");
        let e = one("- kind: partition\n  peers: [db.local]\n").unwrap_err();
        assert!(e.message.contains("IPv4"), "{e}");
        assert_eq!(
            one("- kind: latency\n  latency: 1ms\n  loss: 0.1\n")
                .unwrap_err()
                .key,
            "loss"
        );
    }
}
