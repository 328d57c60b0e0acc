//! Unit tests of `admission.rs`: whole review bodies in, response bodies out (the hostile
//! fixtures are the fuzz properties' past findings).

use super::*;
use crate::config::Config;
use serde_json::json;

fn mk_review(kind: &str, operation: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0df28fbd-5f5f-4b3a-9c2a-4a5a1f0e9d11",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": object,
            "oldObject": null,
            "dryRun": false
        }
    }))
    .unwrap()
}

fn mk_pod_json() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "orders-", "annotations": {"testcar.io/inject": "true"}},
        "spec": {"containers": [{"name": "app", "image": "orders:1", "ports": [{"containerPort": 8080}]}]}
    })
}

fn response(r: &Reviewed) -> Value {
    serde_json::from_slice::<Value>(&r.body).unwrap()["response"].clone()
}

#[test]
fn garbage_gives_invalid_response() {
    let inj = Injector::new(Config::default(), None);
    for body in [
        &b"not json"[..],
        b"{}",
        b"",
        b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
    ] {
        let r = review(&inj, body);
        assert_eq!(r.decision, Decision::Error);
        let resp = response(&r);
        assert_eq!(resp["allowed"], false, "{resp}");
        assert_eq!(resp["status"]["reason"], "InvalidRequest");
    }
}

/// Found by the hostile-review fuzz property: a number out of range (or a lone
/// surrogate) anywhere in the object made the whole review unreadable, and the answer
/// carried no uid, which the API server reports as a mismatch.
#[test]
fn unreadable_review_still_answers_its_uid() {
    let inj = Injector::new(Config::default(), None);
    let body = include_str!("../../test_data/hostile-number-out-of-range.review.json");
    let r = review(&inj, body.as_bytes());
    assert_eq!(r.decision, Decision::Error);
    assert_eq!(r.uid, "0df28fbd-5f5f-4b3a-9c2a-4a5a1f0e9d11");
    let resp = response(&r);
    assert_eq!(resp["uid"], "0df28fbd-5f5f-4b3a-9c2a-4a5a1f0e9d11");
    assert_eq!(resp["allowed"], false);
    assert_eq!(resp["status"]["reason"], "InvalidRequest");
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("number out of range"),
        "{resp}"
    );
}

/// Found by the hostile-review fuzz property: a long string where a list belongs
/// (serde quotes it in its message) made a warning longer than the API server keeps.
#[test]
fn unreadable_pod_warning_stays_short() {
    let inj = Injector::new(Config::default(), None);
    let body = include_str!("../../test_data/hostile-long-wrong-type.review.json");
    let r = review(&inj, body.as_bytes());
    assert_eq!(r.reason, Reason::UnreadablePod);
    let w = &r.warnings[0];
    assert!(
        w.chars().count() <= MAX_WARNING_CHARS,
        "{} chars: {w}",
        w.chars().count()
    );
    assert!(
        w.starts_with("testcar: the object is not a readable Pod"),
        "{w}"
    );
    assert!(w.ends_with("…; the pod is not injected"), "{w}");
}

/// Found by the hostile-review fuzz property: a timeout annotation past u64::MAX
/// seconds panicked (`Duration::from_secs_f64`).
#[test]
fn huge_timeout_annotation_is_a_warning_not_a_panic() {
    let inj = Injector::new(Config::default(), None);
    let body = include_str!("../../test_data/hostile-huge-timeout.review.json");
    let r = review(&inj, body.as_bytes());
    let resp = response(&r);
    assert_eq!(resp["uid"], "0df28fbd-5f5f-4b3a-9c2a-4a5a1f0e9d11");
    assert_eq!(resp["allowed"], true);
    assert!(
        r.warnings.iter().any(|w| w.contains("testcar.io/timeout")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn pod_without_kind_fields_still_reads() {
    let inj = Injector::new(Config::default(), None);
    let mut pod = mk_pod_json();
    pod.as_object_mut().unwrap().remove("apiVersion");
    pod.as_object_mut().unwrap().remove("kind");
    let r = review(&inj, &mk_review("Pod", "CREATE", pod));
    assert_eq!(r.decision, Decision::Injected);
    assert_eq!(r.pod, "orders-*");
    let resp = response(&r);
    assert_eq!(resp["uid"], "0df28fbd-5f5f-4b3a-9c2a-4a5a1f0e9d11");
    assert_eq!(resp["patchType"], "JSONPatch");
}

#[test]
fn malformed_pod_is_allowed_with_warning() {
    let inj = Injector::new(Config::default(), None);
    let pod = json!({"metadata": {"annotations": {"testcar.io/inject": "true"}}, "spec": {"containers": "app"}});
    let r = review(&inj, &mk_review("Pod", "CREATE", pod));
    assert_eq!(r.reason, Reason::UnreadablePod);
    let resp = response(&r);
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("patch").is_none());
    assert!(
        resp["warnings"][0]
            .as_str()
            .unwrap()
            .contains("not injected")
    );
}

#[test]
fn non_create_and_non_pod_are_skipped() {
    let inj = Injector::new(Config::default(), None);
    let r = review(&inj, &mk_review("Pod", "UPDATE", mk_pod_json()));
    assert_eq!(r.reason, Reason::NotCreate);
    let r = review(
        &inj,
        &mk_review(
            "ConfigMap",
            "CREATE",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        ),
    );
    assert_eq!(r.reason, Reason::NotPod);
    assert_eq!(response(&r)["allowed"], true);
}
