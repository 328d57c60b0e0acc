//! Test objects (`mk_*`) and helpers shared by the stages' unit tests: pods go through
//! `Injector::mutate` and the patch is applied as the API server would.

// The stages' tests share one prelude: the objects they build and the names they check.
pub(crate) use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, Pod, PodSpec, Probe,
    ResourceRequirements, Volume, VolumeMount,
};
pub(crate) use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
pub(crate) use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
pub(crate) use serde_json::json;
pub(crate) use testcar_contract::annotations::keys;
pub(crate) use testcar_contract::{env, paths};

pub(crate) use super::{
    Injector, MAX_WARNING_CHARS, MAX_WARNINGS_TOTAL_CHARS, Outcome, Skip, VERSION,
};
pub(crate) use crate::admission::{Decision, Reason};
pub(crate) use crate::config::Config;

pub(crate) fn mk_container(name: &str, port: Option<i32>) -> Container {
    Container {
        name: name.into(),
        image: Some(format!("registry.example/{name}:1")),
        ports: port.map(|p| {
            vec![ContainerPort {
                container_port: p,
                name: Some("http".into()),
                ..Default::default()
            }]
        }),
        ..Default::default()
    }
}

pub(crate) fn mk_pod(annotations: &[(&str, &str)], containers: Vec<Container>) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.generate_name = Some("orders-7d4b9c-".into());
    pod.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    pod.spec = Some(PodSpec {
        containers,
        ..Default::default()
    });
    pod
}

/// `pod` as the ReplicaSet `orders-7d4b9c` of Deployment `orders` creates it: its controller
/// ownerReference and the `pod-template-hash` label.
pub(crate) fn mk_replica_set_pod(mut pod: Pod) -> Pod {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    pod.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "orders-7d4b9c".into(),
        uid: "5b1c2f9e-7d4b-4c1a-9e51-0d6f4a3b2c10".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    pod.metadata.labels = Some(
        [
            ("app".to_string(), "orders".to_string()),
            ("pod-template-hash".to_string(), "7d4b9c".to_string()),
        ]
        .into(),
    );
    pod
}

/// An injector whose verified folder (a temporary one, kept alive by the returned guard)
/// holds `records` as `(file name, content)`.
pub(crate) fn mk_injector_verified(
    config: Config,
    records: &[(&str, &[u8])],
) -> (Injector, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in records {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let inj = Injector::new(config, Some("testcar-system"))
        .with_verified(crate::verified::VerifiedDir::new(dir.path()));
    (inj, dir)
}

pub(crate) fn mk_injector() -> Injector {
    Injector::new(Config::default(), Some("testcar-system"))
}

/// Apply the outcome's patch to the pod, as the API server would.
pub(crate) fn apply(pod: &Pod, outcome: &Outcome) -> Pod {
    let mut doc = serde_json::to_value(pod).unwrap();
    json_patch::patch(&mut doc, &outcome.patch).unwrap();
    serde_json::from_value(doc).unwrap()
}

pub(crate) fn env_of(c: &Container, name: &str) -> Option<String> {
    c.env
        .as_deref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

pub(crate) fn agent_of(pod: &Pod) -> Container {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers
        .iter()
        .chain(spec.init_containers.as_deref().unwrap_or_default())
        .find(|c| c.name == "testcar")
        .cloned()
        .expect("agent container")
}

pub(crate) fn mk_probe_http(port: IntOrString, scheme: Option<&str>) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/ready".into()),
            port,
            scheme: scheme.map(str::to_string),
            ..Default::default()
        }),
        ..Default::default()
    }
}
