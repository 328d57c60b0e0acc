//! The injection decision for one pod and its JSON Patch: which pods get the agent, and the
//! exact `add` operations for the container, volumes, mounts and status annotations. Pure
//! (no I/O), so every rule is unit-tested here and property-tested in `tests/`.

use std::collections::{BTreeMap, HashSet};

use json_patch::{AddOperation, Patch, PatchOperation};
use jsonptr::PointerBuf;
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ImageVolumeSource, ObjectFieldSelector, Pod, PodSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::Value;
use testcar_contract::annotations::{self, AnnotationError, TestcarAnnotations, TestsSource, keys};
use testcar_contract::duration::format_duration;
use testcar_contract::{env, paths};

use crate::config::Config;
use crate::quantity;

/// The injector's version, written to `testcar.io/injector-version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest admission warning, in characters: kube-apiserver may truncate longer ones.
pub const MAX_WARNING_CHARS: usize = 256;

/// Most characters of warnings for one pod. kube-apiserver keeps 4,096 in total for a request,
/// shared with every other webhook, so Testcar takes half and says when it left some out.
pub const MAX_WARNINGS_TOTAL_CHARS: usize = 2048;

/// UID and GID the agent runs as (the distroless `nonroot` user): a numeric user lets the
/// kubelet enforce `runAsNonRoot` whatever `USER` the image declares.
pub const AGENT_UID: i64 = 65532;

/// What the injector did with one admission request (the `decision` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The pod gets the agent.
    Injected,
    /// Allowed unchanged.
    Skipped,
    /// The request could not be read; allowed unchanged (or answered `invalid`).
    Error,
}

impl Decision {
    /// The metric / log spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Injected => "injected",
            Decision::Skipped => "skipped",
            Decision::Error => "error",
        }
    }
}

/// Why: a bounded set, used as the `reason` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Injected.
    Injected,
    /// The object is not a core/v1 Pod.
    NotPod,
    /// The operation is not CREATE.
    NotCreate,
    /// A subresource (e.g. `pods/ephemeralcontainers`).
    Subresource,
    /// No `testcar.io/inject: "true"`.
    NotOptedIn,
    /// `testcar.io/inject` has a value other than `true` / `false`.
    InvalidInject,
    /// The namespace is excluded by configuration.
    ExcludedNamespace,
    /// `testcar.io/status: injected` is already there.
    AlreadyInjected,
    /// The pod already has a container, volume, mount or port Testcar would add.
    Collision,
    /// The pod has no containers to test.
    NoContainers,
    /// The pod runs on an operating system the agent does not support (Windows).
    UnsupportedOs,
    /// The object claims to be a Pod but does not read as one.
    UnreadablePod,
    /// The body is not an AdmissionReview with a request.
    InvalidReview,
    /// The body was refused before reading (too large, or the client broke off).
    BodyRejected,
}

impl Reason {
    /// The metric / log spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Injected => "injected",
            Reason::NotPod => "not-pod",
            Reason::NotCreate => "not-create",
            Reason::Subresource => "subresource",
            Reason::NotOptedIn => "not-opted-in",
            Reason::InvalidInject => "invalid-inject-annotation",
            Reason::ExcludedNamespace => "excluded-namespace",
            Reason::AlreadyInjected => "already-injected",
            Reason::Collision => "collision",
            Reason::NoContainers => "no-containers",
            Reason::UnsupportedOs => "unsupported-os",
            Reason::UnreadablePod => "unreadable-pod",
            Reason::InvalidReview => "invalid-review",
            Reason::BodyRejected => "body-rejected",
        }
    }
}

/// The decision for one pod: the patch (empty unless injected) and the admission warnings.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What was done.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
    /// JSON Patch operations (only `add`).
    pub patch: Patch,
    /// Admission warnings for the pod's owner.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// A skip with the given reason and warnings.
    pub fn skipped(reason: Reason, warnings: Vec<String>) -> Outcome {
        Outcome {
            decision: Decision::Skipped,
            reason,
            patch: Patch(Vec::new()),
            warnings,
        }
    }
}

/// Decides and builds patches, from the configuration.
#[derive(Debug, Clone)]
pub struct Injector {
    config: Config,
    excluded: HashSet<String>,
}

impl Injector {
    /// An injector with `config`; `own_namespace` (the injector's) is always excluded.
    pub fn new(config: Config, own_namespace: Option<&str>) -> Injector {
        let mut excluded: HashSet<String> = config.exclude_namespaces.iter().cloned().collect();
        if let Some(ns) = own_namespace.filter(|ns| !ns.is_empty()) {
            excluded.insert(ns.to_string());
        }
        Injector { config, excluded }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether pods of `namespace` are never injected.
    pub fn is_excluded(&self, namespace: &str) -> bool {
        self.excluded.contains(namespace)
    }

    /// Decide for a Pod being created in `namespace` and build its patch.
    pub fn mutate(&self, pod: &Pod, namespace: &str) -> Outcome {
        let mut out = self.decide(pod, namespace);
        // The API server may cut longer warnings, losing the part that says what to do.
        for w in &mut out.warnings {
            if w.chars().count() > MAX_WARNING_CHARS {
                *w = short(w, MAX_WARNING_CHARS - 1);
            }
        }
        for warning in cap_total(&mut out.warnings) {
            let pod = pod
                .metadata
                .name
                .as_deref()
                .or(pod.metadata.generate_name.as_deref());
            tracing::warn!(%namespace, pod = pod.unwrap_or(""), %warning, "admission warning left out of the response");
        }
        out
    }

    fn decide(&self, pod: &Pod, namespace: &str) -> Outcome {
        let empty = BTreeMap::new();
        let pod_annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
        let parsed = annotations::parse(pod_annotations);
        let unknown_key_warnings: Vec<String> = parsed
            .warnings
            .iter()
            .map(|w| format!("testcar: {}", short(&w.message, 300)))
            .collect();

        if let Some(err) = parsed.errors.iter().find(|e| e.key == keys::INJECT) {
            let mut w = vec![format!(
                "{}; the pod is not injected",
                annotation_error_text(err)
            )];
            w.extend(unknown_key_warnings);
            return Outcome::skipped(Reason::InvalidInject, w);
        }
        let a = &parsed.annotations;
        if !a.inject {
            let mut w = unknown_key_warnings;
            // A label is what Istio and Linkerd users reach for; say why nothing happened.
            let label = pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(keys::INJECT));
            if let Some(v) = label.filter(|_| !pod_annotations.contains_key(keys::INJECT)) {
                w.push(format!(
                    "testcar: the pod has the label {}={:?}, but injection is chosen by the annotation; add the annotation {}: \"true\" to the pod template",
                    keys::INJECT,
                    short(v, 40),
                    keys::INJECT
                ));
            }
            return Outcome::skipped(Reason::NotOptedIn, w);
        }
        if a.is_injected() {
            return Outcome::skipped(Reason::AlreadyInjected, Vec::new());
        }
        if self.is_excluded(namespace) {
            return Outcome::skipped(
                Reason::ExcludedNamespace,
                vec![format!(
                    "testcar: namespace {namespace} is excluded from injection by the injector configuration; the pod is not injected"
                )],
            );
        }
        let Some(spec) = pod.spec.as_ref().filter(|s| !s.containers.is_empty()) else {
            return Outcome::skipped(
                Reason::NoContainers,
                vec!["testcar: the pod has no containers; it is not injected".to_string()],
            );
        };
        if let Some(os) = unsupported_os(spec) {
            return Outcome::skipped(
                Reason::UnsupportedOs,
                vec![format!(
                    "testcar: the pod runs on {os}; the agent runs on Linux only; the pod is not injected"
                )],
            );
        }
        let clashes = collisions(spec);
        if !clashes.is_empty() {
            let mut w: Vec<String> = clashes
                .into_iter()
                .map(|c| format!("testcar: {c}; the pod is not injected"))
                .collect();
            w.extend(unknown_key_warnings);
            return Outcome::skipped(Reason::Collision, w);
        }

        let mut warnings: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| format!("{}; the default is used", annotation_error_text(e)))
            .collect();
        warnings.extend(unknown_key_warnings);
        let patch = Plan {
            config: &self.config,
            pod,
            spec,
            annotations: a,
            warnings: &mut warnings,
        }
        .build();
        Outcome {
            decision: Decision::Injected,
            reason: Reason::Injected,
            patch,
            warnings,
        }
    }
}

/// Everything Testcar would add that the pod already has.
fn collisions(spec: &PodSpec) -> Vec<String> {
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
fn unsupported_os(spec: &PodSpec) -> Option<String> {
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
pub const INFRA_CONTAINERS: &[&str] = &[
    "istio-proxy",
    "linkerd-proxy",
    "daprd",
    "vault-agent",
    "consul-dataplane",
    "cloud-sql-proxy",
];

/// Whether a declared port is TCP (the protocol defaults to TCP).
fn is_tcp(p: &ContainerPort) -> bool {
    p.protocol
        .as_deref()
        .is_none_or(|proto| proto.eq_ignore_ascii_case("TCP"))
}

/// The containers that live as long as the pod and share its network namespace with the
/// agent: app containers and sidecar init containers (init containers that run to
/// completion have freed their ports before the agent starts listening).
fn long_running(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers.iter().chain(
        spec.init_containers
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|c| c.restart_policy.as_deref() == Some("Always")),
    )
}

/// The number a probe port stands for in `c`: a number, or a name its ports declare.
fn resolve_port(c: &Container, port: &IntOrString) -> Option<i32> {
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
fn probes(c: &Container) -> impl Iterator<Item = &Probe> {
    [&c.readiness_probe, &c.startup_probe, &c.liveness_probe]
        .into_iter()
        .flatten()
}

/// The TCP port a probe connects to (httpGet, tcpSocket or grpc), resolved in `c`.
fn probe_port(c: &Container, p: &Probe) -> Option<i32> {
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
fn used_ports(spec: &PodSpec) -> BTreeMap<i32, &str> {
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

fn annotation_error_text(e: &AnnotationError) -> String {
    format!(
        "annotation {}: {:?} is not valid; expected {}",
        e.key,
        short(&e.value, 80),
        e.expected
    )
}

/// Keeps the first warnings within [`MAX_WARNINGS_TOTAL_CHARS`] and replaces the rest by one
/// that counts them, so the total never exceeds the budget and nothing is dropped silently.
/// Returns the warnings left out, for the log.
fn cap_total(warnings: &mut Vec<String>) -> Vec<String> {
    // Room for the closing "N more" warning, which is always shorter than 64 characters.
    const TAIL: usize = 64;
    let total: usize = warnings.iter().map(|w| w.chars().count()).sum();
    if total <= MAX_WARNINGS_TOTAL_CHARS {
        return Vec::new();
    }
    let mut used = 0;
    let mut keep = 0;
    for w in warnings.iter() {
        let n = w.chars().count();
        if used + n > MAX_WARNINGS_TOTAL_CHARS - TAIL {
            break;
        }
        used += n;
        keep += 1;
    }
    let dropped = warnings.split_off(keep);
    warnings.push(format!(
        "testcar: {} more warning(s) left out; see the injector's log",
        dropped.len()
    ));
    dropped
}

/// `s` cut to at most `max` characters, marked when cut (warnings must stay short).
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// One pod's injection, resolved from annotations and configuration.
struct Plan<'a> {
    config: &'a Config,
    pod: &'a Pod,
    spec: &'a PodSpec,
    annotations: &'a TestcarAnnotations,
    warnings: &'a mut Vec<String>,
}

impl Plan<'_> {
    fn build(mut self) -> Patch {
        let apps = self.app_containers();
        let mut tests = self.annotations.tests.clone();
        let copy_image = match &tests {
            TestsSource::Copy(_) => {
                let first = &self.spec.containers[apps[0]];
                match first.image.clone() {
                    Some(img) => Some((img, first)),
                    None => {
                        self.warn(format!(
                            "testcar: testcar.io/tests is copy:… but container {} has no image to copy from; using shared",
                            first.name
                        ));
                        tests = TestsSource::Shared;
                        None
                    }
                }
            }
            _ => None,
        };
        let native = self.native_sidecar();
        let port = self.agent_port();
        let resources = self.resources();
        let agent = self.agent_container(&apps, &tests, native, port, resources.clone());

        let mut ops = Vec::new();
        // Annotations first: a pod that carries our containers always carries the marker.
        let marker = [
            (keys::STATUS, annotations::STATUS_INJECTED),
            (keys::INJECTOR_VERSION, VERSION),
        ];
        if self.pod.metadata.annotations.is_some() {
            for (k, v) in marker {
                ops.push(add(&["metadata", "annotations", k], Value::from(v)));
            }
        } else {
            let map: BTreeMap<&str, &str> = marker.into_iter().collect();
            ops.push(add(&["metadata", "annotations"], to_value(&map)));
        }

        let mut volumes = vec![
            tests_volume(&tests),
            Volume {
                name: paths::RESULTS_VOLUME.into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            },
        ];
        if let Some(secret) = &self.annotations.auth_secret {
            volumes.push(Volume {
                name: paths::AUTH_VOLUME.into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        volumes.push(Volume {
            name: paths::TMP_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
        append(
            &mut ops,
            &["spec", "volumes"],
            self.spec.volumes.is_some(),
            volumes.iter().map(to_value),
        );

        if tests == TestsSource::Shared {
            let mount = to_value(&VolumeMount {
                name: paths::TESTS_VOLUME.into(),
                mount_path: paths::TESTS_DIR.into(),
                ..Default::default()
            });
            for &i in &apps {
                let idx = i.to_string();
                append(
                    &mut ops,
                    &["spec", "containers", &idx, "volumeMounts"],
                    self.spec.containers[i].volume_mounts.is_some(),
                    [mount.clone()],
                );
            }
        }

        let mut inits = Vec::new();
        if let (TestsSource::Copy(path), Some((image, app))) = (&tests, copy_image) {
            inits.push(to_value(&copy_container(path, image, app, resources)));
        }
        if native {
            inits.push(to_value(&agent));
        } else {
            ops.push(add(&["spec", "containers", "-"], to_value(&agent)));
        }
        if !inits.is_empty() {
            append(
                &mut ops,
                &["spec", "initContainers"],
                self.spec.init_containers.is_some(),
                inits,
            );
        }
        Patch(ops)
    }

    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// Whether the agent goes into `initContainers` with `restartPolicy: Always`.
    ///
    /// A pod that is not restarted (a Job's or CronJob's: `restartPolicy` Never or
    /// OnFailure) completes only when all of `spec.containers` have exited, and the agent
    /// idles until SIGTERM: as a regular container it would keep the Job running for ever.
    /// A native sidecar is stopped by the kubelet once the app containers are done, so such
    /// pods always get one (Kubernetes >= 1.29 has them on by default).
    fn native_sidecar(&mut self) -> bool {
        let wanted = self
            .annotations
            .native_sidecar
            .unwrap_or(self.config.agent.native_sidecar);
        let restart = self.spec.restart_policy.as_deref().unwrap_or("Always");
        if restart == "Always" {
            return wanted;
        }
        if self.annotations.native_sidecar == Some(false) {
            self.warn(format!(
                "testcar: annotation {}: \"false\" is overridden: with restartPolicy {restart} an agent in spec.containers would keep the pod (and its Job) from completing; the agent is added as a native sidecar (init container, restartPolicy: Always)",
                keys::NATIVE_SIDECAR
            ));
        }
        true
    }

    /// The agent's port: the configured one unless something in the pod already uses it,
    /// else the next free one (9464 is also the OpenTelemetry Prometheus exporter's port).
    fn agent_port(&mut self) -> u16 {
        let wanted = self.config.agent.port.0;
        let used = used_ports(self.spec);
        let Some(owner) = used.get(&i32::from(wanted)) else {
            return wanted;
        };
        let owner = owner.to_string();
        let free = (wanted..=u16::MAX)
            .chain(1024..wanted)
            .find(|p| !used.contains_key(&i32::from(*p)))
            .unwrap_or(wanted);
        self.warn(format!(
            "testcar: port {wanted} (agent.port in the injector configuration) is already used by container {owner}; the agent listens on {free} instead"
        ));
        free
    }

    /// Indices of the app containers: those named in `testcar.io/containers`, else all but
    /// known mesh and secret-agent sidecars.
    fn app_containers(&mut self) -> Vec<usize> {
        let all: Vec<usize> = (0..self.spec.containers.len()).collect();
        let Some(wanted) = &self.annotations.containers else {
            let apps: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| !INFRA_CONTAINERS.contains(&self.spec.containers[i].name.as_str()))
                .collect();
            return if apps.is_empty() { all } else { apps };
        };
        let mut picked = Vec::new();
        for name in wanted {
            match self.spec.containers.iter().position(|c| &c.name == name) {
                Some(i) if !picked.contains(&i) => picked.push(i),
                Some(_) => {}
                None => self.warn(format!(
                    "testcar: annotation testcar.io/containers names {name}, which is not a container of this pod; it is ignored"
                )),
            }
        }
        if picked.is_empty() {
            self.warn(
                "testcar: annotation testcar.io/containers names no container of this pod; all containers are used".to_string(),
            );
            return all;
        }
        picked
    }

    /// The default target and the app container it points at: the first TCP
    /// `containerPort` of the first app container that declares one, else the port of the
    /// first app container's probes (pods often omit `ports`).
    fn target(&mut self, apps: &[usize]) -> (Option<String>, Option<usize>) {
        if let Some(t) = &self.annotations.target {
            return (Some(t.clone()), None);
        }
        let declared = apps.iter().find_map(|&i| {
            let c = &self.spec.containers[i];
            c.ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|p| is_tcp(p))
                .map(|p| (i, p.container_port))
        });
        let found = declared.or_else(|| {
            apps.iter().find_map(|&i| {
                let c = &self.spec.containers[i];
                probes(c)
                    .find_map(|p| probe_port(c, p))
                    .map(|port| (i, port))
            })
        });
        let Some((i, port)) = found else {
            self.warn(format!(
                "testcar: no containerPort or probe port on the app containers and no {} annotation; the agent falls back to http://127.0.0.1:8080 for tests without a target of their own",
                keys::TARGET
            ));
            return (None, None);
        };
        let c = &self.spec.containers[i];
        let https_probe = probes(c).any(|p| {
            p.http_get.as_ref().is_some_and(|g| {
                resolve_port(c, &g.port) == Some(port)
                    && g.scheme
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case("https"))
            })
        });
        let https_name = c.ports.as_deref().unwrap_or_default().iter().any(|p| {
            p.container_port == port
                && p.name
                    .as_deref()
                    .is_some_and(|n| n == "https" || n.starts_with("https-"))
        });
        let scheme = if https_probe || https_name {
            "https"
        } else {
            "http"
        };
        (Some(format!("{scheme}://127.0.0.1:{port}")), Some(i))
    }

    /// The readiness URL, seen from inside the pod: from the readinessProbe of the target's
    /// container (else of the first app container that has one). A tcpSocket, exec or grpc
    /// probe gives no URL: the agent then waits for a TCP connect to the target.
    fn readiness(&mut self, apps: &[usize], target_container: Option<usize>) -> Option<String> {
        if let Some(r) = &self.annotations.readiness {
            return Some(r.clone());
        }
        let order = target_container.into_iter().chain(
            apps.iter()
                .copied()
                .filter(|&i| Some(i) != target_container),
        );
        let (c, probe) = order
            .map(|i| &self.spec.containers[i])
            .find_map(|c| c.readiness_probe.as_ref().map(|p| (c, p)))?;
        let get = probe.http_get.as_ref()?;
        let Some(port) = resolve_port(c, &get.port) else {
            self.warn(format!(
                "testcar: the readinessProbe of container {} uses a port name that no containerPort declares; set {}",
                c.name,
                keys::READINESS
            ));
            return None;
        };
        if let Some(headers) = get.http_headers.as_deref().filter(|h| !h.is_empty()) {
            let names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
            self.warn(format!(
                "testcar: the readinessProbe of container {} sends headers ({}) that the agent's readiness check does not send; if the app needs them to answer 2xx, set {} to a URL that does not",
                c.name,
                short(&names.join(", "), 60),
                keys::READINESS
            ));
        }
        let scheme = match get.scheme.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let host = match get.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            Some(h) => h.to_string(),
            None => "127.0.0.1".to_string(),
        };
        let path = get
            .path
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        let sep = if path.starts_with('/') { "" } else { "/" };
        Some(format!("{scheme}://{host}:{port}{sep}{path}"))
    }

    fn image(&mut self) -> String {
        let default = self.config.agent.image.0.clone();
        let Some(wanted) = &self.annotations.image else {
            return default;
        };
        let agent = &self.config.agent;
        if !agent.allow_image_override {
            self.warn(format!(
                "testcar: annotation testcar.io/image is ignored because the injector configuration does not allow image overrides; using {default}"
            ));
            return default;
        }
        if !agent.allowed_registries.is_empty()
            && !agent
                .allowed_registries
                .iter()
                .any(|p| wanted.starts_with(p.as_str()))
        {
            self.warn(format!(
                "testcar: annotation testcar.io/image {} is not in an allowed registry ({}); using {default}",
                short(wanted, 120),
                agent.allowed_registries.join(", ")
            ));
            return default;
        }
        wanted.clone()
    }

    /// The agent's requests and limits; none when the pod sets pod-level `spec.resources`
    /// (Kubernetes >= 1.32): the API server rejects a pod whose containers' requests add
    /// up to more than the pod's, so the agent shares the pod's budget instead.
    fn resources(&mut self) -> Option<ResourceRequirements> {
        let r = &self.config.agent.resources;
        let a = self.annotations;
        let pod_level = self.spec.resources.as_ref().is_some_and(|r| {
            r.requests.as_ref().is_some_and(|m| !m.is_empty())
                || r.limits.as_ref().is_some_and(|m| !m.is_empty())
        });
        if pod_level {
            let set: Vec<&str> = [
                (keys::CPU, a.cpu.is_some()),
                (keys::MEMORY, a.memory.is_some()),
                (keys::CPU_LIMIT, a.cpu_limit.is_some()),
                (keys::MEMORY_LIMIT, a.memory_limit.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, on)| on.then_some(k))
            .collect();
            if !set.is_empty() {
                self.warn(format!(
                    "testcar: annotation {} is ignored: the pod sets pod-level spec.resources, and the agent shares that budget instead of adding its own",
                    set.join(", ")
                ));
            }
            return None;
        }
        let mut pairs = [
            (
                "cpu",
                a.cpu.clone().unwrap_or_else(|| r.requests.cpu.0.clone()),
                a.cpu_limit
                    .clone()
                    .unwrap_or_else(|| r.limits.cpu.0.clone()),
                keys::CPU,
            ),
            (
                "memory",
                a.memory
                    .clone()
                    .unwrap_or_else(|| r.requests.memory.0.clone()),
                a.memory_limit
                    .clone()
                    .unwrap_or_else(|| r.limits.memory.0.clone()),
                keys::MEMORY,
            ),
        ];
        for (name, request, limit, key) in &mut pairs {
            // The API server rejects a request above its limit: raise the limit instead.
            if quantity::parse(request) > quantity::parse(limit) {
                self.warnings.push(format!(
                    "testcar: {name} request {request} ({key}) is above the limit {limit}; the limit is raised to {request}"
                ));
                *limit = request.clone();
            }
        }
        let mut requests = BTreeMap::new();
        let mut limits = BTreeMap::new();
        for (name, request, limit, _) in pairs {
            requests.insert(name.to_string(), Quantity(request.trim().to_string()));
            limits.insert(name.to_string(), Quantity(limit.trim().to_string()));
        }
        Some(ResourceRequirements {
            requests: Some(requests),
            limits: Some(limits),
            ..Default::default()
        })
    }

    fn agent_container(
        &mut self,
        apps: &[usize],
        tests: &TestsSource,
        native: bool,
        port: u16,
        resources: Option<ResourceRequirements>,
    ) -> Container {
        let agent = &self.config.agent;
        let timeouts = [
            (
                env::TIMEOUT,
                self.annotations
                    .timeout
                    .map_or_else(|| agent.timeout.render(), format_duration),
            ),
            (
                env::READY_TIMEOUT,
                self.annotations
                    .ready_timeout
                    .map_or_else(|| agent.ready_timeout.render(), format_duration),
            ),
            (
                env::TESTS_WAIT_TIMEOUT,
                self.annotations
                    .tests_timeout
                    .map_or_else(|| agent.tests_timeout.render(), format_duration),
            ),
        ];
        let pull = agent.image_pull_policy.as_str();
        let log_format = agent.log_format.as_str();

        let mut envs = vec![
            field_env(env::POD_NAME, "metadata.name"),
            field_env(env::POD_NAMESPACE, "metadata.namespace"),
        ];
        let (target, target_container) = self.target(apps);
        if let Some(t) = target {
            envs.push(value_env(env::TARGET, t));
        }
        if let Some(r) = self.readiness(apps, target_container) {
            envs.push(value_env(env::READINESS_URL, r));
        }
        envs.push(value_env(env::TESTS_DIR, paths::TESTS_DIR));
        envs.push(value_env(env::TESTS_SOURCE, tests.kind()));
        envs.push(value_env(env::RESULTS_DIR, paths::RESULTS_DIR));
        if self.annotations.auth_secret.is_some() {
            envs.push(value_env(env::AUTH_DIR, paths::AUTH_DIR));
        }
        for (k, v) in timeouts {
            envs.push(value_env(k, v));
        }
        if let Some(e) = &self.annotations.environment {
            envs.push(value_env(env::ENVIRONMENT, e.clone()));
        }
        // On the node's network the agent's endpoints stay on loopback, and its port is not
        // declared: a declared port becomes a hostPort there, and two injected hostNetwork
        // pods (say two DaemonSets) could then never share a node.
        let host_network = self.spec.host_network == Some(true);
        let listen_host = if host_network { "127.0.0.1" } else { "0.0.0.0" };
        envs.push(value_env(env::LISTEN, format!("{listen_host}:{port}")));
        envs.push(value_env(env::LOG_FORMAT, log_format));

        let mut mounts = vec![
            VolumeMount {
                name: paths::TESTS_VOLUME.into(),
                mount_path: paths::TESTS_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: paths::RESULTS_VOLUME.into(),
                mount_path: paths::RESULTS_DIR.into(),
                ..Default::default()
            },
            // The root filesystem is read-only.
            VolumeMount {
                name: paths::TMP_VOLUME.into(),
                mount_path: paths::TMP_DIR.into(),
                ..Default::default()
            },
        ];
        if self.annotations.auth_secret.is_some() {
            mounts.push(VolumeMount {
                name: paths::AUTH_VOLUME.into(),
                mount_path: paths::AUTH_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            });
        }
        // Readiness by verdict, never liveness: a long run must not get the container killed.
        let hold = self
            .annotations
            .hold_readiness
            .unwrap_or(self.config.agent.hold_readiness);
        let readiness_probe = hold.then(|| Probe {
            http_get: Some(HTTPGetAction {
                path: Some(paths::PASSED_PATH.into()),
                port: IntOrString::Int(i32::from(port)),
                // On the node's network the agent listens on loopback only.
                host: host_network.then(|| "127.0.0.1".to_string()),
                ..Default::default()
            }),
            period_seconds: Some(2),
            timeout_seconds: Some(2),
            failure_threshold: Some(1),
            ..Default::default()
        });
        Container {
            name: paths::CONTAINER_NAME.into(),
            image: Some(self.image()),
            readiness_probe,
            image_pull_policy: Some(pull.into()),
            args: Some(vec!["sidecar".into()]),
            env: Some(envs),
            ports: (!host_network).then(|| {
                vec![ContainerPort {
                    name: Some(paths::AGENT_PORT_NAME.into()),
                    container_port: i32::from(port),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]
            }),
            resources,
            security_context: Some(restricted_security_context()),
            volume_mounts: Some(mounts),
            restart_policy: native.then(|| "Always".to_string()),
            termination_message_policy: Some("FallbackToLogsOnError".into()),
            ..Default::default()
        }
    }
}

/// The init container that copies `path` out of the app's image into the tests volume.
/// It runs `cp` directly (no shell), so the path is never interpreted.
fn copy_container(
    path: &str,
    image: String,
    app: &Container,
    resources: Option<ResourceRequirements>,
) -> Container {
    let mut sc = restricted_security_context();
    // The app image's files belong to the app's user; copy as that user if it is set.
    let app_sc = app.security_context.as_ref();
    sc.run_as_user = app_sc.and_then(|s| s.run_as_user);
    sc.run_as_group = app_sc.and_then(|s| s.run_as_group);
    sc.run_as_non_root = app_sc.and_then(|s| s.run_as_non_root);
    Container {
        name: paths::COPY_INIT_CONTAINER_NAME.into(),
        image: Some(image),
        image_pull_policy: app.image_pull_policy.clone(),
        command: Some(vec![
            "cp".into(),
            "-R".into(),
            format!("{path}/."),
            format!("{}/", paths::TESTS_DIR),
        ]),
        resources,
        security_context: Some(sc),
        volume_mounts: Some(vec![VolumeMount {
            name: paths::TESTS_VOLUME.into(),
            mount_path: paths::TESTS_DIR.into(),
            ..Default::default()
        }]),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

fn tests_volume(tests: &TestsSource) -> Volume {
    let mut v = Volume {
        name: paths::TESTS_VOLUME.into(),
        ..Default::default()
    };
    match tests {
        TestsSource::Shared | TestsSource::Copy(_) => {
            v.empty_dir = Some(EmptyDirVolumeSource::default());
        }
        TestsSource::ConfigMap(name) => {
            v.config_map = Some(ConfigMapVolumeSource {
                name: name.clone(),
                ..Default::default()
            });
        }
        TestsSource::Image(reference) => {
            v.image = Some(ImageVolumeSource {
                reference: Some(reference.clone()),
                pull_policy: Some("IfNotPresent".into()),
            });
        }
    }
    v
}

/// runAsNonRoot with a numeric user, read-only root, no privilege escalation, no
/// capabilities, RuntimeDefault seccomp: the "restricted" Pod Security Standard.
fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(AGENT_UID),
        run_as_group: Some(AGENT_UID),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn field_env(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: field_path.into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn value_env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // k8s-openapi types and string maps always serialize.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// An `add` at the pointer made of unescaped `tokens` (escaping `~` and `/` as `~0`, `~1`).
fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// Append `items` to the array at `tokens`: `add …/-` each when it exists, else create it.
fn append(
    ops: &mut Vec<PatchOperation>,
    tokens: &[&str],
    exists: bool,
    items: impl IntoIterator<Item = Value>,
) {
    if exists {
        let mut t = tokens.to_vec();
        t.push("-");
        for item in items {
            ops.push(add(&t, item));
        }
    } else {
        ops.push(add(tokens, Value::Array(items.into_iter().collect())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{HTTPGetAction, Probe};
    use serde_json::json;

    fn mk_container(name: &str, port: Option<i32>) -> Container {
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

    fn mk_pod(annotations: &[(&str, &str)], containers: Vec<Container>) -> Pod {
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

    fn mk_injector() -> Injector {
        Injector::new(Config::default(), Some("testcar-system"))
    }

    /// Apply the outcome's patch to the pod, as the API server would.
    fn apply(pod: &Pod, outcome: &Outcome) -> Pod {
        let mut doc = serde_json::to_value(pod).unwrap();
        json_patch::patch(&mut doc, &outcome.patch).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    fn env_of(c: &Container, name: &str) -> Option<String> {
        c.env
            .as_deref()?
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    }

    fn agent_of(pod: &Pod) -> Container {
        let spec = pod.spec.as_ref().unwrap();
        spec.containers
            .iter()
            .chain(spec.init_containers.as_deref().unwrap_or_default())
            .find(|c| c.name == "testcar")
            .cloned()
            .expect("agent container")
    }

    #[test]
    fn opted_in_pod_gets_agent_volumes_and_marker() {
        let pod = mk_pod(
            &[("testcar.io/inject", "true")],
            vec![mk_container("app", Some(8080))],
        );
        let out = mk_injector().mutate(&pod, "shop");
        assert_eq!(out.decision, Decision::Injected);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let patched = apply(&pod, &out);
        let ann = patched.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann["testcar.io/status"], "injected");
        assert_eq!(ann["testcar.io/injector-version"], VERSION);
        let agent = agent_of(&patched);
        assert_eq!(
            env_of(&agent, env::TARGET).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(env_of(&agent, env::TESTS_SOURCE).as_deref(), Some("shared"));
        assert_eq!(env_of(&agent, env::TIMEOUT).as_deref(), Some("10m"));
        let sc = agent.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        let res = agent.resources.as_ref().unwrap();
        assert_eq!(res.requests.as_ref().unwrap()["cpu"].0, "50m");
        assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "256Mi");
        let spec = patched.spec.as_ref().unwrap();
        let app = &spec.containers[0];
        assert_eq!(
            app.volume_mounts.as_ref().unwrap()[0].mount_path,
            "/etc/testcar/tests"
        );
        let vols: Vec<&str> = spec
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(vols, ["testcar-tests", "testcar-results", "testcar-tmp"]);
        // a read-only root filesystem, and a writable /tmp of its own
        let agent = agent_of(&patched);
        let sc = agent.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let tmp = agent
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.mount_path == "/tmp")
            .expect("the agent mounts /tmp");
        assert_eq!(tmp.name, "testcar-tmp");
        assert_ne!(tmp.read_only, Some(true));
        // second pass: nothing to do
        let again = mk_injector().mutate(&patched, "shop");
        assert_eq!(again.reason, Reason::AlreadyInjected);
        assert!(again.patch.0.is_empty());
    }

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
        assert_eq!(out.reason, Reason::NotOptedIn);

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
    fn bad_values_fall_back_to_defaults_with_warnings() {
        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/cpu", "lots"),
                ("testcar.io/timeout", "soon"),
                ("testcar.io/tests", "git:https://example.com/x"),
            ],
            vec![mk_container("app", Some(8080))],
        );
        let out = mk_injector().mutate(&pod, "shop");
        assert_eq!(out.decision, Decision::Injected);
        assert_eq!(out.warnings.len(), 3, "{:?}", out.warnings);
        for w in &out.warnings {
            assert!(w.ends_with("the default is used"), "{w}");
        }
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("testcar.io/cpu") && w.contains("100m"))
        );
        let agent = agent_of(&apply(&pod, &out));
        assert_eq!(env_of(&agent, env::TIMEOUT).as_deref(), Some("10m"));
        assert_eq!(agent.resources.unwrap().requests.unwrap()["cpu"].0, "50m");
    }

    #[test]
    fn many_warnings_stay_within_the_api_servers_budget() {
        let keys: Vec<String> = (0..80)
            .map(|i| format!("testcar.io/unknown-setting-number-{i:02}"))
            .collect();
        let mut annotations: Vec<(&str, &str)> = vec![("testcar.io/inject", "true")];
        annotations.extend(keys.iter().map(|k| (k.as_str(), "x")));
        let pod = mk_pod(&annotations, vec![mk_container("app", Some(8080))]);
        let out = mk_injector().mutate(&pod, "shop");
        assert_eq!(out.decision, Decision::Injected);
        let total: usize = out.warnings.iter().map(|w| w.chars().count()).sum();
        assert!(total <= MAX_WARNINGS_TOTAL_CHARS, "{total} chars");
        let last = out.warnings.last().unwrap();
        let kept = out.warnings.len() - 1;
        assert!(kept > 5, "{:?}", out.warnings);
        assert!(
            last.contains(&format!("{} more warning(s) left out", 80 - kept)),
            "{last}"
        );
        // The first warnings are kept whole, in order.
        assert!(
            out.warnings[0].contains("unknown-setting-number-00"),
            "{:?}",
            out.warnings[0]
        );
    }

    #[test]
    fn overrides_resources_timeouts_and_target() {
        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/cpu", "2"),
                ("testcar.io/memory", "128Mi"),
                ("testcar.io/memory-limit", "512Mi"),
                ("testcar.io/timeout", "5m"),
                ("testcar.io/target", "http://127.0.0.1:9000/api"),
                ("testcar.io/environment", "staging"),
            ],
            vec![mk_container("app", Some(8080))],
        );
        let out = mk_injector().mutate(&pod, "shop");
        // cpu request 2 is above the default limit 1: the limit is raised, and said so
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(out.warnings[0].contains("limit is raised to 2"));
        let agent = agent_of(&apply(&pod, &out));
        let res = agent.resources.clone().unwrap();
        assert_eq!(res.requests.as_ref().unwrap()["cpu"].0, "2");
        assert_eq!(res.limits.as_ref().unwrap()["cpu"].0, "2");
        assert_eq!(res.requests.as_ref().unwrap()["memory"].0, "128Mi");
        assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "512Mi");
        assert_eq!(env_of(&agent, env::TIMEOUT).as_deref(), Some("5m"));
        assert_eq!(
            env_of(&agent, env::TARGET).as_deref(),
            Some("http://127.0.0.1:9000/api")
        );
        assert_eq!(env_of(&agent, env::ENVIRONMENT).as_deref(), Some("staging"));
    }

    #[test]
    fn readiness_from_probe_with_named_port() {
        let mut app = mk_container("app", Some(8080));
        app.readiness_probe = Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/ready".into()),
                port: IntOrString::String("http".into()),
                scheme: Some("HTTP".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let pod = mk_pod(&[("testcar.io/inject", "true")], vec![app]);
        let out = mk_injector().mutate(&pod, "shop");
        let agent = agent_of(&apply(&pod, &out));
        assert_eq!(
            env_of(&agent, env::READINESS_URL).as_deref(),
            Some("http://127.0.0.1:8080/ready")
        );
    }

    #[test]
    fn sources_configmap_image_copy_and_auth() {
        let inj = mk_injector();
        let app = || vec![mk_container("app", Some(8080))];
        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/tests", "configmap:orders-tests"),
                ("testcar.io/auth-secret", "orders-auth"),
            ],
            app(),
        );
        let patched = apply(&pod, &inj.mutate(&pod, "shop"));
        let spec = patched.spec.as_ref().unwrap();
        let vols = spec.volumes.as_ref().unwrap();
        assert_eq!(vols[0].config_map.as_ref().unwrap().name, "orders-tests");
        assert_eq!(
            vols[2].secret.as_ref().unwrap().secret_name.as_deref(),
            Some("orders-auth")
        );
        // configmap: the app container is left alone
        assert!(spec.containers[0].volume_mounts.is_none());
        let agent = agent_of(&patched);
        let auth = agent
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.mount_path == "/etc/testcar/auth")
            .unwrap();
        assert_eq!(auth.read_only, Some(true));
        assert_eq!(
            env_of(&agent, env::AUTH_DIR).as_deref(),
            Some("/etc/testcar/auth")
        );

        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/tests", "image:ghcr.io/acme/orders-tests:1.4"),
            ],
            app(),
        );
        let patched = apply(&pod, &inj.mutate(&pod, "shop"));
        let vol = &patched.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
        assert_eq!(
            vol.image.as_ref().unwrap().reference.as_deref(),
            Some("ghcr.io/acme/orders-tests:1.4")
        );

        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/tests", "copy:/app/tests"),
                ("testcar.io/native-sidecar", "true"),
            ],
            app(),
        );
        let patched = apply(&pod, &inj.mutate(&pod, "shop"));
        let spec = patched.spec.as_ref().unwrap();
        let inits = spec.init_containers.as_ref().unwrap();
        assert_eq!(inits[0].name, "testcar-copy-tests");
        assert_eq!(inits[0].image.as_deref(), Some("registry.example/app:1"));
        assert_eq!(
            inits[0].command.as_deref().unwrap(),
            ["cp", "-R", "/app/tests/.", "/etc/testcar/tests/"]
        );
        // native sidecar: after the copy, restartPolicy Always, not among the containers
        assert_eq!(inits[1].name, "testcar");
        assert_eq!(inits[1].restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.containers.len(), 1);
    }

    #[test]
    fn containers_annotation_selects_app_containers() {
        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/containers", "worker,ghost"),
            ],
            vec![
                mk_container("app", Some(8080)),
                mk_container("worker", Some(9000)),
            ],
        );
        let out = mk_injector().mutate(&pod, "shop");
        assert!(out.warnings[0].contains("ghost"), "{:?}", out.warnings);
        let patched = apply(&pod, &out);
        let spec = patched.spec.as_ref().unwrap();
        assert!(spec.containers[0].volume_mounts.is_none());
        assert!(spec.containers[1].volume_mounts.is_some());
        assert_eq!(
            env_of(&agent_of(&patched), env::TARGET).as_deref(),
            Some("http://127.0.0.1:9000")
        );
    }

    #[test]
    fn image_override_needs_permission_and_allowed_registry() {
        let ann = [
            ("testcar.io/inject", "true"),
            ("testcar.io/image", "evil.example/agent:1"),
        ];
        let pod = mk_pod(&ann, vec![mk_container("app", Some(8080))]);
        let out = mk_injector().mutate(&pod, "shop");
        assert!(out.warnings[0].contains("does not allow image overrides"));
        assert_eq!(
            agent_of(&apply(&pod, &out)).image.as_deref(),
            Some("ghcr.io/testcar/testcar-agent:0.1.0")
        );

        let mut config = Config::default();
        config.agent.allow_image_override = true;
        config.agent.allowed_registries = vec!["ghcr.io/acme/".into()];
        let inj = Injector::new(config, None);
        let out = inj.mutate(&pod, "shop");
        assert!(out.warnings[0].contains("not in an allowed registry"));
        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/image", "ghcr.io/acme/agent:2"),
            ],
            vec![mk_container("app", Some(8080))],
        );
        let out = inj.mutate(&pod, "shop");
        assert!(out.warnings.is_empty());
        assert_eq!(
            agent_of(&apply(&pod, &out)).image.as_deref(),
            Some("ghcr.io/acme/agent:2")
        );
    }

    #[test]
    fn huge_annotation_values_are_cut_in_warnings() {
        let big = "x".repeat(10_000);
        let pod = mk_pod(
            &[("testcar.io/inject", "true"), ("testcar.io/cpu", &big)],
            vec![mk_container("app", Some(8080))],
        );
        let out = mk_injector().mutate(&pod, "shop");
        assert!(out.warnings[0].len() < 400, "{}", out.warnings[0].len());
        let _ = json!(out.warnings);
        // an unknown key's warning lists every known key: capped to what the API server keeps
        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/something-else-entirely", "1"),
            ],
            vec![mk_container("app", Some(8080))],
        );
        let out = mk_injector().mutate(&pod, "shop");
        assert!(
            out.warnings[0]
                .starts_with("testcar: unknown annotation testcar.io/something-else-entirely")
        );
        assert_eq!(out.warnings[0].chars().count(), MAX_WARNING_CHARS);
        assert!(out.warnings[0].ends_with('…'));
    }

    fn mk_probe_http(port: IntOrString, scheme: Option<&str>) -> Probe {
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

    #[test]
    fn agent_port_moves_off_a_used_port() {
        let inj = mk_injector();
        let ann = [("testcar.io/inject", "true")];
        // 9464 is the OpenTelemetry Prometheus exporter's default: declared by the app
        let mut app = mk_container("app", Some(8080));
        app.ports.as_mut().unwrap().push(ContainerPort {
            container_port: 9464,
            name: Some("otel".into()),
            ..Default::default()
        });
        // and 9465 is hit by a probe without being declared
        app.liveness_probe = Some(Probe {
            tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
                port: IntOrString::Int(9465),
                ..Default::default()
            }),
            ..Default::default()
        });
        let pod = mk_pod(&ann, vec![app]);
        let out = inj.mutate(&pod, "shop");
        assert_eq!(out.decision, Decision::Injected);
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("port 9464") && w.contains("listens on 9466")),
            "{:?}",
            out.warnings
        );
        let agent = agent_of(&apply(&pod, &out));
        assert_eq!(agent.ports.as_ref().unwrap()[0].container_port, 9466);
        assert_eq!(env_of(&agent, env::LISTEN).as_deref(), Some("0.0.0.0:9466"));

        // a UDP 9464 is no collision, nor is a run-to-completion init container's port
        let mut app = mk_container("app", Some(8080));
        app.ports.as_mut().unwrap().push(ContainerPort {
            container_port: 9464,
            protocol: Some("UDP".into()),
            ..Default::default()
        });
        let mut pod = mk_pod(&ann, vec![app]);
        pod.spec.as_mut().unwrap().init_containers = Some(vec![mk_container("setup", Some(9464))]);
        let out = inj.mutate(&pod, "shop");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let agent = agent_of(&apply(&pod, &out));
        assert_eq!(agent.ports.as_ref().unwrap()[0].container_port, 9464);
    }

    #[test]
    fn host_network_pods_keep_the_agent_on_loopback_without_a_declared_port() {
        let mut pod = mk_pod(
            &[("testcar.io/inject", "true")],
            vec![mk_container("app", Some(9100))],
        );
        pod.spec.as_mut().unwrap().host_network = Some(true);
        let out = mk_injector().mutate(&pod, "monitoring");
        let agent = agent_of(&apply(&pod, &out));
        assert_eq!(agent.ports, None);
        assert_eq!(
            env_of(&agent, env::LISTEN).as_deref(),
            Some("127.0.0.1:9464")
        );
        assert_eq!(
            env_of(&agent, env::TARGET).as_deref(),
            Some("http://127.0.0.1:9100")
        );
    }

    #[test]
    fn hold_readiness_probes_the_verdict_never_liveness() {
        let inj = mk_injector();
        let plain = mk_pod(
            &[(keys::INJECT, "true")],
            vec![mk_container("app", Some(8080))],
        );
        assert!(
            agent_of(&apply(&plain, &inj.mutate(&plain, "shop")))
                .readiness_probe
                .is_none()
        );

        let held = mk_pod(
            &[(keys::INJECT, "true"), (keys::HOLD_READINESS, "true")],
            vec![mk_container("app", Some(8080))],
        );
        let agent = agent_of(&apply(&held, &inj.mutate(&held, "shop")));
        let get = agent.readiness_probe.unwrap().http_get.unwrap();
        assert_eq!(get.path.as_deref(), Some(paths::PASSED_PATH));
        assert_eq!(get.port, IntOrString::Int(i32::from(paths::AGENT_PORT)));
        assert_eq!(get.host, None);
        assert!(agent.liveness_probe.is_none() && agent.startup_probe.is_none());

        // The chart's default, and the pod's "false" over it.
        let mut config = Config::default();
        config.agent.hold_readiness = true;
        let inj = Injector::new(config, None);
        assert!(
            agent_of(&apply(&plain, &inj.mutate(&plain, "shop")))
                .readiness_probe
                .is_some()
        );
        let off = mk_pod(
            &[(keys::INJECT, "true"), (keys::HOLD_READINESS, "false")],
            vec![mk_container("app", Some(8080))],
        );
        assert!(
            agent_of(&apply(&off, &inj.mutate(&off, "shop")))
                .readiness_probe
                .is_none()
        );

        // On the node's network the agent is on loopback: the probe says so.
        let mut host = held.clone();
        host.spec.as_mut().unwrap().host_network = Some(true);
        let agent = agent_of(&apply(&host, &inj.mutate(&host, "shop")));
        let get = agent.readiness_probe.unwrap().http_get.unwrap();
        assert_eq!(get.host.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn pods_that_complete_get_a_native_sidecar() {
        for (restart, explicit) in [
            ("Never", None),
            ("OnFailure", None),
            ("Never", Some("false")),
        ] {
            let mut ann = vec![("testcar.io/inject", "true")];
            if let Some(v) = explicit {
                ann.push(("testcar.io/native-sidecar", v));
            }
            let mut pod = mk_pod(&ann, vec![mk_container("job", Some(8080))]);
            pod.spec.as_mut().unwrap().restart_policy = Some(restart.into());
            let out = mk_injector().mutate(&pod, "batch");
            let patched = apply(&pod, &out);
            let spec = patched.spec.as_ref().unwrap();
            assert_eq!(
                spec.containers.len(),
                1,
                "{restart}: agent not in containers"
            );
            let inits = spec.init_containers.as_ref().unwrap();
            assert_eq!(inits[0].name, "testcar");
            assert_eq!(inits[0].restart_policy.as_deref(), Some("Always"));
            if explicit.is_some() {
                assert!(
                    out.warnings[0].contains("testcar.io/native-sidecar")
                        && out.warnings[0].contains("restartPolicy Never")
                        && out.warnings[0].chars().count() <= MAX_WARNING_CHARS,
                    "{:?}",
                    out.warnings
                );
            } else {
                assert!(out.warnings.is_empty(), "{:?}", out.warnings);
            }
        }
        // restartPolicy Always keeps the configured default (a regular container)
        let pod = mk_pod(
            &[("testcar.io/inject", "true")],
            vec![mk_container("app", Some(8080))],
        );
        let patched = apply(&pod, &mk_injector().mutate(&pod, "shop"));
        assert_eq!(patched.spec.unwrap().containers.len(), 2);
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
    fn mesh_sidecars_are_not_app_containers() {
        let mut proxy = mk_container("istio-proxy", Some(15090));
        proxy.readiness_probe = Some(mk_probe_http(IntOrString::Int(15021), None));
        let pod = mk_pod(
            &[("testcar.io/inject", "true")],
            vec![proxy, mk_container("app", Some(8080))],
        );
        let out = mk_injector().mutate(&pod, "shop");
        let patched = apply(&pod, &out);
        let agent = agent_of(&patched);
        assert_eq!(
            env_of(&agent, env::TARGET).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(env_of(&agent, env::READINESS_URL), None);
        let spec = patched.spec.as_ref().unwrap();
        assert!(
            spec.containers[0].volume_mounts.is_none(),
            "no tests mount in istio-proxy"
        );
        assert!(spec.containers[1].volume_mounts.is_some());
    }

    #[test]
    fn target_falls_back_to_probe_ports_and_follows_https() {
        // no ports: the readiness probe's port, and its scheme
        let mut app = mk_container("app", None);
        app.readiness_probe = Some(mk_probe_http(IntOrString::Int(8443), Some("HTTPS")));
        let pod = mk_pod(&[("testcar.io/inject", "true")], vec![app]);
        let out = mk_injector().mutate(&pod, "shop");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let agent = agent_of(&apply(&pod, &out));
        assert_eq!(
            env_of(&agent, env::TARGET).as_deref(),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(
            env_of(&agent, env::READINESS_URL).as_deref(),
            Some("https://127.0.0.1:8443/ready")
        );

        // a port named https, UDP ports skipped
        let mut app = mk_container("app", None);
        app.ports = Some(vec![
            ContainerPort {
                container_port: 53,
                protocol: Some("UDP".into()),
                ..Default::default()
            },
            ContainerPort {
                container_port: 8443,
                name: Some("https".into()),
                ..Default::default()
            },
        ]);
        let pod = mk_pod(&[("testcar.io/inject", "true")], vec![app]);
        let agent = agent_of(&apply(&pod, &mk_injector().mutate(&pod, "shop")));
        assert_eq!(
            env_of(&agent, env::TARGET).as_deref(),
            Some("https://127.0.0.1:8443")
        );
    }

    #[test]
    fn readiness_comes_from_the_target_container_and_only_from_http_probes() {
        // the target's container has a tcpSocket readiness probe: no URL, even though
        // another app container has an httpGet one (the agent TCP-checks the target)
        let mut api = mk_container("api", Some(8080));
        api.readiness_probe = Some(Probe {
            tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
                port: IntOrString::Int(8080),
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut admin = mk_container("admin", Some(9000));
        admin.readiness_probe = Some(mk_probe_http(IntOrString::Int(9000), None));
        let pod = mk_pod(&[("testcar.io/inject", "true")], vec![api, admin]);
        let agent = agent_of(&apply(&pod, &mk_injector().mutate(&pod, "shop")));
        assert_eq!(env_of(&agent, env::READINESS_URL), None);

        // IPv6 host, query string, headers warned
        let mut app = mk_container("app", Some(8080));
        app.readiness_probe = Some(Probe {
            http_get: Some(HTTPGetAction {
                host: Some("::1".into()),
                path: Some("healthz?full=1".into()),
                port: IntOrString::String("http".into()),
                http_headers: Some(vec![k8s_openapi::api::core::v1::HTTPHeader {
                    name: "Host".into(),
                    value: "orders.example.com".into(),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let pod = mk_pod(&[("testcar.io/inject", "true")], vec![app]);
        let out = mk_injector().mutate(&pod, "shop");
        assert!(
            out.warnings[0].contains("headers (Host)")
                && out.warnings[0].contains("testcar.io/readiness"),
            "{:?}",
            out.warnings
        );
        let agent = agent_of(&apply(&pod, &out));
        assert_eq!(
            env_of(&agent, env::READINESS_URL).as_deref(),
            Some("http://[::1]:8080/healthz?full=1")
        );
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

    #[test]
    fn resource_warnings_are_given_once_and_pod_level_resources_are_respected() {
        // copy: builds two containers from the same resources; the warning comes once
        let pod = mk_pod(
            &[
                ("testcar.io/inject", "true"),
                ("testcar.io/cpu", "2"),
                ("testcar.io/tests", "copy:/app/tests"),
            ],
            vec![mk_container("app", Some(8080))],
        );
        let out = mk_injector().mutate(&pod, "shop");
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        let patched = apply(&pod, &out);
        let copy = &patched
            .spec
            .as_ref()
            .unwrap()
            .init_containers
            .as_ref()
            .unwrap()[0];
        assert_eq!(
            copy.resources.as_ref().unwrap().limits.as_ref().unwrap()["cpu"].0,
            "2"
        );

        let mut pod = mk_pod(
            &[("testcar.io/inject", "true")],
            vec![mk_container("app", Some(8080))],
        );
        pod.spec.as_mut().unwrap().resources = Some(ResourceRequirements {
            limits: Some([("cpu".to_string(), Quantity("1".into()))].into()),
            ..Default::default()
        });
        let out = mk_injector().mutate(&pod, "shop");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_eq!(agent_of(&apply(&pod, &out)).resources, None);
    }
}
