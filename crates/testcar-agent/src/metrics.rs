//! The agent's Prometheus metrics (names fixed by the interface contract): run status and
//! duration, per-suite status, request/response/error counters, response-time histogram,
//! checks by status, agent info. Labels are bounded: suite names, codes, statuses.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use testcar_artillery::Hist;
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

/// Upper bounds of the response-time buckets, seconds: 1 ms doubling to ~33 s, then +Inf.
fn response_time_bounds() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16)
}

/// A suite's response-time histogram, replaced wholesale rather than observed sample by
/// sample: the engine already keeps every sample in an HDR histogram, so each update
/// re-buckets that (exact counts to HDR precision, live while the suite runs).
#[derive(Debug, Clone)]
struct ResponseTimes(Arc<Mutex<Buckets>>);

#[derive(Debug)]
struct Buckets {
    sum: f64,
    count: u64,
    /// (upper bound, samples in this bucket only), the last bound `f64::MAX` (+Inf).
    per_bucket: Vec<(f64, u64)>,
}

impl Default for ResponseTimes {
    fn default() -> Self {
        ResponseTimes(Arc::new(Mutex::new(Buckets {
            sum: 0.0,
            count: 0,
            per_bucket: response_time_bounds()
                .chain(std::iter::once(f64::MAX))
                .map(|b| (b, 0))
                .collect(),
        })))
    }
}

impl ResponseTimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self) -> u64 {
        self.lock().count
    }

    /// Every sample of `hist`.
    fn set_from_hist(&self, hist: &Hist) {
        let mut b = self.lock();
        let mut below = 0;
        for (bound, n) in b.per_bucket.iter_mut() {
            let upto = if *bound == f64::MAX {
                hist.len()
            } else {
                hist.count_at_or_below_seconds(*bound)
            };
            *n = upto.saturating_sub(below);
            below = below.max(upto);
        }
        b.count = hist.len();
        b.sum = hist.sum_seconds();
    }

    /// Only a summary is left (a result restored after a restart): spread its samples over
    /// its quantiles, each slice at its upper edge, so buckets never understate latency.
    fn set_from_summary(&self, rt: &LatencySummary) {
        let mut b = self.lock();
        for (_, n) in b.per_bucket.iter_mut() {
            *n = 0;
        }
        for (value_ms, n) in quantile_slices(rt) {
            let seconds = value_ms / 1000.0;
            if let Some((_, slot)) = b.per_bucket.iter_mut().find(|(bound, _)| seconds <= *bound) {
                *slot += n;
            }
        }
        b.count = rt.count;
        b.sum = rt.mean * rt.count as f64 / 1000.0;
    }
}

impl TypedMetric for ResponseTimes {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ResponseTimes {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let b = self.lock();
        encoder.encode_histogram::<NoLabelSet>(b.sum, b.count, &b.per_bucket, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
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
    response_time: Family<Labels, ResponseTimes>,
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
        let response_time = Family::<Labels, ResponseTimes>::default();
        registry.register(
            "testcar_suite_response_time_seconds",
            "Response times of a suite (request sent to response), live while it runs",
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

    /// Live response times of a suite: every sample so far.
    pub fn set_response_times(&self, suite: &str, hist: &Hist) {
        self.response_time
            .get_or_create(&labels(&[("suite", suite)]))
            .set_from_hist(hist);
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
            // Live samples are exact; the summary is the fallback for a restored result.
            if h.count() == 0 {
                h.set_from_summary(rt);
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
        // The max is a real sample: keep one for it however few there are.
        let upto = if q < 1.0 {
            (((rt.count as f64) * q).round() as u64).min(rt.count.saturating_sub(1))
        } else {
            rt.count
        };
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
    fn live_samples_fill_the_buckets_and_win_over_the_summary() {
        let m = Metrics::new();
        let mut h = Hist::new();
        for us in [500, 1_500, 1_999, 40_000] {
            h.record(us);
        }
        m.set_response_times("api", &h);
        let mut s = Suite::new("api", RunnerKind::Artillery);
        s.metrics = Some(HttpMetrics {
            requests: 4,
            responses: 4,
            response_time: Some(LatencySummary {
                count: 4,
                max: 900.0,
                p50: 900.0,
                ..Default::default()
            }),
            ..Default::default()
        });
        m.record_suite(&s, 4);
        let text = m.encode();
        for needle in [
            "testcar_suite_response_time_seconds_bucket{le=\"0.001\",suite=\"api\"} 1",
            "testcar_suite_response_time_seconds_bucket{le=\"0.002\",suite=\"api\"} 3",
            "testcar_suite_response_time_seconds_bucket{le=\"0.032\",suite=\"api\"} 3",
            "testcar_suite_response_time_seconds_bucket{le=\"0.064\",suite=\"api\"} 4",
            "testcar_suite_response_time_seconds_bucket{le=\"+Inf\",suite=\"api\"} 4",
            "testcar_suite_response_time_seconds_count{suite=\"api\"} 4",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn a_restored_summary_never_understates_latency() {
        let m = Metrics::new();
        let mut s = Suite::new("api", RunnerKind::Artillery);
        s.metrics = Some(HttpMetrics {
            response_time: Some(LatencySummary {
                count: 10,
                mean: 3.0,
                p50: 1.5,
                p75: 3.0,
                p90: 3.0,
                p95: 3.0,
                p99: 3.0,
                p999: 3.0,
                max: 20.0,
                ..Default::default()
            }),
            ..Default::default()
        });
        m.record_suite(&s, 0);
        let text = m.encode();
        for needle in [
            "testcar_suite_response_time_seconds_bucket{le=\"0.001\",suite=\"api\"} 0",
            "testcar_suite_response_time_seconds_bucket{le=\"0.002\",suite=\"api\"} 5",
            "testcar_suite_response_time_seconds_bucket{le=\"0.004\",suite=\"api\"} 9",
            "testcar_suite_response_time_seconds_bucket{le=\"0.032\",suite=\"api\"} 10",
            "testcar_suite_response_time_seconds_sum{suite=\"api\"} 0.03",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
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
