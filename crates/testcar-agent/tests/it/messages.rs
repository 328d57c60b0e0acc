//! The messages a newcomer meets first, from the real binary: a target without a scheme, a
//! tests folder that does not exist, a manifest with bad indentation. Each names the bad input
//! (file:line:column where there is one) and says what to do.

use crate::common;

use common::*;
use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = agent().arg("run").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), last_line_result(&stdout), stderr)
}

#[test]
fn target_without_a_scheme_says_to_add_http() {
    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: a\n    exec: [\"true\"]\n",
    )]);
    let (code, doc, _) = run(&[tests.path().to_str().unwrap(), "-t", "127.0.0.1:8080"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        doc["error"],
        "target \"127.0.0.1:8080\" is not a valid URL: it has no scheme; add http:// (or https://) in front, e.g. \"http://127.0.0.1:8080\""
    );
}

#[test]
fn missing_tests_folder_says_what_belongs_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("tests");
    let (code, doc, stderr) = run(&[missing.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    let error = doc["error"].as_str().unwrap();
    assert_eq!(
        error,
        format!(
            "the tests folder {} does not exist; it should hold the tests: a testcar.yaml manifest, Artillery scripts (*.yml, *.yaml, *.json), consistency suites (*.consistency.yaml) and any files exec suites use",
            missing.display()
        )
    );
    assert!(
        stderr.contains("\"message\":\"cannot find the tests\""),
        "{stderr}"
    );
}

#[test]
fn bad_indentation_is_an_invalid_definition_naming_file_line_and_column() {
    let tests = mk_tests(&[(
        "testcar.yaml",
        "suites:\n  - name: a\n   exec: [\"true\"]\n",
    )]);
    let (code, doc, stderr) = run(&[tests.path().to_str().unwrap()]);
    assert_eq!(code, Some(2));
    let error = doc["error"].as_str().unwrap();
    let file = tests.path().join("testcar.yaml");
    assert!(
        error.starts_with(&format!("{}:3:4: YAML syntax error: ", file.display())),
        "{error}"
    );
    assert!(error.contains("check the indentation"), "{error}");
    assert!(
        !error.contains(" at line "),
        "the location is said once: {error}"
    );
    // the log's headline says the tests are invalid, not missing
    assert!(
        stderr.contains("\"message\":\"invalid test definitions\""),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot find the tests"), "{stderr}");
}
