//! Test harness shared by the integration tests: locating real tools (failing when
//! `TESTCAR_REQUIRE_TOOLS=1`), free loopback ports, child processes killed on drop, a
//! tracing capture for redaction checks, and a runner-like `send` that retries once on 401.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use testcar_auth::{RequestAuth, RequestParts};

/// Where npm tools live (`$TESTCAR_TOOLS`, default `<repo>/.tools`).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("TESTCAR_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools"))
}

/// A tool is missing: fail under `TESTCAR_REQUIRE_TOOLS=1`, otherwise say why we skip.
pub fn missing(what: &str) -> bool {
    if std::env::var("TESTCAR_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{what} is missing and TESTCAR_REQUIRE_TOOLS=1 (run `make setup`)");
    }
    eprintln!("skipped: {what} is missing (run `make setup`)");
    true
}

/// Find an executable on PATH or in the usual sbin folders.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until something accepts TCP connections on the port.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The real OAuth2 server (npm `oidc-provider`, tests/oauth-server/server.mjs).
#[derive(Debug)]
pub struct OidcServer {
    pub port: u16,
    _child: ChildGuard,
}

impl OidcServer {
    /// Start it with these clients and token lifetime; `None` when the tool is missing
    /// (and skipping is allowed).
    pub fn start(ttl_secs: u64, clients: serde_json::Value) -> Option<OidcServer> {
        let node = which("node");
        let module = tools_dir().join("node_modules/oidc-provider/lib/index.js");
        if node.is_none() || !module.is_file() {
            missing("node + npm oidc-provider (scripts/setup.d/51-oidc-provider.sh)");
            return None;
        }
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth-server/server.mjs");
        let mut child = Command::new(node.unwrap())
            .arg(script)
            .env("PORT", port.to_string())
            .env("TOKEN_TTL", ttl_secs.to_string())
            .env("CLIENTS", clients.to_string())
            .env("TESTCAR_TOOLS", tools_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().unwrap();
        let guard = ChildGuard(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert!(
            line.starts_with("ready "),
            "oidc-provider did not start: {line:?}"
        );
        Some(OidcServer {
            port,
            _child: guard,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Everything the `tracing` macros emitted in this test binary (a global subscriber
/// writing into memory), for redaction scans.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct BufWriter;

impl std::io::Write for BufWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Install the capturing subscriber (once per test binary), at debug level.
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(|| BufWriter)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(sub).expect("one global subscriber");
    });
}

/// Fail when any secret appears in any of the captured texts.
pub fn assert_no_secrets(texts: &[(&str, &str)], secrets: &[&str]) {
    for (what, text) in texts {
        for s in secrets {
            assert!(!s.is_empty());
            assert!(
                !text.contains(s),
                "a secret value leaked into {what}: {text}"
            );
        }
    }
}

/// A runner's use of [`RequestAuth`]: add headers, send, and on 401 refresh and retry once.
pub async fn send(
    client: &reqwest::Client,
    auth: &dyn RequestAuth,
    method: &str,
    url: &str,
    body: &[u8],
) -> (u16, String) {
    let mut retried = false;
    loop {
        let headers = auth
            .headers(RequestParts { method, url, body })
            .await
            .expect("headers");
        let mut req = client
            .request(method.parse().unwrap(), url)
            .body(body.to_vec());
        for (n, v) in headers {
            req = req.header(n, v);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if status == 401 && !retried && auth.refresh().await.expect("refresh") {
            retried = true;
            continue;
        }
        return (status, text);
    }
}

/// A plain HTTP client (the service and token endpoints in tests are on loopback).
pub fn http_client(tls: Option<&testcar_auth::ClientTls>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(testcar_auth::mtls::client_config(tls).unwrap())
        .build()
        .unwrap()
}

/// Write `content` to `dir/name`.
pub fn put(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}
