//! Counters and HDR histograms under Artillery's metric names, kept per 10 s period and in
//! aggregate. A period's histograms are reduced to summaries when it closes, so memory stays
//! bounded however long the run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::{Value as Json, json};
use testcar_contract::LatencySummary;

/// Length of an intermediate period, like Artillery's.
pub const PERIOD_MS: u64 = 10_000;

/// Testcar's name for the response time measured from the intended send time.
pub const INTENDED_RESPONSE_TIME: &str = "testcar.http.response_time_intended";

/// Histogram values are microseconds; reports show milliseconds.
const MAX_MICROS: u64 = 3_600_000_000;

#[derive(Debug)]
struct Window {
    counters: HashMap<String, u64>,
    histograms: HashMap<String, Hist>,
    rate_events: HashMap<String, u64>,
    first_counter_at: Option<u64>,
    last_counter_at: Option<u64>,
    first_histogram_at: Option<u64>,
    last_histogram_at: Option<u64>,
}

impl Window {
    fn new() -> Window {
        Window {
            counters: HashMap::new(),
            histograms: HashMap::new(),
            rate_events: HashMap::new(),
            first_counter_at: None,
            last_counter_at: None,
            first_histogram_at: None,
            last_histogram_at: None,
        }
    }

    fn counter(&mut self, name: &str, by: u64, now: u64) {
        match self.counters.get_mut(name) {
            Some(c) => *c += by,
            None => {
                self.counters.insert(name.to_string(), by);
            }
        }
        self.first_counter_at.get_or_insert(now);
        self.last_counter_at = Some(now);
    }

    fn histogram(&mut self, name: &str, micros: u64, now: u64) {
        let v = micros.clamp(1, MAX_MICROS);
        match self.histograms.get_mut(name) {
            Some(h) => h.record(v),
            None => {
                let mut h = Hist::new();
                h.record(v);
                self.histograms.insert(name.to_string(), h);
            }
        }
        self.first_histogram_at.get_or_insert(now);
        self.last_histogram_at = Some(now);
    }

    fn rate(&mut self, name: &str, now: u64) {
        match self.rate_events.get_mut(name) {
            Some(c) => *c += 1,
            None => {
                self.rate_events.insert(name.to_string(), 1);
            }
        }
        self.first_counter_at.get_or_insert(now);
        self.last_counter_at = Some(now);
    }

    fn first_at(&self) -> Option<u64> {
        match (self.first_counter_at, self.first_histogram_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn last_at(&self) -> Option<u64> {
        self.last_counter_at.max(self.last_histogram_at)
    }

    /// Artillery's report shape for this window.
    fn to_json(&self, period: u64, span_ms: Option<u64>) -> Json {
        let counters: BTreeMap<&String, &u64> = self.counters.iter().collect();
        let span = span_ms
            .or_else(|| Some(self.last_at()? - self.first_at()?))
            .unwrap_or(0)
            .max(1000);
        let rates: BTreeMap<&String, u64> = self
            .rate_events
            .iter()
            .map(|(k, n)| (k, ((*n as f64) * 1000.0 / span as f64).round() as u64))
            .collect();
        let summaries: BTreeMap<&String, Json> = self
            .histograms
            .iter()
            .map(|(k, h)| (k, summary_json(&summarize(h))))
            .collect();
        let mut out = json!({
            "counters": counters,
            "rates": rates,
            "firstCounterAt": self.first_counter_at,
            "firstHistogramAt": self.first_histogram_at,
            "lastCounterAt": self.last_counter_at,
            "lastHistogramAt": self.last_histogram_at,
            "firstMetricAt": self.first_at(),
            "lastMetricAt": self.last_at(),
            "period": period,
            "summaries": summaries,
            "histograms": summaries,
        });
        let obj = out.as_object_mut().expect("built as an object");
        obj.retain(|_, v| !v.is_null());
        out
    }
}

/// An HDR histogram (microseconds) with exact min, max and sum.
#[derive(Debug, Clone)]
pub struct Hist {
    h: Histogram<u64>,
    min: u64,
    max: u64,
    sum: u128,
}

impl Hist {
    fn new() -> Hist {
        Hist {
            h: Histogram::new_with_bounds(1, MAX_MICROS, 2)
                .expect("static histogram bounds are valid"),
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    fn record(&mut self, us: u64) {
        self.h.saturating_record(us);
        self.min = self.min.min(us);
        self.max = self.max.max(us);
        self.sum += us as u128;
    }
}

/// Reduce a histogram to a summary in milliseconds, one decimal like Artillery.
pub fn summarize(hist: &Hist) -> LatencySummary {
    let ms = |us: f64| (us / 100.0).round() / 10.0;
    let h = &hist.h;
    let count = h.len();
    // Quantiles are bucket-precise; clamp them into the exact range.
    let q = |p: f64| ms((h.value_at_quantile(p)).clamp(hist.min, hist.max) as f64);
    LatencySummary {
        count,
        min: ms(hist.min as f64),
        max: ms(hist.max as f64),
        mean: ms(hist.sum as f64 / count.max(1) as f64),
        p50: q(0.5),
        p75: q(0.75),
        p90: q(0.9),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
    }
}

/// A summary as Artillery writes it (with `median` next to `p50`).
pub fn summary_json(s: &LatencySummary) -> Json {
    json!({
        "min": s.min, "max": s.max, "count": s.count, "mean": s.mean,
        "p50": s.p50, "median": s.p50, "p75": s.p75, "p90": s.p90,
        "p95": s.p95, "p99": s.p99, "p999": s.p999,
    })
}

#[derive(Debug)]
struct State {
    aggregate: Window,
    open: BTreeMap<u64, Window>,
    closed: Vec<Json>,
}

/// Every metric of a run. Shared by all VUs.
#[derive(Debug)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// One recording, applied under a single lock.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// Add to a counter.
    Counter(&'a str, u64),
    /// Record a duration in a histogram.
    Histogram(&'a str, Duration),
    /// Count an event of a rate.
    Rate(&'a str),
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        Metrics {
            state: Mutex::new(State {
                aggregate: Window::new(),
                open: BTreeMap::new(),
                closed: Vec::new(),
            }),
        }
    }

    /// Apply several recordings at once.
    pub fn record(&self, records: &[Record<'_>]) {
        let now = now_ms();
        let period = now / PERIOD_MS * PERIOD_MS;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.open.contains_key(&period) {
            // Periods more than one behind are final: reduce them to summaries.
            let stale: Vec<u64> = st
                .open
                .keys()
                .copied()
                .filter(|p| *p + PERIOD_MS < period)
                .collect();
            for p in stale {
                if let Some(w) = st.open.remove(&p) {
                    let j = w.to_json(p, None);
                    st.closed.push(j);
                }
            }
            st.open.insert(period, Window::new());
        }
        let State {
            aggregate, open, ..
        } = &mut *st;
        let window = open.get_mut(&period).expect("inserted above");
        for r in records {
            match *r {
                Record::Counter(name, by) => {
                    aggregate.counter(name, by, now);
                    window.counter(name, by, now);
                }
                Record::Histogram(name, d) => {
                    let us = d.as_micros() as u64;
                    aggregate.histogram(name, us, now);
                    window.histogram(name, us, now);
                }
                Record::Rate(name) => {
                    aggregate.rate(name, now);
                    window.rate(name, now);
                }
            }
        }
    }

    /// Add to a counter.
    pub fn counter(&self, name: &str, by: u64) {
        self.record(&[Record::Counter(name, by)]);
    }

    /// A counter's aggregate value.
    pub fn get_counter(&self, name: &str) -> u64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.aggregate.counters.get(name).copied().unwrap_or(0)
    }

    /// Aggregate counters.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.aggregate
            .counters
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Aggregate summaries.
    pub fn summaries(&self) -> BTreeMap<String, LatencySummary> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.aggregate
            .histograms
            .iter()
            .map(|(k, h)| (k.clone(), summarize(h)))
            .collect()
    }

    /// A histogram's aggregate p99 in milliseconds.
    pub fn p99_ms(&self, name: &str) -> Option<f64> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.aggregate.histograms.get(name).map(|h| summarize(h).p99)
    }

    /// The `--output` report: `{aggregate, intermediate}`. `span` is the run's duration,
    /// used for the aggregate rates.
    pub fn report(&self, span: Duration) -> Json {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut intermediate = st.closed.clone();
        for (p, w) in &st.open {
            intermediate.push(w.to_json(*p, None));
        }
        let aggregate_period = st.open.keys().next_back().copied().unwrap_or(0);
        let aggregate = st
            .aggregate
            .to_json(aggregate_period, Some(span.as_millis() as u64));
        json!({ "aggregate": aggregate, "intermediate": intermediate })
    }

    /// Aggregate counters, rates and `<summary>.<stat>` values, as `ensure` sees them.
    pub fn ensure_values(&self, span: Duration) -> HashMap<String, f64> {
        let report = self.report(span);
        let agg = &report["aggregate"];
        let mut out = HashMap::new();
        for section in ["counters", "rates"] {
            if let Some(m) = agg[section].as_object() {
                for (k, v) in m {
                    out.insert(k.clone(), v.as_f64().unwrap_or(0.0));
                }
            }
        }
        if let Some(m) = agg["summaries"].as_object() {
            for (name, stats) in m {
                for (stat, v) in stats.as_object().into_iter().flatten() {
                    out.insert(format!("{name}.{stat}"), v.as_f64().unwrap_or(0.0));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_summaries_reach_the_report() {
        let m = Metrics::new();
        for ms in [1u64, 2, 3, 4, 100] {
            m.record(&[
                Record::Counter("http.requests", 1),
                Record::Rate("http.request_rate"),
                Record::Histogram("http.response_time", Duration::from_millis(ms)),
            ]);
        }
        let r = m.report(Duration::from_secs(5));
        let agg = &r["aggregate"];
        assert_eq!(agg["counters"]["http.requests"], 5);
        assert_eq!(agg["rates"]["http.request_rate"], 1);
        let s = &agg["summaries"]["http.response_time"];
        assert_eq!(s["count"], 5);
        assert_eq!(s["min"], 1.0);
        assert_eq!(s["max"], 100.0);
        assert_eq!(s["median"], s["p50"]);
        assert!(!r["intermediate"].as_array().unwrap().is_empty());
        let v = m.ensure_values(Duration::from_secs(5));
        assert_eq!(v["http.response_time.max"], 100.0);
        assert_eq!(v["http.requests"], 5.0);
    }
}
