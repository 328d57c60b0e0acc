//! The human summary: an aligned table of suites, the checks that did not hold, and the
//! verdict. ANSI colour only when the caller says the output is a terminal.

use std::fmt::Write;

use crate::result::{CheckStatus, Run, Status, Suite};

/// Column titles of a suite row (see [`suite_cells`]).
pub const SUITE_COLUMNS: [&str; 9] = [
    "SUITE", "RUNNER", "STATUS", "CHECKS", "REQUESTS", "ERRORS", "P95 MS", "P99 MS", "TIME",
];

/// The cells of one suite's row: name, runner, status, passed/total checks, requests,
/// errors, p95 and p99 response time, duration (`-` where a suite has no such figure).
pub fn suite_cells(s: &Suite) -> [String; 9] {
    let fmt_ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    let passed = s
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Passed)
        .count();
    let m = s.metrics.as_ref();
    let rt = m.and_then(|m| m.response_time);
    [
        s.name.clone(),
        s.runner.as_str().to_string(),
        s.status.as_str().to_uppercase(),
        format!("{passed}/{}", s.checks.len()),
        m.map(|m| m.requests.to_string())
            .unwrap_or_else(|| "-".into()),
        m.map(|m| m.errors.values().sum::<u64>().to_string())
            .unwrap_or_else(|| "-".into()),
        fmt_ms(rt.map(|r| r.p95)),
        fmt_ms(rt.map(|r| r.p99)),
        format!("{:.1}s", s.duration_ms as f64 / 1000.0),
    ]
}

/// Render the summary of a run; `color` adds ANSI colour to statuses.
pub fn render_summary(run: &Run, color: bool) -> String {
    let paint = |status: Status| -> String {
        let word = status.as_str().to_uppercase();
        if !color {
            return word;
        }
        let code = match status {
            Status::Passed => "32",
            Status::Failed => "31",
            Status::Error => "33",
        };
        format!("\x1b[{code}m{word}\x1b[0m")
    };
    let header = SUITE_COLUMNS;
    let rows: Vec<([String; 9], Status)> = run
        .suites
        .iter()
        .map(|s| (suite_cells(s), s.status))
        .collect();
    let mut widths = header.map(str::len);
    for (row, _) in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }

    let mut out = String::new();
    let target = run.target.as_deref().unwrap_or("-");
    let pod = run
        .pod
        .as_ref()
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "Testcar run {}  target {target}  pod {pod}",
        run.run_id
    );
    let line = |cells: &[String], status: Option<Status>| -> String {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter()).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = w - cell.chars().count();
            let shown = match (i, status) {
                (2, Some(st)) => paint(st),
                _ => cell.clone(),
            };
            // numbers right-aligned, text left-aligned
            if i >= 3 {
                l.push_str(&" ".repeat(pad));
                l.push_str(&shown);
            } else {
                l.push_str(&shown);
                l.push_str(&" ".repeat(pad));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&header.map(String::from), None));
    for (row, status) in &rows {
        let _ = writeln!(out, "{}", line(row, Some(*status)));
    }

    let mut problems = Vec::new();
    for s in &run.suites {
        for c in &s.checks {
            if c.status != CheckStatus::Passed {
                let detail = c.message.clone().unwrap_or_else(|| {
                    format!(
                        "expected {}, observed {}",
                        c.expected
                            .as_ref()
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        c.observed
                            .as_ref()
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "no data".into())
                    )
                });
                problems.push(format!(
                    "  {} {}: {} — {detail}",
                    c.status.as_str(),
                    s.name,
                    c.name
                ));
            }
        }
        if let Some(e) = &s.error {
            problems.push(format!("  error {}: {e}", s.name));
        }
    }
    if !problems.is_empty() {
        let _ = writeln!(out, "\nNot passed:");
        for p in problems {
            let _ = writeln!(out, "{p}");
        }
    }
    if let Some(e) = &run.error {
        let _ = writeln!(out, "\nError: {e}");
    }
    let sm = &run.summary;
    let _ = writeln!(
        out,
        "\nVerdict: {}  suites {} passed / {} failed / {} error; checks {} passed / {} failed / {} error; {:.1}s",
        paint(run.status),
        sm.suites.passed,
        sm.suites.failed,
        sm.suites.error,
        sm.checks.passed,
        sm.checks.failed,
        sm.checks.error,
        run.duration_ms as f64 / 1000.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Run {
        let text = match name {
            "passed" => include_str!("../../../docs/examples/passed.json"),
            "failed" => include_str!("../../../docs/examples/failed.json"),
            _ => include_str!("../../../docs/examples/error.json"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn plain_summary_is_aligned_and_has_no_escape_codes() {
        let out = render_summary(&example("failed"), false);
        assert!(!out.contains('\x1b'));
        assert!(out.contains("Verdict: FAILED"));
        let table: Vec<&str> = out.lines().skip(1).take_while(|l| !l.is_empty()).collect();
        // the RUNNER column starts at the same offset on every row
        let col = table[0].find("RUNNER").unwrap();
        for row in &table[1..] {
            let c = row.char_indices().nth(col).map(|(i, _)| i).unwrap();
            assert!(row[..c].ends_with("  "), "misaligned: {row:?}");
        }
        assert!(out.contains("Not passed:"));
    }

    #[test]
    fn colour_only_when_asked() {
        let out = render_summary(&example("passed"), true);
        assert!(out.contains("\x1b[32mPASSED\x1b[0m"));
    }

    #[test]
    fn error_run_says_why() {
        let run = example("error");
        let out = render_summary(&run, false);
        assert!(out.contains(run.error.as_deref().unwrap()));
        assert!(out.contains("Verdict: ERROR"));
    }
}
