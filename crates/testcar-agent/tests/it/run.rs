//! `testcar-agent run` and `validate` end to end: the real binary against real HTTP
//! services on 127.0.0.1, every status path, the last stdout line checked against the
//! result schema.

use crate::common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn run_agent(args: &[&str]) -> (Output, Value) {
    let out = agent().arg("run").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = last_line_result(&stdout);
    (out, doc)
}

fn manifest(suites: &str) -> String {
    format!("suites:\n{suites}")
}

#[test]
fn passed_with_real_http() {
    if !have_tool("curl") {
        return;
    }
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest(
            "  - name: health\n    exec: [\"sh\", \"-c\", \"curl -fsS $TESTCAR_TARGET/healthz\"]\n",
        ),
    )]);
    let results = tempfile::tempdir().unwrap();
    let report = results.path().join("out/report.json");
    let junit = results.path().join("junit-copy.xml");
    std::fs::create_dir_all(report.parent().unwrap()).unwrap();
    let target = format!("http://{addr}");
    let (out, doc) = run_agent(&[
        tests.path().to_str().unwrap(),
        "--target",
        &target,
        "--readiness-url",
        "/readyz",
        "--results-dir",
        results.path().to_str().unwrap(),
        "--result",
        report.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["status"], "passed");
    assert_eq!(doc["target"], target.as_str());
    let suite = &doc["suites"][0];
    assert_eq!(suite["runner"], "exec");
    assert_eq!(suite["exitCode"], 0);
    assert_eq!(suite["outputTail"], "ok\n");
    assert_eq!(suite["checks"][0]["kind"], "exit-code");
    // the files: the same document, JUnit, the suite's full log
    assert_eq!(read_json(&report), doc);
    assert_eq!(read_json(&results.path().join("result.json")), doc);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite") && xml.contains("health"),
        "{xml}"
    );
    assert!(results.path().join("junit.xml").is_file());
    assert_eq!(
        std::fs::read_to_string(results.path().join("health/output.log")).unwrap(),
        "ok\n"
    );
    // the human summary comes before the result line
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verdict: PASSED"), "{stdout}");
}

#[test]
fn failed_when_a_command_fails() {
    if !have_tool("curl") {
        return;
    }
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest(concat!(
            "  - name: admin without token\n",
            "    exec: [\"sh\", \"-c\", \"curl -sS -f $TESTCAR_TARGET/admin\"]\n",
            "    continueOnFailure: true\n",
            "  - name: health\n",
            "    exec: [\"sh\", \"-c\", \"curl -fsS $TESTCAR_TARGET/healthz\"]\n",
        )),
    )]);
    let (out, doc) = run_agent(&[
        tests.path().to_str().unwrap(),
        "--target",
        &format!("http://{addr}"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["suites"][0]["status"], "failed");
    assert_eq!(
        doc["suites"][0]["exitCode"], 22,
        "curl -f exits 22 on HTTP >= 400"
    );
    assert!(
        doc["suites"][0]["outputTail"]
            .as_str()
            .unwrap()
            .contains("401"),
        "{doc}"
    );
    assert_eq!(doc["suites"][1]["status"], "passed");
    assert_eq!(doc["summary"]["suites"]["failed"], 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verdict: FAILED"), "{stdout}");
}

#[test]
fn error_when_unreachable() {
    let port = free_port();
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest("  - name: a\n    exec: [\"true\"]\n"),
    )]);
    let (out, doc) = run_agent(&[
        tests.path().to_str().unwrap(),
        "--target",
        &format!("http://127.0.0.1:{port}"),
        "--ready-timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc["status"], "error");
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("TCP connect to 127.0.0.1:{port}")),
        "{error}"
    );
    assert!(error.contains("refused"), "{error}");
    assert_eq!(doc["suites"].as_array().unwrap().len(), 0);
}

#[test]
fn error_when_never_ready() {
    let addr = start_service(false);
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest("  - name: a\n    exec: [\"true\"]\n"),
    )]);
    let (out, doc) = run_agent(&[
        tests.path().to_str().unwrap(),
        "--target",
        &format!("http://{addr}"),
        "--readiness-url",
        "/readyz",
        "--ready-timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("GET http://{addr}/readyz until it answers 2xx")),
        "{error}"
    );
    assert!(error.contains("503"), "{error}");
    assert!(
        error.starts_with("the service was not ready after 1s"),
        "{error}"
    );
}

#[test]
fn error_on_bad_manifest_names_file_line_and_key() {
    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: a\n    exec: [\"true\"]\n    retries: 3\n",
    )]);
    let (out, doc) = run_agent(&[tests.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let error = doc["error"].as_str().unwrap();
    let file = tests.path().join("testcar.yaml");
    assert!(
        error.starts_with(&format!("{}:4:", file.display())),
        "{error}"
    );
    assert!(error.contains("unknown field `retries`"), "{error}");

    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: a\n    exec: [\"true\"\n",
    )]);
    let (out, doc) = run_agent(&[tests.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{}:", tests.path().join("testcar.yaml").display())),
        "{error}"
    );
}

#[test]
fn error_on_empty_folder() {
    let tests = mk_tests(&[("README.md", "no tests here")]);
    let (out, doc) = run_agent(&[tests.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .starts_with("no test suites found in"),
        "{doc}"
    );
}

#[test]
fn error_on_exec_timeout_keeps_output() {
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest(
            "  - name: slow\n    timeout: 1s\n    exec: [\"sh\", \"-c\", \"echo begun; sleep 30\"]\n",
        ),
    )]);
    let started = Instant::now();
    let (out, doc) = run_agent(&[tests.path().to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(2));
    let suite = &doc["suites"][0];
    assert_eq!(suite["status"], "error");
    assert_eq!(suite["outputTail"], "begun\n");
    assert!(
        suite["error"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 1s"),
        "{suite}"
    );
}

#[test]
fn error_on_whole_run_timeout_is_partial() {
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest(
            "  - name: quick\n    exec: [\"true\"]\n  - name: slow\n    exec: [\"sleep\", \"30\"]\n",
        ),
    )]);
    let (out, doc) = run_agent(&[tests.path().to_str().unwrap(), "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc["suites"][0]["status"], "passed");
    assert_eq!(doc["suites"][1]["status"], "error");
    assert_eq!(
        doc["error"],
        "the run timed out after 1s; the result is partial: 2 of 2 suites ran"
    );
}

#[test]
fn artillery_scripts_run_natively_with_expectations_and_reports() {
    let addr = start_service(true);
    let script = |code: u16| {
        format!(
            "config:\n  phases:\n    - duration: 1\n      arrivalCount: 5\n  plugins:\n    expect: {{}}\nscenarios:\n  - name: health\n    flow:\n      - get:\n          url: /healthz\n          expect:\n            - statusCode: {code}\n"
        )
    };
    let tests = mk_tests(&[("a-smoke.yml", &script(200)), ("b-wrong.yml", &script(404))]);
    let results = tempfile::tempdir().unwrap();
    let (out, doc) = run_agent(&[
        tests.path().to_str().unwrap(),
        "--target",
        &format!("http://{addr}"),
        "--results-dir",
        results.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert_eq!(doc["status"], "failed");
    let smoke = &doc["suites"][0];
    assert_eq!(smoke["runner"], "artillery");
    assert_eq!(smoke["status"], "passed", "{smoke}");
    assert_eq!(smoke["metrics"]["requests"], 5);
    assert_eq!(smoke["metrics"]["codes"]["200"], 5);
    assert_eq!(smoke["metrics"]["vusers"]["created"], 5);
    // the Artillery-shaped report is kept and named relative to the results folder
    let report_path = smoke["reports"][0]["path"].as_str().unwrap();
    let report = read_json(&results.path().join(report_path));
    assert_eq!(report["aggregate"]["counters"]["http.requests"], 5);
    // the second script expects 404 from a route that answers 200: failed, not error
    let wrong = &doc["suites"][1];
    assert_eq!(wrong["status"], "failed", "{wrong}");
    assert!(
        wrong["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "expect" && c["status"] == "failed"),
        "{wrong}"
    );
    let html = std::fs::read_to_string(results.path().join("report.html")).unwrap();
    assert!(
        html.contains("<svg"),
        "the report draws the suite's periods"
    );
}

#[test]
fn artillery_run_flags_reshape_scripts_from_the_command_line_and_the_manifest() {
    let addr = start_service(true);
    let scenarios = "scenarios:\n  - name: health\n    flow:\n      - get:\n          url: \"{{ path }}\"\n          expect:\n            - statusCode: 200\n  - name: admin\n    flow:\n      - get:\n          url: /admin\n";
    let common = "config:\n  phases:\n    - duration: 1\n      arrivalCount: 3\n  variables:\n    path: /nowhere\n  plugins:\n    expect: {}\n";
    let tests = mk_tests(&[
        ("scenarios.yml", scenarios),
        ("common.yml", common),
        (
            "testcar.yaml",
            "suites:\n  - name: from-manifest\n    artillery: scenarios.yml\n    config: common.yml\n    scenarioName: health\n    variables:\n      path: /healthz\n    overrides:\n      config:\n        phases:\n          - duration: 1\n            arrivalCount: 2\n",
        ),
    ]);
    let dir = tests.path();
    // The flags of `artillery run`, for a script given on the command line.
    let (out, doc) = run_agent(&[
        dir.join("scenarios.yml").to_str().unwrap(),
        "--target",
        &format!("http://{addr}"),
        "-c",
        dir.join("common.yml").to_str().unwrap(),
        "--scenario-name",
        "health",
        "-v",
        r#"{"path": "/healthz"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["suites"][0]["metrics"]["vusers"]["created"], 3, "{doc}");
    assert_eq!(doc["suites"][0]["metrics"]["codes"]["200"], 3, "{doc}");
    // The same from a manifest suite: its overrides replace the phases.
    let (out, doc) = run_agent(&[dir.to_str().unwrap(), "--target", &format!("http://{addr}")]);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["suites"][0]["name"], "from-manifest");
    assert_eq!(doc["suites"][0]["metrics"]["codes"]["200"], 2, "{doc}");
    // validate takes the flags too; without the config file the script has no phases or
    // expect plugin, so its expectations are refused.
    let ok = agent()
        .args([
            "validate",
            dir.join("scenarios.yml").to_str().unwrap(),
            "--config",
        ])
        .arg(dir.join("common.yml"))
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = agent()
        .args(["validate", dir.join("scenarios.yml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    // A value that is not a JSON object is refused before anything runs.
    let out = agent()
        .args([
            "run",
            dir.join("scenarios.yml").to_str().unwrap(),
            "--overrides",
            "[1]",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--overrides") && err.contains("expected a JSON object"),
        "{err}"
    );
}

#[test]
fn unsupported_artillery_key_is_an_error_naming_file_line_and_key() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "proc.yml",
        "config:\n  processor: ./hooks.js\n  phases:\n    - duration: 1\n      arrivalCount: 1\nscenarios:\n  - flow:\n      - get:\n          url: /healthz\n",
    )]);
    let (out, doc) = run_agent(&[
        tests.path().to_str().unwrap(),
        "--target",
        &format!("http://{addr}"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{doc}");
    let error = doc["suites"][0]["error"].as_str().unwrap();
    assert!(error.contains("proc.yml:2:"), "{error}");
    assert!(error.contains("processor"), "{error}");
}

#[test]
fn validate_reports_valid_and_invalid() {
    let good = mk_tests(&[
        (
            "testcar.yaml",
            &manifest(
                "  - name: a\n    exec: [\"true\"]\n  - name: smoke\n    artillery: smoke.yml\n",
            ),
        ),
        (
            "smoke.yml",
            "config:\n  phases:\n    - duration: 1\n      arrivalCount: 1\nscenarios:\n  - flow:\n      - get:\n          url: /\n",
        ),
    ]);
    let out = agent().arg("validate").arg(good.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("valid: 2 suite(s): a (exec), smoke (artillery)"),
        "{stdout}"
    );

    let bad = mk_tests(&[("smoke.yml", "scenarios:\n  - flow: [\n")]);
    let out = agent().arg("validate").arg(bad.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:", bad.path().join("smoke.yml").display())),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "validate runs nothing and prints no result"
    );
}

#[test]
fn shipped_examples_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for set in ["tests", "tests-failing"] {
        let out = agent()
            .arg("validate")
            .arg(root.join(set))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{set}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // the Artillery scripts kept for the engine are at least well-formed scripts
    for script in [
        "tests/smoke.yml",
        "tests/load.yml",
        "tests-failing/admin.yml",
    ] {
        let out = agent()
            .arg("validate")
            .arg(root.join(script))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
    }
}

#[test]
fn secrets_stay_out_of_results_and_logs() {
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest(concat!(
            "  - name: uses a secret\n",
            "    exec: [\"sh\", \"-c\", \"test -n \\\"$API_KEY\\\" && echo got the key\"]\n",
            "    env:\n",
            "      API_KEY: s3cr3t-api-key\n",
        )),
    )]);
    let results = tempfile::tempdir().unwrap();
    let out = agent()
        .arg("run")
        .arg(tests.path())
        .args(["--target", &format!("http://ops:hunter2@{addr}")])
        .args(["--readiness-url", "/readyz"])
        .arg("--results-dir")
        .arg(results.path())
        .args(["--log", "debug"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc = last_line_result(&stdout);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    assert_eq!(doc["target"], format!("http://{addr}/"));
    let stored = std::fs::read_to_string(results.path().join("result.json")).unwrap();
    let junit = std::fs::read_to_string(results.path().join("junit.xml")).unwrap();
    for secret in ["hunter2", "s3cr3t-api-key"] {
        for (what, text) in [
            ("stdout", &*stdout),
            ("stderr", &*stderr),
            ("result.json", &stored),
            ("junit", &junit),
        ] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {what}:\n{text}"
            );
        }
    }
}

#[test]
fn progress_line_only_on_a_terminal() {
    if !have_tool("script") {
        return;
    }
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest("  - name: wait\n    exec: [\"sleep\", \"1\"]\n"),
    )]);
    let bin = env!("CARGO_BIN_EXE_testcar-agent");
    // `script` gives the agent a pseudo-terminal, as a developer's shell would
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{bin} run {} --log warn", tests.path().display()),
            "/dev/null",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\r\x1b[2K"), "{text:?}");
    assert!(text.contains("suite 1/1 wait"), "{text:?}");

    let out = agent().arg("run").arg(tests.path()).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("\x1b[2K"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("suite 1/1"));
}

#[test]
fn credential_chain_feeds_exec_suites_and_never_leaks() {
    let secret = "tok-4f2a-SECRET-9981";
    let addr = start_service(true);
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest(concat!(
            "  - name: sees the token file\n",
            "    exec: [\"sh\", \"-c\", \"grep -q SECRET-99 \\\"$TESTCAR_BEARER_TOKEN_FILE\\\" && echo has-token\"]\n",
        )),
    )]);
    let auth = tempfile::tempdir().unwrap();
    std::fs::write(auth.path().join("token"), secret).unwrap();
    let auth_file = auth.path().join("auth.yaml");
    std::fs::write(&auth_file, "steps:\n  - static:\n      bearerFile: token\n").unwrap();
    let results = tempfile::tempdir().unwrap();
    let out = agent()
        .arg("run")
        .arg(tests.path())
        .args(["--target", &format!("http://{addr}")])
        .arg("--auth")
        .arg(&auth_file)
        .arg("--results-dir")
        .arg(results.path())
        .args(["--log", "debug"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc = last_line_result(&stdout);
    assert_eq!(out.status.code(), Some(0), "{doc}\n{stderr}");
    assert_eq!(doc["suites"][0]["outputTail"], "has-token\n");
    let read = |f: &str| std::fs::read_to_string(results.path().join(f)).unwrap();
    for (what, text) in [
        ("stdout", stdout.to_string()),
        ("stderr", stderr.to_string()),
        ("result.json", read("result.json")),
        ("junit.xml", read("junit.xml")),
        ("report.html", read("report.html")),
    ] {
        assert!(!text.contains(secret), "the token leaked into {what}");
    }

    // a broken configuration is an error naming the file, line and key
    std::fs::write(&auth_file, "steps:\n  - static:\n      bearer: inline\n").unwrap();
    let (out, doc) = run_agent(&[
        tests.path().to_str().unwrap(),
        "--target",
        &format!("http://{addr}"),
        "--auth",
        auth_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{doc}");
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("auth.yaml:3"), "{error}");
    assert!(error.contains("bearer"), "{error}");
}

#[test]
fn check_history_exit_codes_follow_the_verdict() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/linearizability/jepsen");
    assert!(
        data.is_dir(),
        "{} is missing: the histories are part of the repository (tests/data/linearizability)",
        data.display()
    );
    let check = |file: &std::path::Path| {
        agent()
            .args(["check-history", "--model", "register", "--format", "jepsen"])
            .arg(file)
            .output()
            .unwrap()
    };
    // etcd_002 is linearizable, etcd_000 is not (the data's README)
    let ok = check(&data.join("etcd_002.log"));
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("linearizable"));
    let bad = check(&data.join("etcd_000.log"));
    assert_eq!(bad.status.code(), Some(1));
    // bad input names the file and line
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        junk.path(),
        "INFO  jepsen.util - 3\t:invoke\t:frobnicate\tnil\n",
    )
    .unwrap();
    let out = check(junk.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":1"), "{err}");
}

/// `--tags`: only the suites with one of the tags run; a tag no suite has is no error as long
/// as another selects something; a selection of nothing is an error that says what was asked
/// and what the suites have.
#[test]
fn tags_select_suites_and_selecting_none_is_an_error_that_says_so() {
    let tests = mk_tests(&[(
        "testcar.yaml",
        &manifest(
            "  - name: smoke\n    exec: [\"true\"]\n    tags: [smoke]\n  - name: load\n    exec: [\"true\"]\n    tags: [load, nightly]\n  - name: untagged\n    exec: [\"true\"]\n",
        ),
    )]);
    let dir = tests.path().to_str().unwrap();
    let names = |doc: &Value| -> Vec<String> {
        doc["suites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (out, doc) = run_agent(&[dir, "--tags", "smoke"]);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(names(&doc), ["smoke"]);
    let (out, doc) = run_agent(&[dir, "--tags", "nightly,unknown-tag,smoke"]);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(names(&doc), ["smoke", "load"]);
    let (out, doc) = run_agent(&[dir]);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(names(&doc).len(), 3);

    let (out, doc) = run_agent(&[dir, "--tags", "canary"]);
    assert_eq!(out.status.code(), Some(2), "{doc}");
    assert_eq!(doc["status"], "error");
    assert!(doc["suites"].as_array().unwrap().is_empty(), "{doc}");
    let error = doc["error"].as_str().unwrap();
    assert_eq!(
        error,
        "no suite has the tag(s) canary (--tags / TESTCAR_SUITE_TAGS), so nothing was run; the 3 suite(s) found have the tags load, nightly, smoke"
    );

    // Scripts found without a manifest have no tags.
    let scripts = mk_tests(&[(
        "a.yml",
        "config:\n  target: http://127.0.0.1:9\nscenarios:\n  - flow: []\n",
    )]);
    let (out, doc) = run_agent(&[scripts.path().to_str().unwrap(), "--tags", "smoke"]);
    assert_eq!(out.status.code(), Some(2), "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("have no tags: give the suites to run `tags:` in testcar.yaml"),
        "{doc}"
    );

    // A malformed selection is refused by the command line, naming the flag.
    let out = agent()
        .args(["run", dir, "--tags", "Smoke Test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--tags") && stderr.contains("lowercase letters"),
        "{stderr}"
    );
}
