//! Unit tests of `patch.rs`: pods built with `mk_*` go through `Injector::mutate`, and the
//! patch is applied as the API server would, so each rule is checked by its effect.

use crate::mutate::test_support::*;

#[test]
fn annotation_keys_are_pointer_escaped() {
    let pod = mk_pod(
        &[("testcar.io/inject", "true")],
        vec![mk_container("app", Some(8080))],
    );
    let out = mk_injector().mutate(&pod, "shop");
    let text = serde_json::to_string(&out.patch).unwrap();
    assert!(
        text.contains("/metadata/annotations/testcar.io~1status"),
        "{text}"
    );
    assert!(text.contains("/spec/containers/-"), "{text}");
    assert!(!text.contains("\"replace\""), "{text}");
}

#[test]
fn missing_arrays_are_created_and_existing_ones_appended() {
    let mut pod = mk_pod(&[], vec![mk_container("app", Some(8080))]);
    pod.metadata.annotations = None;
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::Skipped(Skip::NotOptedIn));

    let mut pod = mk_pod(
        &[("testcar.io/inject", "true")],
        vec![mk_container("app", None)],
    );
    pod.spec.as_mut().unwrap().volumes = Some(vec![Volume {
        name: "data".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }]);
    let out = mk_injector().mutate(&pod, "shop");
    let ops = serde_json::to_value(&out.patch).unwrap();
    let paths: Vec<&str> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/spec/volumes/-"), "{paths:?}");
    assert!(
        paths.contains(&"/spec/containers/0/volumeMounts"),
        "{paths:?}"
    );
    // no port and no target annotation: warned, TESTCAR_TARGET left out
    assert!(
        out.warnings.iter().any(|w| w.contains("no containerPort")),
        "{:?}",
        out.warnings
    );
    let patched = apply(&pod, &out);
    assert_eq!(env_of(&agent_of(&patched), env::TARGET), None);
    assert_eq!(patched.spec.unwrap().volumes.unwrap().len(), 4);
}

#[test]
fn pull_secrets_are_added_once_and_only_when_missing() {
    let mut config = Config::default();
    config.agent.image_pull_secrets = vec!["mirror".into(), "agent-pull".into(), "mirror".into()];
    let inj = Injector::new(config, None);
    let ann = [("testcar.io/inject", "true")];

    // none yet: the array is created, each name once
    let pod = mk_pod(&ann, vec![mk_container("app", Some(8080))]);
    let out = inj.mutate(&pod, "shop");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let names = |p: &Pod| -> Vec<String> {
        p.spec
            .as_ref()
            .unwrap()
            .image_pull_secrets
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|r| r.name.clone())
            .collect()
    };
    assert_eq!(names(&apply(&pod, &out)), ["mirror", "agent-pull"]);

    // the pod lists one already: only the other is appended, the pod's own stay first
    let mut pod = mk_pod(&ann, vec![mk_container("app", Some(8080))]);
    pod.spec.as_mut().unwrap().image_pull_secrets = Some(vec![
        k8s_openapi::api::core::v1::LocalObjectReference {
            name: "app-pull".into(),
        },
        k8s_openapi::api::core::v1::LocalObjectReference {
            name: "mirror".into(),
        },
    ]);
    let out = inj.mutate(&pod, "shop");
    let text = serde_json::to_string(&out.patch).unwrap();
    assert!(text.contains("/spec/imagePullSecrets/-"), "{text}");
    assert_eq!(
        names(&apply(&pod, &out)),
        ["app-pull", "mirror", "agent-pull"]
    );

    // all there: no operation on imagePullSecrets at all
    pod.spec
        .as_mut()
        .unwrap()
        .image_pull_secrets
        .as_mut()
        .unwrap()
        .push(k8s_openapi::api::core::v1::LocalObjectReference {
            name: "agent-pull".into(),
        });
    let text = serde_json::to_string(&inj.mutate(&pod, "shop").patch).unwrap();
    assert!(!text.contains("imagePullSecrets"), "{text}");

    // not configured (the default): never touched
    let text = serde_json::to_string(&mk_injector().mutate(&pod, "shop").patch).unwrap();
    assert!(!text.contains("imagePullSecrets"), "{text}");
}

#[test]
fn injected_pods_are_labelled_for_selectors_keeping_their_labels() {
    let bare = mk_pod(
        &[(keys::INJECT, "true")],
        vec![mk_container("app", Some(8080))],
    );
    let mut labelled = bare.clone();
    labelled.metadata.labels = Some([("app".to_string(), "orders".to_string())].into());
    for pod in [bare, labelled.clone()] {
        let patched = apply(&pod, &mk_injector().mutate(&pod, "shop"));
        let labels = patched.metadata.labels.unwrap();
        assert_eq!(
            labels.get("testcar.io/injected").map(String::as_str),
            Some("true")
        );
        if pod.metadata.labels.is_some() {
            assert_eq!(labels.get("app").map(String::as_str), Some("orders"));
        }
    }
}
