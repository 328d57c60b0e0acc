//! Property tests: random pod shapes, annotation strings and bodies through the review path
//! and the HTTP router. Never a panic or a 5xx; any patch applies, keeps names and mount
//! paths unique, and a second pass over the patched pod gives no patch.

use crate::common;

use common::generators::{mk_review, pod};

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use proptest::prelude::*;
use serde_json::{Value, json};
use testcar_injector::admission::Decision;
use testcar_injector::admission::review;
use testcar_injector::config::Config;
use testcar_injector::metrics::Metrics;
use testcar_injector::mutate::Injector;
use testcar_injector::server::{AppState, webhook_router};
use tower::ServiceExt;

fn names(doc: &Value, pointer: &str) -> Vec<String> {
    doc.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_unique(list: &[String], what: &str) -> Result<(), TestCaseError> {
    let set: HashSet<&String> = list.iter().collect();
    prop_assert_eq!(set.len(), list.len(), "duplicate {}: {:?}", what, list);
    Ok(())
}

/// Where the agent went and which port it took: a native sidecar for pods that complete,
/// no Windows pod injected, a port nothing long-running declares, none declared on the
/// host network.
fn check_agent_placement(doc: &Value) -> Result<(), TestCaseError> {
    let spec = &doc["spec"];
    prop_assert!(
        spec["os"]["name"] != "windows",
        "a Windows pod was injected"
    );
    let empty = Vec::new();
    let containers = spec["containers"].as_array().unwrap_or(&empty);
    let inits = spec["initContainers"].as_array().unwrap_or(&empty);
    let agent = containers
        .iter()
        .chain(inits)
        .find(|c| c["name"] == "testcar")
        .unwrap();
    if spec["restartPolicy"] == "Never" || spec["restartPolicy"] == "OnFailure" {
        prop_assert!(
            !containers.iter().any(|c| c["name"] == "testcar"),
            "agent in containers of a pod that completes"
        );
        prop_assert_eq!(&agent["restartPolicy"], &json!("Always"));
    }
    let listen = agent["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TESTCAR_LISTEN")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    let port: i64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    for c in containers
        .iter()
        .chain(inits.iter().filter(|c| c["restartPolicy"] == "Always"))
    {
        if c["name"] == "testcar" {
            continue;
        }
        for p in c["ports"].as_array().into_iter().flatten() {
            let tcp = p["protocol"].as_str().unwrap_or("TCP") == "TCP";
            prop_assert!(
                !(tcp && p["containerPort"] == port),
                "agent port {} taken by {}",
                port,
                c["name"]
            );
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            prop_assert!(
                c[probe]["tcpSocket"]["port"] != port,
                "agent port {} probed in {}",
                port,
                c["name"]
            );
        }
    }
    if spec["hostNetwork"] == true {
        prop_assert!(agent.get("ports").is_none());
    } else {
        prop_assert_eq!(&agent["ports"][0]["containerPort"], &json!(port));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_pods_never_break(
        object in pod(),
        namespace in prop_oneof![4 => Just("shop"), 1 => Just("kube-system"), 1 => Just("testcar-system")],
        operation in prop_oneof![6 => Just("CREATE"), 1 => Just("UPDATE"), 1 => Just("DELETE")],
    ) {
        let inj = Injector::new(Config::default(), Some("testcar-system"));
        let request = mk_review(&object, namespace, operation);
        let r = review(&inj, &serde_json::to_vec(&request).unwrap());
        let resp: Value = serde_json::from_slice(&r.body).unwrap();
        prop_assert_eq!(&resp["response"]["uid"], &request["request"]["uid"]);
        prop_assert_eq!(&resp["response"]["allowed"], &json!(true));
        for w in &r.warnings {
            prop_assert!(w.chars().count() <= testcar_injector::mutate::MAX_WARNING_CHARS, "too long: {}", w);
        }
        let Some(patch) = common::patch_of(&resp) else {
            prop_assert!(r.decision != Decision::Injected);
            return Ok(());
        };
        prop_assert_eq!(r.decision, Decision::Injected);
        let mut doc = object.clone();
        let ops: json_patch::Patch = serde_json::from_value(patch).unwrap();
        json_patch::patch(&mut doc, &ops).map_err(|e| TestCaseError::fail(format!("patch does not apply: {e}")))?;
        let pod: Result<Pod, _> = serde_json::from_value(doc.clone());
        prop_assert!(pod.is_ok(), "{:?}", pod.err());

        let mut all = names(&doc, "/spec/containers");
        all.extend(names(&doc, "/spec/initContainers"));
        assert_unique(&all, "container names")?;
        let volumes = names(&doc, "/spec/volumes");
        assert_unique(&volumes, "volume names")?;
        for list in ["/spec/containers", "/spec/initContainers"] {
            for c in doc.pointer(list).and_then(Value::as_array).into_iter().flatten() {
                let paths: Vec<String> = c["volumeMounts"].as_array().into_iter().flatten()
                    .map(|m| m["mountPath"].as_str().unwrap().trim_end_matches('/').to_string()).collect();
                assert_unique(&paths, "mount paths")?;
                for m in c["volumeMounts"].as_array().into_iter().flatten() {
                    let n = m["name"].as_str().unwrap();
                    if n.starts_with("testcar-") {
                        prop_assert!(volumes.iter().any(|v| v == n), "mount of missing volume {}", n);
                    }
                }
            }
        }

        check_agent_placement(&doc)?;

        let again = review(&inj, &serde_json::to_vec(&common::with_object(&request, &doc)).unwrap());
        prop_assert_eq!(again.patch_ops, 0, "second pass patched: {:?}", again.reason);
    }

    #[test]
    fn random_bodies_get_200_from_the_router(body in proptest::collection::vec(any::<u8>(), 0..512), as_review in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let state = Arc::new(AppState {
            injector: Injector::new(Config::default(), None),
            metrics: Arc::new(Metrics::new()),
            ready: Default::default(),
        });
        let bytes = if as_review {
            // a review whose object is noise
            let noise = String::from_utf8_lossy(&body).to_string();
            serde_json::to_vec(&mk_review(&json!({"metadata": {"annotations": {"testcar.io/inject": "true"}}, "spec": noise}), "shop", "CREATE")).unwrap()
        } else {
            body
        };
        let (status, out) = rt.block_on(async {
            let res = webhook_router(state)
                .oneshot(Request::post("/mutate").body(Body::from(bytes)).unwrap())
                .await
                .unwrap();
            let status = res.status();
            (status, res.into_body().collect().await.unwrap().to_bytes())
        });
        prop_assert_eq!(status.as_u16(), 200);
        let v: Value = serde_json::from_slice(&out).unwrap();
        prop_assert!(v["response"]["allowed"].is_boolean());
    }
}

/// The generator must actually reach injection often, or the properties above prove little.
#[test]
fn the_pod_generator_reaches_injection() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let inj = Injector::new(Config::default(), None);
    let mut runner = TestRunner::deterministic();
    let strategy = pod();
    let mut injected = 0;
    for _ in 0..300 {
        let object = strategy.new_tree(&mut runner).unwrap().current();
        let body = serde_json::to_vec(&mk_review(&object, "shop", "CREATE")).unwrap();
        if review(&inj, &body).decision == Decision::Injected {
            injected += 1;
        }
    }
    assert!(
        injected >= 60,
        "only {injected} of 300 random pods were injected"
    );
}
