//! `testcar-agent sidecar` end to end: the real binary with the environment the injector
//! sets, a real HTTP service on 127.0.0.1; `/result`, `/healthz`, `/metrics`, idling,
//! run once across restarts, and SIGTERM mid-run saving a partial result.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn env_for(tests: &Path, results: &Path, target: String) -> Vec<(&'static str, String)> {
    let mut env = sidecar_env(tests, results, target);
    env.push(("TESTCAR_READY_TIMEOUT", "5s".into()));
    env
}

#[test]
fn runs_reports_idles_and_runs_only_once() {
    let addr = start_service(true);
    // each real run appends to runs.txt: a restarted sidecar must not add a line
    let tests = mk_tests(&[(
        "testcar.yaml",
        concat!(
            "suites:\n",
            "  - name: api\n",
            "    exec: [\"sh\", \"-c\", \"echo run >> runs.txt; sleep 1.5; echo fine\"]\n",
        ),
    )]);
    let results = tempfile::tempdir().unwrap();
    let env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    let mut sidecar = Sidecar::start(&env);

    let running = sidecar.wait_result(Duration::from_secs(20), |v| v["state"] == "running");
    assert_eq!(running["suite"], "api");
    assert_eq!(running["suitesTotal"], 1);
    assert!(running["runId"].is_string());
    // Readiness by verdict: not ready while the tests run.
    let (status, body) = http_get(sidecar.addr, "/passed").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no verdict yet"), "{body}");
    let (status, body) = http_get(sidecar.addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("testcar_run_status{status=\"running\"} 1"),
        "{body}"
    );

    let doc = sidecar.wait_result(Duration::from_secs(20), |v| v.get("schema").is_some());
    assert_eq!(doc["status"], "passed");
    assert_eq!(doc["pod"]["name"], "orders-7c9f8d6b5-x2kqz");
    assert_eq!(doc["pod"]["namespace"], "shop");
    assert_eq!(doc["suites"][0]["outputTail"], "fine\n");
    assert_eq!(read_json(&results.path().join("result.json")), doc);
    assert!(results.path().join("junit.xml").is_file());

    let (status, body) = http_get(sidecar.addr, "/healthz").unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = http_get(sidecar.addr, "/passed").unwrap();
    assert_eq!((status, body.trim()), (200, "passed"));
    let (_, metrics) = http_get(sidecar.addr, "/metrics").unwrap();
    for needle in [
        "testcar_run_status{status=\"passed\"} 1",
        "testcar_run_status{status=\"running\"} 0",
        "testcar_suite_status{suite=\"api\",runner=\"exec\",status=\"passed\"} 1",
        "testcar_checks{status=\"passed\"} 1",
        "testcar_checks{status=\"failed\"} 0",
        "testcar_agent_info{version=\"",
    ] {
        assert!(metrics.contains(needle), "missing {needle}:\n{metrics}");
    }
    let secs: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("testcar_run_duration_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 1.5, "run duration {secs}");

    // idle: still alive, the result line is the last stdout line
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sidecar.child.try_wait().unwrap().is_none(),
        "the sidecar must stay alive"
    );
    let first = last_line_result(&sidecar.stdout());
    assert_eq!(first, doc);
    assert!(sidecar.stdout().contains("Verdict: PASSED"));
    // Logs are JSON records on stdout, before the summary and the verdict: a container has
    // one log, and only one stream keeps the order of its lines. Nothing on stderr.
    let out = sidecar.stdout();
    let records: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"].is_string())
        .collect();
    assert!(records.len() >= 3, "{out}");
    let last_record = out.rfind("\"level\"").unwrap();
    assert!(last_record < out.find("Verdict: PASSED").unwrap(), "{out}");
    assert_eq!(sidecar.stderr(), "");
    assert_eq!(sidecar.terminate(Duration::from_secs(5)), 0);

    // container restart: same pod, same results volume → same line, no second run
    let mut again = Sidecar::start(&env);
    let stored = again.wait_result(Duration::from_secs(10), |v| v.get("schema").is_some());
    assert_eq!(stored, doc);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(last_line_result(&again.stdout()), doc);
    assert_eq!(
        std::fs::read_to_string(tests.path().join("runs.txt")).unwrap(),
        "run\n"
    );
    let (_, metrics) = http_get(again.addr, "/metrics").unwrap();
    assert!(
        metrics.contains("testcar_run_status{status=\"passed\"} 1"),
        "{metrics}"
    );
    assert_eq!(again.terminate(Duration::from_secs(5)), 0);
}

/// `name{labels} value` of an exposition, as a number.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_response_time_histogram_is_live_and_counts_every_response() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "load.yml",
        concat!(
            "config:\n",
            "  phases:\n",
            "    - duration: 4\n",
            "      arrivalRate: 10\n",
            "scenarios:\n",
            "  - flow:\n",
            "      - get:\n",
            "          url: /healthz\n",
        ),
    )]);
    let results = tempfile::tempdir().unwrap();
    let env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    let mut sidecar = Sidecar::start(&env);
    let count = "testcar_suite_response_time_seconds_count{suite=\"load\"}";

    // While the suite runs, the histogram already holds samples.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let live = loop {
        assert!(std::time::Instant::now() < deadline, "no live samples");
        // The server may not listen yet.
        let Ok((_, metrics)) = http_get(sidecar.addr, "/metrics") else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let running = metrics.contains("testcar_run_status{status=\"running\"} 1");
        match sample(&metrics, count) {
            Some(n) if n > 0.0 && running => break n,
            _ => {}
        }
        assert!(
            running || !metrics.contains("testcar_run_status{status=\"passed\"} 1"),
            "the suite ended before any live sample was seen:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(live < 40.0, "live count {live}");

    let doc = sidecar.wait_result(Duration::from_secs(20), |v| v.get("schema").is_some());
    assert_eq!(doc["status"], "passed");
    let rt = &doc["suites"][0]["metrics"]["responseTime"];
    let responses = rt["count"].as_u64().unwrap();
    assert_eq!(responses, 40);
    let (_, metrics) = http_get(sidecar.addr, "/metrics").unwrap();
    let bucket = |le: &str| {
        sample(
            &metrics,
            &format!("testcar_suite_response_time_seconds_bucket{{le=\"{le}\",suite=\"load\"}}"),
        )
        .unwrap_or_else(|| panic!("no bucket le={le}:\n{metrics}"))
    };
    // Every response counted once, in exactly one bucket, and the sum is the samples' sum.
    assert_eq!(sample(&metrics, count), Some(responses as f64), "{metrics}");
    assert_eq!(bucket("+Inf"), responses as f64);
    assert!(bucket("0.001") <= bucket("0.002") && bucket("0.002") <= bucket("+Inf"));
    let max_s = rt["max"].as_f64().unwrap() / 1000.0;
    let le_above_max = [
        "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512",
        "1.024",
    ]
    .into_iter()
    .find(|le| le.parse::<f64>().unwrap() >= max_s * 1.01)
    .unwrap();
    assert_eq!(bucket(le_above_max), responses as f64, "{metrics}");
    let sum = sample(
        &metrics,
        "testcar_suite_response_time_seconds_sum{suite=\"load\"}",
    )
    .unwrap();
    let mean_s = rt["mean"].as_f64().unwrap() / 1000.0;
    assert!(
        (sum - mean_s * responses as f64).abs() <= 0.0001 * responses as f64 + 1e-6,
        "sum {sum} vs mean {mean_s} x {responses}"
    );
    assert_eq!(sidecar.terminate(Duration::from_secs(5)), 0);
}

#[test]
fn sigterm_mid_run_saves_a_partial_result() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        concat!(
            "suites:\n",
            "  - name: quick\n",
            "    exec: [\"true\"]\n",
            "  - name: slow\n",
            "    exec: [\"sh\", \"-c\", \"echo working; sleep 60\"]\n",
            "  - name: later\n",
            "    exec: [\"true\"]\n",
        ),
    )]);
    let results = tempfile::tempdir().unwrap();
    let env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    let mut sidecar = Sidecar::start(&env);
    sidecar.wait_result(Duration::from_secs(20), |v| v["suite"] == "slow");
    std::thread::sleep(Duration::from_millis(300));
    let code = sidecar.terminate(Duration::from_secs(8));
    assert_eq!(code, 2, "an interrupted run is an error");

    let doc = last_line_result(&sidecar.stdout());
    assert_eq!(doc["status"], "error");
    assert_eq!(
        doc["error"],
        "interrupted by SIGTERM; the result is partial: 2 of 3 suites ran"
    );
    assert_eq!(doc["suites"][0]["status"], "passed");
    assert_eq!(doc["suites"][1]["status"], "error");
    assert_eq!(doc["suites"][1]["outputTail"], "working\n");
    assert_eq!(read_json(&results.path().join("result.json")), doc);
}

#[test]
fn never_ready_service_is_an_error_and_the_sidecar_stays() {
    let addr = start_service(false);
    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: a\n    exec: [\"true\"]\n",
    )]);
    let results = tempfile::tempdir().unwrap();
    let mut env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    env.push(("TESTCAR_READINESS_URL", format!("http://{addr}/readyz")));
    env.push(("TESTCAR_READY_TIMEOUT", "1s".into()));
    let mut sidecar = Sidecar::start(&env);
    let pending = sidecar.wait_result(Duration::from_secs(10), |v| {
        v["state"] == "pending" || v.get("schema").is_some()
    });
    assert!(pending["state"] == "pending" || pending["status"] == "error");
    let doc = sidecar.wait_result(Duration::from_secs(10), |v| v.get("schema").is_some());
    assert_eq!(doc["status"], "error");
    assert!(
        doc["error"].as_str().unwrap().contains("answered 503"),
        "{doc}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(sidecar.child.try_wait().unwrap().is_none());
    assert_eq!(last_line_result(&sidecar.stdout()), doc);
    assert_eq!(sidecar.terminate(Duration::from_secs(5)), 0);
}

#[test]
fn shared_tests_folder_is_awaited() {
    let addr = start_service(true);
    let tests = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let mut env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    env.push(("TESTCAR_TESTS_SOURCE", "shared".into()));
    let mut cmd_env = env.clone();
    cmd_env.push(("TESTCAR_TESTS_WAIT_TIMEOUT", "20s".into()));
    let mut sidecar = Sidecar::start(&cmd_env);
    let pending = sidecar.wait_result(Duration::from_secs(10), |v| v["state"] == "pending");
    assert!(
        pending["step"]
            .as_str()
            .unwrap()
            .contains("fill the tests folder"),
        "{pending}"
    );
    std::thread::sleep(Duration::from_millis(500));
    // the application copies its tests in
    std::fs::write(
        tests.path().join("testcar.yaml"),
        "suites:\n  - name: copied\n    exec: [\"true\"]\n",
    )
    .unwrap();
    let doc = sidecar.wait_result(Duration::from_secs(20), |v| v.get("schema").is_some());
    assert_eq!(doc["status"], "passed");
    assert_eq!(doc["suites"][0]["name"], "copied");
    sidecar.terminate(Duration::from_secs(5));
}

/// A failed verdict keeps `/passed` (the readiness probe of `testcar.io/hold-readiness`) at 503
/// for good, also after a restart that answers from the stored result.
#[test]
fn a_failed_verdict_is_never_ready() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: api\n    exec: [\"sh\", \"-c\", \"exit 1\"]\n",
    )]);
    let results = tempfile::tempdir().unwrap();
    let env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    let sidecar = Sidecar::start(&env);
    let doc = sidecar.wait_result(Duration::from_secs(30), |v| v.get("schema").is_some());
    assert_eq!(doc["status"], "failed");
    let (status, body) = http_get(sidecar.addr, "/passed").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("verdict failed"), "{body}");
    drop(sidecar);

    let again = Sidecar::start(&env);
    again.wait_result(Duration::from_secs(20), |v| v.get("schema").is_some());
    let (status, body) = http_get(again.addr, "/passed").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("verdict failed"), "{body}");
}

/// `image:` tests whose volume the API server dropped (ImageVolume off): the folder is empty
/// and the verdict is an error saying so, not a pass with nothing tested.
#[test]
fn an_empty_image_tests_folder_is_an_error_that_names_the_image_volume() {
    let addr = start_service(true);
    let tests = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let mut env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    env.push(("TESTCAR_TESTS_SOURCE", "image".into()));
    let mut sidecar = Sidecar::start(&env);
    let doc = sidecar.wait_result(Duration::from_secs(20), |v| v.get("schema").is_some());
    assert_eq!(doc["status"], "error");
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains("is empty although its tests come from an image"),
        "{error}"
    );
    assert!(error.contains("ImageVolume"), "{error}");
    sidecar.terminate(Duration::from_secs(5));
}

/// `TESTCAR_SUITE_TAGS` (what the injector sets on a scale-out pod with
/// `testcar.io/on-scale-out: smoke`): the sidecar runs only the smoke suite, and the verdict
/// passes with it alone.
#[test]
fn the_suite_tags_from_the_injector_select_the_smoke_suite() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: smoke\n    exec: [\"true\"]\n    tags: [smoke]\n  - name: load\n    exec: [\"sh\", \"-c\", \"exit 1\"]\n",
    )]);
    let results = tempfile::tempdir().unwrap();
    let mut env = env_for(tests.path(), results.path(), format!("http://{addr}"));
    env.push(("TESTCAR_SUITE_TAGS", "smoke".into()));
    let mut sidecar = Sidecar::start(&env);
    let doc = sidecar.wait_result(Duration::from_secs(30), |v| v.get("schema").is_some());
    assert_eq!(doc["status"], "passed", "{doc}");
    let suites = doc["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 1, "{doc}");
    assert_eq!(suites[0]["name"], "smoke");
    let (status, _) = http_get(sidecar.addr, "/passed").unwrap();
    assert_eq!(status, 200);
    sidecar.terminate(Duration::from_secs(5));
}
