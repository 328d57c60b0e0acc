//! Faults during suites (issue 21): the real binary and the suite runner against real HTTP
//! services and real processes on 127.0.0.1. Figures are compared with a baseline measured
//! in the same test, with wide margins: the machine running them may be busy.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use testcar_agent::manifest;
use testcar_agent::runners::{RunContext, run_suite};
use testcar_contract::Status;
use tokio_util::sync::CancellationToken;

/// Ten requests to `/healthz` over two seconds; p50 must stay under 150 ms.
const SCRIPT: &str = "config:\n  target: http://127.0.0.1:9\n  phases:\n    - duration: 2\n      arrivalRate: 5\n  ensure:\n    thresholds:\n      - http.response_time.p50: 150\nscenarios:\n  - name: health\n    flow:\n      - get:\n          url: /healthz\n";

fn run_manifest(tests: &Path, target: &str) -> (std::process::Output, Value) {
    let results = tests.join("results");
    let out = agent()
        .args(["run", tests.to_str().unwrap(), "--target", target])
        .args(["--results-dir", results.to_str().unwrap()])
        .output()
        .unwrap();
    let doc = last_line_result(&String::from_utf8_lossy(&out.stdout));
    (out, doc)
}

fn suite<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["suites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no suite {name}: {doc}"))
}

fn p50(s: &Value) -> f64 {
    s["metrics"]["responseTime"]["p50"]
        .as_f64()
        .unwrap_or_else(|| panic!("no p50: {s}"))
}

fn errors(s: &Value) -> u64 {
    s["metrics"]["errors"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

#[test]
fn latency_raises_p50_and_fails_the_ensure_threshold() {
    let addr = start_service(true);
    let tests = mk_tests(&[
        ("health.yml", SCRIPT),
        (
            "testcar.yaml",
            "suites:\n  - name: baseline\n    artillery: health.yml\n    continueOnFailure: true\n  - name: slow\n    artillery: health.yml\n    faults:\n      - kind: latency\n        latency: 200ms\n",
        ),
    ]);
    let (_, doc) = run_manifest(tests.path(), &format!("http://{addr}"));
    let base = suite(&doc, "baseline");
    let slow = suite(&doc, "slow");
    assert_eq!(base["status"], "passed", "{base}");
    assert_eq!(slow["status"], "failed", "the p50 threshold fails: {slow}");
    assert_eq!(slow["checks"][0]["kind"], "threshold", "{slow}");
    assert_eq!(slow["checks"][0]["status"], "failed", "{slow}");
    let (b, s) = (p50(base), p50(slow));
    assert!(
        s - b >= 150.0,
        "p50 {b} ms without the fault, {s} ms with it"
    );
    assert_eq!(slow["metrics"]["codes"]["200"], 10, "{slow}");
    let fault = &slow["faults"][0];
    assert_eq!(fault["kind"], "latency");
    assert_eq!(fault["target"], addr.to_string());
    assert_eq!(fault["params"]["latency"], "200ms");
    assert_eq!(fault["healedBy"], "suite end");
    assert!(fault["start"].as_str() <= fault["end"].as_str(), "{fault}");
    assert!(base.get("faults").is_none(), "{base}");
    assert_eq!(doc["status"], "failed");
}

#[test]
fn reset_and_drop_raise_the_error_counters() {
    let addr = start_service(true);
    let plain = SCRIPT.replace(
        "  ensure:\n    thresholds:\n      - http.response_time.p50: 150\n",
        "",
    );
    let tests = mk_tests(&[
        ("health.yml", &plain),
        (
            "testcar.yaml",
            "suites:\n  - name: baseline\n    artillery: health.yml\n    continueOnFailure: true\n  - name: reset\n    artillery: health.yml\n    continueOnFailure: true\n    faults:\n      - kind: reset\n  - name: drop\n    artillery: health.yml\n    continueOnFailure: true\n    faults:\n      - kind: drop\n        fraction: 1\n",
        ),
    ]);
    let (_, doc) = run_manifest(tests.path(), &format!("http://{addr}"));
    let base = suite(&doc, "baseline");
    assert_eq!(errors(base), 0, "{base}");
    for name in ["reset", "drop"] {
        let s = suite(&doc, name);
        assert!(errors(s) >= 5, "{name}: {s}");
        let ok = s["metrics"]["codes"]["200"].as_u64().unwrap_or(0);
        assert!(ok <= 5, "{name}: most requests fail: {s}");
        assert_eq!(s["faults"][0]["kind"], name);
        assert!(s["faults"][0]["end"].is_string(), "{s}");
    }
}

#[test]
fn bad_fault_config_names_file_line_and_key() {
    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: ok\n    exec: [\"true\"]\n  - name: slow\n    exec: [\"true\"]\n    faults:\n      - kind: cut\n      - kind: latency\n        latency: 10ms\n        jitter: 50ms\n",
    )]);
    let out = agent()
        .args(["validate", tests.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("testcar.yaml:10:1: suites[1] (slow): faults[1] (latency): jitter: must not exceed latency (10ms)"),
        "{text}"
    );

    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: slow\n    exec: [\"true\"]\n    faults:\n      - kind: latency\n        latncy: 10ms\n",
    )]);
    let out = agent()
        .args(["validate", tests.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("testcar.yaml:6:"), "{text}");
    assert!(text.contains("unknown field `latncy`"), "{text}");
}

/// A `sleep` process standing in for the target, its pid written to `<dir>/<file>`.
fn victim(dir: &Path, file: &str) -> Child {
    let child = Command::new("sleep")
        .arg("300")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(dir.join(file), child.id().to_string()).unwrap();
    child
}

/// The scheduler state of `pid` (`S` sleeping, `T` stopped, ...), `None` once it is gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

fn ctx(results: &Path, target: Option<String>, cancel: CancellationToken) -> RunContext {
    RunContext {
        target,
        cancel,
        ..RunContext::new(results.to_path_buf())
    }
}

fn parse(dir: &Path, text: &str) -> manifest::SuiteDef {
    let path = dir.join("testcar.yaml");
    manifest::parse(text, &path).unwrap().suites.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suite_timing_out_mid_fault_continues_the_process_and_closes_the_proxy() {
    let addr = start_service(true);
    let dir = tempfile::tempdir().unwrap();
    let mut child = victim(dir.path(), "db.pid");
    let pid = child.id();
    // The command notes its target and the victim's state while the faults are on.
    let def = parse(
        dir.path(),
        &format!(
            "suites:\n  - name: stuck\n    timeout: 3s\n    exec: [\"sh\", \"-c\", \"echo $TESTCAR_TARGET > target.txt; sleep 1; cut -d')' -f2 /proc/{pid}/stat > during.txt; sleep 60\"]\n    faults:\n      - kind: pause\n        process: {{pidFile: db.pid}}\n      - kind: cut\n"
        ),
    );
    let results = dir.path().join("results");
    let started = Instant::now();
    let suite = run_suite(
        &def,
        &ctx(
            &results,
            Some(format!("http://{addr}")),
            CancellationToken::new(),
        ),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(suite.status, Status::Error);
    assert!(
        suite.error.as_deref().unwrap().starts_with("timed out"),
        "{suite:?}"
    );
    let during = std::fs::read_to_string(dir.path().join("during.txt")).unwrap();
    assert_eq!(
        during.split_whitespace().next(),
        Some("T"),
        "stopped during the suite"
    );
    assert_ne!(state(pid), Some('T'), "continued after the timeout");
    let target = std::fs::read_to_string(dir.path().join("target.txt")).unwrap();
    let proxy = target.trim().trim_start_matches("http://").to_string();
    assert_ne!(
        proxy,
        addr.to_string(),
        "the exec suite was given the proxy"
    );
    assert!(
        std::net::TcpStream::connect(&proxy).is_err(),
        "the proxy at {proxy} is gone"
    );
    assert_eq!(suite.faults.len(), 2, "{:?}", suite.faults);
    for f in &suite.faults {
        assert_eq!(f.healed_by.as_deref(), Some("suite end"), "{f:?}");
        assert!(f.end.is_some() && f.error.is_none(), "{f:?}");
    }
    assert!(
        suite
            .faults
            .iter()
            .any(|f| f.target.contains(&pid.to_string()))
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_heals_and_a_kill_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = victim(dir.path(), "db.pid");
    let old = first.id();
    let def = parse(
        dir.path(),
        "suites:\n  - name: chaos\n    exec: [\"sleep\", \"60\"]\n    faults:\n      - kind: kill\n        at: 200ms\n        duration: 300ms\n        process: {pidFile: db.pid}\n        restart: [\"sh\", \"-c\", \"sleep 300 & echo $! > db.pid\"]\n      - kind: pause\n        at: 1500ms\n        process: {pidFile: db.pid}\n",
    );
    let cancel = CancellationToken::new();
    let results = dir.path().join("results");
    let stopper = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            // The run's stop (SIGTERM) comes while the pause is on.
            tokio::time::sleep(Duration::from_secs(4)).await;
            cancel.cancel();
        })
    };
    let suite = run_suite(&def, &ctx(&results, None, cancel)).await;
    stopper.await.unwrap();
    let _ = first.wait();
    assert_eq!(suite.status, Status::Error, "{suite:?}");
    let kill = &suite.faults[0];
    assert_eq!(kill.kind, "kill");
    assert_eq!(kill.healed_by.as_deref(), Some("schedule"));
    assert!(kill.error.is_none(), "{kill:?}");
    let new: u32 = std::fs::read_to_string(dir.path().join("db.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new, old, "restarted");
    let pause = &suite.faults[1];
    assert_eq!(pause.kind, "pause");
    assert!(pause.target.contains(&new.to_string()), "{pause:?}");
    assert_eq!(pause.healed_by.as_deref(), Some("suite end"));
    assert!(
        matches!(state(new), Some(s) if s != 'T'),
        "continued: {:?}",
        state(new)
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(new as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let events = std::fs::read_to_string(results.join("chaos").join("faults.jsonl")).unwrap();
    assert_eq!(events.lines().count(), 4, "{events}");
}

#[test]
fn sigterm_during_a_pause_continues_the_process() {
    let tests = tempfile::tempdir().unwrap();
    let mut child = victim(tests.path(), "db.pid");
    let pid = child.id();
    std::fs::write(
        tests.path().join("testcar.yaml"),
        "suites:\n  - name: paused\n    exec: [\"sleep\", \"60\"]\n    faults:\n      - kind: pause\n        process: {pidFile: db.pid}\n",
    )
    .unwrap();
    let results = tempfile::tempdir().unwrap();
    let mut agent = agent()
        .args(["run", tests.path().to_str().unwrap()])
        .args(["--results-dir", results.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while state(pid) != Some('T') {
        assert!(start.elapsed() < Duration::from_secs(60), "never paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    terminate_child(&mut agent, Duration::from_secs(30));
    assert_ne!(state(pid), Some('T'), "continued on SIGTERM");
    let doc = read_json(&results.path().join("result.json"));
    let fault = &doc["suites"][0]["faults"][0];
    assert_eq!(fault["kind"], "pause", "{doc}");
    assert_eq!(fault["healedBy"], "suite end", "{doc}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A child process killed and reaped when dropped, even when the test panics.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A single etcd member on free ports (Debian's etcd-server), `None` when not installed.
async fn start_etcd(dir: &Path) -> Option<(Reaped, String)> {
    let bin = ["/usr/bin/etcd", "/usr/local/bin/etcd"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file());
    let Some(bin) = bin else {
        if std::env::var("TESTCAR_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("etcd not found (scripts/setup.d/60-etcd.sh installs it)");
        }
        eprintln!("skipped: etcd not installed");
        return None;
    };
    let url = format!("http://127.0.0.1:{}", free_port());
    let peer = format!("http://127.0.0.1:{}", free_port());
    let child = Reaped(
        Command::new(bin)
            .args(["--name", "faults", "--data-dir"])
            .arg(dir.join("etcd-data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("faults={peer}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("etcd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    loop {
        let r = http
            .post(format!("{url}/v3/kv/range"))
            .body(r#"{"key":"AA=="}"#)
            .send()
            .await;
        if matches!(&r, Ok(resp) if resp.status().is_success()) {
            return Some((child, url));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "etcd not ready: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistency_suite_under_latency_and_a_paused_etcd_stays_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let Some((etcd, url)) = start_etcd(dir.path()).await else {
        return;
    };
    let pid = etcd.0.id();
    std::fs::write(dir.path().join("etcd.pid"), pid.to_string()).unwrap();
    let kv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testcar-consistency/test_data/etcd-kv.consistency.yaml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("kv.consistency.yaml"), kv).unwrap();
    let def = parse(
        dir.path(),
        "suites:\n  - name: kv\n    consistency: kv.consistency.yaml\n    timeout: 2m\n    faults:\n      - kind: latency\n        latency: 20ms\n      - kind: pause\n        at: 500ms\n        duration: 1s\n        process: {pidFile: etcd.pid}\n",
    );
    let results = dir.path().join("results");
    let suite = run_suite(&def, &ctx(&results, Some(url), CancellationToken::new())).await;
    drop(etcd);
    assert_eq!(suite.status, Status::Passed, "{suite:?}");
    assert_eq!(
        suite.checks[0].status,
        testcar_contract::CheckStatus::Passed
    );
    assert_eq!(suite.faults.len(), 2, "{:?}", suite.faults);
    let pause = suite.faults.iter().find(|f| f.kind == "pause").unwrap();
    assert_eq!(pause.healed_by.as_deref(), Some("schedule"), "{pause:?}");
    assert!(pause.target.contains(&pid.to_string()) && pause.error.is_none());
    let kinds: Vec<&str> = suite.reports.iter().map(|r| r.kind.as_str()).collect();
    assert!(
        kinds.contains(&"history-jsonl") && kinds.contains(&"fault-events"),
        "{kinds:?}"
    );
    // The nemesis events are Jepsen events the consistency crate's JSONL reader takes.
    let events = std::fs::read_to_string(results.join("kv").join("faults.jsonl")).unwrap();
    let parsed = testcar_consistency::format::parse(
        &events,
        "faults.jsonl",
        testcar_consistency::Format::Jsonl,
        testcar_consistency::ModelKind::Kv,
    )
    .unwrap();
    assert!(parsed.ops.is_empty(), "nemesis events are not operations");
    // The pause made the clients wait: the slowest operation took most of that second.
    let max = suite.metrics.as_ref().unwrap().response_time.unwrap().max;
    assert!(max >= 500.0, "max response time {max} ms");
}

#[test]
fn without_a_target_given_the_script_s_own_target_is_proxied() {
    let addr = start_service(true);
    let script = SCRIPT.replace("http://127.0.0.1:9", &format!("http://{addr}"));
    let tests = mk_tests(&[
        ("health.yml", &script),
        (
            "testcar.yaml",
            "suites:\n  - name: slow\n    artillery: health.yml\n    faults:\n      - kind: latency\n        latency: 200ms\n",
        ),
    ]);
    let results = tests.path().join("results");
    let out = agent()
        .args(["run", tests.path().to_str().unwrap()])
        .args(["--results-dir", results.to_str().unwrap()])
        .output()
        .unwrap();
    let doc = last_line_result(&String::from_utf8_lossy(&out.stdout));
    let slow = suite(&doc, "slow");
    assert_eq!(slow["faults"][0]["target"], addr.to_string(), "{doc}");
    assert_eq!(slow["metrics"]["codes"]["200"], 10, "{slow}");
    assert!(p50(slow) >= 150.0, "{slow}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_faults_without_healing_still_continues_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = victim(dir.path(), "db.pid");
    let pid = child.id();
    let path = dir.path().join("testcar.yaml");
    let m = manifest::parse(
        "suites:\n  - name: a\n    exec: [\"true\"]\n    faults:\n      - kind: pause\n        process: {pidFile: db.pid}\n",
        &path,
    )
    .unwrap();
    let faults = testcar_agent::faults::Faults::start(
        &m.suites[0].faults,
        None,
        &Default::default(),
        &Default::default(),
        dir.path().into(),
        dir.path().join("results"),
    )
    .await
    .unwrap();
    let start = Instant::now();
    while state(pid) != Some('T') {
        assert!(start.elapsed() < Duration::from_secs(30), "never paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(faults);
    assert_ne!(state(pid), Some('T'), "continued on drop");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sidecar_sigterm_during_a_cut_and_a_pause_heals_both() {
    let addr = start_service(true);
    let tests = tempfile::tempdir().unwrap();
    let mut child = victim(tests.path(), "db.pid");
    let pid = child.id();
    std::fs::write(
        tests.path().join("testcar.yaml"),
        "suites:\n  - name: chaos\n    exec: [\"sh\", \"-c\", \"echo $TESTCAR_TARGET > target.txt; sleep 60\"]\n    faults:\n      - kind: cut\n      - kind: pause\n        process: {pidFile: db.pid}\n",
    )
    .unwrap();
    let results = tempfile::tempdir().unwrap();
    let env = sidecar_env(tests.path(), results.path(), format!("http://{addr}"));
    let mut sidecar = Sidecar::start(&env);
    let start = Instant::now();
    while state(pid) != Some('T') || !tests.path().join("target.txt").is_file() {
        assert!(start.elapsed() < Duration::from_secs(60), "never paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    let target = std::fs::read_to_string(tests.path().join("target.txt")).unwrap();
    let proxy = target.trim().trim_start_matches("http://").to_string();
    assert_ne!(proxy, addr.to_string());
    sidecar.terminate(Duration::from_secs(30));
    assert_ne!(state(pid), Some('T'), "continued on SIGTERM");
    assert!(
        std::net::TcpStream::connect(&proxy).is_err(),
        "the proxy at {proxy} is gone"
    );
    let doc = read_json(&results.path().join("result.json"));
    let faults = doc["suites"][0]["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{doc}");
    assert!(
        faults
            .iter()
            .all(|f| f["healedBy"] == "suite end" && f["end"].is_string()),
        "{doc}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Three etcd members whose peer links go through the agent's run-wide proxies `n1`..`n3`
/// (each member advertises its proxy's port as its peer URL): `(members, client URLs,
/// manifest proxies block)`.
fn start_etcd_cluster(dir: &Path) -> Option<(Vec<Reaped>, Vec<String>, String)> {
    let bin = std::path::PathBuf::from("/usr/bin/etcd");
    if !bin.is_file() {
        eprintln!("skipped: etcd not installed");
        return None;
    }
    let ports: Vec<[u16; 3]> = (0..3)
        .map(|_| [free_port(), free_port(), free_port()])
        .collect();
    let cluster = (0..3)
        .map(|i| format!("n{}=http://127.0.0.1:{}", i + 1, ports[i][2]))
        .collect::<Vec<_>>()
        .join(",");
    let mut members = Vec::new();
    let mut clients = Vec::new();
    let mut proxies = String::from("proxies:\n");
    for (i, [client, peer, proxy]) in ports.iter().enumerate() {
        let name = format!("n{}", i + 1);
        let url = format!("http://127.0.0.1:{client}");
        members.push(Reaped(
            Command::new(&bin)
                .args(["--name", &name, "--data-dir"])
                .arg(dir.join(format!("{name}-data")))
                .args([
                    "--listen-client-urls",
                    &url,
                    "--advertise-client-urls",
                    &url,
                ])
                .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
                .args([
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{proxy}"),
                ])
                .args(["--initial-cluster", &cluster])
                .args(["--initial-cluster-token", "testcar-faults"])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
                .spawn()
                .unwrap(),
        ));
        clients.push(url);
        proxies.push_str(&format!(
            "  - name: {name}\n    listen: 127.0.0.1:{proxy}\n    target: 127.0.0.1:{peer}\n"
        ));
    }
    Some((members, clients, proxies))
}

#[test]
fn three_etcd_members_stay_linearizable_through_a_cut_peer_link() {
    let dir = tempfile::tempdir().unwrap();
    let Some((members, clients, proxies)) = start_etcd_cluster(dir.path()) else {
        return;
    };
    let kv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testcar-consistency/test_data/etcd-kv.consistency.yaml"),
    )
    .unwrap()
    .replace("count: 200\n", "count: 100000\nduration: 8s\ntimeout: 1s\n");
    std::fs::write(dir.path().join("kv.consistency.yaml"), kv).unwrap();
    // n1's peer port is cut from 2 s to 5 s into the suite; the clients talk to n1.
    std::fs::write(
        dir.path().join("testcar.yaml"),
        format!(
            "{proxies}suites:\n  - name: kv\n    consistency: kv.consistency.yaml\n    timeout: 2m\n    faults:\n      - kind: cut\n        proxy: n1\n        at: 2s\n        duration: 3s\n"
        ),
    )
    .unwrap();
    let results = dir.path().join("results");
    let out = agent()
        .args(["run", dir.path().to_str().unwrap(), "--target", &clients[0]])
        .args(["--readiness-url", "/health", "--ready-timeout", "90s"])
        .args(["--results-dir", results.to_str().unwrap()])
        .output()
        .unwrap();
    drop(members);
    let doc = last_line_result(&String::from_utf8_lossy(&out.stdout));
    let kv = suite(&doc, "kv");
    assert_eq!(kv["status"], "passed", "{doc}");
    assert_eq!(kv["checks"][0]["status"], "passed", "{doc}");
    let fault = &kv["faults"][0];
    assert_eq!(fault["kind"], "cut", "{doc}");
    assert_eq!(fault["healedBy"], "schedule", "{doc}");
    assert!(
        fault["target"]
            .as_str()
            .unwrap()
            .starts_with("n1 (127.0.0.1:"),
        "{doc}"
    );
    assert!(kv["metrics"]["requests"].as_u64().unwrap() > 10, "{doc}");
}
