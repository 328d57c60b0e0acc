//! Reading an Artillery `--output` report (`{aggregate, intermediate: [...]}`) into typed
//! periods, tolerating odd shapes: every value that is not what Artillery writes is named in
//! a [`ShapeError`] and skipped, and everything else is kept.

use std::collections::BTreeMap;

use serde_json::Value;
use testcar_contract::LatencySummary;

/// Length of an Artillery reporting period; its rates are per second over this window.
pub const PERIOD_SECONDS: f64 = 10.0;

/// A value in an Artillery report that does not have the shape Artillery writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: expected {expected}")]
pub struct ShapeError {
    /// Where in the report, e.g. `intermediate[3].counters.http.requests`.
    pub key: String,
    /// What was expected there.
    pub expected: &'static str,
}

/// Percentiles and extremes of one Artillery summary (milliseconds); absent fields are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: Option<f64>,
    /// Smallest sample.
    pub min: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 75th percentile.
    pub p75: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
}

impl From<&LatencySummary> for Summary {
    fn from(s: &LatencySummary) -> Summary {
        Summary {
            count: Some(s.count as f64),
            min: Some(s.min),
            max: Some(s.max),
            mean: Some(s.mean),
            p50: Some(s.p50),
            p75: Some(s.p75),
            p90: Some(s.p90),
            p95: Some(s.p95),
            p99: Some(s.p99),
            p999: Some(s.p999),
        }
    }
}

/// One period of a report (an `intermediate` entry or the `aggregate`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Period {
    /// Start of the period, Unix milliseconds (Artillery's `period`), when present.
    pub start_ms: Option<f64>,
    /// Counters by Artillery name (`http.requests`, `http.codes.200`, `errors.ETIMEDOUT` …).
    pub counters: BTreeMap<String, f64>,
    /// Rates by name (`http.request_rate`), per second.
    pub rates: BTreeMap<String, f64>,
    /// Summaries by name (`http.response_time`, `plugins.metrics-by-endpoint.response_time.<x>`).
    pub summaries: BTreeMap<String, Summary>,
}

impl Period {
    /// Requests per second in this period: Artillery's own rate, else requests / 10 s.
    pub fn request_rate(&self) -> Option<f64> {
        self.rates.get("http.request_rate").copied().or_else(|| {
            self.counters
                .get("http.requests")
                .map(|n| n / PERIOD_SECONDS)
        })
    }

    /// Responses per second in this period.
    pub fn response_rate(&self) -> Option<f64> {
        self.counters
            .get("http.responses")
            .map(|n| n / PERIOD_SECONDS)
    }

    /// Failed requests (`errors.*`) per second in this period; zero when none were counted.
    pub fn error_rate(&self) -> f64 {
        self.counters
            .iter()
            .filter(|(k, _)| k.starts_with("errors."))
            .map(|(_, v)| v)
            .sum::<f64>()
            / PERIOD_SECONDS
    }

    /// Responses per second whose status code is 4xx or 5xx.
    pub fn bad_status_rate(&self) -> f64 {
        self.counters
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix("http.codes.")
                    .is_some_and(|c| c.starts_with('4') || c.starts_with('5'))
            })
            .map(|(_, v)| v)
            .sum::<f64>()
            / PERIOD_SECONDS
    }

    /// The `http.response_time` summary, when measured in this period.
    pub fn response_time(&self) -> Option<&Summary> {
        self.summaries.get("http.response_time")
    }
}

/// A parsed Artillery report: the aggregate and the periods in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArtilleryReport {
    /// The whole-run aggregate, when present.
    pub aggregate: Option<Period>,
    /// Intermediate periods, sorted by start time.
    pub periods: Vec<Period>,
}

impl ArtilleryReport {
    /// Seconds since the first period for each period (index × 10 s when `period` is missing).
    pub fn offsets(&self) -> Vec<f64> {
        let first = self
            .periods
            .iter()
            .filter_map(|p| p.start_ms)
            .reduce(f64::min);
        self.periods
            .iter()
            .enumerate()
            .map(|(i, p)| match (p.start_ms, first) {
                (Some(s), Some(f)) => (s - f) / 1000.0,
                _ => i as f64 * PERIOD_SECONDS,
            })
            .collect()
    }
}

/// Read a report value. Shape problems are returned alongside whatever could be read.
pub fn parse(report: &Value) -> (ArtilleryReport, Vec<ShapeError>) {
    let mut errors = Vec::new();
    let mut out = ArtilleryReport::default();
    let Some(root) = report.as_object() else {
        errors.push(ShapeError {
            key: "(top level)".into(),
            expected: "an object with `aggregate` and `intermediate` (artillery run --output)",
        });
        return (out, errors);
    };
    if let Some(agg) = root.get("aggregate") {
        out.aggregate = parse_period(agg, "aggregate", &mut errors);
    }
    match root.get("intermediate") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(p) = parse_period(item, &format!("intermediate[{i}]"), &mut errors) {
                    out.periods.push(p);
                }
            }
        }
        Some(_) => errors.push(ShapeError {
            key: "intermediate".into(),
            expected: "an array of periods",
        }),
    }
    if out.aggregate.is_none() && !root.contains_key("intermediate") {
        errors.push(ShapeError {
            key: "(top level)".into(),
            expected: "`aggregate` or `intermediate` (artillery run --output)",
        });
    }
    // Stable sort: periods without a start keep their relative order at the end.
    out.periods.sort_by(|a, b| match (a.start_ms, b.start_ms) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    (out, errors)
}

fn parse_period(v: &Value, at: &str, errors: &mut Vec<ShapeError>) -> Option<Period> {
    let Some(obj) = v.as_object() else {
        errors.push(ShapeError {
            key: at.to_string(),
            expected: "an object with counters, rates and summaries",
        });
        return None;
    };
    let mut p = Period::default();
    match obj.get("period") {
        None | Some(Value::Null) => {}
        // Artillery writes the period start as a number in some versions, a string in others.
        Some(Value::Number(n)) => p.start_ms = n.as_f64(),
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(n) => p.start_ms = Some(n),
            Err(_) => errors.push(ShapeError {
                key: format!("{at}.period"),
                expected: "Unix milliseconds as a number or numeric string",
            }),
        },
        Some(_) => errors.push(ShapeError {
            key: format!("{at}.period"),
            expected: "Unix milliseconds as a number or numeric string",
        }),
    }
    p.counters = number_map(obj.get("counters"), &format!("{at}.counters"), errors);
    p.rates = number_map(obj.get("rates"), &format!("{at}.rates"), errors);
    // Older Artillery 2 reports carry the same data under `histograms` only.
    let summaries = match obj.get("summaries") {
        Some(s) if !s.is_null() => Some((s, "summaries")),
        _ => obj.get("histograms").map(|h| (h, "histograms")),
    };
    if let Some((value, name)) = summaries {
        let key = format!("{at}.{name}");
        match value {
            Value::Object(map) => {
                for (k, s) in map {
                    if let Some(s) = parse_summary(s, &format!("{key}.{k}"), errors) {
                        p.summaries.insert(k.clone(), s);
                    }
                }
            }
            Value::Null => {}
            _ => errors.push(ShapeError {
                key,
                expected: "an object of summaries",
            }),
        }
    }
    Some(p)
}

fn number_map(v: Option<&Value>, at: &str, errors: &mut Vec<ShapeError>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                match v.as_f64() {
                    Some(n) if n.is_finite() => {
                        out.insert(k.clone(), n);
                    }
                    _ => errors.push(ShapeError {
                        key: format!("{at}.{k}"),
                        expected: "a number",
                    }),
                }
            }
        }
        Some(_) => errors.push(ShapeError {
            key: at.to_string(),
            expected: "an object of numbers",
        }),
    }
    out
}

fn parse_summary(v: &Value, at: &str, errors: &mut Vec<ShapeError>) -> Option<Summary> {
    let Some(obj) = v.as_object() else {
        errors.push(ShapeError {
            key: at.to_string(),
            expected: "an object with min, max, count and percentiles",
        });
        return None;
    };
    let mut field = |name: &str| -> Option<f64> {
        match obj.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() => Some(n),
                _ => {
                    errors.push(ShapeError {
                        key: format!("{at}.{name}"),
                        expected: "a number",
                    });
                    None
                }
            },
        }
    };
    let p50 = field("p50");
    let median = field("median");
    Some(Summary {
        count: field("count"),
        min: field("min"),
        max: field("max"),
        mean: field("mean"),
        p50: p50.or(median),
        p75: field("p75"),
        p90: field("p90"),
        p95: field("p95"),
        p99: field("p99"),
        p999: field("p999"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mk_period(start: Value, requests: u64, p95: f64) -> Value {
        json!({
            "counters": { "http.requests": requests, "http.responses": requests, "http.codes.200": requests },
            "rates": {},
            "period": start,
            "summaries": { "http.response_time": { "min": 1, "max": 9, "count": requests, "median": 3, "p95": p95, "p99": 8 } }
        })
    }

    #[test]
    fn periods_are_sorted_and_offset_from_the_first() {
        let report = json!({
            "aggregate": mk_period(json!(1_700_000_000_000u64), 300, 7.0),
            "intermediate": [
                mk_period(json!("1700000020000"), 100, 7.0),
                mk_period(json!(1_700_000_000_000u64), 100, 5.0),
                mk_period(json!(1_700_000_010_000u64), 100, 6.0),
            ]
        });
        let (r, errors) = parse(&report);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(r.offsets(), vec![0.0, 10.0, 20.0]);
        assert_eq!(r.periods[0].response_time().unwrap().p95, Some(5.0));
        // `median` stands in for a missing p50.
        assert_eq!(r.periods[0].response_time().unwrap().p50, Some(3.0));
        // No rate recorded: requests / 10 s.
        assert_eq!(r.periods[0].request_rate(), Some(10.0));
        assert!(r.aggregate.is_some());
    }

    #[test]
    fn rates_and_error_rates() {
        let report = json!({ "intermediate": [ {
            "counters": { "http.requests": 50, "errors.ETIMEDOUT": 20, "errors.ECONNREFUSED": 10,
                          "http.codes.200": 20, "http.codes.503": 5, "http.codes.404": 5 },
            "rates": { "http.request_rate": 4.5 }
        } ] });
        let (r, errors) = parse(&report);
        assert!(errors.is_empty());
        let p = &r.periods[0];
        assert_eq!(p.request_rate(), Some(4.5));
        assert_eq!(p.error_rate(), 3.0);
        assert_eq!(p.bad_status_rate(), 1.0);
        assert_eq!(r.offsets(), vec![0.0]);
    }

    #[test]
    fn old_reports_with_histograms_only() {
        let report = json!({ "aggregate": { "histograms": { "http.response_time": { "p50": 2, "p99": 4 } } } });
        let (r, errors) = parse(&report);
        assert!(errors.is_empty());
        let agg = r.aggregate.unwrap();
        assert_eq!(agg.response_time().unwrap().p99, Some(4.0));
    }

    #[test]
    fn bad_shapes_are_named_and_the_rest_is_kept() {
        let report = json!({
            "aggregate": { "counters": { "http.requests": "many", "http.responses": 3 } },
            "intermediate": [
                "nope",
                { "period": "yesterday", "counters": { "http.requests": 7 },
                  "summaries": { "http.response_time": { "p95": "fast", "p99": 12 } } }
            ]
        });
        let (r, errors) = parse(&report);
        let keys: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            keys,
            vec![
                "aggregate.counters.http.requests: expected a number",
                "intermediate[0]: expected an object with counters, rates and summaries",
                "intermediate[1].period: expected Unix milliseconds as a number or numeric string",
                "intermediate[1].summaries.http.response_time.p95: expected a number",
            ]
        );
        assert_eq!(
            r.aggregate.unwrap().counters.get("http.responses"),
            Some(&3.0)
        );
        assert_eq!(r.periods.len(), 1);
        assert_eq!(r.periods[0].counters.get("http.requests"), Some(&7.0));
        assert_eq!(r.periods[0].response_time().unwrap().p99, Some(12.0));
    }

    #[test]
    fn not_a_report_at_all() {
        let (r, errors) = parse(&json!([1, 2]));
        assert_eq!(r, ArtilleryReport::default());
        assert_eq!(errors.len(), 1);
        let (_, errors) = parse(&json!({ "foo": 1 }));
        assert!(
            errors[0]
                .to_string()
                .contains("`aggregate` or `intermediate`")
        );
    }
}
