//! `testcar-agent run` takes `artillery run`'s `-t` and `-o`: `-t` is the target, `-o` writes
//! Artillery's JSON report (aggregate + intermediate) and `--result` Testcar's result document.
//! The real binary against a real HTTP service on 127.0.0.1.

use crate::common;

use common::*;
use serde_json::Value;

const SCRIPT: &str = "config:\n  target: http://127.0.0.1:9\n  phases:\n    - duration: 1\n      arrivalCount: 4\n  plugins:\n    expect: {}\nscenarios:\n  - name: health\n    flow:\n      - get:\n          url: /healthz\n          expect:\n            - statusCode: 200\n";

#[test]
fn t_is_the_target_o_writes_artillerys_report_and_result_the_result() {
    let addr = start_service(true);
    let tests = mk_tests(&[("smoke.yml", SCRIPT)]);
    let out_dir = tempfile::tempdir().unwrap();
    let report_path = out_dir.path().join("report.json");
    let result_path = out_dir.path().join("result.json");
    let target = format!("http://{addr}");
    let out = agent()
        .args(["run", tests.path().join("smoke.yml").to_str().unwrap()])
        .args(["-t", &target])
        .args(["-o", report_path.to_str().unwrap()])
        .args(["--result", result_path.to_str().unwrap()])
        .args([
            "--results-dir",
            out_dir.path().join("results").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc = last_line_result(&stdout);
    // -t overrode config.target (port 9 would refuse the connection)
    assert_eq!(
        out.status.code(),
        Some(0),
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(doc["target"], target.as_str());

    // -o: Artillery's report shape, as `artillery run -o` writes it
    let report = read_json(&report_path);
    let aggregate = &report["aggregate"];
    assert_eq!(aggregate["counters"]["http.requests"], 4, "{report}");
    assert_eq!(aggregate["counters"]["http.codes.200"], 4, "{report}");
    assert_eq!(aggregate["counters"]["vusers.created"], 4, "{report}");
    assert!(
        aggregate["summaries"]["http.response_time"]["p99"].is_number(),
        "{report}"
    );
    assert!(report["intermediate"].is_array(), "{report}");
    assert!(
        report.get("schema").is_none(),
        "-o is not Testcar's result: {report}"
    );

    // --result: Testcar's result document, the same as the last stdout line
    let result: Value = read_json(&result_path);
    assert_eq!(result["schema"], "testcar.io/result/v1");
    assert_eq!(result, doc);
}

#[test]
fn o_needs_exactly_one_artillery_suite() {
    let tests = mk_tests(&[("a.yml", SCRIPT), ("b.yml", SCRIPT)]);
    let out_dir = tempfile::tempdir().unwrap();
    let out = agent()
        .args(["run", tests.path().to_str().unwrap()])
        .args(["-o", out_dir.path().join("report.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 Artillery suites (a, b)") && err.contains("--result"),
        "{err}"
    );
}
