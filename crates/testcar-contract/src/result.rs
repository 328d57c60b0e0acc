//! Result schema v1: the document an agent prints as its last stdout line, writes to
//! `result.json` and serves at `/result`, and that the gate collects from every pod.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema id every result document carries in its `schema` field.
pub const SCHEMA_ID: &str = "testcar.io/result/v1";

/// Outcome of a run or a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything ran and every check held.
    Passed,
    /// Everything ran and at least one check, expectation or threshold failed.
    Failed,
    /// The tests could not be run or judged (bad definitions, unreachable target,
    /// credentials refused, timeout, interrupted).
    Error,
}

impl Status {
    /// The worse of two statuses: error beats failed beats passed.
    pub fn worst(self, other: Status) -> Status {
        fn rank(s: Status) -> u8 {
            match s {
                Status::Passed => 0,
                Status::Failed => 1,
                Status::Error => 2,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// Lowercase name as written in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The check held.
    Passed,
    /// The check did not hold (including a threshold over a metric with no data).
    Failed,
    /// The check could not be evaluated.
    Error,
}

impl CheckStatus {
    /// Lowercase name as written in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "failed",
            CheckStatus::Error => "error",
        }
    }
}

/// Which runner produced a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    /// An Artillery script run by Testcar's native engine.
    Artillery,
    /// Any command; its exit code is the verdict.
    Exec,
    /// A consistency (linearizability) suite.
    Consistency,
}

impl RunnerKind {
    /// Lowercase name as written in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerKind::Artillery => "artillery",
            RunnerKind::Exec => "exec",
            RunnerKind::Consistency => "consistency",
        }
    }
}

/// What kind of rule a check evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// A per-response expectation (Artillery `expect`), aggregated over all responses.
    Expect,
    /// A threshold on a metric (Artillery `ensure.thresholds`, legacy `ensure.p95` …).
    Threshold,
    /// A boolean expression over metrics (Artillery `ensure.conditions`).
    Condition,
    /// A linearizability verdict of a recorded history.
    Consistency,
    /// An exec suite's exit code.
    ExitCode,
}

impl CheckKind {
    /// Name as written in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Expect => "expect",
            CheckKind::Threshold => "threshold",
            CheckKind::Condition => "condition",
            CheckKind::Consistency => "consistency",
            CheckKind::ExitCode => "exit-code",
        }
    }
}

/// The pod a run happened in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PodRef {
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
}

/// A whole run of the agent: every suite, in order, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "Testcar result v1")]
pub struct Run {
    /// Always `testcar.io/result/v1`.
    pub schema: String,
    /// Unique id of this run (a UUID).
    pub run_id: String,
    /// The pod the agent ran in; absent for a run on a laptop or in CI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodRef>,
    /// Base URL of the service under test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Version of the agent that produced the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// When the run started (RFC 3339, UTC).
    pub started: DateTime<Utc>,
    /// When the run finished (RFC 3339, UTC).
    pub finished: DateTime<Utc>,
    /// Wall-clock duration of the run in milliseconds.
    pub duration_ms: u64,
    /// Verdict of the whole run: the worst of its suites, or `error` when it could not run.
    pub status: Status,
    /// Why the run is `error`, in one sentence (never contains secret material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Suites in the order they ran.
    #[serde(default)]
    pub suites: Vec<Suite>,
    /// Counts of suites and checks by status.
    pub summary: Summary,
}

/// One suite: an Artillery script, an exec command or a consistency test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suite {
    /// Suite name (from the manifest, else the file name).
    pub name: String,
    /// File the suite was defined in, by name: the manifest (`testcar.yaml`) for a suite it
    /// declares, else the script itself (`smoke.yml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Which runner ran it.
    pub runner: RunnerKind,
    /// Verdict of the suite.
    pub status: Status,
    /// Wall-clock duration in milliseconds.
    pub duration_ms: u64,
    /// Checks evaluated, in order.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// HTTP metrics (Artillery and consistency suites).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<HttpMetrics>,
    /// Exit code of an exec suite's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Last lines of an exec suite's combined output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tail: Option<String>,
    /// Why the suite is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files written for this suite, relative to the results folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<Report>,
    /// Faults injected while the suite ran (the manifest's `faults:`), one entry per
    /// window, with the times they really started and were healed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRecord>,
    /// Set when the suite ran a share of its script's load (`testcar.io/load: shared`):
    /// the rollout's pods together send the script's load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_share: Option<LoadShare>,
}

/// One fault window as it really happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultRecord {
    /// The fault: `latency`, `bandwidth`, `reset`, `stall`, `drop`, `cut`, `pause`, `kill`,
    /// `evict`, `delete-pod`, `netem`, `partition`.
    pub kind: String,
    /// What it hit: the proxied address (`127.0.0.1:8080`), the process (`etcd (pid 42)`) or
    /// the pod (`pod shop/web-7c9f8d6b5-2xkqz`).
    pub target: String,
    /// The fault's settings as configured (e.g. `{"latency": "200ms"}`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// When it took effect (RFC 3339, UTC).
    pub start: DateTime<Utc>,
    /// When it was healed; absent only if the agent died first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// What healed it: `schedule` (its window ended) or `suite end` (the suite finished,
    /// timed out or was stopped first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healed_by: Option<String>,
    /// What went wrong applying or healing it (process not found, restart failed, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the cluster did, for pod faults: `evicted`, `deleted`, `refused` (a
    /// PodDisruptionBudget allowed no disruption: the fault did not happen, and that is not
    /// an error) or `skipped` (another pod of the workload is older: its agent disrupts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Why: the API server's words for a refusal (the budget, its healthy pod count), the
    /// older pod for a skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The share of a script's load one pod sent (`testcar.io/load: shared`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoadShare {
    /// The replicas the load was divided across (`testcar.io/replicas`): this pod sent
    /// `1/replicas` of every phase's arrivals.
    pub replicas: u32,
}

/// A file written next to the result (Artillery report, full exec log, history view …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// What the file holds, e.g. `artillery-report`, `exec-log`, `history-html`.
    pub kind: String,
    /// Path relative to the results folder.
    pub path: String,
}

/// One rule and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// What was checked, e.g. `http.response_time.p95 < 200` or `GET /users statusCode 200`.
    pub name: String,
    /// Kind of rule.
    pub kind: CheckKind,
    /// Whether it held.
    pub status: CheckStatus,
    /// The value observed (a number, string or null when the metric had no data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<serde_json::Value>,
    /// The value or expression expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<serde_json::Value>,
    /// For aggregated expectations: how many evaluations held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passes: Option<u64>,
    /// For aggregated expectations: how many evaluations did not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u64>,
    /// Human explanation, especially of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// HTTP metrics of a suite, named after Artillery's where they have a counterpart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpMetrics {
    /// Requests sent (`http.requests`).
    pub requests: u64,
    /// Responses received (`http.responses`).
    pub responses: u64,
    /// Responses by status code (`http.codes.<n>`).
    #[serde(default)]
    pub codes: BTreeMap<String, u64>,
    /// Failed requests by error code (`errors.<code>`, e.g. `ETIMEDOUT`, `ECONNREFUSED`).
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Response body bytes received (`http.downloaded_bytes`).
    pub downloaded_bytes: u64,
    /// Mean request rate over the suite, requests per second (`http.request_rate`).
    pub request_rate: f64,
    /// Response time as Artillery defines it: request sent → response (`http.response_time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<LatencySummary>,
    /// Response time from the *intended* send time (free of coordinated omission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_intended: Option<LatencySummary>,
    /// Virtual users.
    #[serde(default)]
    pub vusers: VuserCounts,
    /// Every other counter by its Artillery name (e.g. `plugins.expect.ok`,
    /// `vusers.created_by_name.<scenario>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
    /// Every other latency summary by name (per status class, per endpoint).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub summaries: BTreeMap<String, LatencySummary>,
    /// The latency histograms behind the summaries, by Artillery name
    /// (`http.response_time`, `testcar.http.response_time_intended`, …): HDR histograms of
    /// microseconds in HdrHistogram's V2 deflate encoding, base64 (see
    /// [`crate::histogram`]). The gate adds them up for exact rollout percentiles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub histograms: BTreeMap<String, String>,
}

/// Latency summary in milliseconds, from an HDR histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

/// Virtual users (Artillery's `vusers.*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VuserCounts {
    /// Virtual users started (`vusers.created`).
    pub created: u64,
    /// Virtual users that ran their scenario to the end (`vusers.completed`).
    pub completed: u64,
    /// Virtual users stopped by an error or a failed strict capture (`vusers.failed`).
    pub failed: u64,
    /// Arrivals not started because `maxVusers` was reached (`vusers.skipped`).
    pub skipped: u64,
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// All of them.
    pub total: u64,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Error.
    pub error: u64,
}

/// Counts of suites and checks by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Suites by status.
    pub suites: Counts,
    /// Checks by status.
    pub checks: Counts,
}

impl Summary {
    /// Count the suites and checks of `suites`.
    pub fn of(suites: &[Suite]) -> Summary {
        let mut summary = Summary::default();
        for suite in suites {
            summary.suites.total += 1;
            match suite.status {
                Status::Passed => summary.suites.passed += 1,
                Status::Failed => summary.suites.failed += 1,
                Status::Error => summary.suites.error += 1,
            }
            for check in &suite.checks {
                summary.checks.total += 1;
                match check.status {
                    CheckStatus::Passed => summary.checks.passed += 1,
                    CheckStatus::Failed => summary.checks.failed += 1,
                    CheckStatus::Error => summary.checks.error += 1,
                }
            }
        }
        summary
    }
}

impl Suite {
    /// A suite with no checks yet, for builders.
    pub fn new(name: impl Into<String>, runner: RunnerKind) -> Suite {
        Suite {
            name: name.into(),
            source: None,
            runner,
            status: Status::Passed,
            duration_ms: 0,
            checks: Vec::new(),
            metrics: None,
            exit_code: None,
            output_tail: None,
            error: None,
            reports: Vec::new(),
            faults: Vec::new(),
            load_share: None,
        }
    }

    /// The status implied by the checks: `failed` if one failed, `error` if one errored.
    pub fn status_from_checks(&self) -> Status {
        self.checks.iter().fold(Status::Passed, |acc, c| {
            acc.worst(match c.status {
                CheckStatus::Passed => Status::Passed,
                CheckStatus::Failed => Status::Failed,
                CheckStatus::Error => Status::Error,
            })
        })
    }
}

impl Run {
    /// Assemble a finished run: status is the worst suite status (an empty list of suites
    /// is an `error`, never a pass), `error` is kept if given, summary counted.
    pub fn finish(
        run_id: impl Into<String>,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        suites: Vec<Suite>,
        error: Option<String>,
    ) -> Run {
        let mut status = suites
            .iter()
            .fold(Status::Passed, |acc, s| acc.worst(s.status));
        let mut error = error;
        if suites.is_empty() && error.is_none() {
            error = Some("no test suites were found or run".to_string());
        }
        if error.is_some() {
            status = Status::Error;
        }
        let duration_ms = (finished - started).num_milliseconds().max(0) as u64;
        Run {
            schema: SCHEMA_ID.to_string(),
            run_id: run_id.into(),
            pod: None,
            target: None,
            agent_version: None,
            started,
            finished,
            duration_ms,
            status,
            error,
            summary: Summary::of(&suites),
            suites,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_check(status: CheckStatus) -> Check {
        Check {
            name: "c".into(),
            kind: CheckKind::Threshold,
            status,
            observed: None,
            expected: None,
            passes: None,
            failures: None,
            message: None,
        }
    }

    fn mk_suite(status: Status, checks: Vec<Check>) -> Suite {
        let mut s = Suite::new("s", RunnerKind::Artillery);
        s.status = status;
        s.checks = checks;
        s
    }

    #[test]
    fn empty_run_is_an_error_not_a_pass() {
        let now = Utc::now();
        let run = Run::finish("id", now, now, vec![], None);
        assert_eq!(run.status, Status::Error);
        assert!(run.error.unwrap().contains("no test suites"));
    }

    #[test]
    fn run_status_is_worst_suite() {
        let now = Utc::now();
        let suites = vec![
            mk_suite(Status::Passed, vec![mk_check(CheckStatus::Passed)]),
            mk_suite(Status::Failed, vec![mk_check(CheckStatus::Failed)]),
        ];
        let run = Run::finish("id", now, now, suites, None);
        assert_eq!(run.status, Status::Failed);
        assert_eq!(run.summary.suites.failed, 1);
        assert_eq!(run.summary.checks.total, 2);
        assert_eq!(run.summary.checks.passed, 1);
    }

    #[test]
    fn status_from_checks() {
        let s = mk_suite(
            Status::Passed,
            vec![mk_check(CheckStatus::Passed), mk_check(CheckStatus::Error)],
        );
        assert_eq!(s.status_from_checks(), Status::Error);
    }

    #[test]
    fn faults_are_optional_both_ways() {
        let mut s = mk_suite(Status::Passed, vec![]);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("faults").is_none(), "absent when there are none");
        let back: Suite = serde_json::from_value(json).unwrap();
        assert!(back.faults.is_empty());
        s.faults.push(FaultRecord {
            kind: "latency".into(),
            target: "127.0.0.1:8080".into(),
            params: serde_json::json!({"latency": "200ms"})
                .as_object()
                .unwrap()
                .clone(),
            start: Utc::now(),
            end: Some(Utc::now()),
            healed_by: Some("schedule".into()),
            error: None,
            outcome: None,
            detail: None,
        });
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["faults"][0]["healedBy"], "schedule");
        assert_eq!(serde_json::from_value::<Suite>(json).unwrap(), s);
    }
}
