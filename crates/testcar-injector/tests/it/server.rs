//! The real `testcar-injector` binary over real TLS on 127.0.0.1, with certificates from a
//! test CA (rcgen): trusted clients succeed, plain HTTP and untrusted clients fail, the
//! certificate rotates (Kubernetes Secret style `..data` symlink swap) under concurrent load
//! with zero failed requests, SIGTERM lets an in-flight request finish, bad config refuses
//! to start naming the key, a record of a verified ReplicaSet swapped into `--verified-dir`
//! as the kubelet updates a ConfigMap volume is used without a restart.

use crate::common;

use std::fs::File;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_testcar-injector");
const REVIEW: &str = include_str!("../../test_data/deployment-pod.review.json");
const REVIEW_UID: &str = "7b2f4c1e-1a2b-4c3d-8e9f-0a1b2c3d4e01";

/// A test certificate authority.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A serving certificate for localhost / 127.0.0.1: (cert PEM, key PEM).
    fn issue(&self, cn: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// reqwest is built without a default crypto provider: use ring, like the injector.
fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A folder laid out like a Kubernetes Secret volume: `tls.crt` → `..data/tls.crt`,
/// `..data` → `..<timestamp>/`; `rotate` swaps `..data` atomically like the kubelet.
struct SecretDir {
    root: PathBuf,
    generation: u32,
}

impl SecretDir {
    fn new(root: &Path, cert: &str, key: &str) -> SecretDir {
        let mut d = SecretDir {
            root: root.to_path_buf(),
            generation: 0,
        };
        d.rotate(cert, key);
        std::os::unix::fs::symlink("..data/tls.crt", root.join("tls.crt")).unwrap();
        std::os::unix::fs::symlink("..data/tls.key", root.join("tls.key")).unwrap();
        d
    }

    fn rotate(&mut self, cert: &str, key: &str) {
        self.generation += 1;
        let old = std::fs::read_link(self.root.join("..data")).ok();
        let name = format!(
            "..2025_10_01_12_00_{:02}.{}",
            self.generation,
            100 + self.generation
        );
        let dir = self.root.join(&name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), cert).unwrap();
        std::fs::write(dir.join("tls.key"), key).unwrap();
        let tmp = self.root.join("..data_tmp");
        std::os::unix::fs::symlink(&name, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(self.root.join(old)).unwrap();
        }
    }

    fn cert(&self) -> PathBuf {
        self.root.join("tls.crt")
    }
    fn key(&self) -> PathBuf {
        self.root.join("tls.key")
    }
}

/// The running binary; killed on drop.
struct Injector {
    child: Child,
    tls_port: u16,
    ops_port: u16,
    log: PathBuf,
}

impl Injector {
    fn start(cert: &Path, key: &Path, dir: &Path, extra: &[&str]) -> Injector {
        let tls_port = free_port();
        let ops_port = free_port();
        let log = dir.join(format!("injector-{tls_port}.log"));
        let child = Command::new(BIN)
            .args(["--listen", &format!("127.0.0.1:{tls_port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{ops_port}")])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .args(["--log-format", "json"])
            .args(extra)
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Injector {
            child,
            tls_port,
            ops_port,
            log,
        }
    }

    /// Started with `args` and ready to admit.
    async fn ready(secret: &SecretDir, dir: &Path, args: &[&str]) -> Injector {
        let mut inj = Injector::start(&secret.cert(), &secret.key(), dir, args);
        inj.wait_ready().await;
        inj
    }

    async fn wait_ready(&mut self) {
        install_ring();
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("injector exited with {status}: {}", self.logs());
            }
            if let Ok(r) = client.get(self.ops_url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "injector not ready: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/mutate", self.tls_port)
    }

    fn ops_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ops_port)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn metrics(&self) -> String {
        reqwest::get(self.ops_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "injector did not exit: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new CA and a serving certificate from it, in `dir` as the kubelet mounts a Secret.
fn mk_pki(dir: &Path) -> (Ca, SecretDir) {
    let ca = Ca::new("testcar test CA");
    let (cert, key) = ca.issue("injector");
    let secret = SecretDir::new(dir, &cert, &key);
    (ca, secret)
}

fn client_config(ca_pem: &str) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

fn client(ca_pem: &str, keep_alive: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(ca_pem))
        .timeout(Duration::from_secs(10));
    if !keep_alive {
        b = b.pool_max_idle_per_host(0);
    }
    b.build().unwrap()
}

/// POST the fixture and check the answer is a real injection for it.
async fn admit(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(REVIEW)
        .send()
        .await
        .map_err(|e| format!("request: {e:?}"))?;
    if r.status() != 200 {
        return Err(format!("status {}", r.status()));
    }
    let v: Value = r.json().await.map_err(|e| format!("body: {e}"))?;
    if v["response"]["uid"] != REVIEW_UID || common::patch_of(&v).is_none() {
        return Err(format!("unexpected response {v}"));
    }
    Ok(())
}

/// The leaf certificate a fresh TLS connection is served.
async fn served_cert(port: u16, ca_pem: &str) -> Vec<u8> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem)));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_client_succeeds_plain_and_untrusted_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, secret) = mk_pki(tmp.path());
    let inj = Injector::ready(&secret, tmp.path(), &[]).await;

    admit(&client(&ca.pem, true), &inj.url()).await.unwrap();

    // TLS 1.2 only clients are served too
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let c12 = reqwest::Client::builder()
        .tls_backend_preconfigured(tls12)
        .build()
        .unwrap();
    admit(&c12, &inj.url()).await.unwrap();

    // plain HTTP to the TLS port gets no HTTP answer
    let plain = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/mutate", inj.tls_port))
        .body(REVIEW)
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");

    // a client that does not trust our CA refuses the server
    let other = Ca::new("some other CA");
    let untrusted = admit(&client(&other.pem, true), &inj.url()).await;
    assert!(untrusted.is_err(), "untrusted client succeeded");

    // the webhook listener serves only POST /mutate
    let c = client(&ca.pem, true);
    let r = c.get(inj.url()).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // the ops port is plain HTTP and reports what happened, with the agreed names
    assert_eq!(
        reqwest::get(inj.ops_url("/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let m = inj.metrics().await;
    assert!(
        m.contains(
            "testcar_injector_admissions_total{decision=\"injected\",reason=\"injected\"} 2"
        ),
        "{m}"
    );
    assert!(
        m.contains("testcar_injector_certificate_expiry_timestamp_seconds "),
        "{m}"
    );

    // one structured log line per decision
    let logs = inj.logs();
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "admission")
        .unwrap_or_else(|| panic!("no admission log line in {logs}"));
    assert_eq!(line["namespace"], "shop");
    assert_eq!(line["pod"], "orders-7d9f8b6c5d-*");
    assert_eq!(line["decision"], "injected");
    assert_eq!(line["reason"], "injected");
    assert_eq!(line["uid"], REVIEW_UID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_never_get_5xx() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, secret) = mk_pki(tmp.path());
    let inj = Injector::ready(&secret, tmp.path(), &[]).await;
    let c = client(&ca.pem, true);

    for body in [
        "",
        "not json",
        "{\"apiVersion\":\"admission.k8s.io/v1\"}",
        "[1,2,3]",
    ] {
        let r = c.post(inj.url()).body(body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{body:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["response"]["allowed"], false, "{body:?}: {v}");
        assert_eq!(v["response"]["status"]["reason"], "InvalidRequest");
    }
    // too big: refused with 413 before it is read, and the server stays up
    let big = vec![b' '; testcar_injector::server::MAX_BODY_BYTES + 1];
    let r = c.post(inj.url()).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    admit(&c, &inj.url()).await.unwrap();
    let m = inj.metrics().await;
    assert!(
        m.contains(
            "testcar_injector_admissions_total{decision=\"error\",reason=\"invalid-review\"} 4"
        ),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_under_load_loses_no_request() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("tls");
    std::fs::create_dir(&certs).unwrap();
    let ca = Ca::new("testcar test CA");
    let (cert, key) = ca.issue("injector-gen-0");
    let mut secret = SecretDir::new(&certs, &cert, &key);
    let inj = Injector::ready(&secret, tmp.path(), &[]).await;
    assert_eq!(served_cert(inj.tls_port, &ca.pem).await, der_of(&cert));

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for i in 0..6 {
        // half reuse connections (sessions outlive the old cert), half handshake every time
        let c = client(&ca.pem, i % 2 == 0);
        let (url, stop, ok, failures) = (inj.url(), stop.clone(), ok.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match admit(&c, &url).await {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        }));
    }

    for generation in 1..=3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (cert, key) = ca.issue(&format!("injector-gen-{generation}"));
        secret.rotate(&cert, &key);
        let deadline = Instant::now() + Duration::from_secs(15);
        let want = format!("testcar_injector_tls_reloads_total{{result=\"ok\"}} {generation}");
        while !inj.metrics().await.contains(&want) {
            assert!(
                Instant::now() < deadline,
                "no reload {generation}: {}",
                inj.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            served_cert(inj.tls_port, &ca.pem).await,
            der_of(&cert),
            "new handshakes get the new certificate"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let done = ok.load(Ordering::Relaxed);
    assert!(done >= 50, "too little load to mean anything: {done}");
    // the error series exists from the start at 0; no rotation may have moved it
    assert!(
        inj.metrics()
            .await
            .contains("testcar_injector_tls_reloads_total{result=\"error\"} 0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, secret) = mk_pki(tmp.path());
    // No drain: the listener closes at SIGTERM (the drain has its own test below).
    let mut inj = Injector::ready(&secret, tmp.path(), &["--drain-delay", "0s"]).await;

    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&ca.pem)));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", inj.tls_port))
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let body = REVIEW.as_bytes();
    let head = format!(
        "POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body[..body.len() / 2]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    inj.terminate();
    // shutting down: not ready any more, new connections refused, but still finishing
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = reqwest::get(inj.ops_url("/readyz")).await.unwrap();
        if r.status() == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "readyz still 200 after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        admit(&client(&ca.pem, false), &inj.url()).await.is_err(),
        "a new connection was accepted after SIGTERM"
    );

    tls.write_all(&body[body.len() / 2..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response))
        .await
        .expect("response in time")
        .ok();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(REVIEW_UID), "{text}");

    let status = inj.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", inj.logs());
}

/// After SIGTERM the pod reports not-ready on both ports at once but keeps answering new
/// reviews for the drain delay: the API server may still route to it until endpoint updates
/// reach it, and a closed port there means a pod created without the sidecar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_answering_reviews_while_draining_then_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, secret) = mk_pki(tmp.path());

    // A long drain, so that the checks below run inside it however loaded the machine is.
    let mut inj = Injector::ready(&secret, tmp.path(), &["--drain-delay", "60s"]).await;
    let tls_client = client(&ca.pem, false);
    let tls_readyz = format!("https://localhost:{}/readyz", inj.tls_port);
    assert_eq!(
        tls_client.get(&tls_readyz).send().await.unwrap().status(),
        200
    );
    inj.terminate();
    let deadline = Instant::now() + Duration::from_secs(10);
    while reqwest::get(inj.ops_url("/readyz")).await.unwrap().status() != 503 {
        assert!(Instant::now() < deadline, "readyz still 200 after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        tls_client.get(&tls_readyz).send().await.unwrap().status(),
        503,
        "the TLS port's /readyz is not 503 while draining"
    );
    for _ in 0..3 {
        admit(&tls_client, &inj.url())
            .await
            .expect("a new review while draining is answered");
    }
    assert!(inj.logs().contains("draining"), "{}", inj.logs());
    assert!(
        inj.child.try_wait().unwrap().is_none(),
        "exited during the drain"
    );
    drop(inj);

    // A short drain ends with the listener closed and exit 0.
    let mut inj = Injector::ready(&secret, tmp.path(), &["--drain-delay", "1s"]).await;
    inj.terminate();
    let status = inj.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", inj.logs());
    assert!(admit(&tls_client, &inj.url()).await.is_err());
}

#[test]
fn check_config_and_startup_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.yaml");
    std::fs::write(
        &good,
        "agent:\n  image: ghcr.io/acme/agent:1\n  nativeSidecar: true\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "agent:\n  image: ghcr.io/acme/agent:1\n  nativeSidecars: true\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:3:") && err.contains("nativeSidecars"),
        "{err}"
    );

    // the server refuses to start on the same file
    let (_, secret) = mk_pki(tmp.path());
    let out = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--tls-cert")
        .arg(secret.cert())
        .arg("--tls-key")
        .arg(secret.key())
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nativeSidecars"));

    // an unusable key: named, and its content never printed
    let key_file = tmp.path().join("broken.key");
    let secret_material = "c2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtcHJpbnQ=";
    std::fs::write(
        &key_file,
        format!("-----BEGIN PRIVATE KEY-----\n{secret_material}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--tls-cert")
        .arg(secret.cert())
        .arg("--tls-key")
        .arg(&key_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.key"), "{err}");
    assert!(!err.contains(secret_material), "key material leaked: {err}");
}

/// A TLS connection to the injector.
async fn tls_connect(
    port: u16,
    ca_pem: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem)));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Slow loris: request headers a byte at a time, forever; reconnect when the server closes.
async fn slow_loris(port: u16, ca_pem: String, stop: Arc<AtomicBool>, closed: Arc<AtomicU64>) {
    let head =
        b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Slow: ";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tls) = tls_connect(port, &ca_pem).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let byte = head.get(i).copied().unwrap_or(b'a');
            if tls.write_all(&[byte]).await.is_err() || tls.flush().await.is_err() {
                closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Oversized bodies: chunked (no length to refuse up front), streamed until the server
/// stops reading, again and again.
async fn body_flood(port: u16, ca_pem: String, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let chunk = vec![b' '; 1 << 20];
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tls) = tls_connect(port, &ca_pem).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let head = b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        if tls.write_all(head).await.is_err() {
            continue;
        }
        // 64 MiB at most per request: four times the limit.
        for _ in 0..64 {
            if stop.load(Ordering::Relaxed) || tls.write_all(&framed).await.is_err() {
                break;
            }
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Slow-loris connections and a flood of oversized bodies do not starve real reviews: each
/// is answered well within the API server's webhook timeout (5 s in our chart), and the
/// header-read timeout closes the slow connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_and_body_flood_do_not_starve_real_reviews() {
    const LORIS: usize = 200;
    const FLOODERS: usize = 4;
    const REVIEWS: usize = 40;
    let tmp = tempfile::tempdir().unwrap();
    let (ca, secret) = mk_pki(tmp.path());
    let mut inj = Injector::ready(&secret, tmp.path(), &["--header-read-timeout", "3s"]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let flooded = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    for _ in 0..LORIS {
        attackers.push(tokio::spawn(slow_loris(
            inj.tls_port,
            ca.pem.clone(),
            stop.clone(),
            closed.clone(),
        )));
    }
    for _ in 0..FLOODERS {
        attackers.push(tokio::spawn(body_flood(
            inj.tls_port,
            ca.pem.clone(),
            stop.clone(),
            flooded.clone(),
        )));
    }
    // let the attack build up
    tokio::time::sleep(Duration::from_secs(2)).await;

    // real reviews, each on a fresh connection (a new TLS handshake, like a cold API server)
    let c = client(&ca.pem, false);
    let mut took = Vec::new();
    for _ in 0..REVIEWS {
        let started = Instant::now();
        admit(&c, &inj.url()).await.unwrap();
        took.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the header-read timeout (3 s) has closed slow connections by now
    let deadline = Instant::now() + Duration::from_secs(30);
    while closed.load(Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "no slow connection was closed: {}",
            inj.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.abort();
    }

    took.sort();
    let p50 = took[took.len() / 2];
    let max = *took.last().unwrap();
    eprintln!(
        "under {LORIS} slow-loris connections and {FLOODERS} oversized-body flooders \
         ({} MiB sent, {} slow connections closed by the server): {REVIEWS} reviews, \
         p50 {p50:?}, max {max:?}",
        flooded.load(Ordering::Relaxed) >> 20,
        closed.load(Ordering::Relaxed),
    );
    // Generous: the point is that reviews are not starved, not how fast they are.
    assert!(
        max < Duration::from_secs(5),
        "a review took {max:?} under attack (p50 {p50:?})"
    );
    assert!(inj.child.try_wait().unwrap().is_none(), "the injector died");
}

/// `--verified-dir` as the kubelet lays out a ConfigMap volume (`..data` symlink swapped when
/// the ConfigMap changes): before the gate's record arrives the ReplicaSet's pod is injected;
/// once the folder is swapped to hold it, the running injector leaves the next pod of that
/// ReplicaSet alone (no restart), marks it and counts the reason.
#[tokio::test]
async fn a_record_the_kubelet_brings_in_makes_the_next_pod_a_scale_out() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new("testcar test CA");
    let (cert, key) = ca.issue("injector");
    let tls = tmp.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    let secret = SecretDir::new(&tls, &cert, &key);
    let verified = tmp.path().join("verified");
    std::fs::create_dir(&verified).unwrap();
    // The ConfigMap exists, empty: the kubelet's `..data` folder and no key.
    std::fs::create_dir(verified.join("..2025_10_01_12_00_00.1")).unwrap();
    std::os::unix::fs::symlink("..2025_10_01_12_00_00.1", verified.join("..data")).unwrap();
    let inj = Injector::ready(
        &secret,
        tmp.path(),
        &["--verified-dir", verified.to_str().unwrap()],
    )
    .await;
    let http = client(&ca.pem, true);
    let review = |http: reqwest::Client, url: String| async move {
        let answer: Value = http
            .post(url)
            .header("content-type", "application/json")
            .body(REVIEW)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        common::patch_of(&answer).expect("a patch")
    };
    let patch = review(http.clone(), inj.url()).await.to_string();
    assert!(patch.contains("\"injected\""), "{patch}");

    // The gate records the ReplicaSet; the kubelet swaps the folder in.
    let next = verified.join("..2025_10_01_12_01_00.2");
    std::fs::create_dir(&next).unwrap();
    std::fs::write(next.join("shop.orders"), "orders-7d9f8b6c5d").unwrap();
    std::os::unix::fs::symlink("..2025_10_01_12_01_00.2", verified.join("..data_tmp")).unwrap();
    std::fs::rename(verified.join("..data_tmp"), verified.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/shop.orders", verified.join("shop.orders")).unwrap();

    let patch = review(http, inj.url()).await;
    assert_eq!(
        patch,
        serde_json::json!([
            {"op": "add", "path": "/metadata/annotations/testcar.io~1status", "value": "skipped-scale-out"},
            {"op": "add", "path": "/metadata/annotations/testcar.io~1injector-version", "value": env!("CARGO_PKG_VERSION")}
        ])
    );
    let metrics = inj.metrics().await;
    assert!(
        metrics.contains(
            "testcar_injector_admissions_total{decision=\"skipped\",reason=\"scale-out-verified\"} 1"
        ),
        "{metrics}"
    );
    assert!(inj.logs().contains("scale-out-verified"), "{}", inj.logs());
}
