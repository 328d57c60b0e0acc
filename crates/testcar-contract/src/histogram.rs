//! Latency histograms as the result document carries them: HDR histograms of microseconds,
//! in HdrHistogram's V2 compressed (deflate) encoding, base64. Percentiles do not add up
//! across pods (the mean of three p99s is not the rollout's p99), but histograms do: the
//! gate decodes every pod's histogram, adds them and reads exact rollout percentiles. The
//! agent's engine and the gate summarize through [`summary_of`], so a pod's figures and the
//! rollout's are computed the same way.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use crate::result::LatencySummary;

/// Smallest value a latency histogram records: 1 µs.
pub const LOWEST_MICROS: u64 = 1;
/// Largest value a latency histogram records: one hour in microseconds (the longest timeout).
pub const HIGHEST_MICROS: u64 = 3_600_000_000;
/// Significant decimal digits of a latency histogram.
pub const SIGNIFICANT_DIGITS: u8 = 2;

/// Why a histogram could not be encoded, decoded or added.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// Not base64.
    #[error("histogram is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Not an HdrHistogram V2 (deflate) encoding.
    #[error("histogram is not an HdrHistogram V2 encoding: {0}")]
    Decode(String),
    /// Could not be encoded.
    #[error("cannot encode the histogram: {0}")]
    Encode(String),
    /// Its values do not fit the rollout's histogram.
    #[error("cannot add the histogram: {0}")]
    Add(String),
}

/// An empty latency histogram with Testcar's bounds and precision; it grows if a decoded
/// histogram holds larger values, so adding never loses a sample.
pub fn new_latency_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(LOWEST_MICROS, HIGHEST_MICROS, SIGNIFICANT_DIGITS)
        .expect("static histogram bounds are valid");
    h.auto(true);
    h
}

/// Encode: V2 deflate, then standard base64 (the form `metrics.histograms` holds).
pub fn encode(h: &Histogram<u64>) -> Result<String, HistogramError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
    Ok(STANDARD.encode(bytes))
}

/// Decode what [`encode`] wrote (or any V2 / V2 deflate encoding).
pub fn decode(text: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = STANDARD.decode(text.trim())?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| HistogramError::Decode(format!("{e:?}")))
}

/// Add `other` into `into` (bucket by bucket: exact to the histograms' precision).
pub fn add(into: &mut Histogram<u64>, other: &Histogram<u64>) -> Result<(), HistogramError> {
    into.add(other)
        .map_err(|e| HistogramError::Add(format!("{e:?}")))
}

/// Microseconds to milliseconds with one decimal, as Artillery reports them.
pub fn micros_to_ms(us: f64) -> f64 {
    (us / 100.0).round() / 10.0
}

/// A summary of `h` in milliseconds. `min_ms`, `max_ms` and `mean_ms` are the exact figures
/// (the histogram only knows bucket bounds); percentiles are bucket-precise and clamped into
/// `[min_ms, max_ms]`.
pub fn summary_of(h: &Histogram<u64>, min_ms: f64, max_ms: f64, mean_ms: f64) -> LatencySummary {
    let q = |p: f64| micros_to_ms(h.value_at_quantile(p) as f64).clamp(min_ms, max_ms.max(min_ms));
    LatencySummary {
        count: h.len(),
        min: min_ms,
        max: max_ms,
        mean: mean_ms,
        p50: q(0.5),
        p75: q(0.75),
        p90: q(0.9),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_adds_exactly() {
        let mut a = new_latency_histogram();
        let mut b = new_latency_histogram();
        let mut pooled = new_latency_histogram();
        for us in 1..=1000u64 {
            a.record(us * 37).unwrap();
            pooled.record(us * 37).unwrap();
        }
        for us in 1..=50u64 {
            b.record(us * 9_000).unwrap();
            pooled.record(us * 9_000).unwrap();
        }
        let text = encode(&a).unwrap();
        let back = decode(&text).unwrap();
        assert_eq!(back, a);
        let mut merged = decode(&encode(&b).unwrap()).unwrap();
        add(&mut merged, &back).unwrap();
        assert_eq!(merged.len(), 1050);
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(merged.value_at_quantile(q), pooled.value_at_quantile(q));
        }
    }

    #[test]
    fn bad_text_is_a_clear_error() {
        assert!(matches!(
            decode("not base64!"),
            Err(HistogramError::Base64(_))
        ));
        let err = decode(&STANDARD.encode(b"garbage")).unwrap_err();
        assert!(err.to_string().contains("V2"), "{err}");
    }

    #[test]
    fn percentiles_stay_within_the_exact_range() {
        let mut h = new_latency_histogram();
        h.record(123_456).unwrap();
        let s = summary_of(&h, 123.5, 123.5, 123.5);
        assert_eq!((s.p50, s.p99, s.count), (123.5, 123.5, 1));
    }

    #[test]
    fn the_documented_example_decodes_to_its_summary() {
        let run: crate::Run =
            serde_json::from_str(include_str!("../../../docs/examples/passed.json")).unwrap();
        let m = run.suites[0].metrics.as_ref().unwrap();
        for (name, s) in [
            ("http.response_time", m.response_time.unwrap()),
            (
                "testcar.http.response_time_intended",
                m.response_time_intended.unwrap(),
            ),
        ] {
            let h = decode(&m.histograms[name]).unwrap();
            assert_eq!(summary_of(&h, s.min, s.max, s.mean), s, "{name}");
        }
        // An older result, without histograms, still reads.
        let old: crate::Run =
            serde_json::from_str(include_str!("../../../docs/examples/failed.json")).unwrap();
        assert!(
            old.suites
                .iter()
                .all(|s| s.metrics.as_ref().is_none_or(|m| m.histograms.is_empty()))
        );
    }
}
