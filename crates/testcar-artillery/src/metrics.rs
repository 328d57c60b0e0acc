//! Counters and HDR histograms under Artillery's metric names, kept per 10 s period and in
//! aggregate. A period's histograms are reduced to summaries when it closes, so memory stays
//! bounded however long the run.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
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
const MAX_MICROS: u64 = testcar_contract::histogram::HIGHEST_MICROS;

/// Metric names are short and few, and come from the script, not from an attacker: a
/// multiply-rotate hash (as in rustc's FxHash) costs a fraction of SipHash per recording.
#[derive(Debug, Default, Clone, Copy)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type NameMap<V> = HashMap<String, V, BuildHasherDefault<NameHasher>>;

#[derive(Debug, Clone, Default)]
struct Window {
    counters: NameMap<u64>,
    histograms: NameMap<Hist>,
    rate_events: NameMap<u64>,
    first_counter_at: Option<u64>,
    last_counter_at: Option<u64>,
    first_histogram_at: Option<u64>,
    last_histogram_at: Option<u64>,
}

impl Window {
    fn new() -> Window {
        Window::default()
    }

    /// Add `other`'s recordings to this window.
    fn merge(&mut self, other: &Window) {
        for (k, v) in &other.counters {
            *self.counters.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.rate_events {
            *self.rate_events.entry(k.clone()).or_default() += v;
        }
        for (k, h) in &other.histograms {
            match self.histograms.get_mut(k) {
                Some(mine) => mine.merge(h),
                None => {
                    self.histograms.insert(k.clone(), h.clone());
                }
            }
        }
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.first_counter_at = min(self.first_counter_at, other.first_counter_at);
        self.first_histogram_at = min(self.first_histogram_at, other.first_histogram_at);
        self.last_counter_at = self.last_counter_at.max(other.last_counter_at);
        self.last_histogram_at = self.last_histogram_at.max(other.last_histogram_at);
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

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    /// Empty; 1 µs to the longest timeout, two significant digits (the contract's latency
    /// histogram, so the gate can add pods' histograms).
    pub fn new() -> Hist {
        Hist {
            h: Histogram::new_with_bounds(
                testcar_contract::histogram::LOWEST_MICROS,
                MAX_MICROS,
                testcar_contract::histogram::SIGNIFICANT_DIGITS,
            )
            .expect("static histogram bounds are valid"),
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    /// One sample, in microseconds.
    pub fn record(&mut self, us: u64) {
        self.h.saturating_record(us);
        self.min = self.min.min(us);
        self.max = self.max.max(us);
        self.sum += us as u128;
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.h.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The exact sum of the samples, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum as f64 / 1e6
    }

    /// Samples at or below `seconds`, to HDR precision (two significant digits): what a
    /// Prometheus bucket with that upper bound counts.
    pub fn count_at_or_below_seconds(&self, seconds: f64) -> u64 {
        if self.h.is_empty() || seconds < 0.0 {
            return 0;
        }
        let us = (seconds * 1e6).floor() as u64;
        if us >= self.max {
            return self.h.len();
        }
        self.h.count_between(0, us)
    }

    /// The samples in the result document's form: HdrHistogram V2 deflate, base64.
    pub fn encode(&self) -> Result<String, testcar_contract::histogram::HistogramError> {
        testcar_contract::histogram::encode(&self.h)
    }

    /// The summary in milliseconds, as the result document writes it.
    pub fn summary(&self) -> LatencySummary {
        summarize(self)
    }

    /// The HDR histogram itself.
    pub fn hdr(&self) -> &Histogram<u64> {
        &self.h
    }

    /// Add `other`'s samples.
    pub fn merge(&mut self, other: &Hist) {
        // Same bounds and precision on both sides, so adding cannot fail.
        let _ = self.h.add(&other.h);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }
}

/// Reduce a histogram to a summary in milliseconds, one decimal like Artillery.
pub fn summarize(hist: &Hist) -> LatencySummary {
    use testcar_contract::histogram::{micros_to_ms as ms, summary_of};
    let count = hist.h.len();
    // Quantiles are bucket-precise; the contract clamps them into the exact range.
    summary_of(
        &hist.h,
        ms(hist.min as f64),
        ms(hist.max as f64),
        ms(hist.sum as f64 / count.max(1) as f64),
    )
}

/// A summary as Artillery writes it (with `median` next to `p50`).
pub fn summary_json(s: &LatencySummary) -> Json {
    json!({
        "min": s.min, "max": s.max, "count": s.count, "mean": s.mean,
        "p50": s.p50, "median": s.p50, "p75": s.p75, "p90": s.p90,
        "p95": s.p95, "p99": s.p99, "p999": s.p999,
    })
}

/// Recordings go to the open period's window only; a period that closes is added to
/// `closed_total`, and aggregate views add the open windows to it when read (rarely), so a
/// recording costs one map update, not two.
#[derive(Debug)]
struct State {
    closed_total: Window,
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
                closed_total: Window::new(),
                open: BTreeMap::new(),
                closed: Vec::new(),
            }),
        }
    }

    /// Apply several recordings at once.
    pub fn record(&self, records: &[Record<'_>]) {
        self.record_at(now_ms(), records);
    }

    fn record_at(&self, now: u64, records: &[Record<'_>]) {
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
                    st.closed_total.merge(&w);
                }
            }
            st.open.insert(period, Window::new());
        }
        let window = st.open.get_mut(&period).expect("inserted above");
        for r in records {
            match *r {
                Record::Counter(name, by) => window.counter(name, by, now),
                Record::Histogram(name, d) => window.histogram(name, d.as_micros() as u64, now),
                Record::Rate(name) => window.rate(name, now),
            }
        }
    }

    /// Every recording so far, in one window.
    fn aggregate(st: &State) -> Window {
        let mut all = st.closed_total.clone();
        for w in st.open.values() {
            all.merge(w);
        }
        all
    }

    /// Add to a counter.
    pub fn counter(&self, name: &str, by: u64) {
        self.record(&[Record::Counter(name, by)]);
    }

    /// A counter's aggregate value.
    #[cfg(test)]
    pub fn get_counter(&self, name: &str) -> u64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = st.closed_total.counters.get(name).copied().unwrap_or(0);
        for w in st.open.values() {
            n += w.counters.get(name).copied().unwrap_or(0);
        }
        n
    }

    /// Aggregate counters.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: BTreeMap<String, u64> = st
            .closed_total
            .counters
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for w in st.open.values() {
            for (k, v) in &w.counters {
                match out.get_mut(k.as_str()) {
                    Some(n) => *n += v,
                    None => {
                        out.insert(k.clone(), *v);
                    }
                }
            }
        }
        out
    }

    /// Aggregate summaries.
    pub fn summaries(&self) -> BTreeMap<String, LatencySummary> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Metrics::aggregate(&st)
            .histograms
            .iter()
            .map(|(k, h)| (k.clone(), summarize(h)))
            .collect()
    }

    /// A histogram's aggregate so far (closed and open periods).
    pub fn histogram(&self, name: &str) -> Option<Hist> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Option<Hist> = st.closed_total.histograms.get(name).cloned();
        for w in st.open.values() {
            if let Some(h) = w.histograms.get(name) {
                match &mut all {
                    Some(a) => a.merge(h),
                    None => all = Some(h.clone()),
                }
            }
        }
        all
    }

    /// Every histogram's aggregate so far, by name.
    pub fn histograms(&self) -> BTreeMap<String, Hist> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Metrics::aggregate(&st).histograms.into_iter().collect()
    }

    /// A histogram's aggregate p99 in milliseconds.
    #[cfg(test)]
    pub fn p99_ms(&self, name: &str) -> Option<f64> {
        self.histogram(name).map(|h| summarize(&h).p99)
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
        let aggregate =
            Metrics::aggregate(&st).to_json(aggregate_period, Some(span.as_millis() as u64));
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
    fn bucket_counts_match_the_samples() {
        let mut h = Hist::new();
        for us in [500, 1_500, 1_999, 40_000] {
            h.record(us);
        }
        assert_eq!(h.len(), 4);
        assert_eq!(h.count_at_or_below_seconds(0.0001), 0);
        assert_eq!(h.count_at_or_below_seconds(0.001), 1);
        assert_eq!(h.count_at_or_below_seconds(0.002), 3);
        assert_eq!(h.count_at_or_below_seconds(0.032), 3);
        assert_eq!(h.count_at_or_below_seconds(0.064), 4);
        assert!((h.sum_seconds() - 0.043999).abs() < 1e-9);
        assert_eq!(Hist::new().count_at_or_below_seconds(1.0), 0);
    }

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

    #[test]
    fn closed_periods_stay_in_the_aggregate() {
        let m = Metrics::new();
        let t0 = 1_700_000_000_000;
        // Three periods: the first closes when the third opens.
        for (i, ms) in [(0u64, 5u64), (1, 7), (2, 300)] {
            m.record_at(
                t0 + i * PERIOD_MS,
                &[
                    Record::Counter("http.requests", 2),
                    Record::Histogram("http.response_time", Duration::from_millis(ms)),
                ],
            );
        }
        assert_eq!(m.get_counter("http.requests"), 6);
        assert_eq!(m.counters()["http.requests"], 6);
        let s = &m.summaries()["http.response_time"];
        assert_eq!((s.count, s.min, s.max), (3, 5.0, 300.0));
        assert_eq!(m.p99_ms("http.response_time"), Some(300.0));
        let r = m.report(Duration::from_secs(30));
        assert_eq!(r["aggregate"]["counters"]["http.requests"], 6);
        assert_eq!(
            r["aggregate"]["summaries"]["http.response_time"]["count"],
            3
        );
        let periods = r["intermediate"].as_array().unwrap();
        assert_eq!(periods.len(), 3);
        assert!(periods.iter().all(|p| p["counters"]["http.requests"] == 2));
    }
}
