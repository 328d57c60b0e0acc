//! `testcar-agent sidecar` end to end: the real binary with the environment the injector
//! sets, a real HTTP service on 127.0.0.1; `/result`, `/healthz`, `/metrics`, idling,
//! run once across restarts, and SIGTERM mid-run saving a partial result.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn env_for(tests: &Path, results: &Path, target: String) -> Vec<(&'static str, String)> {
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
        ("TESTCAR_READY_TIMEOUT", "5s".into()),
    ]
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
    // logs are JSON records on stderr, none on stdout
    let log = sidecar.stderr();
    assert!(log.lines().count() >= 3, "{log}");
    for line in log.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(record["level"].is_string(), "{line}");
    }
    assert!(
        !sidecar.stdout().contains("\"level\""),
        "{}",
        sidecar.stdout()
    );
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
