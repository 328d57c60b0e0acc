//! What is read from the pod before anything is decided: the ports in use, the probes and
//! what they reach, the names Testcar would collide with, the OS. Kept apart so that the
//! plan's choices read as policy over facts, and the facts are tested on bare pod specs.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use testcar_contract::paths;

/// Everything Testcar would add that the pod already has.
pub(super) fn collisions(spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    let our_containers = [paths::CONTAINER_NAME, paths::COPY_INIT_CONTAINER_NAME];
    let our_volumes = [
        paths::TESTS_VOLUME,
        paths::RESULTS_VOLUME,
        paths::AUTH_VOLUME,
        paths::TMP_VOLUME,
    ];
    let our_paths = [paths::TESTS_DIR, paths::RESULTS_DIR, paths::AUTH_DIR];
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    for c in spec.containers.iter().chain(inits) {
        if our_containers.contains(&c.name.as_str()) {
            out.push(format!("a container named {} already exists", c.name));
        }
        for m in c.volume_mounts.as_deref().unwrap_or_default() {
            let p = m.mount_path.trim_end_matches('/');
            if our_paths.contains(&p) {
                out.push(format!(
                    "container {} already mounts a volume at {p}",
                    c.name
                ));
            }
        }
    }
    for c in spec.ephemeral_containers.as_deref().unwrap_or_default() {
        if our_containers.contains(&c.name.as_str()) {
            out.push(format!("a container named {} already exists", c.name));
        }
    }
    for v in spec.volumes.as_deref().unwrap_or_default() {
        if our_volumes.contains(&v.name.as_str()) {
            out.push(format!("a volume named {} already exists", v.name));
        }
    }
    out
}

/// The operating system the pod asks for when the agent cannot run there.
pub(super) fn unsupported_os(spec: &PodSpec) -> Option<String> {
    if let Some(os) = spec
        .os
        .as_ref()
        .filter(|os| !os.name.eq_ignore_ascii_case("linux"))
    {
        return Some(format!("{} (spec.os.name)", os.name));
    }
    spec.node_selector
        .as_ref()
        .and_then(|s| s.get("kubernetes.io/os"))
        .filter(|os| !os.eq_ignore_ascii_case("linux"))
        .map(|os| format!("{os} (nodeSelector kubernetes.io/os)"))
}

/// Containers that mesh and secret injectors add: never the service under test, so they
/// supply neither the default target nor get the shared tests mount.
pub(super) const INFRA_CONTAINERS: &[&str] = &[
    "istio-proxy",
    "linkerd-proxy",
    "daprd",
    "vault-agent",
    "consul-dataplane",
    "cloud-sql-proxy",
];

/// Whether a declared port is TCP (the protocol defaults to TCP).
pub(super) fn is_tcp(p: &ContainerPort) -> bool {
    p.protocol
        .as_deref()
        .is_none_or(|proto| proto.eq_ignore_ascii_case("TCP"))
}

/// The containers that live as long as the pod and share its network namespace with the
/// agent: app containers and sidecar init containers (init containers that run to
/// completion have freed their ports before the agent starts listening).
pub(super) fn long_running(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers.iter().chain(
        spec.init_containers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|c| c.restart_policy.as_deref() == Some("Always")),
    )
}

/// The number a probe port stands for in `c`: a number, or a name its ports declare.
pub(super) fn resolve_port(c: &Container, port: &IntOrString) -> Option<i32> {
    match port {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => c
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// The probes of a container, readiness first: it is the one that says "serving".
pub(super) fn probes(c: &Container) -> impl Iterator<Item = &Probe> {
    [&c.readiness_probe, &c.startup_probe, &c.liveness_probe]
        .into_iter()
        .flatten()
}

/// The TCP port a probe connects to (httpGet, tcpSocket or grpc), resolved in `c`.
pub(super) fn probe_port(c: &Container, p: &Probe) -> Option<i32> {
    if let Some(get) = &p.http_get {
        return resolve_port(c, &get.port);
    }
    if let Some(tcp) = &p.tcp_socket {
        return resolve_port(c, &tcp.port);
    }
    p.grpc.as_ref().map(|g| g.port)
}

/// Every TCP port something in the pod already listens on, with the container that does:
/// declared ports of long-running containers, the ports their probes hit, and with
/// `hostNetwork` their host ports too.
pub(super) fn used_ports(spec: &PodSpec) -> BTreeMap<i32, &str> {
    let host_network = spec.host_network == Some(true);
    let mut used = BTreeMap::new();
    for c in long_running(spec) {
        for p in c
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|p| is_tcp(p))
        {
            used.entry(p.container_port).or_insert(c.name.as_str());
            if let Some(h) = p.host_port.filter(|_| host_network) {
                used.entry(h).or_insert(c.name.as_str());
            }
        }
        for port in probes(c).filter_map(|p| probe_port(c, p)) {
            used.entry(port).or_insert(c.name.as_str());
        }
    }
    used
}

/// The names of the pod's volumes.
pub(super) fn volume_names(spec: &PodSpec) -> BTreeSet<&str> {
    spec.volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|v| v.name.as_str())
        .collect()
}

/// The volume the ServiceAccount admission plugin mounted at the service account folder
/// (`kube-api-access-<suffix>`, or a token volume of the pod's own), if a container of the
/// pod mounts one there and the pod has it. Admission mounts it into the containers that
/// exist before webhooks run, so the agent must be given it explicitly.
pub(super) fn service_account_volume(spec: &PodSpec) -> Option<String> {
    let volumes = volume_names(spec);
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    spec.containers
        .iter()
        .chain(inits)
        .flat_map(|c| c.volume_mounts.as_deref().unwrap_or_default())
        .find(|m| {
            m.mount_path.trim_end_matches('/') == paths::SERVICE_ACCOUNT_DIR
                && volumes.contains(m.name.as_str())
        })
        .map(|m| m.name.clone())
}

/// The names in the pod's `imagePullSecrets`.
pub(super) fn pull_secret_names(spec: &PodSpec) -> BTreeSet<&str> {
    spec.image_pull_secrets
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|r| r.name.as_str())
        .collect()
}

/// Whether the pod sets pod-level `spec.resources` (Kubernetes >= 1.32) with any value.
pub(super) fn has_pod_level_resources(spec: &PodSpec) -> bool {
    spec.resources.as_ref().is_some_and(|r| {
        r.requests.as_ref().is_some_and(|m| !m.is_empty())
            || r.limits.as_ref().is_some_and(|m| !m.is_empty())
    })
}

#[cfg(test)]
mod tests;

/// A service mesh whose proxy will (or already does) sit in front of the pod's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mesh {
    /// Istio: `sidecar.istio.io/inject: "true"` (annotation or label), its status
    /// annotation, or an `istio-proxy` container.
    Istio,
    /// Linkerd: `linkerd.io/inject: enabled`, or a `linkerd-proxy` container.
    Linkerd,
}

impl Mesh {
    /// The pod annotation that keeps the mesh's proxy off inbound ports.
    pub(super) fn exclusion_key(self) -> &'static str {
        match self {
            Mesh::Istio => "traffic.sidecar.istio.io/excludeInboundPorts",
            Mesh::Linkerd => "config.linkerd.io/skip-inbound-ports",
        }
    }
}

/// The label the Deployment controller puts on each ReplicaSet's pods.
pub(super) const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// The ReplicaSet a pod is created for, and the Deployment that ReplicaSet belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReplicaSetOwner {
    /// The ReplicaSet's name (its controller ownerReference).
    pub replica_set: String,
    /// The Deployment: the ReplicaSet's name less `-<pod-template-hash>`.
    pub deployment: String,
}

/// The pod's controlling ReplicaSet, when it is a Deployment's: an `apps` ReplicaSet
/// ownerReference with `controller: true` whose name is `<deployment>-<pod-template-hash>`
/// (the hash from the pod's label). Anything else (a bare pod, a Job's, a StatefulSet's,
/// a ReplicaSet of its own) has none.
pub(super) fn replica_set_owner(pod: &k8s_openapi::api::core::v1::Pod) -> Option<ReplicaSetOwner> {
    let owner = pod.metadata.owner_references.as_deref()?.iter().find(|o| {
        o.controller == Some(true)
            && o.kind == "ReplicaSet"
            && o.api_version.split('/').next() == Some("apps")
    })?;
    let hash = pod.metadata.labels.as_ref()?.get(TEMPLATE_HASH_LABEL)?;
    let deployment = owner
        .name
        .strip_suffix(hash.as_str())?
        .strip_suffix('-')
        .filter(|d| !d.is_empty())?;
    Some(ReplicaSetOwner {
        replica_set: owner.name.clone(),
        deployment: deployment.to_string(),
    })
}

/// The meshes the pod shows signs of. A namespace-wide injection label is invisible here,
/// which is why the configuration can also add the exclusions to every pod.
pub(super) fn meshes(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<Mesh> {
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let containers: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .map(|c| c.name.as_str())
        .collect();
    let mut out = Vec::new();
    let istio_inject = |m: &BTreeMap<String, String>| {
        m.get("sidecar.istio.io/inject").map(String::as_str) == Some("true")
    };
    if istio_inject(&annotations)
        || istio_inject(&labels)
        || annotations.contains_key("sidecar.istio.io/status")
        || containers.contains(&"istio-proxy")
    {
        out.push(Mesh::Istio);
    }
    if matches!(
        annotations.get("linkerd.io/inject").map(String::as_str),
        Some("enabled" | "ingress")
    ) || containers.contains(&"linkerd-proxy")
    {
        out.push(Mesh::Linkerd);
    }
    out
}

/// `existing` (a comma-separated port list) with `port` added when missing.
pub(super) fn with_port(existing: Option<&str>, port: u16) -> Option<String> {
    let list: Vec<&str> = existing
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let port = port.to_string();
    if list.contains(&port.as_str()) {
        return None;
    }
    Some(
        list.into_iter()
            .chain([port.as_str()])
            .collect::<Vec<_>>()
            .join(","),
    )
}
