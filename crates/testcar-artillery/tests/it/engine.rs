//! Engine behaviour beyond the corpus: rejected scripts (real-world shapes needing JavaScript,
//! other engines or plugins) name file:line:column, the key and the `exec` fallback,
//! cancellation keeps a partial report, an unreachable target is an error, credentials are
//! applied and refreshed once on 401, maxVusers skips arrivals, the report file is written,
//! a VU keeps one connection alive while each VU opens its own, and an idle connection the
//! server closed is reopened without an error.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use testcar_artillery::parse_script as parse;
use testcar_artillery::{LoadOptions, RunOptions, compat_server, run_script};
use testcar_auth::{AuthError, ClientTls, RequestAuth, RequestParts};
use testcar_contract::Status;
use tokio_util::sync::CancellationToken;

fn mk_script(yaml: &str, target: &str) -> testcar_artillery::Script {
    let opts = LoadOptions {
        target: Some(target.to_string()),
        ..Default::default()
    };
    parse(yaml, Path::new("inline.yml"), &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Load `yaml` against `target` and run it to the end.
async fn run_yaml(yaml: &str, target: &str) -> testcar_artillery::Outcome {
    run_script(mk_script(yaml, target), RunOptions::default()).await
}

fn load_err(yaml: &str) -> String {
    parse(yaml, Path::new("bad.yml"), &LoadOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn unsupported_features_are_rejected_with_position_key_and_advice() {
    let err = load_err(include_str!("../../test_data/rejected.yml"));
    assert_eq!(err.split(": ").next(), Some("bad.yml:3:3"), "{err}");
    assert!(
        err.contains("config.processor") && err.contains("exec"),
        "{err}"
    );

    let cases = [
        (
            "config:\n  target: http://x\nscenarios:\n  - flow:\n      - function: setUp\n",
            "bad.yml:5:9: scenarios[0].flow[0].function:",
        ),
        (
            "config:\n  target: http://x\nscenarios:\n  - flow:\n      - get:\n          url: /\n          capture:\n            - xpath: //a\n              as: a\n",
            "bad.yml:8:15: scenarios[0].flow[0].get.capture[0].xpath:",
        ),
        (
            "config:\n  target: http://x\nscenarios:\n  - flow:\n      - loop:\n          - get: {url: /}\n        whileTrue: more\n",
            "bad.yml:7:9: scenarios[0].flow[0].whileTrue:",
        ),
        (
            "config:\n  target: http://x\n  plugins:\n    fuzzer: {}\nscenarios:\n  - flow: []\n",
            "bad.yml:4:5: config.plugins.fuzzer:",
        ),
        (
            "config:\n  target: http://x\nscenarios:\n  - engine: playwright\n    flow: []\n",
            "bad.yml:4:5: scenarios[0].engine:",
        ),
        (
            "config:\n  target: http://x\nscenarios:\n  - flow:\n      - get:\n          url: /\n          beforeRequest: sign\n",
            "bad.yml:7:11: scenarios[0].flow[0].get.beforeRequest:",
        ),
    ];
    for (yaml, prefix) in cases {
        let err = load_err(yaml);
        assert!(err.starts_with(prefix), "expected {prefix:?}, got {err:?}");
        assert!(err.contains("exec"), "{err}");
    }
}

/// Real-world shapes of scripts that need real Artillery: each is rejected at the key that
/// needs it, with its position and the advice to run real Artillery in an `exec` suite.
#[test]
fn real_world_scripts_needing_javascript_or_other_engines_are_rejected() {
    let cases = [
        (
            include_str!("../../test_data/rejected-function.yml"),
            "bad.yml:9:9: scenarios[0].flow[0].function: `function` steps",
        ),
        (
            include_str!("../../test_data/rejected-before-request.yml"),
            "bad.yml:8:5: scenarios[0].beforeRequest: `beforeRequest`",
        ),
        (
            include_str!("../../test_data/rejected-after-response.yml"),
            "bad.yml:11:11: scenarios[0].flow[0].get.afterResponse: `afterResponse`",
        ),
        (
            include_str!("../../test_data/rejected-while-true.yml"),
            "bad.yml:13:9: scenarios[0].flow[0].whileTrue: `whileTrue`",
        ),
        (
            include_str!("../../test_data/rejected-ws.yml"),
            "bad.yml:10:19: scenarios[0].flow[0].connect.function: `connect.function`",
        ),
        (
            include_str!("../../test_data/rejected-socketio.yml"),
            "bad.yml:8:5: scenarios[0].engine: the `socketio` engine",
        ),
        (
            include_str!("../../test_data/rejected-playwright.yml"),
            "bad.yml:6:3: config.engines: other engines",
        ),
        (
            include_str!("../../test_data/rejected-plugin.yml"),
            "bad.yml:8:5: config.plugins.fake-data: plugin `fake-data`",
        ),
        (
            include_str!("../../test_data/rejected-xpath.yml"),
            "bad.yml:8:15: scenarios[0].flow[0].get.capture[0].xpath: xpath captures",
        ),
        (
            include_str!("../../test_data/rejected-selector.yml"),
            "bad.yml:8:15: scenarios[0].flow[0].get.capture[0].selector: selector (HTML) captures",
        ),
    ];
    for (yaml, prefix) in cases {
        let err = load_err(yaml);
        assert!(err.starts_with(prefix), "expected {prefix:?}, got {err:?}");
        assert!(
            err.ends_with(testcar_artillery::FALLBACK_ADVICE),
            "no fallback advice in {err:?}"
        );
    }
    // A scenario that is plain HTTP after all is not rejected for saying so.
    let ok = "config:\n  target: http://x\nscenarios:\n  - engine: http\n    flow:\n      - get: {url: /}\n";
    parse(ok, Path::new("ok.yml"), &LoadOptions::default()).unwrap();
}

#[test]
fn typos_and_bad_values_name_the_key_and_what_was_expected() {
    let err = load_err(
        "config:\n  target: http://x\n  phases:\n    - duration: 10\n      arivalRate: 5\nscenarios:\n  - flow: []\n",
    );
    assert!(
        err.starts_with("bad.yml:5:7: config.phases[0].arivalRate: unknown key; expected one of:"),
        "{err}"
    );
    let err = load_err(
        "config:\n  target: http://x\n  phases:\n    - duration: soon\n      arrivalRate: 5\nscenarios:\n  - flow: []\n",
    );
    assert!(
        err.starts_with("bad.yml:4:17: config.phases[0].duration:"),
        "{err}"
    );
    let err = load_err("config:\n  phases: []\nscenarios:\n  - flow: []\n");
    assert!(err.contains("config.target: missing"), "{err}");
    let err = load_err(
        "config:\n  target: http://x\nscenarios:\n  - flow:\n      - get:\n          url: /\n          expect:\n            - statusCode: 200\n",
    );
    assert!(err.contains("expect plugin"), "{err}");
    let err = load_err("config: [\n");
    assert!(err.starts_with("bad.yml:"), "{err}");
    let err = load_err(
        "config:\n  target: http://x\n  ensure:\n    conditions:\n      - expression: \"a <\"\nscenarios:\n  - flow: []\n",
    );
    assert!(
        err.starts_with("bad.yml:5:21: config.ensure.conditions[0].expression:"),
        "{err}"
    );
    let err = load_err(
        "config:\n  target: http://x\nscenarios:\n  - flow:\n      - get:\n          url: /\n          match:\n            json: $.id\n",
    );
    assert!(
        err.starts_with("bad.yml:8:17: scenarios[0].flow[0].get.match[0].value: missing"),
        "{err}"
    );
    let err = load_err(
        "config:\n  target: http://x\nscenarios:\n  - flow:\n      - post:\n          url: /\n          formData:\n            doc:\n              fromFile: no-such-file.pdf\n",
    );
    assert!(
        err.starts_with(
            "bad.yml:9:25: scenarios[0].flow[0].post.formData.doc.fromFile: cannot read"
        ),
        "{err}"
    );
    // Plugins that only report elsewhere are not run, and do not stop the script.
    mk_script(
        "config:\n  target: http://x\n  plugins:\n    publish-metrics:\n      - type: datadog\n        apiKey: \"{{ $env.DD_API_KEY }}\"\n    slack:\n      webhook: https://hooks.example/x\nscenarios:\n  - flow: []\n",
        "http://x",
    );
    // Artillery's own validation refuses a key beside `parallel`.
    let err = load_err(
        "config:\n  target: http://x\nscenarios:\n  - flow:\n      - parallel:\n          - get: {url: /a}\n        limit: 2\n",
    );
    assert!(
        err.starts_with("bad.yml:7:9: scenarios[0].flow[0].limit: unexpected key next to parallel"),
        "{err}"
    );
    let err =
        load_err("config:\n  target: http://x\n  http:\n    pool: 0\nscenarios:\n  - flow: []\n");
    assert!(
        err.starts_with("bad.yml:4:11: config.http.pool: expected a whole number of connections"),
        "{err}"
    );
    let err = load_err(
        "config:\n  target: http://x\n  plugins:\n    apdex:\n      threshold: 0\nscenarios:\n  - flow: []\n",
    );
    assert!(
        err.starts_with("bad.yml:5:18: config.plugins.apdex.threshold: expected a positive number"),
        "{err}"
    );
    let err = load_err(
        "config:\n  target: http://x\n  plugins:\n    apdex:\n      treshold: 200\nscenarios:\n  - flow: []\n",
    );
    assert!(
        err.starts_with("bad.yml:5:7: config.plugins.apdex.treshold: unknown key"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_target_is_an_error_with_the_error_codes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let out = run_yaml(
        "config:\n  target: http://x\n  phases:\n    - duration: 1\n      arrivalCount: 2\nscenarios:\n  - flow:\n      - get: {url: /}\n",
        &format!("http://{addr}"),
    ).await;
    assert_eq!(out.suite.status, Status::Error);
    assert!(
        out.suite.error.as_deref().unwrap().contains("ECONNREFUSED"),
        "{:?}",
        out.suite.error
    );
    assert_eq!(
        out.report["aggregate"]["counters"]["errors.ECONNREFUSED"],
        2
    );
    assert_eq!(out.report["aggregate"]["counters"]["vusers.failed"], 2);
}

#[tokio::test]
async fn cancel_keeps_a_partial_report_and_is_an_error() {
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let script = mk_script(
        "config:\n  target: http://x\n  phases:\n    - duration: 60\n      arrivalRate: 20\nscenarios:\n  - flow:\n      - get: {url: /}\n",
        &format!("http://{addr}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c2.cancel();
    });
    let opts = RunOptions {
        cancel,
        report_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let out = tokio::time::timeout(Duration::from_secs(10), run_script(script, opts))
        .await
        .expect("stops promptly");
    assert_eq!(out.suite.status, Status::Error);
    assert!(out.suite.error.as_deref().unwrap().contains("cancelled"));
    let requests = out.report["aggregate"]["counters"]["http.requests"]
        .as_u64()
        .unwrap();
    assert!((10..=40).contains(&requests), "{requests}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(
        written["aggregate"]["counters"]["http.requests"].as_u64(),
        Some(requests)
    );
    assert!(
        written["intermediate"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert_eq!(out.suite.reports[0].kind, "artillery-report");
    stop.cancel();
}

#[tokio::test]
async fn max_vusers_skips_arrivals() {
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let out = run_yaml(
        "config:\n  target: http://x\n  phases:\n    - duration: 1\n      arrivalRate: 10\n      maxVusers: 2\nscenarios:\n  - flow:\n      - get: {url: \"/slow?ms=700\"}\n",
        &format!("http://{addr}"),
    ).await;
    let m = out.suite.metrics.unwrap();
    assert_eq!(m.vusers.created + m.vusers.skipped, 10);
    assert!(m.vusers.skipped >= 6, "{:?}", m.vusers);
    assert!(m.vusers.created >= 2);
    // The intended-start latency includes nothing the VU did not wait for: it is at least
    // the server's delay, like the measured one.
    assert!(m.response_time_intended.unwrap().min >= 700.0);
    stop.cancel();
}

/// Credentials that hand out a stale token until refreshed (also used by the ws tests).
#[derive(Debug, Default)]
pub(crate) struct RotatingToken {
    pub(crate) fresh: AtomicBool,
    pub(crate) refreshes: AtomicUsize,
}

impl RequestAuth for RotatingToken {
    fn headers<'a>(
        &'a self,
        _req: RequestParts<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
        let token = if self.fresh.load(Ordering::SeqCst) {
            "fresh"
        } else {
            "stale"
        };
        Box::pin(async move {
            Ok(vec![(
                "authorization".to_string(),
                format!("Bearer {token}"),
            )])
        })
    }
    fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        self.fresh.store(true, Ordering::SeqCst);
        Box::pin(async { Ok(true) })
    }
    fn client_tls(&self) -> Option<&ClientTls> {
        None
    }
}

#[tokio::test]
async fn credentials_are_applied_and_refreshed_once_on_401() {
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let script = mk_script(
        "config:\n  target: http://x\n  plugins:\n    expect: {}\nscenarios:\n  - flow:\n      - get:\n          url: /auth/bearer\n          expect:\n            - statusCode: 200\n",
        &format!("http://{addr}"),
    );
    let auth = Arc::new(RotatingToken::default());
    let out = run_script(
        script,
        RunOptions {
            auth: Some(auth.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(out.suite.status, Status::Passed, "{:#?}", out.suite);
    assert_eq!(auth.refreshes.load(Ordering::SeqCst), 1);
    let c = &out.report["aggregate"]["counters"];
    assert_eq!(
        (c["http.codes.401"].as_u64(), c["http.codes.200"].as_u64()),
        (Some(1), Some(1))
    );
    // The token never reaches the result or the report.
    let all = format!(
        "{}{}",
        serde_json::to_string(&out.suite).unwrap(),
        out.report
    );
    assert!(!all.contains("fresh") && !all.contains("stale"));
    stop.cancel();
}

#[tokio::test]
async fn redirects_are_followed_unless_disabled() {
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let out = run_yaml(
        "config:\n  target: http://x\nscenarios:\n  - flow:\n      - get: {url: /redirect}\n      - get: {url: /redirect, followRedirect: false}\n",
        &format!("http://{addr}"),
    ).await;
    let c = &out.report["aggregate"]["counters"];
    assert_eq!(c["http.codes.302"], 2);
    assert_eq!(c["http.codes.200"], 1);
    stop.cancel();
}

/// A raw HTTP/1.1 server that counts connections; with `idle_close` it closes a connection
/// that stays idle for 100 ms after a response, like servers with short keep-alive timeouts.
async fn spawn_counting_server(idle_close: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    spawn_server(idle_close, None).await
}

/// A server answering every GET with `200 ok` over kept-alive connections (over TLS when an
/// acceptor is given), counting the connections it accepted.
async fn spawn_server(
    idle_close: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(stream).await {
                            answer_ok(s, idle_close).await
                        }
                    }
                    None => answer_ok(stream, idle_close).await,
                }
            });
        }
    });
    (addr, accepted)
}

async fn answer_ok<S>(stream: S, idle_close: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = BufReader::new(stream);
    let mut first = true;
    loop {
        // Read one request head (the tests send GETs without a body).
        let mut line = String::new();
        let read = stream.read_line(&mut line);
        let n = if idle_close && !first {
            match tokio::time::timeout(Duration::from_millis(100), read).await {
                Ok(r) => r,
                Err(_) => return,
            }
        } else {
            read.await
        };
        if !matches!(n, Ok(n) if n > 0) {
            return;
        }
        loop {
            line.clear();
            match stream.read_line(&mut line).await {
                Ok(n) if n > 0 && line != "\r\n" => {}
                _ => break,
            }
        }
        first = false;
        let res = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";
        if stream.get_mut().write_all(res).await.is_err() {
            return;
        }
        let _ = stream.get_mut().flush().await;
    }
}

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1.
pub(crate) fn mk_tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn summary_count(report: &serde_json::Value, name: &str) -> Option<u64> {
    report["aggregate"]["summaries"][name]["count"].as_u64()
}

#[tokio::test]
async fn extended_metrics_time_each_connection_phase_and_the_whole_exchange() {
    // Two VUs over HTTPS, three requests each: one connection (DNS, TCP, TLS) per VU, then
    // two reuses with no set-up.
    let (addr, accepted) = spawn_server(false, Some(mk_tls_acceptor())).await;
    let out = run_yaml(
        "config:\n  target: http://x\n  tls:\n    rejectUnauthorized: false\n  http:\n    extendedMetrics: true\n  phases:\n    - duration: 1\n      arrivalCount: 2\nscenarios:\n  - flow:\n      - loop:\n          - get: {url: /}\n        count: 3\n",
        &format!("https://{addr}"),
    ).await;
    assert_eq!(out.suite.status, Status::Passed);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    let r = &out.report;
    assert_eq!(r["aggregate"]["counters"]["http.codes.200"], 6, "{r}");
    for name in ["http.dns", "http.tcp", "http.total"] {
        assert_eq!(summary_count(r, name), Some(6), "{name}: {r}");
    }
    assert_eq!(
        summary_count(r, "http.tls"),
        Some(2),
        "one handshake per VU: {r}"
    );
    let s = &r["aggregate"]["summaries"];
    assert!(s["http.tls"]["max"].as_f64().unwrap() > 0.0, "{s}");
    // The whole exchange is never shorter than the time to first byte.
    assert!(
        s["http.total"]["max"].as_f64().unwrap()
            >= s["http.response_time"]["max"].as_f64().unwrap(),
        "{s}"
    );

    // Without the option none of them is reported.
    let (addr, _) = spawn_server(false, Some(mk_tls_acceptor())).await;
    let out = run_yaml(
        "config:\n  target: http://x\n  tls:\n    rejectUnauthorized: false\nscenarios:\n  - flow:\n      - get: {url: /}\n",
        &format!("https://{addr}"),
    ).await;
    assert_eq!(out.report["aggregate"]["counters"]["http.codes.200"], 1);
    for name in ["http.dns", "http.tcp", "http.tls", "http.total"] {
        assert_eq!(summary_count(&out.report, name), None, "{name}");
    }
}

#[tokio::test]
async fn a_vu_keeps_its_connection_alive_and_each_vu_opens_its_own() {
    let (addr, accepted) = spawn_counting_server(false).await;
    let out = run_yaml(
        "config:\n  target: http://x\n  phases:\n    - duration: 1\n      arrivalCount: 3\nscenarios:\n  - flow:\n      - loop:\n          - get: {url: /}\n        count: 4\n",
        &format!("http://{addr}"),
    ).await;
    let c = &out.report["aggregate"]["counters"];
    assert_eq!(c["http.codes.200"], 12, "{c}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    assert_eq!(out.suite.status, Status::Passed);
}

#[tokio::test]
async fn config_templates_from_the_environment_are_rendered_at_load() {
    // Cargo sets CARGO_PKG_* for the test process as well as at compile time.
    let vus: u64 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    let (addr, _) = spawn_counting_server(false).await;
    let out = run_yaml(
        "config:\n  target: http://x\n  phases:\n    - duration: \"{{ $env.CARGO_PKG_VERSION_MAJOR }}1\"\n      arrivalCount: \"{{ $env.CARGO_PKG_VERSION_MINOR }}\"\nscenarios:\n  - flow:\n      - get: {url: /}\n",
        &format!("http://{addr}"),
    ).await;
    let c = &out.report["aggregate"]["counters"];
    assert_eq!(c["vusers.created"].as_u64().unwrap_or(0), vus, "{c}");

    let err = load_err(
        "config:\n  target: http://x\n  phases:\n    - duration: 1\n      arrivalRate: \"{{ $env.TESTCAR_TEST_UNSET_RATE }}\"\nscenarios:\n  - flow: []\n",
    );
    assert_eq!(
        err,
        "bad.yml:5:20: config.phases[0].arrivalRate: \"{{ $env.TESTCAR_TEST_UNSET_RATE }}\" needs the environment variable TESTCAR_TEST_UNSET_RATE, which is not set"
    );
}

#[tokio::test]
async fn expectations_enabled_in_one_environment_are_checked_only_there() {
    let yaml =
        include_str!("../../../../tests/artillery-compat/corpus/expect-only-in-environment.yml");
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let mut statuses = Vec::new();
    for environment in [None, Some("functional")] {
        let opts = LoadOptions {
            target: Some(format!("http://{addr}")),
            environment: environment.map(str::to_string),
            ..Default::default()
        };
        let script = parse(yaml, Path::new("env.yml"), &opts).unwrap();
        let out = run_script(script, RunOptions::default()).await;
        let c = &out.report["aggregate"]["counters"];
        assert_eq!(c["http.codes.200"], 2, "{c}");
        statuses.push((out.suite.status, c.get("plugins.expect.failed").cloned()));
    }
    stop.cancel();
    assert_eq!(statuses[0], (Status::Passed, None));
    assert_eq!(statuses[1], (Status::Failed, Some(serde_json::json!(2))));
    // With no environment enabling the plugin, the expectations are a mistake to report.
    let err = load_err(
        &yaml
            .replace("      plugins:\n        expect: {}\n", "      phases: []\n")
            .replace("{{ $env.COMPAT_PORT }}", "8080"),
    );
    assert!(err.contains("expectations need the expect plugin"), "{err}");
}

#[test]
fn think_jitter_from_the_defaults_varies_think_times_like_artillery() {
    use testcar_artillery::Jitter;
    let base = "config:\n  target: http://x\n  defaults:\n    think:\n      jitter: \"10%\"\nscenarios:\n  - flow:\n      - think: 2\n";
    assert_eq!(
        mk_script(base, "http://x").config.think_jitter,
        Some(Jitter::Percent(10.0))
    );
    // http.defaults.think replaces defaults.think whole, as in Artillery.
    let both = base.replace(
        "scenarios:",
        "  http:\n    defaults:\n      think:\n        jitter: 500\nscenarios:",
    );
    assert_eq!(
        mk_script(&both, "http://x").config.think_jitter,
        Some(Jitter::Millis(500.0))
    );
    // Whichever block comes first: http.defaults.headers replaces defaults.headers only,
    // and defaults.think still applies.
    let http_first = "config:\n  target: http://x\n  http:\n    defaults:\n      headers:\n        x-from: http\n  defaults:\n    headers:\n      x-from: top\n      x-top: only\n    think:\n      jitter: 250\nscenarios:\n  - flow:\n      - think: 2\n";
    let c = mk_script(http_first, "http://x").config;
    assert_eq!(c.think_jitter, Some(Jitter::Millis(250.0)));
    let headers: Vec<(&str, &str)> = c
        .headers
        .iter()
        .map(|(n, t)| (n.as_str(), t.raw()))
        .collect();
    assert_eq!(headers, [("x-from", "http")]);
    let err = load_err(&base.replace("\"10%\"", "lots"));
    assert!(
        err.starts_with("bad.yml:5:15: config.defaults.think.jitter: expected milliseconds"),
        "{err}"
    );
    // Uniform within the jitter, never below zero.
    let two = Duration::from_secs(2);
    assert_eq!(
        Jitter::Percent(10.0).apply(two, 0.0),
        Duration::from_millis(1800)
    );
    assert_eq!(
        Jitter::Percent(10.0).apply(two, 1.0),
        Duration::from_millis(2200)
    );
    assert_eq!(Jitter::Millis(500.0).apply(two, 0.5), two);
    assert_eq!(Jitter::Millis(5000.0).apply(two, 0.0), Duration::ZERO);
}

#[tokio::test]
async fn http_pool_shares_its_connections_among_all_vus() {
    let (addr, accepted) = spawn_counting_server(false).await;
    let out = run_yaml(
        "config:\n  target: http://x\n  http:\n    pool: 2\n  phases:\n    - duration: 1\n      arrivalCount: 8\nscenarios:\n  - flow:\n      - loop:\n          - get: {url: /}\n        count: 5\n",
        &format!("http://{addr}"),
    ).await;
    let c = &out.report["aggregate"]["counters"];
    assert_eq!(c["http.codes.200"], 40, "{c}");
    assert_eq!(c["vusers.completed"], 8, "{c}");
    let n = accepted.load(Ordering::SeqCst);
    assert!((1..=2).contains(&n), "{n} connections for a pool of 2");
    assert_eq!(out.suite.status, Status::Passed);
}

#[tokio::test]
async fn a_kept_alive_connection_closed_by_the_server_is_reopened() {
    let (addr, accepted) = spawn_counting_server(true).await;
    let out = run_yaml(
        "config:\n  target: http://x\nscenarios:\n  - flow:\n      - get: {url: /a}\n      - think: 0.3\n      - get: {url: /b}\n",
        &format!("http://{addr}"),
    ).await;
    let c = &out.report["aggregate"]["counters"];
    assert_eq!(c["http.requests"], 2, "{c}");
    assert_eq!(c["http.codes.200"], 2, "{c}");
    assert!(c.get("errors.ECONNRESET").is_none(), "{c}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn target_from_runner_allows_a_missing_target_but_not_a_bad_one() {
    let path = Path::new("no-target.yml");
    let script = "config:\n  phases:\n    - duration: 1\n      arrivalCount: 1\nscenarios:\n  - flow:\n      - get:\n          url: /\n";
    let strict = parse(script, path, &LoadOptions::default());
    let e = strict.unwrap_err().to_string();
    assert!(e.contains("config.target: missing"), "{e}");
    let later = LoadOptions {
        target_from_runner: true,
        ..Default::default()
    };
    parse(script, path, &later).unwrap();
    let bad = script.replace("config:\n", "config:\n  target: ftp://x\n");
    let e = parse(&bad, path, &later).unwrap_err().to_string();
    assert!(
        e.contains("is not an http://, https://, ws:// or wss:// URL"),
        "{e}"
    );
}
