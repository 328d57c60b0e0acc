//! Unit tests of `facts.rs`, on bare pod specs.

use super::*;
use crate::mutate::test_support::*;

fn mk_spec(containers: Vec<Container>) -> PodSpec {
    PodSpec {
        containers,
        ..Default::default()
    }
}

#[test]
fn used_ports_are_declared_tcp_ports_and_probe_ports_of_long_running_containers() {
    let mut app = mk_container("app", Some(8080));
    app.ports.as_mut().unwrap().push(ContainerPort {
        container_port: 53,
        protocol: Some("UDP".into()),
        ..Default::default()
    });
    app.liveness_probe = Some(mk_probe_http(IntOrString::String("http".into()), None));
    app.startup_probe = Some(Probe {
        grpc: Some(k8s_openapi::api::core::v1::GRPCAction {
            port: 9090,
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut spec = mk_spec(vec![app]);
    let mut sidecar = mk_container("proxy", Some(15001));
    sidecar.restart_policy = Some("Always".into());
    spec.init_containers = Some(vec![mk_container("setup", Some(7000)), sidecar]);
    let used = used_ports(&spec);
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        [(8080, "app"), (9090, "app"), (15001, "proxy")]
    );
}

#[test]
fn host_ports_count_only_on_the_nodes_network() {
    let mut app = mk_container("app", None);
    app.ports = Some(vec![ContainerPort {
        container_port: 8080,
        host_port: Some(18080),
        ..Default::default()
    }]);
    let mut spec = mk_spec(vec![app]);
    assert!(!used_ports(&spec).contains_key(&18080));
    spec.host_network = Some(true);
    assert!(used_ports(&spec).contains_key(&18080));
}

#[test]
fn collisions_name_every_clash() {
    let mut app = mk_container("app", Some(8080));
    app.volume_mounts = Some(vec![VolumeMount {
        name: "x".into(),
        mount_path: "/etc/testcar/tests/".into(),
        ..Default::default()
    }]);
    let mut spec = mk_spec(vec![app]);
    spec.init_containers = Some(vec![mk_container("testcar-copy-tests", None)]);
    spec.volumes = Some(vec![Volume {
        name: "testcar-tmp".into(),
        ..Default::default()
    }]);
    assert_eq!(
        collisions(&spec),
        [
            "container app already mounts a volume at /etc/testcar/tests",
            "a container named testcar-copy-tests already exists",
            "a volume named testcar-tmp already exists",
        ]
    );
    assert!(collisions(&mk_spec(vec![mk_container("app", Some(8080))])).is_empty());
}

#[test]
fn only_linux_is_supported_by_os_field_or_node_selector() {
    let mut spec = mk_spec(vec![mk_container("app", Some(80))]);
    assert_eq!(unsupported_os(&spec), None);
    spec.os = Some(k8s_openapi::api::core::v1::PodOS {
        name: "Linux".into(),
    });
    assert_eq!(unsupported_os(&spec), None);
    spec.node_selector = Some([("kubernetes.io/os".to_string(), "windows".to_string())].into());
    assert_eq!(
        unsupported_os(&spec).as_deref(),
        Some("windows (nodeSelector kubernetes.io/os)")
    );
}

#[test]
fn pod_level_resources_need_a_value() {
    let mut spec = mk_spec(vec![mk_container("app", Some(80))]);
    spec.resources = Some(ResourceRequirements::default());
    assert!(!has_pod_level_resources(&spec));
    spec.resources = Some(ResourceRequirements {
        requests: Some([("memory".to_string(), Quantity("1Gi".into()))].into()),
        ..Default::default()
    });
    assert!(has_pod_level_resources(&spec));
}

#[test]
fn the_replica_set_owner_needs_a_controller_reference_and_the_hash_label() {
    let pod = mk_replica_set_pod(mk_pod(&[], vec![mk_container("app", None)]));
    assert_eq!(
        replica_set_owner(&pod),
        Some(ReplicaSetOwner {
            replica_set: "orders-7d4b9c".into(),
            deployment: "orders".into()
        })
    );
    // A bare pod, a pod without the hash label, a hash that is not the name's suffix, a
    // reference that is not the controller, another kind: none.
    assert_eq!(replica_set_owner(&mk_pod(&[], vec![])), None);
    let mut p = pod.clone();
    p.metadata
        .labels
        .as_mut()
        .unwrap()
        .remove(TEMPLATE_HASH_LABEL);
    assert_eq!(replica_set_owner(&p), None);
    let mut p = pod.clone();
    p.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(TEMPLATE_HASH_LABEL.into(), "ffffff".into());
    assert_eq!(replica_set_owner(&p), None);
    let mut p = pod.clone();
    p.metadata.owner_references.as_mut().unwrap()[0].controller = Some(false);
    assert_eq!(replica_set_owner(&p), None);
    let mut p = pod.clone();
    p.metadata.owner_references.as_mut().unwrap()[0].kind = "StatefulSet".into();
    assert_eq!(replica_set_owner(&p), None);
    let mut p = pod;
    p.metadata.owner_references.as_mut().unwrap()[0].name = "-7d4b9c".into();
    assert_eq!(replica_set_owner(&p), None);
}
