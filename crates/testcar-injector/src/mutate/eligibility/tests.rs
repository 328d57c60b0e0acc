//! Unit tests of `eligibility.rs`: pods built with `mk_*` go through `Injector::mutate`, and the
//! patch is applied as the API server would, so each rule is checked by its effect.

use crate::mutate::test_support::*;

#[test]
fn skips_without_patch() {
    let inj = mk_injector();
    let app = || vec![mk_container("app", Some(8080))];
    for (ann, ns, reason) in [
        (vec![], "shop", Reason::Skipped(Skip::NotOptedIn)),
        (
            vec![("testcar.io/inject", "false")],
            "shop",
            Reason::Skipped(Skip::NotOptedIn),
        ),
        (
            vec![("testcar.io/inject", "true")],
            "kube-system",
            Reason::Skipped(Skip::ExcludedNamespace),
        ),
        (
            vec![("testcar.io/inject", "true")],
            "testcar-system",
            Reason::Skipped(Skip::ExcludedNamespace),
        ),
        (
            vec![
                ("testcar.io/inject", "true"),
                ("testcar.io/status", "injected"),
            ],
            "shop",
            Reason::Skipped(Skip::AlreadyInjected),
        ),
        (
            vec![("testcar.io/inject", "yes")],
            "shop",
            Reason::Skipped(Skip::InvalidInject),
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
    assert_eq!(out.reason, Reason::Skipped(Skip::NotOptedIn));
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
    assert_eq!(out.reason, Reason::Skipped(Skip::Collision));
    assert!(out.patch.0.is_empty());
    assert!(out.warnings[0].contains("a container named testcar"));

    let mut pod = mk_pod(&ann, vec![mk_container("app", Some(80))]);
    pod.spec.as_mut().unwrap().containers[0].volume_mounts = Some(vec![VolumeMount {
        name: "x".into(),
        mount_path: "/etc/testcar/results/".into(),
        ..Default::default()
    }]);
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::Skipped(Skip::Collision));
    assert!(out.warnings[0].contains("/etc/testcar/results"));

    let mut pod = mk_pod(&ann, vec![mk_container("app", Some(80))]);
    pod.spec.as_mut().unwrap().volumes = Some(vec![Volume {
        name: "testcar-results".into(),
        ..Default::default()
    }]);
    assert_eq!(
        inj.mutate(&pod, "shop").reason,
        Reason::Skipped(Skip::Collision)
    );
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
    assert_eq!(out.reason, Reason::Skipped(Skip::UnsupportedOs));
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
        Reason::Skipped(Skip::UnsupportedOs)
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
    assert_eq!(out.reason, Reason::Skipped(Skip::NotOptedIn));
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

/// The scale-out pods of a verified ReplicaSet: `orders-7d4b9c` is recorded for `shop.orders`.
fn mk_scale_out(annotations: &[(&str, &str)]) -> Pod {
    let mut all = vec![("testcar.io/inject", "true")];
    all.extend_from_slice(annotations);
    mk_replica_set_pod(mk_pod(&all, vec![mk_container("app", Some(8080))]))
}

fn suite_tags(outcome: &Outcome, pod: &Pod) -> Option<String> {
    env_of(&agent_of(&apply(pod, outcome)), env::SUITE_TAGS)
}

#[test]
fn a_scale_out_of_a_verified_replica_set_is_not_injected_by_default() {
    let (inj, _dir) =
        mk_injector_verified(Config::default(), &[("shop.orders", b"orders-7d4b9c\n")]);
    let pod = mk_scale_out(&[("testcar.io/hold-readiness", "true")]);
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Skipped);
    assert_eq!(out.reason, Reason::Skipped(Skip::ScaleOut));
    assert_eq!(out.reason.as_str(), "scale-out-verified");
    // Marked, not injected: no container, no readiness hold, so it gets Ready at once.
    let patched = apply(&pod, &out);
    let ann = patched.metadata.annotations.as_ref().unwrap();
    assert_eq!(ann[keys::STATUS], "skipped-scale-out");
    assert_eq!(patched.spec.as_ref().unwrap().containers.len(), 1);
    assert!(patched.spec.as_ref().unwrap().init_containers.is_none());
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    let w = &out.warnings[0];
    assert!(
        w.contains("ReplicaSet orders-7d4b9c") && w.contains("testcar.io/on-scale-out: none"),
        "{w}"
    );
    // The marked pod, reviewed again, gets no second patch.
    assert!(inj.mutate(&patched, "shop").patch.0.is_empty());
}

#[test]
fn on_scale_out_smoke_and_all_inject_and_smoke_selects_the_smoke_suites() {
    let (inj, _dir) = mk_injector_verified(Config::default(), &[("shop.orders", b"orders-7d4b9c")]);
    let pod = mk_scale_out(&[("testcar.io/on-scale-out", "smoke")]);
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    assert_eq!(suite_tags(&out, &pod).as_deref(), Some("smoke"));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    let pod = mk_scale_out(&[("testcar.io/on-scale-out", "all")]);
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    assert_eq!(suite_tags(&out, &pod), None);

    // The operator's default applies when the pod says nothing.
    let config = Config::parse("onScaleOut: smoke\n", "c.yaml").unwrap();
    let (inj, _dir) = mk_injector_verified(config, &[("shop.orders", b"orders-7d4b9c")]);
    let pod = mk_scale_out(&[]);
    assert_eq!(
        suite_tags(&inj.mutate(&pod, "shop"), &pod).as_deref(),
        Some("smoke")
    );
    // ...and the pod's annotation wins over it.
    let pod = mk_scale_out(&[("testcar.io/on-scale-out", "none")]);
    assert_eq!(
        inj.mutate(&pod, "shop").reason,
        Reason::Skipped(Skip::ScaleOut)
    );
}

#[test]
fn a_bad_on_scale_out_value_warns_and_uses_the_default() {
    let (inj, _dir) = mk_injector_verified(Config::default(), &[("shop.orders", b"orders-7d4b9c")]);
    let pod = mk_scale_out(&[("testcar.io/on-scale-out", "smoke-only")]);
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.reason, Reason::Skipped(Skip::ScaleOut));
    let all = out.warnings.join("\n");
    assert!(
        all.contains("annotation testcar.io/on-scale-out: \"smoke-only\" is not valid; expected none, smoke or all; the default is used"),
        "{all}"
    );
    // Not a scale-out: the bad value is still warned about, the pod injected in full.
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("testcar.io/on-scale-out")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn anything_but_the_recorded_replica_set_is_tested_in_full() {
    let pod = mk_scale_out(&[]);
    let injected = |records: &[(&str, &[u8])], ns: &str| {
        let (inj, _dir) = mk_injector_verified(Config::default(), records);
        let out = inj.mutate(&pod, ns);
        (out.decision, suite_tags(&out, &pod))
    };
    let full = (Decision::Injected, None);
    // Nothing recorded (or the kubelet has not synced the folder yet).
    assert_eq!(injected(&[], "shop"), full);
    // Another ReplicaSet recorded: this pod is of a newer rollout, or of an older ReplicaSet
    // a rollback brought back.
    assert_eq!(injected(&[("shop.orders", b"orders-5f6a7b")], "shop"), full);
    // The same Deployment name in another namespace.
    assert_eq!(
        injected(&[("shop.orders", b"orders-7d4b9c")], "billing"),
        full
    );
    // A garbled record.
    for garbled in [&b"Orders 7d4b9c"[..], b"", &[0xff, 0xfe][..]] {
        assert_eq!(injected(&[("shop.orders", garbled)], "shop"), full);
    }
    // No verified folder at all: the injector as before.
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!((out.decision, suite_tags(&out, &pod)), full);
    // A pod that is not a ReplicaSet's.
    let (inj, _dir) = mk_injector_verified(Config::default(), &[("shop.orders", b"orders-7d4b9c")]);
    let bare = mk_pod(
        &[("testcar.io/inject", "true")],
        vec![mk_container("app", Some(8080))],
    );
    assert_eq!(inj.mutate(&bare, "shop").decision, Decision::Injected);
}
