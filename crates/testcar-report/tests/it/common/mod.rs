//! Fixtures shared by the integration tests: the documented example runs, the synthetic
//! Artillery report and hostile inputs, plus the folder test output (pages, screenshots) goes to.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use testcar_contract::Run;

pub const PASSED: &str = include_str!("../../../../../docs/examples/passed.json");
pub const FAILED: &str = include_str!("../../../../../docs/examples/failed.json");
pub const ERROR: &str = include_str!("../../../../../docs/examples/error.json");
/// Six 10 s periods for the `load` suite of `failed.json`, with metrics-by-endpoint on.
pub const LOAD_REPORT: &str = include_str!("../../../test_data/load-report.json");
/// Markup and script in every text field a result document can carry.
pub const HOSTILE: &str = include_str!("../../../test_data/hostile.json");

pub fn mk_run(json: &str) -> Run {
    serde_json::from_str(json).expect("fixture is a result v1 document")
}

pub fn mk_report(json: &str) -> Value {
    serde_json::from_str(json).expect("fixture is JSON")
}

/// Every fixture page: (name, html).
pub fn pages() -> Vec<(&'static str, String)> {
    vec![
        ("passed", testcar_report::render_html(&mk_run(PASSED), &[])),
        (
            "failed",
            testcar_report::render_html(
                &mk_run(FAILED),
                &[("load".to_string(), mk_report(LOAD_REPORT))],
            ),
        ),
        ("error", testcar_report::render_html(&mk_run(ERROR), &[])),
        (
            "hostile",
            testcar_report::render_html(&mk_run(HOSTILE), &[]),
        ),
    ]
}

/// `<target>/test-output/testcar-report`, created.
pub fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-output")
        .join("testcar-report");
    std::fs::create_dir_all(&dir).expect("create test output dir");
    dir
}
