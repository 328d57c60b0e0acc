//! `--summary-markdown`: the verdict as GitHub-flavoured Markdown, for the pipeline
//! wrappers (GitHub's job summary, Azure DevOps' summary tab, GitLab's job page): a pod
//! table (status, suites, checks), the checks that did not pass with their messages, the
//! gate's error, and how to open each pod's HTML report where the pod serves one.
//!
//! Everything that comes from a pod (names, messages, observed values) is escaped: a cell
//! cannot end its table row, and HTML in a message is shown, not rendered.

use std::fmt::Write;

use testcar_contract::{CheckStatus, Status};

use crate::report::{GateReport, PodStatus};

/// Text safe inside a Markdown table cell: one line, `|` and HTML escaped, Markdown
/// emphasis and link characters taken literally.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            // runs of white space (a multi-line message) become one space
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

fn badge(status: PodStatus) -> &'static str {
    match status {
        PodStatus::Passed => "✅ passed",
        PodStatus::Failed => "❌ failed",
        PodStatus::Error => "⚠️ error",
        PodStatus::Pending => "⏳ pending",
    }
}

fn show(v: &Option<serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "no data".into(),
    }
}

impl GateReport {
    /// The Markdown summary written by `--summary-markdown`.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let verdict: PodStatus = self.status.into();
        let _ = writeln!(out, "## Testcar gate: {}\n", badge(verdict).to_uppercase());
        let mut what = format!(
            "{} `{}/{}`",
            self.workload.kind,
            cell(&self.namespace),
            cell(&self.workload.name)
        );
        if let Some(r) = &self.workload.revision {
            let _ = write!(what, " revision {}", cell(r));
        }
        if let Some(rs) = &self.workload.replica_set {
            let _ = write!(what, " (ReplicaSet `{}`)", cell(rs));
        }
        let passed = self
            .pods
            .iter()
            .filter(|p| p.status == PodStatus::Passed)
            .count();
        let _ = writeln!(
            out,
            "{what}: {passed} of {} pod(s) passed, {} reported, minimum {}, {:.1}s.\n",
            self.pods_seen,
            self.pods_reported,
            self.min_pods,
            self.duration_ms as f64 / 1000.0
        );

        if self.pods.is_empty() {
            let _ = writeln!(out, "No pods under test.\n");
        } else {
            let _ = writeln!(out, "| Pod | Status | Suites | Checks | Time |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for p in &self.pods {
                let (suites, checks, time) = match &p.run {
                    Some(run) => {
                        let ok = run
                            .suites
                            .iter()
                            .filter(|s| s.status == Status::Passed)
                            .count();
                        let all: Vec<_> = run.suites.iter().flat_map(|s| &s.checks).collect();
                        let held = all
                            .iter()
                            .filter(|c| c.status == CheckStatus::Passed)
                            .count();
                        (
                            format!("{ok}/{}", run.suites.len()),
                            format!("{held}/{}", all.len()),
                            format!("{:.1}s", run.duration_ms as f64 / 1000.0),
                        )
                    }
                    None => ("-".into(), "-".into(), "-".into()),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {suites} | {checks} | {time} |",
                    cell(&p.name),
                    badge(p.status)
                );
            }
            out.push('\n');
        }

        let mut rows: Vec<[String; 5]> = Vec::new();
        for p in &self.pods {
            match &p.run {
                Some(run) => {
                    if let Some(e) = &run.error {
                        rows.push([
                            p.name.clone(),
                            "-".into(),
                            "-".into(),
                            "error".into(),
                            e.clone(),
                        ]);
                    }
                    for s in &run.suites {
                        if s.status == Status::Error {
                            rows.push([
                                p.name.clone(),
                                s.name.clone(),
                                "-".into(),
                                "error".into(),
                                s.error
                                    .clone()
                                    .unwrap_or_else(|| "suite could not be run".into()),
                            ]);
                        }
                        for c in s.checks.iter().filter(|c| c.status != CheckStatus::Passed) {
                            let message = c.message.clone().unwrap_or_else(|| {
                                format!(
                                    "expected {}, observed {}",
                                    show(&c.expected),
                                    show(&c.observed)
                                )
                            });
                            rows.push([
                                p.name.clone(),
                                s.name.clone(),
                                c.name.clone(),
                                c.status.as_str().into(),
                                message,
                            ]);
                        }
                    }
                }
                None => rows.push([
                    p.name.clone(),
                    "-".into(),
                    "-".into(),
                    p.status.as_str().into(),
                    p.message.clone().unwrap_or_else(|| "no result".into()),
                ]),
            }
        }
        if !rows.is_empty() {
            let _ = writeln!(out, "### Not passed\n");
            let _ = writeln!(out, "| Pod | Suite | Check | Status | Message |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for r in &rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    cell(&r[0]),
                    cell(&r[1]),
                    cell(&r[2]),
                    cell(&r[3]),
                    cell(&r[4])
                );
            }
            out.push('\n');
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "**Error:** {}\n", cell(e));
        }

        let reports: Vec<_> = self
            .pods
            .iter()
            .filter_map(|p| p.html_report.as_ref().map(|h| (p, h)))
            .collect();
        if !reports.is_empty() {
            let _ = writeln!(out, "### HTML reports\n");
            let _ = writeln!(
                out,
                "Served by each pod's agent on its port; open one with `kubectl port-forward` \
                 (any access level), or through the API server's pod proxy where the pod's \
                 access is `open` (`token` also needs the pod's read token in `X-Testcar-Token`).\n"
            );
            let _ = writeln!(
                out,
                "| Pod | Access | Port-forward, then open http://localhost:PORT/report | Pod-proxy path |"
            );
            let _ = writeln!(out, "|---|---|---|---|");
            for (p, h) in reports {
                let _ = writeln!(
                    out,
                    "| {} | {} | `kubectl -n {} port-forward pod/{} {}` | `{}` |",
                    cell(&p.name),
                    h.access,
                    cell(&self.namespace),
                    cell(&p.name),
                    h.port,
                    cell(&h.proxy_path)
                );
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "Verdict: **{}** (exit {}).",
            self.status.as_str().to_uppercase(),
            match self.status {
                Status::Passed => 0,
                Status::Failed => 1,
                Status::Error => 2,
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{example, mk_pod, mk_report};
    use crate::verdict::HtmlReport;

    #[test]
    fn failed_run_has_pod_table_failing_checks_and_verdict() {
        let mut b = mk_pod("orders-b", Some(example("failed")), PodStatus::Failed, None);
        b.html_report = Some(HtmlReport {
            access: "token",
            port: 9464,
            proxy_path: "/api/v1/namespaces/shop/pods/orders-b:9464/proxy/report".into(),
        });
        let r = mk_report(
            vec![
                mk_pod("orders-a", Some(example("passed")), PodStatus::Passed, None),
                b,
            ],
            Status::Failed,
            None,
        );
        let md = r.render_markdown();
        assert!(md.starts_with("## Testcar gate: ❌ FAILED\n"), "{md}");
        assert!(
            md.contains("Deployment `shop/orders` revision 7 (ReplicaSet `orders-7c9f8d6b5`)"),
            "{md}"
        );
        assert!(md.contains("| orders-a | ✅ passed |"), "{md}");
        assert!(
            md.contains("| orders-b | ❌ failed | 1/2 | 2/5 | 61.0s |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| orders-b | load | POST /orders statusCode 201 | failed | 50 of 3000 responses had status 500 |"
            ),
            "{md}"
        );
        // no message: expected and observed, HTML-escaped
        assert!(
            md.contains(
                "| http.response\\_time.p99 &lt; 250 | failed | expected &lt; 250, observed 412.7 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("`kubectl -n shop port-forward pod/orders-b 9464`"),
            "{md}"
        );
        assert!(
            !md.contains("pod/orders-a"),
            "orders-a serves no report: {md}"
        );
        assert!(
            md.trim_end().ends_with("Verdict: **FAILED** (exit 1)."),
            "{md}"
        );
        assert!(!md.contains("**Error:**"), "{md}");
    }

    #[test]
    fn error_report_names_pending_pods_and_the_error() {
        let r = mk_report(
            vec![mk_pod(
                "orders-c",
                None,
                PodStatus::Pending,
                Some("container testcar has not started"),
            )],
            Status::Error,
            Some("timed out after 10m; still waiting for orders-c"),
        );
        let md = r.render_markdown();
        assert!(md.starts_with("## Testcar gate: ⚠️ ERROR\n"), "{md}");
        assert!(md.contains("| orders-c | ⏳ pending | - | - | - |"), "{md}");
        assert!(
            md.contains("| orders-c | - | - | pending | container testcar has not started |"),
            "{md}"
        );
        assert!(
            md.contains("**Error:** timed out after 10m; still waiting for orders-c"),
            "{md}"
        );
        assert!(md.contains("(exit 2)"), "{md}");
    }

    #[test]
    fn no_pods_and_passed() {
        let md = mk_report(vec![], Status::Error, Some("no pods found")).render_markdown();
        assert!(md.contains("No pods under test."), "{md}");
        assert!(!md.contains("### Not passed"), "{md}");
        let md = mk_report(
            vec![mk_pod(
                "a",
                Some(example("passed")),
                PodStatus::Passed,
                None,
            )],
            Status::Passed,
            None,
        )
        .render_markdown();
        assert!(md.starts_with("## Testcar gate: ✅ PASSED"), "{md}");
        assert!(!md.contains("### Not passed"), "{md}");
        assert!(md.contains("(exit 0)"), "{md}");
    }

    #[test]
    fn hostile_text_cannot_break_the_table_or_inject_html() {
        assert_eq!(cell("a|b\n  c "), "a\\|b c");
        assert_eq!(
            cell("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(cell("[x](javascript:1)"), "\\[x\\](javascript:1)");
        assert_eq!(cell("`code` *b* \x1b[31m"), "\\`code\\` \\*b\\* \\[31m");
    }
}
