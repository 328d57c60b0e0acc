//! Unit tests of `eligibility.rs`: pods built with `mk_*` go through `Injector::mutate`, and the
//! patch is applied as the API server would, so each rule is checked by its effect.

use crate::mutate::test_support::*;

#[test]
fn skips_without_patch() {
    let inj = mk_injector();
    let app = || vec![mk_container("app", Some(8080))];
    for (ann, ns, reason) in [
        (vec![], "shop", Reason::NotOptedIn),
        (
            vec![("testcar.io/inject", "false")],
            "shop",
            Reason::NotOptedIn,
        ),
        (
            vec![("testcar.io/inject", "true")],
            "kube-system",
            Reason::ExcludedNamespace,
        ),
        (
            vec![("testcar.io/inject", "true")],
            "testcar-system",
            Reason::ExcludedNamespace,
        ),
        (
            vec![
                ("testcar.io/inject", "true"),
                ("testcar.io/status", "injected"),
            ],
            "shop",
            Reason::AlreadyInjected,
        ),
        (
            vec![("testcar.io/inject", "yes")],
            "shop",
            Reason::InvalidInject,
        ),
    ] {
        let out = inj.mutate(&mk_pod(&ann, app()), ns);
        assert_eq!(out.reason, reason, "{ann:?} in {ns}");
        assert_eq!(out.decision, Decision::Skipped);
        assert!(out.patch.0.is_empty());
    }
    let out = inj.mutate(&mk_pod(&[("testcar.io/inject", "yes")], app()), "shop");
    assert!(
        out.warnings[0].contains("testcar.io/inject")
            && out.warnings[0].contains("\"true\" or \"false\"")
            && out.warnings[0].contains("not injected"),
        "{:?}",
        out.warnings
    );
}

#[test]
fn typo_in_inject_key_is_warned_not_silent() {
    let pod = mk_pod(
        &[("testcar.io/injct", "true")],
        vec![mk_container("app", Some(8080))],
    );
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::NotOptedIn);
    assert!(
        out.warnings[0].contains("did you mean testcar.io/inject?"),
        "{:?}",
        out.warnings
    );
}

#[test]
fn collisions_skip_with_a_warning() {
    let inj = mk_injector();
    let ann = [("testcar.io/inject", "true")];
    let pod = mk_pod(
        &ann,
        vec![
            mk_container("app", Some(8080)),
            mk_container("testcar", None),
        ],
    );
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::Collision);
    assert!(out.patch.0.is_empty());
    assert!(out.warnings[0].contains("a container named testcar"));

    let mut pod = mk_pod(&ann, vec![mk_container("app", Some(80))]);
    pod.spec.as_mut().unwrap().containers[0].volume_mounts = Some(vec![VolumeMount {
        name: "x".into(),
        mount_path: "/etc/testcar/results/".into(),
        ..Default::default()
    }]);
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::Collision);
    assert!(out.warnings[0].contains("/etc/testcar/results"));

    let mut pod = mk_pod(&ann, vec![mk_container("app", Some(80))]);
    pod.spec.as_mut().unwrap().volumes = Some(vec![Volume {
        name: "testcar-results".into(),
        ..Default::default()
    }]);
    assert_eq!(inj.mutate(&pod, "shop").reason, Reason::Collision);
}

#[test]
fn windows_pods_are_skipped_with_a_warning() {
    let mut pod = mk_pod(
        &[("testcar.io/inject", "true")],
        vec![mk_container("app", Some(80))],
    );
    pod.spec.as_mut().unwrap().os = Some(k8s_openapi::api::core::v1::PodOS {
        name: "windows".into(),
    });
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::UnsupportedOs);
    assert!(out.patch.0.is_empty());
    assert!(out.warnings[0].contains("windows") && out.warnings[0].contains("Linux only"));

    let mut pod = mk_pod(
        &[("testcar.io/inject", "true")],
        vec![mk_container("app", Some(80))],
    );
    pod.spec.as_mut().unwrap().node_selector =
        Some([("kubernetes.io/os".to_string(), "windows".to_string())].into());
    assert_eq!(
        mk_injector().mutate(&pod, "shop").reason,
        Reason::UnsupportedOs
    );
    pod.spec.as_mut().unwrap().node_selector =
        Some([("kubernetes.io/os".to_string(), "linux".to_string())].into());
    assert_eq!(mk_injector().mutate(&pod, "shop").reason, Reason::Injected);
}

#[test]
fn an_inject_label_without_the_annotation_is_warned() {
    let mut pod = mk_pod(&[], vec![mk_container("app", Some(8080))]);
    pod.metadata.annotations = None;
    pod.metadata.labels = Some([("testcar.io/inject".to_string(), "true".to_string())].into());
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::NotOptedIn);
    assert!(out.patch.0.is_empty());
    assert!(
        out.warnings[0].contains("label testcar.io/inject")
            && out.warnings[0].contains("annotation testcar.io/inject: \"true\""),
        "{:?}",
        out.warnings
    );
    // the annotation, when present, is the answer; the label is not mentioned
    let mut pod = mk_pod(
        &[("testcar.io/inject", "false")],
        vec![mk_container("app", Some(8080))],
    );
    pod.metadata.labels = Some([("testcar.io/inject".to_string(), "true".to_string())].into());
    assert!(mk_injector().mutate(&pod, "shop").warnings.is_empty());
}
