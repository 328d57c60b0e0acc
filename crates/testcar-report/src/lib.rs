//! Testcar's HTML run report: one self-contained page per run (verdict first, then each
//! suite's checks, charts over time, status codes, endpoints and output), with inline SVG
//! charts drawn here, no scripts and no network fetches.
//!
//! ```no_run
//! use std::path::Path;
//! let run = testcar_report::load_run(Path::new("result.json"))?;
//! let (artillery, _missing) = testcar_report::reports_in_results_dir(&run, Path::new("."));
//! std::fs::write("report.html", testcar_report::render_html(&run, &artillery))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod endpoints;
pub mod escape;
pub mod format;
pub mod html;
pub mod inputs;
pub mod periods;
pub mod svg;

pub use inputs::{
    ARTILLERY_REPORT, LoadError, load_artillery, load_run, reports_in_results_dir, suite_for_report,
};

/// Render `run` as one self-contained HTML page.
///
/// `artillery` pairs a suite name with that suite's Artillery `--output` report
/// (`{aggregate, intermediate: [...]}`); when given, the suite gets request-rate and latency
/// charts over the report's 10 s periods. Reports for names not in `run` are shown in sections
/// of their own. Never fails: values of an unexpected shape are listed on the page and skipped.
pub fn render_html(
    run: &testcar_contract::Run,
    artillery: &[(String, serde_json::Value)],
) -> String {
    html::page(run, artillery)
}
