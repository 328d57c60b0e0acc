//! One rollout, one load, end to end without a cluster: three real engine runs, each with
//! `testcar.io/load: shared` across three replicas, against a loopback server; the gate
//! library merges their results. Together they sent what the script describes, and the
//! rollout's latency figures come from the pods' histograms added up.

use std::path::Path;

use testcar_artillery::{LoadOptions, RunOptions, compat_server, parse_script, run_script};
use testcar_contract::{CheckStatus, Run, Status, histogram};
use tokio_util::sync::CancellationToken;

/// 30 arrivals in one second, each one GET: the script's load is 30 requests.
const SCRIPT: &str = "
config:
  phases:
    - duration: 1
      arrivalCount: 30
  ensure:
    thresholds:
      - http.response_time.p99: 10000
      - http.codes.200: 20
scenarios:
  - flow:
      - get: { url: /json }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shared_runs_send_the_scripts_load_and_merge_exactly() {
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let target = format!("http://{addr}");
    let run_one = || {
        let opts = LoadOptions {
            target: Some(target.clone()),
            ..Default::default()
        };
        let script = parse_script(SCRIPT, Path::new("load.yml"), &opts).unwrap();
        run_script(
            script,
            RunOptions {
                load_share: Some(3),
                ..Default::default()
            },
        )
    };
    let (a, b, c) = tokio::join!(run_one(), run_one(), run_one());
    stop.cancel();
    let t = chrono::Utc::now();
    let runs: Vec<Run> = [a, b, c]
        .into_iter()
        .map(|o| Run::finish("r", t, t, vec![o.suite], None))
        .collect();
    for r in &runs {
        let s = &r.suites[0];
        assert_eq!(s.status, Status::Passed, "{s:#?}");
        assert_eq!(s.load_share.map(|l| l.replicas), Some(3));
        assert_eq!(s.metrics.as_ref().unwrap().requests, 10, "a third each");
    }
    let named: Vec<(&str, &Run)> = ["load-a", "load-b", "load-c"]
        .into_iter()
        .zip(&runs)
        .collect();
    let rollout = testcar_gate::merge::merge(&named, Some(3));
    assert!(rollout.problems.is_empty(), "{:?}", rollout.problems);
    let suite = &rollout.suites[0].suite;
    let m = suite.metrics.as_ref().unwrap();
    assert_eq!((m.requests, m.responses, m.codes["200"]), (30, 30, 30));
    assert_eq!((m.vusers.created, m.vusers.completed), (30, 30));

    // The reference: every pod's samples in one histogram.
    let mut pooled = histogram::new_latency_histogram();
    let (mut min, mut max, mut sum) = (f64::INFINITY, 0f64, 0f64);
    for r in &runs {
        let pm = r.suites[0].metrics.as_ref().unwrap();
        let h = histogram::decode(&pm.histograms["http.response_time"]).unwrap();
        assert_eq!(h.len(), 10);
        histogram::add(&mut pooled, &h).unwrap();
        let s = pm.response_time.unwrap();
        min = min.min(s.min);
        max = max.max(s.max);
        sum += s.mean * s.count as f64;
    }
    let reference = histogram::summary_of(&pooled, min, max, sum / 30.0);
    let rt = m.response_time.unwrap();
    assert_eq!(rt.count, 30);
    assert_eq!(
        (rt.p50, rt.p99, rt.max),
        (reference.p50, reference.p99, reference.max)
    );

    // Each pod's 10 < 20 held; the rollout's 30 does not: the merged judgement fails.
    let codes = suite
        .checks
        .iter()
        .find(|c| c.name == "http.codes.200 < 20")
        .unwrap();
    assert_eq!(codes.status, CheckStatus::Failed);
    let p99 = suite
        .checks
        .iter()
        .find(|c| c.name.starts_with("http.response_time.p99"))
        .unwrap();
    assert_eq!(p99.status, CheckStatus::Passed);
    assert_eq!(rollout.status(), Status::Failed);
}
