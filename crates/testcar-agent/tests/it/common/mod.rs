//! Helpers for the agent's integration tests: the real binary, real HTTP servers on
//! 127.0.0.1 with free ports, and the result line checked against the JSON Schema.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::Value;

/// The agent binary with a clean environment (no TESTCAR_* from the caller).
pub fn agent() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_testcar-agent"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TESTCAR_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TESTCAR_LOG_FORMAT", "json");
    cmd
}

/// A folder with `files` (name, content).
pub fn mk_tests(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// A port nothing listens on.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A real HTTP service on 127.0.0.1: `/healthz` 200, `/readyz` 200 when `ready` else 503,
/// `/admin` 401. Runs on its own thread for the life of the test process.
pub fn start_service(ready: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/healthz", get(|| async { "ok\n" }))
                .route(
                    "/readyz",
                    get(move || async move {
                        if ready {
                            (StatusCode::OK, "ready")
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, "warming up")
                        }
                    }),
                )
                .route(
                    "/admin",
                    get(|| async { (StatusCode::UNAUTHORIZED, "token required") }),
                );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

/// GET `path` on `addr`: status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The last stdout line, checked against docs/result.schema.json; returns the document.
pub fn last_line_result(stdout: &str) -> Value {
    let last = stdout
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .expect("stdout has lines");
    let doc: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last stdout line is not JSON ({e}): {last}"));
    let schema: Value =
        serde_json::from_str(include_str!("../../../../../docs/result.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "result line fails the schema: {errors:?}\n{last}"
    );
    doc
}

/// Whether `tool` is on PATH; with TESTCAR_REQUIRE_TOOLS=1 a missing tool fails the test.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("TESTCAR_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{tool} is required (TESTCAR_REQUIRE_TOOLS=1); scripts/setup.d installs it"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// A running sidecar whose stdout is collected line by line.
pub struct Sidecar {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub addr: SocketAddr,
}

impl Sidecar {
    /// Start `testcar-agent sidecar` with `env`, listening on a free port.
    pub fn start(env: &[(&str, String)]) -> Sidecar {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = agent();
        cmd.arg("sidecar")
            .env("TESTCAR_LISTEN", addr.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        for (pipe, sink) in [
            (Box::new(stdout) as Box<dyn Read + Send>, lines.clone()),
            (Box::new(child.stderr.take().unwrap()), log.clone()),
        ] {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Sidecar {
            child,
            lines,
            log,
            addr,
        }
    }

    /// `/result` as JSON, once the server answers.
    pub fn result(&self) -> Option<Value> {
        let (status, body) = http_get(self.addr, "/result").ok()?;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).ok()
    }

    /// Poll `/result` until `pred` holds (at most `limit`).
    pub fn wait_result(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(v) = self.result() {
                if pred(&v) {
                    return v;
                }
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting on /result; last: {:?}",
                self.result()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Everything logged on stderr so far.
    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Send SIGTERM and wait for the exit code (at most `limit`).
    pub fn terminate(&mut self, limit: Duration) -> i32 {
        let code = terminate_child(&mut self.child, limit);
        // let the reader thread drain the pipe
        std::thread::sleep(Duration::from_millis(100));
        code
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read a results file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The environment the injector gives a sidecar, for tests in `tests` and results in
/// `results` against `target`: tests add what they vary (timeouts, readiness URL).
pub fn sidecar_env(tests: &Path, results: &Path, target: String) -> Vec<(&'static str, String)> {
    vec![
        ("TESTCAR_TESTS_DIR", tests.display().to_string()),
        ("TESTCAR_RESULTS_DIR", results.display().to_string()),
        (
            "TESTCAR_AUTH_DIR",
            results.join("no-auth").display().to_string(),
        ),
        ("TESTCAR_TARGET", target),
        ("TESTCAR_POD_NAME", "orders-7c9f8d6b5-x2kqz".into()),
        ("TESTCAR_POD_NAMESPACE", "shop".into()),
    ]
}

/// Send SIGTERM to `child` and wait for its exit code (at most `limit`).
pub fn terminate_child(child: &mut Child, limit: Duration) -> i32 {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < limit,
            "no exit within {limit:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
