//! Testcar's HTML run report: one self-contained page per run (verdict first, then each
//! suite's checks, charts over time, status codes, endpoints and output), with inline SVG
//! charts drawn here, no scripts and no network fetches.
//!
//! ```no_run
//! use std::path::Path;
//! // After a run: the result and the Artillery reports it recorded in the results folder.
//! let (html, warnings) = testcar_report::render_files(Path::new("results/result.json"), &[])?;
//! for w in &warnings {
//!     eprintln!("report: {w}");
//! }
//! std::fs::write("results/report.html", html)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod endpoints;
mod escape;
mod format;
mod html;
mod inputs;
mod periods;
mod svg;

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

/// Render the result document at `result` as a page, for `testcar-agent report`.
///
/// `artillery` holds `FILE` or `SUITE=FILE` arguments (see [`suite_for_report`]). When it is
/// empty, the Artillery reports the run recorded are read from the folder of `result` (the
/// results folder); any of them that cannot be read is returned as a warning beside the page.
/// A result or a named report that cannot be read or matched is an error.
pub fn render_files(
    result: &std::path::Path,
    artillery: &[String],
) -> Result<(String, Vec<LoadError>), LoadError> {
    let run = load_run(result)?;
    let (reports, warnings) = if artillery.is_empty() {
        let dir = result
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        reports_in_results_dir(&run, dir)
    } else {
        let mut reports = Vec::with_capacity(artillery.len());
        for arg in artillery {
            let (suite, path) = suite_for_report(&run, arg)?;
            reports.push((suite, load_artillery(&path)?));
        }
        (reports, Vec::new())
    };
    Ok((render_html(&run, &reports), warnings))
}
