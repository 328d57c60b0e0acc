use super::*;
use testcar_artillery::Hist;
use testcar_contract::RunnerKind;

/// A pod's load suite built through the library: `samples` (µs) recorded into the engine's
/// histogram, summarized and encoded as the agent publishes them.
fn pod_suite(samples: &[u64], share: Option<u32>, checks: Vec<Check>) -> Suite {
    let mut h = Hist::new();
    for us in samples {
        h.record(*us);
    }
    let mut s = Suite::new("load", RunnerKind::Artillery);
    s.load_share = share.map(|replicas| LoadShare { replicas });
    s.checks = checks;
    s.status = s.status_from_checks();
    let mut m = HttpMetrics {
        requests: samples.len() as u64,
        responses: samples.len() as u64,
        response_time: Some(h.summary()),
        ..Default::default()
    };
    m.codes.insert("200".into(), samples.len() as u64);
    m.histograms
        .insert(RESPONSE_TIME.into(), h.encode().expect("encodes"));
    s.metrics = Some(m);
    s
}

fn threshold(name: &str, observed: f64, held: bool) -> Check {
    Check {
        name: name.into(),
        kind: CheckKind::Threshold,
        status: if held {
            CheckStatus::Passed
        } else {
            CheckStatus::Failed
        },
        observed: Some(serde_json::json!(observed)),
        expected: Some(name.into()),
        passes: None,
        failures: None,
        message: None,
    }
}

fn run_of(suite: Suite) -> Run {
    let t = chrono::Utc::now();
    Run::finish("r", t, t, vec![suite], None)
}

/// Deterministic spread of `n` samples between `lo` and `hi` µs.
fn spread(n: u64, lo: u64, hi: u64) -> Vec<u64> {
    (0..n).map(|i| lo + (hi - lo) * i / n.max(1)).collect()
}

#[test]
fn rollout_percentiles_are_those_of_every_sample_pooled_not_an_average() {
    let pods = [
        spread(900, 1_000, 10_000),
        spread(900, 5_000, 50_000),
        spread(200, 200_000, 400_000),
    ];
    let mut pooled = Hist::new();
    for us in pods.iter().flatten() {
        pooled.record(*us);
    }
    let reference = pooled.summary();
    let runs: Vec<Run> = pods
        .iter()
        .map(|p| run_of(pod_suite(p, Some(3), Vec::new())))
        .collect();
    let named: Vec<(&str, &Run)> = ["a", "b", "c"].into_iter().zip(&runs).collect();
    let rollout = merge(&named, Some(3));
    assert!(rollout.problems.is_empty(), "{:?}", rollout.problems);
    let m = rollout.suites[0].suite.metrics.as_ref().unwrap();
    let rt = m.response_time.unwrap();
    assert_eq!(m.requests, 2000);
    assert_eq!(m.codes["200"], 2000);
    assert_eq!(rt.count, 2000);
    assert_eq!(
        (rt.p50, rt.p95, rt.p99, rt.max, rt.min),
        (
            reference.p50,
            reference.p95,
            reference.p99,
            reference.max,
            reference.min
        )
    );
    assert!(
        (rt.mean - reference.mean).abs() <= 0.1,
        "{rt:?} {reference:?}"
    );
    let pod_p99s: Vec<f64> = runs
        .iter()
        .map(|r| {
            r.suites[0]
                .metrics
                .as_ref()
                .unwrap()
                .response_time
                .unwrap()
                .p99
        })
        .collect();
    let averaged = pod_p99s.iter().sum::<f64>() / 3.0;
    assert!(
        (rt.p99 - averaged).abs() > 10.0,
        "p99 {} vs average {averaged}",
        rt.p99
    );
    // The merged histogram is published too, and decodes to the pooled one.
    let merged = histogram::decode(&m.histograms[RESPONSE_TIME]).unwrap();
    assert_eq!(merged.len(), pooled.len());
    assert_eq!(
        merged.value_at_quantile(0.99),
        pooled.hdr().value_at_quantile(0.99)
    );
}

#[test]
fn thresholds_are_judged_again_on_the_merged_figures() {
    // Each pod sent 100 of a shared 300 and its 100 < 150 held; the rollout's 300 does not.
    let checks = || {
        vec![
            threshold("http.codes.200 < 150", 100.0, true),
            threshold("p99 < 500", 9.0, true),
            Check {
                kind: CheckKind::Condition,
                ..threshold("http.requests > 10", 100.0, true)
            },
        ]
    };
    let runs: Vec<Run> = (0..3)
        .map(|_| run_of(pod_suite(&spread(100, 1_000, 9_000), Some(3), checks())))
        .collect();
    let named: Vec<(&str, &Run)> = ["a", "b", "c"].into_iter().zip(&runs).collect();
    let rollout = merge(&named, None);
    let s = &rollout.suites[0];
    let codes = s
        .suite
        .checks
        .iter()
        .find(|c| c.name.starts_with("http.codes"))
        .unwrap();
    assert_eq!(codes.status, CheckStatus::Failed);
    assert_eq!(codes.observed, Some(serde_json::json!(300.0)));
    let p99 = s
        .suite
        .checks
        .iter()
        .find(|c| c.name.starts_with("p99"))
        .unwrap();
    assert_eq!(p99.status, CheckStatus::Passed);
    assert!(
        s.not_rejudged[0].contains("http.requests > 10: a condition"),
        "{:?}",
        s.not_rejudged
    );
    assert_eq!(rollout.status(), Status::Failed);
    let text = rollout.render_summary();
    assert!(
        text.contains("rollout/load: failed http.codes.200 < 150 (rollout: 300.0)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("load") && l.contains("shared 1/3") && l.contains("300")),
        "{text}"
    );

    // The same pods each sending the full load: counts stay per pod, the verdict is theirs.
    let runs: Vec<Run> = (0..3)
        .map(|_| run_of(pod_suite(&spread(100, 1_000, 9_000), None, checks())))
        .collect();
    let named: Vec<(&str, &Run)> = ["a", "b", "c"].into_iter().zip(&runs).collect();
    let rollout = merge(&named, None);
    assert_eq!(rollout.status(), Status::Passed);
    assert!(
        rollout.suites[0]
            .not_rejudged
            .iter()
            .any(|n| n.contains("judged per pod (each pod sent"))
    );
}

#[test]
fn shares_that_do_not_add_up_are_named() {
    let runs: Vec<Run> = (0..5)
        .map(|_| run_of(pod_suite(&[1_000], Some(3), Vec::new())))
        .collect();
    let names = ["a", "b", "c", "d", "e"];
    let named: Vec<(&str, &Run)> = names.into_iter().zip(&runs).collect();
    let p = &merge(&named, Some(5)).problems;
    assert!(
        p[0].contains("5 pod(s) ran a 1/3 share each (testcar.io/replicas: \"3\")")
            && p[0].contains("5/3"),
        "{p:?}"
    );

    let p = &merge(&named[..3], Some(5)).problems;
    assert!(
        p[0].contains("testcar.io/replicas is \"3\" but the workload has 5 replicas"),
        "{p:?}"
    );

    let full = run_of(pod_suite(&[1_000], None, Vec::new()));
    let mut mixed = named[..2].to_vec();
    mixed.push(("f", &full));
    let p = &merge(&mixed, None).problems;
    assert!(
        p[0].contains("disagree") && p[0].contains("f full"),
        "{p:?}"
    );
}

#[test]
fn an_old_result_without_histograms_leaves_the_percentiles_out() {
    let p99 = || vec![threshold("http.response_time.p99 < 100", 6.0, true)];
    let mut old = pod_suite(&[5_000, 6_000], Some(2), p99());
    old.metrics.as_mut().unwrap().histograms.clear();
    let old = run_of(old);
    let new = run_of(pod_suite(&[1_000], Some(2), p99()));
    let rollout = merge(&[("old", &old), ("new", &new)], None);
    // Not judged on a figure the gate does not have, rather than failed for "no data".
    assert!(rollout.suites[0].suite.checks.is_empty());
    assert!(
        rollout.suites[0].not_rejudged[0]
            .contains("no exact rollout figure for http.response_time"),
        "{:?}",
        rollout.suites[0].not_rejudged
    );
    assert_eq!(rollout.status(), Status::Passed);
    let s = &rollout.suites[0];
    let m = s.suite.metrics.as_ref().unwrap();
    assert_eq!(m.requests, 3);
    assert!(m.response_time.is_none());
    assert!(
        s.inexact[0].contains("pod old's result has no histogram"),
        "{:?}",
        s.inexact
    );
}

#[test]
fn expectations_add_up_their_tallies() {
    let expect = |passes, failures| Check {
        kind: CheckKind::Expect,
        passes: Some(passes),
        failures: Some(failures),
        message: (failures > 0).then(|| "1 response had status 500".to_string()),
        ..threshold("GET / statusCode 200", 0.0, failures == 0)
    };
    let a = run_of(pod_suite(&[1_000], Some(2), vec![expect(10, 0)]));
    let b = run_of(pod_suite(&[1_000], Some(2), vec![expect(9, 1)]));
    let rollout = merge(&[("a", &a), ("b", &b)], Some(2));
    let c = &rollout.suites[0].suite.checks[0];
    assert_eq!((c.passes, c.failures), (Some(19), Some(1)));
    assert_eq!(c.status, CheckStatus::Failed);
    assert_eq!(c.message.as_deref(), Some("b: 1 response had status 500"));
}
