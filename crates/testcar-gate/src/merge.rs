//! One rollout, one load: the pods' suites merged into rollout figures. Each pod's result
//! carries its latency histograms (HDR, lossless), so the rollout's p50/p95/p99/max are
//! read from the pods' histograms added together — exact, where an average of the pods'
//! percentiles is not a percentile of anything. Counters are summed. `ensure` thresholds
//! the pods judged are judged again on the merged figures; conditions (free expressions)
//! are not, and are listed as such. With `testcar.io/load: shared` the merged judgement is
//! the one that counts (each pod sent only a share of the script's load), and the gate
//! checks that the shares add up to the script's load.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;
use testcar_contract::histogram::{self, micros_to_ms, summary_of};
use testcar_contract::{
    Check, CheckKind, CheckStatus, HttpMetrics, LatencySummary, LoadShare, Run, Status, Suite,
};

/// Artillery's name of the intended response time, as the engine records it.
const INTENDED: &str = "testcar.http.response_time_intended";
/// Artillery's name of the response time.
const RESPONSE_TIME: &str = "http.response_time";

/// Rollout figures of every suite the pods ran, matched by suite name.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// One entry per suite name, in the order the first pod ran them.
    pub suites: Vec<RolloutSuite>,
    /// What makes the merged figures wrong (a shared load whose shares do not add up);
    /// each makes the gate's verdict `error`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// One suite across the pods.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSuite {
    /// Merged suite: the name, the runner, the thresholds judged again on the merged
    /// figures, the merged metrics; `status` is the worst of the pods' and the merged
    /// checks'.
    #[serde(flatten)]
    pub suite: Suite,
    /// The pods that ran it.
    pub pods: Vec<String>,
    /// Checks not judged again, with why (conditions, rates, figures without histograms).
    /// Expectations are merged (their tallies summed); exit codes and consistency verdicts
    /// stay the pods' own and are not listed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_rejudged: Vec<String>,
    /// Latency figures without an exact rollout value because a pod's result carries no
    /// histogram for them (an older agent); their summaries are left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inexact: Vec<String>,
}

impl Rollout {
    /// Whether the merged judgement decides the verdict: some suite's load was shared.
    pub fn shared(&self) -> bool {
        self.suites.iter().any(|s| s.suite.load_share.is_some())
    }

    /// Whether the rollout section says more than the pod rows: a suite ran in several pods
    /// or on a shared load.
    pub fn worth_showing(&self) -> bool {
        self.suites
            .iter()
            .any(|s| s.pods.len() > 1 || s.suite.load_share.is_some())
    }

    /// The verdict the merged figures give: the worst status of the shared suites (a suite
    /// run in full by every pod is judged per pod; its rollout figures only inform).
    pub fn status(&self) -> Status {
        self.suites
            .iter()
            .filter(|s| s.suite.load_share.is_some())
            .map(|s| s.suite.status)
            .fold(Status::Passed, Status::worst)
    }

    /// The summary's rollout section: one row per suite with the merged figures, then the
    /// merged checks that did not hold and what was not judged again.
    pub fn render_summary(&self) -> String {
        use std::fmt::Write;
        let ms = |s: Option<&LatencySummary>, f: fn(&LatencySummary) -> f64| {
            s.filter(|s| s.count > 0)
                .map(|s| format!("{:.1}", f(s)))
                .unwrap_or_else(|| "-".into())
        };
        let mut rows: Vec<Vec<String>> = vec![
            [
                "SUITE", "STATUS", "PODS", "LOAD", "REQUESTS", "ERRORS", "P50", "P95", "P99", "MAX",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for s in &self.suites {
            let m = s.suite.metrics.as_ref();
            let rt = m.and_then(|m| m.response_time.as_ref());
            rows.push(vec![
                s.suite.name.clone(),
                s.suite.status.as_str().to_uppercase(),
                s.pods.len().to_string(),
                match s.suite.load_share {
                    Some(l) => format!("shared 1/{}", l.replicas),
                    None => "full".into(),
                },
                m.map(|m| m.requests.to_string())
                    .unwrap_or_else(|| "-".into()),
                m.map(|m| m.errors.values().sum::<u64>().to_string())
                    .unwrap_or_else(|| "-".into()),
                ms(rt, |s| s.p50),
                ms(rt, |s| s.p95),
                ms(rt, |s| s.p99),
                ms(rt, |s| s.max),
            ]);
        }
        let mut widths = vec![0usize; rows[0].len()];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::from("Rollout (the pods' figures merged; latency in ms):\n");
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        // A suite every pod ran in full is judged per pod: its rollout row informs, and its
        // merged checks would only repeat the pods' findings.
        for s in self.suites.iter().filter(|s| s.suite.load_share.is_some()) {
            for c in s
                .suite
                .checks
                .iter()
                .filter(|c| c.status != CheckStatus::Passed)
            {
                let observed = c
                    .observed
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "no data".into());
                let _ = writeln!(
                    out,
                    "  rollout/{}: {} {} (rollout: {observed})",
                    s.suite.name,
                    c.status.as_str(),
                    c.name
                );
            }
            for n in &s.not_rejudged {
                let _ = writeln!(out, "  rollout/{}: not judged again: {n}", s.suite.name);
            }
            for n in &s.inexact {
                let _ = writeln!(out, "  rollout/{}: no exact figure: {n}", s.suite.name);
            }
        }
        out
    }

    /// The merged suites run on a shared load as a result document, for JUnit
    /// (`rollout/<suite>`): their merged judgement is the one that counts.
    pub fn as_run(&self, started: chrono::DateTime<chrono::Utc>) -> Run {
        let mut run = Run::finish(
            "rollout",
            started,
            started,
            self.suites
                .iter()
                .filter(|s| s.suite.load_share.is_some())
                .map(|s| s.suite.clone())
                .collect(),
            None,
        );
        run.suites.iter_mut().for_each(|s| {
            if let Some(m) = &mut s.metrics {
                m.histograms.clear();
            }
        });
        run.summary = testcar_contract::Summary::of(&run.suites);
        run
    }
}

/// Merge the suites of `runs` (pod name, result) by name. `expected_pods` is the
/// workload's replica count when known (a Deployment's `spec.replicas`).
pub fn merge(runs: &[(&str, &Run)], expected_pods: Option<usize>) -> Rollout {
    let mut order: Vec<&str> = Vec::new();
    let mut by_name: BTreeMap<&str, Vec<(&str, &Suite)>> = BTreeMap::new();
    for (pod, run) in runs {
        for s in &run.suites {
            if !by_name.contains_key(s.name.as_str()) {
                order.push(&s.name);
            }
            by_name.entry(&s.name).or_default().push((pod, s));
        }
    }
    let mut out = Rollout::default();
    for name in order {
        let members = &by_name[name];
        let merged = merge_suite(name, members);
        if let Some(share) = merged.suite.load_share {
            out.problems
                .extend(share_problems(name, members, share, expected_pods));
        }
        out.suites.push(merged);
    }
    out
}

/// A shared load is right only when exactly `replicas` pods each ran a `1/replicas` share.
fn share_problems(
    name: &str,
    members: &[(&str, &Suite)],
    share: LoadShare,
    expected_pods: Option<usize>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let declared: Vec<u32> = members
        .iter()
        .map(|(_, s)| s.load_share.map(|l| l.replicas).unwrap_or(1))
        .collect();
    let full = members
        .iter()
        .filter(|(_, s)| s.load_share.is_none())
        .count();
    if full > 0 || declared.iter().any(|n| *n != share.replicas) {
        problems.push(format!(
            "suite {name}: the pods disagree on the load share (testcar.io/load, testcar.io/replicas): {}; the rollout's load is not the script's",
            members
                .iter()
                .map(|(pod, s)| match s.load_share {
                    Some(l) => format!("{pod} 1/{}", l.replicas),
                    None => format!("{pod} full"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return problems;
    }
    let n = share.replicas as usize;
    if members.len() != n {
        problems.push(format!(
            "suite {name}: {} pod(s) ran a 1/{n} share each (testcar.io/replicas: \"{n}\"), so the rollout sent {}/{n} of the script's load; set testcar.io/replicas to the workload's replicas and do not scale it while the tests run",
            members.len(),
            members.len()
        ));
    } else if let Some(expected) = expected_pods.filter(|e| *e != n) {
        problems.push(format!(
            "suite {name}: testcar.io/replicas is \"{n}\" but the workload has {expected} replicas; write both from the same value"
        ));
    }
    problems
}

fn merge_suite(name: &str, members: &[(&str, &Suite)]) -> RolloutSuite {
    let first = members[0].1;
    let mut suite = Suite::new(name, first.runner);
    suite.source = first.source.clone();
    suite.duration_ms = members
        .iter()
        .map(|(_, s)| s.duration_ms)
        .max()
        .unwrap_or(0);
    suite.load_share = first.load_share;
    let pods: Vec<String> = members.iter().map(|(p, _)| p.to_string()).collect();
    let mut inexact = Vec::new();
    let metrics: Vec<(&str, &HttpMetrics)> = members
        .iter()
        .filter_map(|(p, s)| s.metrics.as_ref().map(|m| (*p, m)))
        .collect();
    let mut without = Vec::new();
    if !metrics.is_empty() {
        suite.metrics = Some(merge_metrics(&metrics, &mut inexact, &mut without));
    }
    let mut not_rejudged = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (_, s) in members {
        for c in &s.checks {
            if seen.contains(&c.name.as_str()) {
                continue;
            }
            seen.push(&c.name);
            match c.kind {
                // Every evaluation of an expectation counts: the pods' tallies add up.
                CheckKind::Expect => suite.checks.push(merge_expect(&c.name, members)),
                // A pod's own verdict (its command, its history); nothing to merge.
                CheckKind::ExitCode | CheckKind::Consistency => {}
                _ => match rejudge(
                    c,
                    suite.metrics.as_ref(),
                    suite.load_share.is_some(),
                    &without,
                ) {
                    Ok(check) => suite.checks.push(check),
                    Err(why) => not_rejudged.push(format!("{}: {why}", c.name)),
                },
            }
        }
    }
    suite.status = members
        .iter()
        .map(|(_, s)| s.status)
        .fold(suite.status_from_checks(), Status::worst);
    RolloutSuite {
        suite,
        pods,
        not_rejudged,
        inexact,
    }
}

/// An expectation across the pods: passes and failures summed; failed if any failed.
fn merge_expect(name: &str, members: &[(&str, &Suite)]) -> Check {
    let same = members
        .iter()
        .flat_map(|(pod, s)| s.checks.iter().map(move |c| (*pod, c)))
        .filter(|(_, c)| c.name == name);
    let mut out: Option<Check> = None;
    for (pod, c) in same {
        let o = out.get_or_insert_with(|| Check {
            passes: Some(0),
            failures: Some(0),
            message: None,
            status: CheckStatus::Passed,
            ..c.clone()
        });
        o.passes = Some(o.passes.unwrap_or(0) + c.passes.unwrap_or(0));
        o.failures = Some(o.failures.unwrap_or(0) + c.failures.unwrap_or(0));
        if c.status != CheckStatus::Passed && o.status == CheckStatus::Passed {
            o.status = c.status;
            o.message = c.message.as_ref().map(|m| format!("{pod}: {m}"));
        }
    }
    out.expect("the name comes from one of the members")
}

fn add_all(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// `inexact` gets why a latency figure has no exact rollout value, `without` its name.
fn merge_metrics(
    pods: &[(&str, &HttpMetrics)],
    inexact: &mut Vec<String>,
    without: &mut Vec<String>,
) -> HttpMetrics {
    let mut out = HttpMetrics::default();
    for (_, m) in pods {
        out.requests += m.requests;
        out.responses += m.responses;
        out.downloaded_bytes += m.downloaded_bytes;
        // The pods run side by side: the rollout's rate is the sum of theirs.
        out.request_rate += m.request_rate;
        add_all(&mut out.codes, &m.codes);
        add_all(&mut out.errors, &m.errors);
        add_all(&mut out.counters, &m.counters);
        out.vusers.created += m.vusers.created;
        out.vusers.completed += m.vusers.completed;
        out.vusers.failed += m.vusers.failed;
        out.vusers.skipped += m.vusers.skipped;
    }
    let mut names: Vec<&str> = Vec::new();
    for (_, m) in pods {
        names.extend(summaries_of(m).map(|(n, _)| n));
    }
    names.sort_unstable();
    names.dedup();
    for name in names {
        match merge_latency(pods, name) {
            Ok((summary, hist)) => {
                match histogram::encode(&hist) {
                    Ok(text) => {
                        out.histograms.insert(name.to_string(), text);
                    }
                    Err(e) => tracing::warn!(histogram = name, error = %e, "cannot encode"),
                }
                match name {
                    RESPONSE_TIME => out.response_time = Some(summary),
                    INTENDED => out.response_time_intended = Some(summary),
                    other => {
                        out.summaries.insert(other.to_string(), summary);
                    }
                }
            }
            Err(why) => {
                inexact.push(format!("{name}: {why}"));
                without.push(name.to_string());
            }
        }
    }
    out
}

/// A pod's latency summaries by Artillery name.
fn summaries_of(m: &HttpMetrics) -> impl Iterator<Item = (&str, &LatencySummary)> {
    m.response_time
        .iter()
        .map(|s| (RESPONSE_TIME, s))
        .chain(m.response_time_intended.iter().map(|s| (INTENDED, s)))
        .chain(m.summaries.iter().map(|(k, s)| (k.as_str(), s)))
}

/// The rollout summary of `name`: the pods' histograms added; min, max and mean from the
/// pods' exact figures.
fn merge_latency(
    pods: &[(&str, &HttpMetrics)],
    name: &str,
) -> Result<(LatencySummary, Histogram<u64>), String> {
    let mut hist = histogram::new_latency_histogram();
    let (mut min, mut max, mut weighted, mut count) = (f64::INFINITY, 0f64, 0f64, 0u64);
    for (pod, m) in pods {
        let Some((_, s)) = summaries_of(m).find(|(n, _)| *n == name) else {
            continue;
        };
        if s.count == 0 {
            continue;
        }
        let Some(text) = m.histograms.get(name) else {
            return Err(format!(
                "pod {pod}'s result has no histogram (an agent before histograms were published)"
            ));
        };
        let h = histogram::decode(text).map_err(|e| format!("pod {pod}: {e}"))?;
        histogram::add(&mut hist, &h).map_err(|e| format!("pod {pod}: {e}"))?;
        min = min.min(s.min);
        max = max.max(s.max);
        weighted += s.mean * s.count as f64;
        count += s.count;
    }
    if count == 0 {
        return Ok((LatencySummary::default(), hist));
    }
    let mean = micros_to_ms(weighted / count as f64 * 1000.0);
    Ok((summary_of(&hist, min, max, mean), hist))
}

/// The stats a summary offers to `ensure`, as Artillery names them.
fn stat(s: &LatencySummary, name: &str) -> Option<f64> {
    Some(match name {
        "min" => s.min,
        "max" => s.max,
        "mean" => s.mean,
        "count" => s.count as f64,
        "p50" | "median" => s.p50,
        "p75" => s.p75,
        "p90" => s.p90,
        "p95" => s.p95,
        "p99" => s.p99,
        "p999" => s.p999,
        _ => return None,
    })
}

/// What a metric name means on the merged figures.
enum Value {
    Num(f64),
    /// Absent: as in the engine, the threshold fails with "no data".
    Missing,
}

fn lookup(m: &HttpMetrics, name: &str, shared: bool) -> Result<Value, String> {
    let counter = match name {
        "http.requests" => Some(m.requests),
        "http.responses" => Some(m.responses),
        "http.downloaded_bytes" => Some(m.downloaded_bytes),
        "vusers.created" => Some(m.vusers.created),
        "vusers.completed" => Some(m.vusers.completed),
        "vusers.failed" => Some(m.vusers.failed),
        "vusers.skipped" => Some(m.vusers.skipped),
        _ => name
            .strip_prefix("http.codes.")
            .and_then(|c| m.codes.get(c))
            .or_else(|| name.strip_prefix("errors.").and_then(|c| m.errors.get(c)))
            .or_else(|| m.counters.get(name))
            .copied(),
    };
    if let Some(v) = counter {
        if !shared {
            return Err(
                "a count over a full load is judged per pod (each pod sent the script's load)"
                    .into(),
            );
        }
        return Ok(Value::Num(v as f64));
    }
    if name.ends_with("_rate") {
        return Err("a rate is measured per pod".into());
    }
    if let Some((base, st)) = name.rsplit_once('.') {
        let summary = match base {
            RESPONSE_TIME => m.response_time.as_ref(),
            INTENDED => m.response_time_intended.as_ref(),
            other => m.summaries.get(other),
        };
        if let Some(v) = summary.and_then(|s| stat(s, st)) {
            return Ok(Value::Num(v));
        }
    }
    Ok(Value::Missing)
}

/// Judge a pod's threshold check again on the merged figures. Thresholds read
/// `<metric> < <value>` (`ensure.thresholds` and the legacy `ensure.p95`-style keys) or
/// `maxErrorRate < <value>`; conditions are free expressions and are not judged again.
fn rejudge(
    c: &Check,
    merged: Option<&HttpMetrics>,
    shared: bool,
    without: &[String],
) -> Result<Check, String> {
    if c.kind != CheckKind::Threshold {
        return Err("a condition is an expression; judged per pod only".into());
    }
    let Some(m) = merged else {
        return Err("no metrics to judge it on".into());
    };
    let text = c.name.strip_suffix(" (optional)").unwrap_or(&c.name);
    let (metric, limit) = text
        .split_once(" < ")
        .and_then(|(m, v)| Some((m.trim(), v.trim().parse::<f64>().ok()?)))
        .ok_or_else(|| format!("not a `metric < value` threshold: {text}"))?;
    let (observed, held) = if metric == "maxErrorRate" {
        let created = m.vusers.created as f64;
        let rate = (created - m.vusers.completed as f64) / created * 100.0;
        // As the engine: NaN (no VUs) does not hold.
        (Value::Num(rate), rate <= limit)
    } else {
        let name = match metric {
            "min" | "max" | "median" | "p95" | "p99" => format!("{RESPONSE_TIME}.{metric}"),
            other => other.to_string(),
        };
        if let Some((base, _)) = name
            .rsplit_once('.')
            .filter(|(b, _)| without.iter().any(|w| w == b))
        {
            return Err(format!(
                "no exact rollout figure for {base} (a pod's result has no histogram)"
            ));
        }
        match lookup(m, &name, shared)? {
            Value::Num(v) => (Value::Num(v), v < limit),
            Value::Missing => (Value::Missing, false),
        }
    };
    let mut check = c.clone();
    check.status = if held {
        CheckStatus::Passed
    } else {
        CheckStatus::Failed
    };
    check.passes = None;
    check.failures = None;
    check.message = None;
    match observed {
        Value::Num(v) => {
            check.observed = Some(serde_json::json!(v));
            if !held {
                check.message = Some("the threshold did not hold on the rollout's figures".into());
            }
        }
        Value::Missing => {
            check.observed = None;
            check.message = Some(format!("no data for {metric} in any pod"));
        }
    }
    Ok(check)
}

#[cfg(test)]
#[path = "merge/tests.rs"]
mod tests;
