//! The agent's Prometheus metrics (names fixed by the interface contract): run status and
//! duration, per-suite status, request/response/error counters, response-time histogram,
//! checks by status, agent info. Labels are bounded: suite names, codes, statuses.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use testcar_contract::{LatencySummary, Run, Suite};

type Labels = Vec<(String, String)>;

const RUN_STATES: [&str; 5] = ["pending", "running", "passed", "failed", "error"];
const STATUSES: [&str; 3] = ["passed", "failed", "error"];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn response_time_histogram() -> Histogram {
    // 1 ms .. ~33 s
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 16,
    ))
}

/// The agent's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    run_status: Family<Labels, Gauge>,
    run_duration: Gauge<f64, AtomicU64>,
    suite_status: Family<Labels, Gauge>,
    requests: Family<Labels, Counter>,
    responses: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    response_time: Family<Labels, Histogram, fn() -> Histogram>,
    checks: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric; status is `pending`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let run_status = Family::<Labels, Gauge>::default();
        registry.register(
            "testcar_run_status",
            "1 for the run's current status (pending, running, passed, failed, error), 0 for the others",
            run_status.clone(),
        );
        let run_duration = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "testcar_run_duration_seconds",
            "Wall-clock duration of the run so far, or of the finished run",
            run_duration.clone(),
        );
        let suite_status = Family::<Labels, Gauge>::default();
        registry.register(
            "testcar_suite_status",
            "1 for each suite's status",
            suite_status.clone(),
        );
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "testcar_suite_requests",
            "HTTP requests sent by a suite",
            requests.clone(),
        );
        let responses = Family::<Labels, Counter>::default();
        registry.register(
            "testcar_suite_responses",
            "HTTP responses received by a suite, by status code",
            responses.clone(),
        );
        let errors = Family::<Labels, Counter>::default();
        registry.register(
            "testcar_suite_errors",
            "Failed requests of a suite, by error code (e.g. ECONNREFUSED)",
            errors.clone(),
        );
        let response_time = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            response_time_histogram as fn() -> Histogram,
        );
        registry.register(
            "testcar_suite_response_time_seconds",
            "Response times of a suite, filled from its percentiles when it ends",
            response_time.clone(),
        );
        let checks = Family::<Labels, Gauge>::default();
        registry.register(
            "testcar_checks",
            "Checks of the run by status",
            checks.clone(),
        );
        let info = Family::<Labels, Gauge>::default();
        registry.register("testcar_agent_info", "Agent version", info.clone());
        info.get_or_create(&labels(&[("version", env!("CARGO_PKG_VERSION"))]))
            .set(1);

        let metrics = Metrics {
            registry,
            run_status,
            run_duration,
            suite_status,
            requests,
            responses,
            errors,
            response_time,
            checks,
        };
        for status in STATUSES {
            metrics
                .checks
                .get_or_create(&labels(&[("status", status)]))
                .set(0);
        }
        metrics.set_state("pending");
        metrics
    }

    /// Mark `state` (pending, running, passed, failed, error) as current.
    pub fn set_state(&self, state: &str) {
        for s in RUN_STATES {
            self.run_status
                .get_or_create(&labels(&[("status", s)]))
                .set(i64::from(s == state));
        }
    }

    /// Run duration so far.
    pub fn set_duration(&self, seconds: f64) {
        self.run_duration.set(seconds);
    }

    /// Requests counted live while a suite runs.
    pub fn add_requests(&self, suite: &str, n: u64) {
        if n > 0 {
            self.requests
                .get_or_create(&labels(&[("suite", suite)]))
                .inc_by(n);
        }
    }

    /// A suite ended; `requests_seen` is what [`Metrics::add_requests`] already counted.
    pub fn record_suite(&self, suite: &Suite, requests_seen: u64) {
        for status in STATUSES {
            self.suite_status
                .get_or_create(&labels(&[
                    ("suite", &suite.name),
                    ("runner", suite.runner.as_str()),
                    ("status", status),
                ]))
                .set(i64::from(status == suite.status.as_str()));
        }
        let Some(m) = &suite.metrics else { return };
        self.add_requests(&suite.name, m.requests.saturating_sub(requests_seen));
        for (code, n) in &m.codes {
            self.responses
                .get_or_create(&labels(&[("suite", &suite.name), ("code", code)]))
                .inc_by(*n);
        }
        for (code, n) in &m.errors {
            self.errors
                .get_or_create(&labels(&[("suite", &suite.name), ("code", code)]))
                .inc_by(*n);
        }
        if let Some(rt) = &m.response_time {
            let h = self
                .response_time
                .get_or_create(&labels(&[("suite", &suite.name)]));
            for (value_ms, n) in quantile_slices(rt) {
                for _ in 0..n {
                    h.observe(value_ms / 1000.0);
                }
            }
        }
    }

    /// The run ended.
    pub fn record_run(&self, run: &Run) {
        self.set_state(run.status.as_str());
        self.set_duration(run.duration_ms as f64 / 1000.0);
        let c = &run.summary.checks;
        for (status, n) in [
            ("passed", c.passed),
            ("failed", c.failed),
            ("error", c.error),
        ] {
            self.checks
                .get_or_create(&labels(&[("status", status)]))
                .set(n as i64);
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Spread a summary's `count` samples over its quantiles, each slice at its upper edge
/// (so bucket counts never understate latency): 50% at p50, 25% at p75, ... 0.1% at max.
fn quantile_slices(rt: &LatencySummary) -> Vec<(f64, u64)> {
    let edges = [
        (0.50, rt.p50),
        (0.75, rt.p75),
        (0.90, rt.p90),
        (0.95, rt.p95),
        (0.99, rt.p99),
        (0.999, rt.p999),
        (1.0, rt.max),
    ];
    let mut out = Vec::with_capacity(edges.len());
    let mut taken = 0u64;
    for (q, value) in edges {
        let upto = ((rt.count as f64) * q).round() as u64;
        let n = upto.saturating_sub(taken);
        taken += n;
        if n > 0 {
            out.push((value, n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use testcar_contract::{HttpMetrics, RunnerKind, Status};

    #[test]
    fn slices_cover_every_sample() {
        let rt = LatencySummary {
            count: 1000,
            min: 1.0,
            max: 90.0,
            mean: 5.0,
            p50: 4.0,
            p75: 6.0,
            p90: 9.0,
            p95: 12.0,
            p99: 30.0,
            p999: 80.0,
        };
        let slices = quantile_slices(&rt);
        assert_eq!(slices.iter().map(|(_, n)| n).sum::<u64>(), 1000);
        assert_eq!(slices[0], (4.0, 500));
        assert_eq!(slices.last().copied(), Some((90.0, 1)));
    }

    #[test]
    fn exposition_has_the_contract_names() {
        let m = Metrics::new();
        let mut s = Suite::new("smoke", RunnerKind::Artillery);
        s.status = Status::Failed;
        let mut hm = HttpMetrics {
            requests: 10,
            responses: 9,
            ..Default::default()
        };
        hm.codes.insert("200".into(), 9);
        hm.errors.insert("ECONNREFUSED".into(), 1);
        hm.response_time = Some(LatencySummary {
            count: 9,
            p50: 2.0,
            p75: 3.0,
            p90: 4.0,
            p95: 5.0,
            p99: 6.0,
            p999: 6.0,
            max: 6.0,
            ..Default::default()
        });
        s.metrics = Some(hm);
        m.add_requests("smoke", 4);
        m.record_suite(&s, 4);
        let text = m.encode();
        for needle in [
            "testcar_run_status{status=\"pending\"} 1",
            "testcar_run_status{status=\"passed\"} 0",
            "testcar_suite_status{suite=\"smoke\",runner=\"artillery\",status=\"failed\"} 1",
            "testcar_suite_requests_total{suite=\"smoke\"} 10",
            "testcar_suite_responses_total{suite=\"smoke\",code=\"200\"} 9",
            "testcar_suite_errors_total{suite=\"smoke\",code=\"ECONNREFUSED\"} 1",
            "testcar_suite_response_time_seconds_count{suite=\"smoke\"} 9",
            "testcar_checks{status=\"failed\"} 0",
            "testcar_agent_info{version=\"",
            "testcar_run_duration_seconds ",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
