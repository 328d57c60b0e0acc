//! The injection plan: every choice for one pod (target URL, readiness, image, resources,
//! tests source, native sidecar or container, port, pull secrets, volume size limits, the
//! operator's extras) resolved from annotations, configuration and pod facts. Every
//! admission warning of an injected pod is produced here, in one pass.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, PodSpec, ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use testcar_contract::annotations::{ParsedAnnotations, TestcarAnnotations, TestsSource, keys};
use testcar_contract::duration::format_duration;
use testcar_contract::endpoints::EndpointPolicy;

use super::facts::{self, INFRA_CONTAINERS, is_tcp, probe_port, probes, resolve_port, used_ports};
use super::warnings::{default_used_text, short, unknown_keys};
use crate::config::{Config, DurationValue};
use crate::quantity;

/// One pod's injection, decided; the builders only turn it into objects.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// Indices of the app containers in `spec.containers`.
    pub apps: Vec<usize>,
    /// Where the tests come from (`copy:` falls back to `shared` without an image to copy).
    pub tests: TestsSource,
    /// For `copy:`: the app container whose image is copied from, and that image.
    pub copy_from: Option<(usize, String)>,
    /// The agent goes into `initContainers` with `restartPolicy: Always`.
    pub native: bool,
    /// The agent's port.
    pub port: u16,
    /// The pod is on the node's network: the agent stays on loopback.
    pub host_network: bool,
    /// Requests and limits of the agent (and of the copy init container).
    pub resources: Option<ResourceRequirements>,
    /// `TESTCAR_TARGET`, when one is known.
    pub target: Option<String>,
    /// `TESTCAR_READINESS_URL`, when a URL is known.
    pub readiness: Option<String>,
    /// The agent image.
    pub image: String,
    /// The agent's `imagePullPolicy`.
    pub image_pull_policy: String,
    /// The agent's log format.
    pub log_format: String,
    /// Whole-run, readiness and tests-wait timeouts, rendered.
    pub timeouts: Timeouts,
    /// `testcar.io/environment`.
    pub environment: Option<String>,
    /// `testcar.io/load: shared` across `testcar.io/replicas` pods.
    pub load_share: Option<u32>,
    /// The suites to run, by tag (`smoke` on a scale-out of a verified ReplicaSet with
    /// `testcar.io/on-scale-out: smoke`; set by the injector after planning); `None`: all.
    pub suite_tags: Option<testcar_contract::tags::TagSelection>,
    /// The Secret mounted at the auth folder.
    pub auth_secret: Option<String>,
    /// The agent's readiness follows the verdict.
    pub hold_readiness: bool,
    /// Configured pull secrets the pod does not list yet, each once.
    pub image_pull_secrets: Vec<String>,
    /// `sizeLimit` of the tests (when an emptyDir), results and tmp volumes.
    pub size_limits: SizeLimits,
    /// The operator's additions to the agent (`agent.extraEnv`, `envFrom`, `extraVolumes`,
    /// `extraVolumeMounts`), less what would clash with the pod or with Testcar.
    pub extras: Extras,
    /// Pod annotations to add or extend (the mesh exclusions of the agent's port).
    pub annotations: Vec<(String, String)>,
    /// The agent's UID and GID; `None` leaves them to the platform.
    pub run_as_user: Option<i64>,
    /// Who may call the agent's endpoints: the operator's policy, narrowed by the pod.
    pub endpoints: EndpointPolicy,
    /// `testcar.io/faults: pods`: the pod's service account volume, mounted read-only into
    /// the agent at the service account folder.
    pub api_access: Option<String>,
    /// `testcar.io/faults: net-admin`: the agent runs as root with NET_ADMIN.
    pub net_admin: bool,
    /// The pod's read token, when an endpoint needs one (minted by the injector, not here:
    /// planning stays pure).
    pub read_token: Option<String>,
    /// Every admission warning, in the order the choices were made.
    pub warnings: Vec<String>,
}

/// What the operator adds to every agent, as it fits this pod.
#[derive(Debug, Clone, Default)]
pub(super) struct Extras {
    pub env: Vec<EnvVar>,
    pub env_from: Vec<EnvFromSource>,
    pub volumes: Vec<Volume>,
    pub volume_mounts: Vec<VolumeMount>,
}

/// `sizeLimit` of each emptyDir Testcar adds; `None` leaves it unbounded.
#[derive(Debug, Clone, Default)]
pub(super) struct SizeLimits {
    pub tests: Option<Quantity>,
    pub results: Option<Quantity>,
    pub tmp: Option<Quantity>,
}

/// The agent's timeouts, as its environment spells them.
#[derive(Debug, Clone)]
pub(super) struct Timeouts {
    pub run: String,
    pub ready: String,
    pub tests_wait: String,
}

impl Plan {
    /// Resolve every choice for `spec`. The order of the steps is the order of the warnings.
    pub fn resolve(config: &Config, spec: &PodSpec, parsed: &ParsedAnnotations) -> Plan {
        let mut warnings: Vec<String> = parsed.errors.iter().map(default_used_text).collect();
        warnings.extend(unknown_keys(parsed));
        let a = &parsed.annotations;
        let mut r = Resolver {
            config,
            spec,
            annotations: a,
            warnings: &mut warnings,
        };
        let apps = r.app_containers();
        let (tests, copy_from) = r.tests_source(&apps);
        let native = r.native_sidecar();
        let port = r.agent_port();
        let resources = r.resources();
        let (target, target_container) = r.target(&apps);
        let readiness = r.readiness(&apps, target_container);
        let image = r.image();
        let extras = r.extras();
        let api_access = r.api_access();
        let agent = &config.agent;
        let timeout = |wanted: Option<Duration>, default: &DurationValue| {
            wanted.map_or_else(|| default.render(), format_duration)
        };
        Plan {
            apps,
            tests,
            copy_from,
            native,
            port,
            host_network: spec.host_network == Some(true),
            resources,
            target,
            readiness,
            image,
            image_pull_policy: agent.image_pull_policy.as_str().to_string(),
            log_format: agent.log_format.as_str().to_string(),
            timeouts: Timeouts {
                run: timeout(a.timeout, &agent.timeout),
                ready: timeout(a.ready_timeout, &agent.ready_timeout),
                tests_wait: timeout(a.tests_timeout, &agent.tests_timeout),
            },
            environment: a.environment.clone(),
            load_share: a.load_share(),
            suite_tags: None,
            auth_secret: a.auth_secret.clone(),
            hold_readiness: a.hold_readiness.unwrap_or(agent.hold_readiness),
            endpoints: match &a.endpoints {
                Some(kept) => agent.endpoints.policy().keep_only(kept),
                None => agent.endpoints.policy(),
            },
            read_token: None,
            api_access,
            net_admin: a.faults.net_admin,
            annotations: Vec::new(),
            run_as_user: agent.run_as_user,
            image_pull_secrets: missing_pull_secrets(&agent.image_pull_secrets, spec),
            extras,
            size_limits: {
                let v = &agent.volume_size_limits;
                let q = |c: &Option<crate::config::Quantity>| {
                    c.as_ref().map(|q| Quantity(q.0.trim().to_string()))
                };
                SizeLimits {
                    tests: q(&v.tests),
                    results: q(&v.results),
                    tmp: q(&v.tmp),
                }
            },
            warnings,
        }
    }
}

/// The configured pull secrets that `spec` does not already list, in order and without
/// repeats: adding one twice would make the pod invalid.
fn missing_pull_secrets(wanted: &[String], spec: &PodSpec) -> Vec<String> {
    let present = facts::pull_secret_names(spec);
    let mut out: Vec<String> = Vec::new();
    for name in wanted {
        if !present.contains(name.as_str()) && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The inputs of the choices, and where their warnings go.
struct Resolver<'a> {
    config: &'a Config,
    spec: &'a PodSpec,
    annotations: &'a TestcarAnnotations,
    warnings: &'a mut Vec<String>,
}

impl Resolver<'_> {
    /// The configured extras, less each variable named like one Testcar sets (Testcar's
    /// would be overridden or override it, silently) and each volume named like one of the
    /// pod's (the pod would be invalid), with its mounts. Never a reason to skip the pod.
    fn extras(&mut self) -> Extras {
        let agent = &self.config.agent;
        let mut env = Vec::new();
        for e in &agent.extra_env {
            if super::build::OWN_ENV.contains(&e.name.as_str()) {
                self.warn(format!(
                    "testcar: agent.extraEnv {} is left out: Testcar sets that variable itself",
                    short(&e.name, 60)
                ));
            } else {
                env.push(e.clone());
            }
        }
        let pods = facts::volume_names(self.spec);
        let mut volumes = Vec::new();
        let mut left_out = Vec::new();
        for v in &agent.extra_volumes {
            if pods.contains(&v.name.as_str()) {
                left_out.push(v.name.as_str());
                self.warn(format!(
                    "testcar: agent.extraVolumes {} is left out, with its mounts in the agent: the pod already has a volume of that name",
                    v.name
                ));
            } else {
                volumes.push(v.clone());
            }
        }
        let volume_mounts = agent
            .extra_volume_mounts
            .iter()
            .filter(|m| !left_out.contains(&m.name.as_str()))
            .cloned()
            .collect();
        Extras {
            env,
            env_from: agent.env_from.clone(),
            volumes,
            volume_mounts,
        }
    }

    /// The tests source, and for `copy:` the app container copied from: the first app
    /// container, whose image must be known.
    fn tests_source(&mut self, apps: &[usize]) -> (TestsSource, Option<(usize, String)>) {
        let tests = self.annotations.tests.clone();
        if let TestsSource::Image(reference) = &tests {
            // The API server drops an image volume when ImageVolume is off (the default
            // before 1.35), after this webhook: the agent would find an empty folder.
            if let Some(v) = self.config.kubernetes_minor().filter(|v| *v < (1, 35)) {
                self.warn(format!(
                    "testcar: testcar.io/tests is image:{} but this cluster is Kubernetes {}.{}, where image volumes need the ImageVolume feature gate (on by default from 1.35); without it the tests folder stays empty and the verdict is an error; configmap: or copy: work everywhere",
                    short(reference, 80), v.0, v.1
                ));
            }
        }
        if !matches!(tests, TestsSource::Copy(_)) {
            return (tests, None);
        }
        let first = &self.spec.containers[apps[0]];
        match first.image.clone() {
            Some(img) => (tests, Some((apps[0], img))),
            None => {
                self.warn(format!(
                    "testcar: testcar.io/tests is copy:… but container {} has no image to copy from; using shared",
                    first.name
                ));
                (TestsSource::Shared, None)
            }
        }
    }

    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// With `testcar.io/faults: pods`, the service account volume the agent mounts; a
    /// warning when the pod has none (`automountServiceAccountToken: false`).
    fn api_access(&mut self) -> Option<String> {
        if !self.annotations.faults.pods {
            return None;
        }
        let found = facts::service_account_volume(self.spec);
        if found.is_none() {
            self.warn(format!(
                "testcar: testcar.io/faults is pods but no container of the pod mounts a service account token at {} (automountServiceAccountToken: false?), so the agent gets none and its evict and delete-pod faults fail; let the token be mounted, and RBAC (the chart's faults.pods) decide",
                testcar_contract::paths::SERVICE_ACCOUNT_DIR
            ));
        }
        found
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
            if wanted && !self.config.native_sidecars() {
                self.warn(format!(
                    "testcar: native sidecars need Kubernetes 1.29 and this cluster is {}; the agent is added to spec.containers",
                    self.config.kubernetes_version.as_deref().unwrap_or("older")
                ));
                return false;
            }
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
        if facts::has_pod_level_resources(self.spec) {
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
        // No annotation sets these, and the configuration checked request <= limit.
        let storage = "ephemeral-storage".to_string();
        if let Some(q) = &r.requests.ephemeral_storage {
            requests.insert(storage.clone(), Quantity(q.0.trim().to_string()));
        }
        if let Some(q) = &r.limits.ephemeral_storage {
            limits.insert(storage, Quantity(q.0.trim().to_string()));
        }
        Some(ResourceRequirements {
            requests: Some(requests),
            limits: Some(limits),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests;
