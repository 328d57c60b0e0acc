//! The gate's outcome and how it is written: the aggregated JSON document
//! (`testcar.io/gate/v1`), JUnit XML (one testsuite per pod and suite) and the human
//! summary (a pod table, a pod × suite table, what did not pass, the verdict).

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;
use testcar_contract::junit::JunitReport;
use testcar_contract::summary;
use testcar_contract::{CheckStatus, PodRef, Run, Status};

use crate::merge::Rollout;
use crate::verdict::{HtmlReport, Source};

/// Schema id of the aggregated JSON document.
pub const GATE_SCHEMA_ID: &str = "testcar.io/gate/v1";

/// State of one pod at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PodStatus {
    /// Its run passed.
    Passed,
    /// Its run failed.
    Failed,
    /// Its run was an error, it has no sidecar, or it stopped without a result.
    Error,
    /// No result before the gate stopped waiting.
    Pending,
}

impl PodStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PodStatus::Passed => "passed",
            PodStatus::Failed => "failed",
            PodStatus::Error => "error",
            PodStatus::Pending => "pending",
        }
    }
}

impl From<Status> for PodStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Passed => PodStatus::Passed,
            Status::Failed => PodStatus::Failed,
            Status::Error => PodStatus::Error,
        }
    }
}

/// One pod's entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReport {
    /// Pod name.
    pub name: String,
    /// Final state.
    pub status: PodStatus,
    /// Where the result was read, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Restart count of the `testcar` container.
    pub restarts: i32,
    /// Why there is no result (the last reason seen), or the run's own error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The pod's result document, as the agent wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
    /// Where the pod's agent serves its HTML report, when its endpoint policy serves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_report: Option<HtmlReport>,
}

/// The workload as resolved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// `Deployment`, `StatefulSet`, `Selector` or `Pod`.
    pub kind: String,
    /// Name, or the selector.
    pub name: String,
    /// Revision under test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// ReplicaSet of that revision (Deployments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_set: Option<String>,
}

/// The aggregated outcome, written by `--json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateReport {
    /// Always `testcar.io/gate/v1`.
    pub schema: String,
    /// Namespace.
    pub namespace: String,
    /// What was gated.
    pub workload: WorkloadRef,
    /// Overall verdict: `passed` only if every pod passed and at least `minPods` reported.
    pub status: Status,
    /// Why the verdict is `error` (timeout, no pods, missing sidecar, API errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `--min-pods`.
    pub min_pods: usize,
    /// Replicas the workload should have, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_pods: Option<usize>,
    /// Pods under test seen.
    pub pods_seen: usize,
    /// Pods that produced a result document.
    pub pods_reported: usize,
    /// Pods of older revisions or terminating, not gated.
    pub pods_ignored: usize,
    /// When the gate started.
    pub started: DateTime<Utc>,
    /// When it finished.
    pub finished: DateTime<Utc>,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// One entry per pod, in name order.
    pub pods: Vec<PodReport>,
    /// The pods' suites merged by name: exact rollout percentiles from the pods'
    /// histograms, summed counters, thresholds judged again (see [`crate::merge`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

impl GateReport {
    /// The exit class of the verdict.
    pub fn exit_class(&self) -> testcar_contract::ExitClass {
        self.status.into()
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a GateReport always serializes")
    }

    /// JUnit XML: each reported pod's runs (suites named `<pod>/<suite>`); a pod without a
    /// result, and a gate that found no pods, appear as an error test case with the reason.
    pub fn to_junit(&self) -> String {
        let placeholders: Vec<(String, Run)> = {
            let mut v: Vec<(String, Run)> = self
                .pods
                .iter()
                .filter(|p| p.run.is_none())
                .map(|p| {
                    let message = match p.status {
                        PodStatus::Pending => format!(
                            "no result before the gate stopped: {}",
                            p.message.as_deref().unwrap_or("no reason recorded")
                        ),
                        _ => p.message.clone().unwrap_or_else(|| "no result".into()),
                    };
                    (p.name.clone(), self.placeholder_run(Some(&p.name), message))
                })
                .collect();
            if self.pods.is_empty() {
                let label = format!(
                    "{}/{}",
                    self.workload.kind.to_lowercase(),
                    self.workload.name
                );
                let message = self.error.clone().unwrap_or_else(|| "no pods".into());
                v.push((label, self.placeholder_run(None, message)));
            }
            v
        };
        let rollout_run = self
            .rollout
            .as_ref()
            .filter(|r| r.shared())
            .map(|r| r.as_run(self.started));
        let mut junit = JunitReport::new();
        for pod in &self.pods {
            if let Some(run) = &pod.run {
                junit = junit.add_run(Some(&pod.name), run);
            }
        }
        for (label, run) in &placeholders {
            junit = junit.add_run(Some(label), run);
        }
        if let Some(run) = &rollout_run {
            junit = junit.add_run(Some("rollout"), run);
        }
        junit.render()
    }

    fn placeholder_run(&self, pod: Option<&str>, message: String) -> Run {
        let mut run = Run::finish(
            format!("gate-{}", pod.unwrap_or("none")),
            self.started,
            self.finished,
            Vec::new(),
            Some(message),
        );
        run.pod = pod.map(|name| PodRef {
            name: name.to_string(),
            namespace: self.namespace.clone(),
        });
        run
    }

    /// The human summary.
    pub fn render_summary(&self, color: bool, with_suites: bool) -> String {
        let paint = |word: &str, status: PodStatus| -> String {
            if !color {
                return word.to_string();
            }
            let code = match status {
                PodStatus::Passed => "32",
                PodStatus::Failed => "31",
                PodStatus::Error => "33",
                PodStatus::Pending => "35",
            };
            format!("\x1b[{code}m{word}\x1b[0m")
        };
        let mut out = String::new();
        let mut head = format!(
            "Testcar gate: {} {}/{}",
            self.workload.kind.to_lowercase(),
            self.namespace,
            self.workload.name
        );
        if let Some(r) = &self.workload.revision {
            let _ = write!(head, " revision {r}");
        }
        if let Some(rs) = &self.workload.replica_set {
            let _ = write!(head, " (ReplicaSet {rs})");
        }
        let _ = writeln!(out, "{head}");

        let mut rows: Vec<(Vec<String>, Option<PodStatus>)> = vec![(
            [
                "POD", "STATUS", "SOURCE", "RESTARTS", "SUITES", "CHECKS", "TIME",
            ]
            .map(String::from)
            .to_vec(),
            None,
        )];
        for p in &self.pods {
            let (suites, checks, time) = match &p.run {
                Some(run) => {
                    let passed = run
                        .suites
                        .iter()
                        .filter(|s| s.status == Status::Passed)
                        .count();
                    let checks: Vec<_> = run.suites.iter().flat_map(|s| &s.checks).collect();
                    let ok = checks
                        .iter()
                        .filter(|c| c.status == CheckStatus::Passed)
                        .count();
                    (
                        format!("{passed}/{}", run.suites.len()),
                        format!("{ok}/{}", checks.len()),
                        format!("{:.1}s", run.duration_ms as f64 / 1000.0),
                    )
                }
                None => ("-".into(), "-".into(), "-".into()),
            };
            rows.push((
                vec![
                    p.name.clone(),
                    p.status.as_str().to_uppercase(),
                    p.source
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "-".into()),
                    p.restarts.to_string(),
                    suites,
                    checks,
                    time,
                ],
                Some(p.status),
            ));
        }
        if self.pods.is_empty() {
            let _ = writeln!(out, "No pods under test.");
        } else {
            out.push_str(&table(&rows, 1, &paint));
        }

        if with_suites
            && self
                .pods
                .iter()
                .any(|p| p.run.as_ref().is_some_and(|r| !r.suites.is_empty()))
        {
            let mut rows: Vec<(Vec<String>, Option<PodStatus>)> = vec![(
                std::iter::once("POD")
                    .chain(summary::SUITE_COLUMNS)
                    .map(String::from)
                    .collect(),
                None,
            )];
            for p in &self.pods {
                for s in p.run.iter().flat_map(|r| &r.suites) {
                    let cells = std::iter::once(p.name.clone())
                        .chain(summary::suite_cells(s))
                        .collect();
                    rows.push((cells, Some(s.status.into())));
                }
            }
            out.push('\n');
            out.push_str(&table(&rows, 3, &paint));
        }

        let mut problems: Vec<String> = Vec::new();
        for p in &self.pods {
            match &p.run {
                Some(run) => {
                    if let Some(e) = &run.error {
                        problems.push(format!("{}: run error: {e}", p.name));
                    }
                    for s in &run.suites {
                        if s.status == Status::Error {
                            problems.push(format!(
                                "{}/{}: error: {}",
                                p.name,
                                s.name,
                                s.error.as_deref().unwrap_or("suite could not be run")
                            ));
                        }
                        for c in s.checks.iter().filter(|c| c.status != CheckStatus::Passed) {
                            let detail = c.message.clone().unwrap_or_else(|| {
                                let show = |v: &Option<serde_json::Value>| {
                                    v.as_ref()
                                        .map(|v| v.to_string())
                                        .unwrap_or_else(|| "no data".into())
                                };
                                format!(
                                    "expected {}, observed {}",
                                    show(&c.expected),
                                    show(&c.observed)
                                )
                            });
                            problems.push(format!(
                                "{}/{}: {} {}: {detail}",
                                p.name,
                                s.name,
                                c.status.as_str(),
                                c.name
                            ));
                        }
                    }
                }
                // the error line below already lists the pods still pending
                None if p.status == PodStatus::Pending
                    && self.error.as_deref().is_some_and(|e| e.contains(&p.name)) => {}
                None => problems.push(format!(
                    "{}: {}: {}",
                    p.name,
                    p.status.as_str(),
                    p.message.as_deref().unwrap_or("no result")
                )),
            }
        }
        if !problems.is_empty() {
            let _ = writeln!(out, "\nNot passed:");
            for line in problems {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(r) = self.rollout.as_ref().filter(|r| r.worth_showing()) {
            out.push('\n');
            out.push_str(&r.render_summary());
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "\nError: {e}");
        }
        let passed = self
            .pods
            .iter()
            .filter(|p| p.status == PodStatus::Passed)
            .count();
        let verdict = self.status.as_str().to_uppercase();
        let _ = writeln!(
            out,
            "\nVerdict: {} ({passed} of {} pod(s) passed, {} reported, --min-pods {})",
            paint(&verdict, self.status.into()),
            self.pods_seen,
            self.pods_reported,
            self.min_pods
        );
        out
    }
}

/// Align columns; the cell at `status_col` is painted after padding is computed.
fn table(
    rows: &[(Vec<String>, Option<PodStatus>)],
    status_col: usize,
    paint: &dyn Fn(&str, PodStatus) -> String,
) -> String {
    let cols = rows.first().map(|r| r.0.len()).unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for (row, _) in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (row, status) in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w - cell.chars().count();
            match (i == status_col, status) {
                (true, Some(st)) => line.push_str(&paint(cell, *st)),
                _ => line.push_str(cell),
            }
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn example(name: &str) -> Run {
        serde_json::from_str(match name {
            "passed" => include_str!("../../../docs/examples/passed.json"),
            "failed" => include_str!("../../../docs/examples/failed.json"),
            _ => include_str!("../../../docs/examples/error.json"),
        })
        .unwrap()
    }

    pub(crate) fn mk_pod(
        name: &str,
        run: Option<Run>,
        status: PodStatus,
        message: Option<&str>,
    ) -> PodReport {
        PodReport {
            name: name.into(),
            status,
            source: run.as_ref().map(|_| Source::Log),
            restarts: 0,
            message: message.map(str::to_string),
            run,
            html_report: None,
        }
    }

    pub(crate) fn mk_report(
        pods: Vec<PodReport>,
        status: Status,
        error: Option<&str>,
    ) -> GateReport {
        let t = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .to_utc();
        GateReport {
            schema: GATE_SCHEMA_ID.into(),
            namespace: "shop".into(),
            workload: WorkloadRef {
                kind: "Deployment".into(),
                name: "orders".into(),
                revision: Some("7".into()),
                replica_set: Some("orders-7c9f8d6b5".into()),
            },
            status,
            error: error.map(str::to_string),
            min_pods: 1,
            expected_pods: Some(pods.len()),
            pods_seen: pods.len(),
            pods_reported: pods.iter().filter(|p| p.run.is_some()).count(),
            pods_ignored: 0,
            started: t,
            finished: t,
            duration_ms: 0,
            pods,
            rollout: None,
        }
    }

    #[test]
    fn summary_has_pod_and_suite_rows_and_problems() {
        let r = mk_report(
            vec![
                mk_pod("orders-a", Some(example("passed")), PodStatus::Passed, None),
                mk_pod("orders-b", Some(example("failed")), PodStatus::Failed, None),
            ],
            Status::Failed,
            None,
        );
        let out = r.render_summary(false, true);
        assert!(
            out.contains("deployment shop/orders revision 7 (ReplicaSet orders-7c9f8d6b5)"),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("orders-a") && l.contains("PASSED")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("orders-b") && l.contains("load") && l.contains("FAILED")),
            "{out}"
        );
        assert!(
            out.contains("orders-b/load: failed http.response_time.p99 < 250"),
            "{out}"
        );
        assert!(
            out.contains("Verdict: FAILED (1 of 2 pod(s) passed, 2 reported"),
            "{out}"
        );
        let quiet = r.render_summary(false, false);
        assert!(!quiet.contains("RUNNER"));
    }

    #[test]
    fn junit_has_one_suite_per_pod_and_suite_plus_missing_pods() {
        let r = mk_report(
            vec![
                mk_pod("orders-a", Some(example("failed")), PodStatus::Failed, None),
                mk_pod(
                    "orders-b",
                    None,
                    PodStatus::Pending,
                    Some("no result yet: none of the 3 log lines"),
                ),
            ],
            Status::Error,
            Some("timed out"),
        );
        let xml = r.to_junit();
        assert!(xml.contains("testsuite name=\"orders-a/load\""), "{xml}");
        assert!(xml.contains("testsuite name=\"orders-b/testcar\""), "{xml}");
        assert!(
            xml.contains(
                "no result before the gate stopped: no result yet: none of the 3 log lines"
            ),
            "{xml}"
        );
    }

    #[test]
    fn junit_for_no_pods_names_the_workload() {
        let r = mk_report(vec![], Status::Error, Some("no pods found"));
        let xml = r.to_junit();
        assert!(
            xml.contains("testsuite name=\"deployment/orders/testcar\""),
            "{xml}"
        );
        assert!(xml.contains("no pods found"), "{xml}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["schema"], GATE_SCHEMA_ID);
        assert_eq!(json["status"], "error");
        assert_eq!(json["workload"]["replicaSet"], "orders-7c9f8d6b5");
    }

    #[test]
    fn the_rollout_figures_reach_summary_junit_and_json() {
        let (a, b) = (example("passed"), example("passed"));
        let rollout = crate::merge::merge(&[("orders-a", &a), ("orders-b", &b)], Some(2));
        let mut r = mk_report(
            vec![
                mk_pod("orders-a", Some(a.clone()), PodStatus::Passed, None),
                mk_pod("orders-b", Some(b.clone()), PodStatus::Passed, None),
            ],
            Status::Passed,
            None,
        );
        r.rollout = Some(rollout);
        let out = r.render_summary(false, true);
        assert!(out.contains("Rollout (the pods' figures merged"), "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("smoke") && l.contains("full") && l.contains(" 20 ")),
            "{out}"
        );
        // Every pod sent the full load: the pods are the judges, JUnit stays per pod.
        let xml = r.to_junit();
        assert!(!xml.contains("rollout/"), "{xml}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let smoke = &json["rollout"]["suites"][0];
        assert_eq!(smoke["name"], "smoke");
        assert_eq!(smoke["metrics"]["requests"], 20);
        assert_eq!(smoke["metrics"]["responseTime"]["count"], 20);
        assert_eq!(smoke["pods"], serde_json::json!(["orders-a", "orders-b"]));
    }
}
