//! The verdict is the last line of the sidecar container's log. `kubectl logs` merges the
//! container's stdout and stderr, and `kubectl logs -c testcar --tail=1 | jq -r .status` must
//! print the status: the real binary in sidecar mode writes both streams into one file here,
//! as `2>&1` does, and after the verdict nothing may follow — not while idle, not when the
//! endpoints are requested, not on SIGTERM, not after a restart that finds the stored result.

use crate::common;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SCHEMA: &str = "testcar.io/result/v1";

/// A sidecar whose stdout and stderr share one open file, in write order.
struct Merged {
    child: Child,
    log: PathBuf,
    addr: SocketAddr,
}

impl Merged {
    fn start(env: &[(&str, String)], log: PathBuf) -> Merged {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let file = File::create(&log).unwrap();
        let mut cmd = agent();
        cmd.arg("sidecar")
            .env("TESTCAR_LISTEN", addr.to_string())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Merged {
            child: cmd.spawn().unwrap(),
            log,
            addr,
        }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Lines that are result documents.
    fn verdicts(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["schema"] == SCHEMA)
            .collect()
    }

    /// Wait (generously: the machine may be loaded) until the log holds a verdict.
    fn wait_verdict(&mut self, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(v) = self.verdicts().pop() {
                return v;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the sidecar exited before its verdict:\n{}",
                self.text()
            );
            assert!(
                start.elapsed() < limit,
                "no verdict in the log after {limit:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last non-empty line must be the verdict `expected` (schema-checked), and the only one.
    fn assert_verdict_last(&self, expected: &Value, when: &str) {
        let text = self.text();
        let last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        let is_verdict = serde_json::from_str::<Value>(last).is_ok_and(|v| v["schema"] == SCHEMA);
        assert!(
            is_verdict,
            "{when}: the last log line is not the verdict but\n{last}\nwhole log:\n{text}"
        );
        // the schema holds, and it is the expected document
        assert_eq!(&last_line_result(&text), expected, "{when}:\n{text}");
        assert_eq!(
            self.verdicts().len(),
            1,
            "{when}: the verdict was printed more than once:\n{text}"
        );
    }

    /// Every endpoint, twice, including a path that does not exist.
    fn request_endpoints(&self) -> Value {
        let mut result = Value::Null;
        for _ in 0..2 {
            for path in [
                "/result",
                "/metrics",
                "/healthz",
                "/report",
                "/no-such-path",
            ] {
                let (status, body) = http_get(self.addr, path).unwrap();
                match path {
                    "/no-such-path" => assert_eq!(status, 404),
                    _ => assert_eq!(status, 200, "{path}: {body}"),
                }
                if path == "/result" {
                    result = serde_json::from_str(&body).unwrap();
                }
            }
        }
        result
    }

    /// SIGTERM, then the exit code (within `limit`).
    fn terminate(&mut self, limit: Duration) -> i32 {
        terminate_child(&mut self.child, limit)
    }
}

impl Drop for Merged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_for(tests: &Path, results: &Path, target: String) -> Vec<(&'static str, String)> {
    let mut env = sidecar_env(tests, results, target);
    env.push(("TESTCAR_READINESS_URL", "/readyz".into()));
    env.push(("TESTCAR_READY_TIMEOUT", "30s".into()));
    env
}

/// Log records (JSON on stderr, as in a pod) before the verdict, by message.
fn logged(text: &str, message: &str) -> bool {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|v| v["message"].as_str().is_some_and(|m| m.contains(message)))
}

#[test]
fn the_verdict_stays_the_last_log_line_while_idle_and_after_sigterm() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        concat!(
            "suites:\n",
            "  - name: api\n",
            "    exec: [\"sh\", \"-c\", \"echo checking; exit 3\"]\n",
        ),
    )]);
    let results = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let env = env_for(tests.path(), results.path(), format!("http://{addr}"));

    let mut sidecar = Merged::start(&env, logs.path().join("first.log"));
    let verdict = sidecar.wait_verdict(Duration::from_secs(60));
    assert_eq!(verdict["status"], "failed", "{}", sidecar.text());
    sidecar.assert_verdict_last(&verdict, "after the run");
    // the idle message and the rest of the log come before the verdict
    let text = sidecar.text();
    assert!(logged(&text, "idle"), "{text}");
    assert!(logged(&text, "suite finished"), "{text}");

    // the endpoints do not log requests
    let result = sidecar.request_endpoints();
    assert_eq!(result, verdict);
    std::thread::sleep(Duration::from_millis(500));
    sidecar.assert_verdict_last(&verdict, "after /result, /metrics, /healthz, /report");
    assert!(
        sidecar.child.try_wait().unwrap().is_none(),
        "the sidecar must stay alive"
    );

    // SIGTERM while idle: exit 0, nothing logged, nothing printed again
    assert_eq!(sidecar.terminate(Duration::from_secs(10)), 0);
    sidecar.assert_verdict_last(&verdict, "after SIGTERM");
    let jq_status = last_line_result(&sidecar.text())["status"].clone();
    assert_eq!(jq_status, "failed");

    // container restart: the stored result is printed again, last, and stays last
    let mut again = Merged::start(&env, logs.path().join("restarted.log"));
    let stored = again.wait_verdict(Duration::from_secs(30));
    assert_eq!(stored, verdict);
    assert!(
        logged(&again.text(), "already has a result"),
        "{}",
        again.text()
    );
    again.assert_verdict_last(&verdict, "after a restart");
    again.request_endpoints();
    std::thread::sleep(Duration::from_millis(300));
    again.assert_verdict_last(&verdict, "after a restart and the endpoints");
    assert_eq!(again.terminate(Duration::from_secs(10)), 0);
    again.assert_verdict_last(&verdict, "after a restart and SIGTERM");
}

#[test]
fn sigterm_mid_run_ends_the_log_with_the_partial_verdict() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        concat!(
            "suites:\n",
            "  - name: slow\n",
            "    exec: [\"sh\", \"-c\", \"echo working; sleep 60\"]\n",
        ),
    )]);
    let results = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    let mut sidecar = Merged::start(&env, logs.path().join("sidecar.log"));
    // wait until the suite runs (and the endpoints were requested meanwhile)
    let start = Instant::now();
    loop {
        if let Ok((200, body)) = http_get(sidecar.addr, "/result") {
            let state: Value = serde_json::from_str(&body).unwrap();
            if state["suite"] == "slow" {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the suite never started:\n{}",
            sidecar.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = http_get(sidecar.addr, "/metrics").unwrap();
    std::thread::sleep(Duration::from_millis(300));

    assert_eq!(sidecar.terminate(Duration::from_secs(15)), 2);
    let text = sidecar.text();
    let verdict = last_line_result(&text);
    assert_eq!(verdict["status"], "error", "{text}");
    assert!(logged(&text, "terminating"), "{text}");
    assert!(!logged(&text, "idle"), "{text}");
    sidecar.assert_verdict_last(&verdict, "after SIGTERM mid-run");
}
