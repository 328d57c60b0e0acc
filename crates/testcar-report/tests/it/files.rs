//! `render_files`, the entry point of `testcar-agent report`: a results folder on disk with
//! the run's recorded Artillery report, explicit `--artillery` arguments, and bad inputs.

use crate::common;

use std::path::Path;

use common::*;
use testcar_report::render_files;

fn mk_results_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("result.json"), FAILED).unwrap();
    std::fs::create_dir(dir.path().join("load")).unwrap();
    std::fs::write(dir.path().join("load/report.json"), LOAD_REPORT).unwrap();
    dir
}

fn line_charts(html: &str) -> usize {
    html.matches(r#"class="chart line-chart""#).count()
}

#[test]
fn recorded_reports_are_found_in_the_results_folder() {
    let dir = mk_results_dir();
    let (html, warnings) = render_files(&dir.path().join("result.json"), &[]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(html.contains("<h1>FAILED</h1>"));
    assert_eq!(line_charts(&html), 2);
}

#[test]
fn a_missing_recorded_report_costs_only_its_charts() {
    let dir = mk_results_dir();
    std::fs::remove_file(dir.path().join("load/report.json")).unwrap();
    let (html, warnings) = render_files(&dir.path().join("result.json"), &[]).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].to_string().contains("load/report.json"));
    assert!(html.contains("<h1>FAILED</h1>"));
    assert_eq!(line_charts(&html), 0);
}

#[test]
fn explicit_reports_by_path_or_suite_name() {
    let dir = mk_results_dir();
    let elsewhere = dir.path().join("run-42.json");
    std::fs::write(&elsewhere, LOAD_REPORT).unwrap();
    let result = dir.path().join("result.json");
    // Only one Artillery suite in the run: an unnamed report goes to it.
    let (html, _) = render_files(&result, &[elsewhere.display().to_string()]).unwrap();
    assert_eq!(line_charts(&html), 2);
    let (html, _) = render_files(&result, &[format!("load={}", elsewhere.display())]).unwrap();
    assert_eq!(line_charts(&html), 2);
}

#[test]
fn bad_inputs_name_the_file() {
    let dir = mk_results_dir();
    let result = dir.path().join("result.json");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"aggregate\": {\n  \"counters\": [1,\n").unwrap();
    let err = render_files(&result, &[broken.display().to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}:3:", broken.display()))
            && err.contains("not a JSON Artillery report"),
        "{err}"
    );
    let err = render_files(Path::new("/nonexistent/result.json"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read /nonexistent/result.json"),
        "{err}"
    );
    let err = render_files(&result, &["register=/nonexistent/x.json".into()])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot read /nonexistent/x.json"), "{err}");
}
