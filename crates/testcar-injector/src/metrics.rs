//! The injector's Prometheus metrics (names agreed in INTERFACES.md §6), served as text on the
//! plain-HTTP port. Labels are bounded: decision, reason slug, reload result — never a pod.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::admission::{Decision, Reason};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    decision: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

fn duration_histogram() -> Histogram {
    // 50 µs … ~0.8 s: admission answers are sub-millisecond; the API server gives up at 10 s.
    Histogram::new(exponential_buckets(0.00005, 2.0, 15))
}

/// All injector metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    admissions: Family<AdmissionLabels, Counter>,
    duration: Family<DecisionLabels, Histogram, fn() -> Histogram>,
    tls_reloads: Family<ResultLabels, Counter>,
    cert_expiry: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let admissions = Family::<AdmissionLabels, Counter>::default();
        let duration = Family::<DecisionLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let tls_reloads = Family::<ResultLabels, Counter>::default();
        let cert_expiry = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "testcar_injector_admissions",
            "Admission reviews answered, by decision and reason",
            admissions.clone(),
        );
        registry.register(
            "testcar_injector_admission_duration_seconds",
            "Time to answer one admission review, by decision",
            duration.clone(),
        );
        registry.register(
            "testcar_injector_tls_reloads",
            "Serving certificate reloads, by result",
            tls_reloads.clone(),
        );
        registry.register(
            "testcar_injector_certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate, Unix seconds",
            cert_expiry.clone(),
        );
        let metrics = Metrics {
            registry,
            admissions,
            duration,
            tls_reloads,
            cert_expiry,
        };
        // Both results exist from the start at 0, so that `rate()` and alerts on reload
        // errors see a series before the first rotation rather than "no data".
        for result in ["ok", "error"] {
            let _ = metrics.tls_reloads.get_or_create(&ResultLabels { result });
        }
        metrics
    }

    /// Count one answered review.
    pub fn admission(&self, decision: Decision, reason: Reason, took: Duration) {
        let d = decision.as_str();
        self.admissions
            .get_or_create(&AdmissionLabels {
                decision: d,
                reason: reason.as_str(),
            })
            .inc();
        self.duration
            .get_or_create(&DecisionLabels { decision: d })
            .observe(took.as_secs_f64());
    }

    /// Count one certificate reload attempt.
    pub fn tls_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.tls_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// Record the serving certificate's notAfter.
    pub fn cert_expiry(&self, not_after_unix: i64) {
        self.cert_expiry.set(not_after_unix as f64);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutate::Skip;

    #[test]
    fn exposes_the_agreed_names() {
        let m = Metrics::new();
        m.admission(
            Decision::Injected,
            Reason::Injected,
            Duration::from_micros(300),
        );
        m.admission(
            Decision::Skipped,
            Reason::Skipped(Skip::NotOptedIn),
            Duration::from_micros(30),
        );
        m.tls_reload(true);
        m.cert_expiry(1_900_000_000);
        let text = m.encode();
        for needle in [
            "testcar_injector_admissions_total{decision=\"injected\",reason=\"injected\"} 1",
            "testcar_injector_admissions_total{decision=\"skipped\",reason=\"not-opted-in\"} 1",
            "testcar_injector_admission_duration_seconds_bucket{le=",
            "testcar_injector_admission_duration_seconds_count{decision=\"injected\"} 1",
            "testcar_injector_tls_reloads_total{result=\"ok\"} 1",
            "testcar_injector_tls_reloads_total{result=\"error\"} 0",
            "testcar_injector_certificate_expiry_timestamp_seconds 1900000000",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
