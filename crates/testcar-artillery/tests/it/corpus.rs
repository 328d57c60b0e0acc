//! Runs every script of the compatibility corpus (`tests/artillery-compat/corpus`) against
//! the in-process deterministic server and asserts the counters and verdicts that real
//! Artillery 2.x produced for them: `compat.sh` records those in `expected.json` and checks
//! on every run that the record still matches real Artillery. A few scripts also get
//! hand-written assertions on what the record cannot show (checks, messages, summaries).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;

use testcar_artillery::{LoadOptions, RunOptions, compat_server, load_script, run_script};
use testcar_contract::Status;
use tokio_util::sync::CancellationToken;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/artillery-compat/corpus")
        .join(name)
}

async fn run(
    name: &str,
    environment: Option<&str>,
) -> (Status, serde_json::Value, testcar_contract::Suite) {
    let (status, counters, suite, _) = run_with_port(name, environment).await;
    (status, counters, suite)
}

/// Like [`run`], also giving the server's port.
async fn run_with_port(
    name: &str,
    environment: Option<&str>,
) -> (Status, serde_json::Value, testcar_contract::Suite, u16) {
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let opts = LoadOptions {
        environment: environment.map(str::to_string),
        target: Some(target_for(name, addr)),
        ..Default::default()
    };
    let script = load_script(&corpus(name), &opts).unwrap_or_else(|e| panic!("{e}"));
    let out = run_script(script, RunOptions::default()).await;
    stop.cancel();
    (
        out.suite.status,
        out.report["aggregate"]["counters"].clone(),
        out.suite,
        addr.port(),
    )
}

/// The server's URL for a script: `http://ADDR`, or for a WebSocket target
/// (`ws://127.0.0.1:{{ $env.COMPAT_PORT }}/path`) the same URL with the port filled in.
fn target_for(name: &str, addr: std::net::SocketAddr) -> String {
    let text = std::fs::read_to_string(corpus(name)).unwrap_or_default();
    let ws_path = text.lines().find_map(|l| {
        let rest = l
            .trim()
            .strip_prefix("target: \"ws://127.0.0.1:{{ $env.COMPAT_PORT }}")?;
        Some(rest.trim_end_matches('"').to_string())
    });
    match ws_path {
        Some(path) => format!("ws://{addr}{path}"),
        None => format!("http://{addr}"),
    }
}

fn assert_counters(counters: &serde_json::Value, expected: &[(&str, u64)]) {
    for (k, v) in expected {
        assert_eq!(counters[*k].as_u64(), Some(*v), "{k} in {counters:#}");
    }
}

#[tokio::test]
async fn basic_get_post() {
    let (status, c, suite) = run("basic-get-post.yml", None).await;
    assert_eq!(status, Status::Passed, "{suite:#?}");
    assert_counters(
        &c,
        &[
            ("http.requests", 12),
            ("http.responses", 12),
            ("http.codes.200", 8),
            ("http.codes.404", 4),
            ("vusers.created", 4),
            ("vusers.completed", 4),
            ("vusers.failed", 0),
            ("vusers.created_by_name.basic", 4),
            ("plugins.expect.ok", 28),
            ("plugins.expect.ok.statusCode", 12),
            ("plugins.expect.ok.contentType", 4),
            ("plugins.expect.ok.hasProperty", 4),
            ("plugins.expect.ok.notStatusCode", 4),
            ("plugins.expect.ok.hasHeader", 4),
            ("plugins.metrics-by-endpoint./json.codes.200", 4),
        ],
    );
    let m = suite.metrics.unwrap();
    assert_eq!(m.response_time.unwrap().count, 12);
    assert_eq!(m.response_time_intended.unwrap().count, 12);
    assert_eq!(suite.checks.len(), 7);
}

#[tokio::test]
async fn templates_and_captures() {
    let (status, c, suite) = run("templates-captures.yml", None).await;
    assert_eq!(status, Status::Passed, "{suite:#?}");
    // 12 per VU (the ifTrue-false request is skipped); `before` stays out of the metrics.
    assert_counters(
        &c,
        &[
            ("http.requests", 36),
            ("http.codes.200", 36),
            ("vusers.completed", 3),
            ("plugins.expect.ok", 54),
            ("plugins.expect.ok.equals", 6),
            ("plugins.expect.ok.header x-custom values equals", 3),
            ("plugins.expect.ok.matchesRegexp", 3),
        ],
    );
    assert!(c.get("plugins.expect.failed").is_none(), "{c:#}");
}

#[tokio::test]
async fn loops() {
    let (status, c, _) = run("loops.yml", None).await;
    assert_eq!(status, Status::Passed);
    // 3 (count) + 2 (range 2-4) + 2 (over list) + 1 + 2 (over captured list), per VU.
    assert_counters(
        &c,
        &[
            ("http.requests", 20),
            ("http.codes.200", 20),
            ("plugins.expect.ok", 10),
        ],
    );
}

#[tokio::test]
async fn payload() {
    let (status, c, _) = run("payload.yml", None).await;
    assert_eq!(status, Status::Passed);
    assert_counters(
        &c,
        &[
            ("http.requests", 6),
            ("http.codes.200", 6),
            ("plugins.expect.ok", 9),
        ],
    );
}

#[tokio::test]
async fn weighted_phases() {
    let (status, c, _) = run("weighted-phases.yml", None).await;
    assert_eq!(status, Status::Passed);
    // 2 s at 3/s, a pause, then 2 arrivals.
    assert_counters(&c, &[("vusers.created", 8), ("http.codes.200", 8)]);
}

#[tokio::test]
async fn failed_expectation_fails_the_suite() {
    let (status, c, suite) = run("failed-expectation.yml", None).await;
    assert_eq!(status, Status::Failed);
    assert_counters(
        &c,
        &[
            ("plugins.expect.failed", 2),
            ("plugins.expect.failed.statusCode", 2),
            ("plugins.expect.ok.contentType", 2),
            ("vusers.completed", 2),
        ],
    );
    let failed = suite
        .checks
        .iter()
        .find(|c| c.name == "GET /status/503 statusCode 200")
        .unwrap();
    assert_eq!((failed.passes, failed.failures), (Some(0), Some(2)));
    assert!(failed.message.as_deref().unwrap().contains("got 503"));
}

#[tokio::test]
async fn strict_capture_fails_the_vu() {
    let (status, c, _) = run("strict-capture.yml", None).await;
    assert_eq!(status, Status::Passed);
    assert_counters(
        &c,
        &[
            ("http.requests", 4),
            ("vusers.failed", 2),
            ("errors.Failed capture or match", 2),
        ],
    );
    assert!(c.get("vusers.completed").is_none());
}

#[tokio::test]
async fn ensure_checks() {
    let (status, _, suite) = run("ensure-pass.yml", None).await;
    assert_eq!(status, Status::Passed, "{:#?}", suite.checks);
    assert_eq!(suite.checks.len(), 5);
    let optional = suite
        .checks
        .iter()
        .find(|c| c.name.ends_with("(optional)"))
        .unwrap();
    assert_eq!(optional.status, testcar_contract::CheckStatus::Failed);

    let (status, _, suite) = run("ensure-fail.yml", None).await;
    assert_eq!(status, Status::Failed);
    let nodata = suite
        .checks
        .iter()
        .find(|c| c.name == "nosuch.metric < 5")
        .unwrap();
    assert_eq!(nodata.observed, Some(serde_json::Value::Null));
    assert!(nodata.message.as_deref().unwrap().contains("no data"));
}

#[tokio::test]
async fn environments() {
    let (status, c, _) = run("environments.yml", Some("staging")).await;
    assert_eq!(status, Status::Passed);
    assert_counters(
        &c,
        &[("vusers.created", 2), ("plugins.expect.ok.equals", 2)],
    );
}

/// What `compat.sh` recorded from real Artillery for one script.
#[derive(Debug, serde::Deserialize)]
struct Recorded {
    /// `exact`, `verdict` (counters depend on timing) or `counters` (a known difference in
    /// the verdict, see docs/artillery-compatibility.md).
    mode: String,
    verdict: String,
    counters: BTreeMap<String, u64>,
}

/// The counters `compat.sh` compares (the same filter), with the server's port written
/// `PORT` in names that hold a URL, as `compat.sh` records them.
fn compared_counters(counters: &serde_json::Value, port: u16) -> BTreeMap<String, u64> {
    let server = format!("127.0.0.1:{port}");
    const KEEP: [&str; 9] = [
        "apdex.",
        "http.requests",
        "http.responses",
        "http.codes.",
        "vusers.",
        "errors.",
        "plugins.expect.",
        "plugins.metrics-by-endpoint.",
        "websocket.",
    ];
    counters
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            KEEP.iter().any(|p| k.starts_with(p))
                && !k.contains(".response_time.")
                && *k != "vusers.session_length"
        })
        .filter_map(|(k, v)| Some((k.replace(&server, "127.0.0.1:PORT"), v.as_u64()?)))
        .collect()
}

/// `-e NAME` from a script's `# args:` line.
fn environment_arg(text: &str) -> Option<String> {
    let args = text.lines().find_map(|l| l.strip_prefix("# args: "))?;
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-e" || w == "--environment" {
            return words.next().map(str::to_string);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_agrees_with_what_artillery_recorded() {
    let recorded: BTreeMap<String, Recorded> = serde_json::from_str(include_str!(
        "../../../../tests/artillery-compat/expected.json"
    ))
    .expect("expected.json parses");
    // Scripts are YAML or JSON; the record is keyed by the name without the extension.
    let mut names: Vec<(String, String)> = std::fs::read_dir(corpus(""))
        .unwrap()
        .filter_map(|e| {
            let file = e.ok()?.file_name().to_string_lossy().into_owned();
            let stem = file
                .strip_suffix(".yml")
                .or_else(|| file.strip_suffix(".json"))?;
            Some((stem.to_string(), file))
        })
        .collect();
    names.sort();
    assert!(names.len() >= 67, "corpus shrank: {names:?}");
    for (n, file) in &names {
        assert!(
            recorded.contains_key(n),
            "{file} has no record from real Artillery; run COMPAT_RECORD=1 tests/artillery-compat/compat.sh {n}"
        );
    }
    // A few at a time: each run has its own server and engine thread.
    let outcomes: Vec<(String, Status, serde_json::Value, u16)> =
        futures::stream::iter(names.iter().cloned())
            .map(|(name, file)| async move {
                let text = std::fs::read_to_string(corpus(&file)).unwrap();
                let env = environment_arg(&text);
                let (status, counters, _, port) = run_with_port(&file, env.as_deref()).await;
                (name, status, counters, port)
            })
            .buffer_unordered(4)
            .collect()
            .await;
    let mut problems = Vec::new();
    for (name, status, counters, port) in outcomes {
        let want = &recorded[&name];
        let verdict = match status {
            Status::Passed => "passed",
            Status::Failed => "failed",
            _ => "error",
        };
        if want.mode != "counters" && verdict != want.verdict {
            problems.push(format!(
                "{name}: verdict {verdict}, Artillery {}",
                want.verdict
            ));
        }
        if want.mode != "verdict" {
            let got = compared_counters(&counters, port);
            for k in got.keys().chain(want.counters.keys()) {
                if got.get(k) != want.counters.get(k) {
                    problems.push(format!(
                        "{name}: {k}: testcar {:?}, Artillery {:?}",
                        got.get(k),
                        want.counters.get(k)
                    ));
                }
            }
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn ensure_without_the_plugin_is_enforced_unlike_artillery() {
    // Artillery 2 skips `config.ensure` unless `plugins.ensure` is set; a gate must not.
    let (status, _, suite) = run("ensure-without-plugin.yml", None).await;
    assert_eq!(status, Status::Failed);
    let check = suite
        .checks
        .iter()
        .find(|c| c.name == "http.codes.404 < 1")
        .unwrap();
    assert_eq!(check.observed, Some(serde_json::json!(2.0)));
}

#[tokio::test]
async fn before_flow_token_reaches_every_vu_and_stays_out_of_the_metrics() {
    let (status, c, _) = run("before-after.yml", None).await;
    assert_eq!(status, Status::Passed);
    // 3 VUs x 2 requests; neither the before login nor the after request is counted.
    assert_counters(
        &c,
        &[("http.requests", 6), ("plugins.expect.ok.statusCode", 6)],
    );
    assert!(c.get("plugins.expect.failed").is_none(), "{c:#}");
}

#[tokio::test]
async fn after_flow_sees_before_not_scenario_captures_and_its_failure_fails_the_run() {
    let (status, c, suite) = run("after-match-scenario-capture.yml", None).await;
    assert_eq!(status, Status::Failed);
    let check = suite
        .checks
        .iter()
        .find(|ch| ch.name == "after flow completes")
        .unwrap_or_else(|| panic!("{:?}", suite.checks));
    assert!(
        check
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("Failed capture or match"),
        "{check:?}"
    );
    // The after flow's failure is not a VU's: nothing of it is counted.
    assert_counters(&c, &[("http.requests", 2), ("vusers.failed", 0)]);
    assert!(c.get("errors.Failed capture or match").is_none(), "{c:#}");

    let (status, _, suite) = run("after-match-before-capture.yml", None).await;
    assert_eq!(status, Status::Passed, "{:?}", suite.checks);
    assert!(suite.checks.is_empty(), "{:?}", suite.checks);
}

#[tokio::test]
async fn timeouts_and_refused_connections_count_artillerys_error_codes() {
    let (status, c, _) = run("http-timeout.yml", None).await;
    assert_eq!(status, Status::Passed);
    assert_counters(
        &c,
        &[
            ("errors.ETIMEDOUT", 2),
            ("vusers.failed", 2),
            ("http.requests", 4),
            ("http.responses", 2),
        ],
    );
    let (_, c, _) = run("conn-refused.yml", None).await;
    assert_counters(&c, &[("errors.ECONNREFUSED", 2), ("vusers.failed", 2)]);
}
