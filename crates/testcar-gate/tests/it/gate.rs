//! The gate's library against a stand-in API server serving recorded-shape payloads
//! (see `common/mod.rs`; there is no kube-apiserver on these machines), reached by the
//! real kube-rs client through a generated kubeconfig.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;
use testcar_contract::Status;
use testcar_gate::report::PodStatus;
use testcar_gate::verdict::Source;
use testcar_gate::{GateOptions, GateReport, Workload};

fn mk_opts(workload: Workload, timeout_ms: u64) -> GateOptions {
    GateOptions {
        namespace: "shop".into(),
        workload,
        timeout: Duration::from_millis(timeout_ms),
        min_pods: 1,
        interval: Duration::from_millis(50),
        fail_fast: false,
    }
}

fn deployment() -> Workload {
    Workload::Deployment("orders".into())
}

/// Every current pod reports `passed` in its log.
fn all_passing(w: &mut World) {
    for pod in CURRENT {
        w.set_log(pod, &[log_with(RUN_PASSED, pod)]);
    }
}

async fn gate(api: &FakeApi, opts: &GateOptions) -> (GateReport, String) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig(dir.path());
    let client = testcar_gate::client::connect(Some(&kubeconfig), None)
        .await
        .unwrap();
    let mut progress = Vec::new();
    let report = testcar_gate::run_gate(&client, opts, &mut progress).await;
    (report, String::from_utf8(progress).unwrap())
}

fn pod<'a>(report: &'a GateReport, name: &str) -> &'a testcar_gate::report::PodReport {
    report.pods.iter().find(|p| p.name == name).unwrap()
}

#[tokio::test]
async fn all_pods_pass_and_old_replicaset_is_ignored() {
    let mut world = World::orders();
    all_passing(&mut world);
    // The old ReplicaSet's pod has a failed verdict: it must not count.
    world.set_log(OLD, &[log_with(RUN_FAILED, OLD)]);
    let api = FakeApi::start(world).await;
    let (report, progress) = gate(&api, &mk_opts(deployment(), 5_000)).await;

    assert_eq!(report.status, Status::Passed, "{report:#?}");
    assert_eq!(report.error, None);
    let names: Vec<&str> = report.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, CURRENT);
    assert_eq!(report.pods_ignored, 1);
    assert_eq!(report.pods_reported, 3);
    assert_eq!(report.workload.revision.as_deref(), Some("7"));
    assert_eq!(
        report.workload.replica_set.as_deref(),
        Some("orders-7c9f8d6b5")
    );
    assert!(report.pods.iter().all(|p| p.source == Some(Source::Log)));
    assert_eq!(
        pod(&report, CURRENT[0])
            .run
            .as_ref()
            .unwrap()
            .pod
            .as_ref()
            .unwrap()
            .name,
        CURRENT[0]
    );
    let w = api.world();
    assert!(
        !w.requested(&format!("pods/{OLD}/log")),
        "old pod's log was read: {:?}",
        w.requests
    );
    assert!(
        w.requested("labelSelector=app%3Dorders"),
        "{:?}",
        w.requests
    );
    assert!(w.authorized > 0);
    assert!(
        progress.contains(
            "revision 7 (ReplicaSet orders-7c9f8d6b5), 3 replica(s), 1 pod(s) of older revisions"
        ),
        "{progress}"
    );
    assert!(
        progress.contains("pods seen 3/3, done 3 (passed 3, failed 0, error 0)"),
        "{progress}"
    );
    assert!(!progress.contains(TOKEN));
}

#[tokio::test]
async fn one_failed_pod_fails_the_gate() {
    let mut world = World::orders();
    all_passing(&mut world);
    world.set_log(CURRENT[2], &[log_with(RUN_FAILED, CURRENT[2])]);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.error, None);
    assert_eq!(pod(&report, CURRENT[2]).status, PodStatus::Failed);
    assert_eq!(pod(&report, CURRENT[0]).status, PodStatus::Passed);
    let summary = report.render_summary(false, true);
    assert!(
        summary.contains(&format!(
            "{}/load: failed http.response_time.p99 < 250",
            CURRENT[2]
        )),
        "{summary}"
    );
}

#[tokio::test]
async fn restarted_container_result_is_read_from_the_previous_log() {
    let mut world = World::orders();
    all_passing(&mut world);
    // the recorded pod 8mn4p has restartCount 1 (OOMKilled): its new instance is still
    // running tests, the old one printed the verdict before it was killed
    let restarted = CURRENT[1];
    world.set_log(restarted, &[log_without_result()]);
    world
        .previous_logs
        .insert(restarted.to_string(), log_with(RUN_PASSED, restarted));
    let api = FakeApi::start(world).await;
    let (report, progress) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Passed, "{report:#?}");
    let p = pod(&report, restarted);
    assert_eq!(p.source, Some(Source::PreviousLog));
    assert_eq!(p.restarts, 1);
    let w = api.world();
    let asked = format!(
        "/api/v1/namespaces/shop/pods/{restarted}/log?&container=testcar&previous=true&tailLines=5000"
    );
    assert!(w.requests.contains(&asked), "{:?}", w.requests);
    drop(w);
    assert!(
        progress.contains(&format!(
            "{restarted}: passed (from previous-log, container restarted 1 time(s))"
        )),
        "{progress}"
    );
}

#[tokio::test]
async fn no_result_until_timeout_says_what_is_missing() {
    let mut world = World::orders();
    all_passing(&mut world);
    world.set_log(CURRENT[2], &[log_without_result()]);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 600)).await;
    assert_eq!(report.status, Status::Error);
    let err = report.error.clone().unwrap();
    assert!(
        err.starts_with("timed out after 600ms; still missing: "),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}: no result yet: none of the 12 log lines is a testcar.io/result/v1 document",
            CURRENT[2]
        )),
        "{err}"
    );
    assert!(err.contains("agent /result: HTTP 503 ServiceUnavailable: error trying to reach service: dial tcp 10.244.3.8:9464"), "{err}");
    assert!(
        !err.contains(CURRENT[0]),
        "a reported pod is not missing: {err}"
    );
    let p = pod(&report, CURRENT[2]);
    assert_eq!(p.status, PodStatus::Pending);
    assert_eq!(report.pods_reported, 2);
    // the verdicts that did arrive are kept
    assert_eq!(pod(&report, CURRENT[0]).status, PodStatus::Passed);
}

#[tokio::test]
async fn result_arriving_later_is_picked_up() {
    let mut world = World::orders();
    all_passing(&mut world);
    world.set_log(
        CURRENT[0],
        &[
            log_without_result(),
            log_without_result(),
            log_with(RUN_PASSED, CURRENT[0]),
        ],
    );
    let api = FakeApi::start(world).await;
    let (report, progress) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Passed, "{report:#?}");
    assert!(progress.contains("done 2 (passed 2"), "{progress}");
    assert!(progress.contains("done 3 (passed 3"), "{progress}");
}

#[tokio::test]
async fn proxy_result_is_the_fallback_when_the_log_has_none() {
    let mut world = World::orders();
    all_passing(&mut world);
    // e.g. the kubelet rotated the log away
    world.set_log(CURRENT[0], &[String::new()]);
    world
        .proxy
        .insert(CURRENT[0].into(), run_with_pod(RUN_PASSED, CURRENT[0]));
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Passed, "{report:#?}");
    assert_eq!(pod(&report, CURRENT[0]).source, Some(Source::Proxy));
    assert!(api.world().requested(&format!(
        "/api/v1/namespaces/shop/pods/{}:9464/proxy/result",
        CURRENT[0]
    )));
}

#[tokio::test]
async fn proxy_fallback_presents_the_pods_read_token() {
    const POD_TOKEN: &str = "read-token-minted-by-the-injector";
    let mut world = World::orders();
    all_passing(&mut world);
    world.set_log(CURRENT[0], &[String::new()]);
    world.set_log(CURRENT[1], &[String::new()]);
    world
        .proxy
        .insert(CURRENT[0].into(), run_with_pod(RUN_PASSED, CURRENT[0]));
    world
        .proxy
        .insert(CURRENT[1].into(), run_with_pod(RUN_PASSED, CURRENT[1]));
    for (pod, token) in [(CURRENT[0], POD_TOKEN), (CURRENT[1], "another-pods-token")] {
        let spec = &mut world.pod_mut(pod)["spec"];
        let agent = spec["containers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["name"] == "testcar")
            .unwrap();
        agent["env"] = json!([{"name": "TESTCAR_READ_TOKEN", "value": token}]);
    }
    let api = FakeApi::start(world).await;
    let (report, progress) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Passed, "{report:#?}");
    assert_eq!(pod(&report, CURRENT[0]).source, Some(Source::Proxy));
    assert_eq!(pod(&report, CURRENT[1]).source, Some(Source::Proxy));
    let sent = api.world().proxy_tokens.clone();
    assert!(sent.contains(&Some(POD_TOKEN.to_string())), "{sent:?}");
    assert!(
        sent.contains(&Some("another-pods-token".to_string())),
        "{sent:?}"
    );
    // each pod's own token, never printed
    let json = serde_json::to_string(&report).unwrap();
    for shown in [json.as_str(), progress.as_str(), report.to_junit().as_str()] {
        assert!(!shown.contains(POD_TOKEN), "token leaked: {shown}");
    }
}

#[tokio::test]
async fn no_pods_is_an_error() {
    let mut world = World::orders();
    world.pods.retain(|p| p["metadata"]["name"] == OLD);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 400)).await;
    assert_eq!(report.status, Status::Error);
    let err = report.error.clone().unwrap();
    assert!(err.starts_with("no pods found for deployment orders in namespace shop, revision 7 (ReplicaSet orders-7c9f8d6b5)"), "{err}");
    assert!(
        err.contains("1 pod(s) of older revisions or terminating ignored"),
        "{err}"
    );
    assert!(report.pods.is_empty());
    assert!(report.to_junit().contains("deployment/orders/testcar"));
}

#[tokio::test]
async fn a_replicaset_that_cannot_create_pods_says_why() {
    let mut world = World::orders();
    world.pods.retain(|p| p["metadata"]["name"] == OLD);
    let message = "pods \"orders-7c9f8d6b5-abcde\" is forbidden: maximum cpu usage per Container is 500m, but limit is 1";
    let rs = world
        .replicasets
        .iter_mut()
        .find(|rs| rs["metadata"]["name"] == "orders-7c9f8d6b5")
        .unwrap();
    rs["status"]["conditions"] = json!([{"type": "ReplicaFailure", "status": "True",
        "reason": "FailedCreate", "message": message}]);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 400)).await;
    assert_eq!(report.status, Status::Error);
    let err = report.error.clone().unwrap();
    assert!(
        err.contains(&format!(
            "ReplicaSet orders-7c9f8d6b5 cannot create pods: {message}"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn selector_without_matches_is_an_error() {
    let api = FakeApi::start(World::orders()).await;
    let (report, _) = gate(
        &api,
        &mk_opts(Workload::Selector("app=nothing".into()), 300),
    )
    .await;
    assert_eq!(report.status, Status::Error);
    assert!(
        report
            .error
            .unwrap()
            .starts_with("no pods found for pods matching app=nothing")
    );
}

/// Strip the sidecar (and optionally the annotation) from a pod, as if never injected.
fn uninjected(w: &mut World, name: &str, keep_annotation: bool) {
    let p = w.pod_mut(name);
    let containers = p["spec"]["containers"].as_array_mut().unwrap();
    containers.retain(|c| c["name"] != "testcar");
    p["status"]["containerStatuses"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["name"] != "testcar");
    let ann = p["metadata"]["annotations"].as_object_mut().unwrap();
    ann.remove("testcar.io/status");
    ann.remove("testcar.io/injector-version");
    if !keep_annotation {
        ann.remove("testcar.io/inject");
    }
}

#[tokio::test]
async fn sidecar_missing_without_annotation_and_webhook() {
    let mut world = World::orders();
    all_passing(&mut world);
    uninjected(&mut world, CURRENT[1], false);
    world.webhooks = Some(
        items(WEBHOOKS)
            .into_iter()
            .filter(|w| w["metadata"]["name"] != "testcar-injector")
            .collect(),
    );
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Error);
    let err = report.error.clone().unwrap();
    assert!(
        err.contains(&format!(
            "pod {} has no testcar container (not injected)",
            CURRENT[1]
        )),
        "{err}"
    );
    assert!(err.contains("no testcar.io/inject: \"true\" annotation; add it to the pod template (spec.template.metadata.annotations) of deployment orders"), "{err}");
    assert!(
        err.contains("no Testcar MutatingWebhookConfiguration is installed (1 other(s) found"),
        "{err}"
    );
    assert_eq!(pod(&report, CURRENT[1]).status, PodStatus::Error);
    // the other pods were still judged
    assert_eq!(pod(&report, CURRENT[0]).status, PodStatus::Passed);
}

#[tokio::test]
async fn sidecar_missing_with_annotation_blames_the_webhook_only() {
    let mut world = World::orders();
    all_passing(&mut world);
    uninjected(&mut world, CURRENT[0], true);
    world.webhooks = Some(vec![]);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    let err = report.error.unwrap();
    assert!(!err.contains("annotation;"), "{err}");
    assert!(
        err.contains("no Testcar MutatingWebhookConfiguration is installed (0 other(s)"),
        "{err}"
    );
}

#[tokio::test]
async fn sidecar_missing_with_webhook_installed_lists_other_causes() {
    let mut world = World::orders();
    all_passing(&mut world);
    uninjected(&mut world, CURRENT[0], true);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    let err = report.error.unwrap();
    assert!(err.contains("the pod is annotated and the webhook is installed (MutatingWebhookConfiguration testcar-injector) but did not inject it"), "{err}");
}

#[tokio::test]
async fn sidecar_missing_webhook_check_forbidden_says_so() {
    let mut world = World::orders();
    all_passing(&mut world);
    uninjected(&mut world, CURRENT[0], false);
    world.webhooks = None;
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    let err = report.error.unwrap();
    assert!(
        err.contains("could not check the MutatingWebhookConfigurations: HTTP 403 Forbidden"),
        "{err}"
    );
    assert!(
        err.contains("list on mutatingwebhookconfigurations"),
        "{err}"
    );
}

#[tokio::test]
async fn statefulset_gates_the_update_revision_only() {
    let mut world = World::ledger();
    for p in ["ledger-1", "ledger-2"] {
        world.set_log(p, &[log_with(RUN_PASSED, p)]);
    }
    world.set_log("ledger-0", &[log_with(RUN_FAILED, "ledger-0")]);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(
        &api,
        &mk_opts(Workload::StatefulSet("ledger".into()), 5_000),
    )
    .await;
    assert_eq!(report.status, Status::Passed, "{report:#?}");
    assert_eq!(
        report.workload.revision.as_deref(),
        Some("ledger-6d4b9c8f7")
    );
    assert_eq!(report.expected_pods, Some(2), "partition 1 of 3 replicas");
    assert_eq!(report.pods_ignored, 1);
    let names: Vec<&str> = report.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ledger-1", "ledger-2"]);
}

#[tokio::test]
async fn single_pod_and_selector() {
    let mut world = World::orders();
    all_passing(&mut world);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(Workload::Pod(CURRENT[0].into()), 5_000)).await;
    assert_eq!(report.status, Status::Passed);
    assert_eq!(report.pods.len(), 1);

    let mut opts = mk_opts(
        Workload::Selector("pod-template-hash=7c9f8d6b5".into()),
        5_000,
    );
    opts.min_pods = 3;
    let (report, _) = gate(&api, &opts).await;
    assert_eq!(report.status, Status::Passed, "{report:#?}");
    assert_eq!(report.pods.len(), 3);
}

#[tokio::test]
async fn fewer_reports_than_min_pods_is_an_error() {
    let mut world = World::orders();
    all_passing(&mut world);
    let api = FakeApi::start(world).await;
    let mut opts = mk_opts(deployment(), 5_000);
    opts.min_pods = 4;
    let (report, _) = gate(&api, &opts).await;
    assert_eq!(report.status, Status::Error);
    assert_eq!(
        report.error.as_deref(),
        Some("only 3 pod(s) reported a result; --min-pods is 4")
    );
}

#[tokio::test]
async fn forbidden_logs_stop_at_once_with_the_rbac_rule() {
    let mut world = World::orders();
    world.forbid_logs = true;
    let api = FakeApi::start(world).await;
    let started = std::time::Instant::now();
    let (report, _) = gate(&api, &mk_opts(deployment(), 60_000)).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited for the timeout"
    );
    assert_eq!(report.status, Status::Error);
    let err = report.error.unwrap();
    assert!(
        err.contains("cannot get resource \\\"pods/log\\\"")
            || err.contains("cannot get resource \"pods/log\""),
        "{err}"
    );
    assert!(err.contains("needs RBAC: get on pods/log"), "{err}");
}

#[tokio::test]
async fn missing_deployment_stops_at_once() {
    let api = FakeApi::start(World::orders()).await;
    let (report, _) = gate(
        &api,
        &mk_opts(Workload::Deployment("orderz".into()), 60_000),
    )
    .await;
    assert_eq!(report.status, Status::Error);
    assert_eq!(
        report.error.as_deref(),
        Some("deployment shop/orderz not found")
    );
}

#[tokio::test]
async fn controller_lag_is_waited_for_and_reported() {
    let mut world = World::orders();
    all_passing(&mut world);
    world.deployments[0]["metadata"]["generation"] = json!(8);
    let api = FakeApi::start(world).await;
    let (report, progress) = gate(&api, &mk_opts(deployment(), 300)).await;
    assert_eq!(report.status, Status::Error);
    let err = report.error.unwrap();
    assert!(
        err.contains("the Deployment controller has not observed generation 8 yet (observed 7)"),
        "{err}"
    );
    assert!(
        progress.contains(
            "testcar-gate: waiting: the Deployment controller has not observed generation 8"
        ),
        "{progress}"
    );
}

#[tokio::test]
async fn pod_stuck_pulling_the_agent_image_is_named_on_timeout() {
    let mut world = World::orders();
    all_passing(&mut world);
    let p = world.pod_mut(CURRENT[0]);
    p["status"]["containerStatuses"][1]["state"] = json!({"waiting": {
        "reason": "ImagePullBackOff",
        "message": "Back-off pulling image \"ghcr.io/testcar/testcar-agent:0.1.0\""
    }});
    p["status"]["containerStatuses"][1]["ready"] = json!(false);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 400)).await;
    let err = report.error.unwrap();
    assert!(
        err.contains(&format!(
            "{}: container testcar waiting: ImagePullBackOff: Back-off pulling image",
            CURRENT[0]
        )),
        "{err}"
    );
    assert!(!api.world().requested(&format!("pods/{}/log", CURRENT[0])));
}

#[tokio::test]
async fn fail_fast_stops_at_the_first_failure() {
    let mut world = World::orders();
    world.set_log(CURRENT[0], &[log_with(RUN_FAILED, CURRENT[0])]);
    // the other two never report: without --fail-fast this would run into the timeout
    world.set_log(CURRENT[1], &[log_without_result()]);
    world.set_log(CURRENT[2], &[log_without_result()]);
    let api = FakeApi::start(world).await;
    let mut opts = mk_opts(deployment(), 60_000);
    opts.fail_fast = true;
    let started = std::time::Instant::now();
    let (report, _) = gate(&api, &opts).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited for the timeout"
    );
    assert_eq!(report.status, Status::Failed, "{report:#?}");
    assert_eq!(report.error, None);
    assert_eq!(pod(&report, CURRENT[1]).status, PodStatus::Pending);
}

#[tokio::test]
async fn merged_kubeconfig_list_and_context() {
    let mut world = World::orders();
    all_passing(&mut world);
    let api = FakeApi::start(world).await;
    let dir = tempfile::tempdir().unwrap();
    let full = api.kubeconfig(dir.path());
    // a first file that only sets the current context, like a personal override
    let first = dir.path().join("override");
    std::fs::write(
        &first,
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n",
    )
    .unwrap();
    let list = format!("{}:{}", first.display(), full.display());
    let client = testcar_gate::client::connect(Some(std::path::Path::new(&list)), None)
        .await
        .unwrap();
    let report =
        testcar_gate::run_gate(&client, &mk_opts(deployment(), 5_000), &mut Vec::new()).await;
    assert_eq!(report.status, Status::Passed);

    let Err(err) = testcar_gate::client::connect(Some(&full), Some("nope")).await else {
        panic!("an unknown context must be refused");
    };
    assert!(err.to_string().contains("context \"nope\""), "{err}");
}

#[tokio::test]
async fn evicted_pod_without_result_is_an_error_at_once() {
    let mut world = World::orders();
    all_passing(&mut world);
    world.set_log(CURRENT[0], &[log_without_result()]);
    let p = world.pod_mut(CURRENT[0]);
    p["status"]["phase"] = json!("Failed");
    p["status"]["reason"] = json!("Evicted");
    p["status"]["message"] = json!("The node was low on resource: memory.");
    p["status"]["containerStatuses"][1]["state"] = json!({"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": "2026-11-22T10:05:00Z"}});
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 60_000)).await;
    assert_eq!(report.status, Status::Error);
    let err = report.error.clone().unwrap();
    assert!(
        err.contains(
            "pod phase Failed (Evicted) and no result: no result yet: none of the 12 log lines"
        ),
        "{err}"
    );
    assert_eq!(pod(&report, CURRENT[0]).status, PodStatus::Error);
}

#[tokio::test]
async fn native_sidecar_is_read_from_init_container_status() {
    let mut world = World::orders();
    all_passing(&mut world);
    let p = world.pod_mut(CURRENT[0]);
    let mut agent = p["spec"]["containers"][1].clone();
    agent["restartPolicy"] = json!("Always");
    p["spec"]["containers"].as_array_mut().unwrap().remove(1);
    p["spec"]["initContainers"] = json!([agent]);
    let status = p["status"]["containerStatuses"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    p["status"]["initContainerStatuses"] = json!([status]);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Passed, "{report:#?}");
    assert_eq!(pod(&report, CURRENT[0]).source, Some(Source::Log));
}

#[tokio::test]
async fn a_pod_whose_run_is_an_error_makes_the_gate_an_error_and_says_why() {
    let mut world = World::orders();
    all_passing(&mut world);
    world.set_log(CURRENT[1], &[log_with(RUN_ERROR, CURRENT[1])]);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Error);
    assert_eq!(
        report.error.as_deref(),
        Some(
            "pod orders-7c9f8d6b5-8mn4p could not test: target never became ready: GET http://127.0.0.1:8080/ready did not answer 2xx within 2m (last: connection refused)"
        )
    );
    assert_eq!(report.pods_reported, 3);
}

/// Every current pod reports `passed`, its smoke suite run on a 1/`replicas` share.
fn all_passing_shared(w: &mut World, replicas: u32) {
    let mut run: serde_json::Value = serde_json::from_str(RUN_PASSED).unwrap();
    run["suites"][0]["loadShare"] = json!({ "replicas": replicas });
    let text = run.to_string();
    for pod in CURRENT {
        w.set_log(pod, &[log_with(&text, pod)]);
    }
}

#[tokio::test]
async fn a_shared_load_is_merged_and_its_shares_must_add_up() {
    let mut world = World::orders();
    all_passing_shared(&mut world, 3);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Passed, "{:?}", report.error);
    let rollout = report.rollout.as_ref().unwrap();
    let smoke = &rollout.suites[0];
    assert_eq!(smoke.pods.len(), 3);
    assert_eq!(smoke.suite.metrics.as_ref().unwrap().requests, 30);
    assert!(
        report
            .to_junit()
            .contains("testsuite name=\"rollout/smoke\"")
    );

    // Three pods each sent half: 3/2 of the script's load.
    let mut world = World::orders();
    all_passing_shared(&mut world, 2);
    let api = FakeApi::start(world).await;
    let (report, _) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Error);
    let error = report.error.unwrap();
    assert!(
        error.contains("suite smoke: 3 pod(s) ran a 1/2 share each (testcar.io/replicas: \"2\"), so the rollout sent 3/2 of the script's load"),
        "{error}"
    );
}

/// A pod the injector left without the agent because it scales out the ReplicaSet the gate
/// verified (`testcar.io/status: skipped-scale-out`) is not gated: the other pods' verdicts
/// decide, and the gate does not wait for one from it.
#[tokio::test]
async fn a_scale_out_pod_of_the_verified_replica_set_is_not_gated() {
    let mut world = World::orders();
    all_passing(&mut world);
    uninjected(&mut world, CURRENT[2], true);
    world.pod_mut(CURRENT[2])["metadata"]["annotations"]["testcar.io/status"] =
        serde_json::json!("skipped-scale-out");
    let api = FakeApi::start(world).await;
    let (report, progress) = gate(&api, &mk_opts(deployment(), 5_000)).await;
    assert_eq!(report.status, Status::Passed, "{report:#?}\n{progress}");
    let names: Vec<&str> = report.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, &CURRENT[..2]);
    assert!(
        progress.contains("1 scale-out pod(s) of the verified ReplicaSet not gated"),
        "{progress}"
    );
    assert!(!api.world().requested(&format!("pods/{}/log", CURRENT[2])));
}
