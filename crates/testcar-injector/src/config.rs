//! The injector's configuration file (YAML, camelCase keys, every key optional): defaults
//! for the injected agent container and the namespaces never injected. Unknown keys and bad
//! values are errors naming the file, line, column and key.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, Volume, VolumeMount};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use testcar_contract::duration::{format_duration, parse_duration};

use crate::quantity;

mod endpoints;
pub use endpoints::{AccessLevel, Endpoints};

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a value of the wrong form.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// Values that are each fine but do not fit together.
    #[error("{path}: {key}: {message}")]
    Inconsistent {
        /// The file.
        path: String,
        /// Dotted key path, e.g. `agent.resources.requests.cpu`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    /// The injected agent container.
    pub agent: AgentConfig,
    /// Namespaces whose pods are never injected (the injector's own is always added).
    pub exclude_namespaces: Vec<String>,
    /// The cluster's Kubernetes version (`1.34.2`, `v1.28.5-eks-…`), written by the chart from
    /// what Helm sees. Unknown: native sidecars and image volumes are assumed to work.
    pub kubernetes_version: Option<String>,
    /// What a new pod of a ReplicaSet the gate verified runs, unless the pod's
    /// `testcar.io/on-scale-out` says otherwise: `none` (default), `smoke` or `all`.
    pub on_scale_out: testcar_contract::annotations::OnScaleOut,
}

impl Config {
    /// `(major, minor)` of `kubernetes_version`, when it reads as one.
    pub fn kubernetes_minor(&self) -> Option<(u32, u32)> {
        let v = self
            .kubernetes_version
            .as_deref()?
            .trim()
            .trim_start_matches('v');
        let mut parts = v.split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    }

    /// Whether the cluster has native sidecars (on by default from 1.29); unknown = yes.
    pub fn native_sidecars(&self) -> bool {
        self.kubernetes_minor().is_none_or(|v| v >= (1, 29))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            agent: AgentConfig::default(),
            exclude_namespaces: vec![
                "kube-system".into(),
                "kube-public".into(),
                "kube-node-lease".into(),
            ],
            kubernetes_version: None,
            on_scale_out: Default::default(),
        }
    }
}

/// Defaults for the agent container.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Agent image.
    pub image: Image,
    /// `imagePullPolicy` of the agent container.
    pub image_pull_policy: PullPolicy,
    /// Honour the per-pod `testcar.io/image` annotation.
    pub allow_image_override: bool,
    /// Image prefixes an override must start with; empty = any.
    pub allowed_registries: Vec<String>,
    /// Requests and limits of the agent container.
    pub resources: Resources,
    /// Inject the agent as a native sidecar (init container with `restartPolicy: Always`).
    pub native_sidecar: bool,
    /// Keep injected pods unready until their verdict is `passed` (`testcar.io/hold-readiness`).
    pub hold_readiness: bool,
    /// Port of the agent's `/result`, `/healthz`, `/metrics`.
    pub port: Port,
    /// Whole-run timeout.
    pub timeout: DurationValue,
    /// How long the agent waits for the service to be ready.
    pub ready_timeout: DurationValue,
    /// How long the agent waits for a `shared` tests folder to be filled.
    pub tests_timeout: DurationValue,
    /// Agent log format.
    pub log_format: LogFormat,
    /// Pull secrets added to the pod's `imagePullSecrets` when missing (a private or mirrored
    /// agent image).
    pub image_pull_secrets: Vec<String>,
    /// `sizeLimit` of the agent's emptyDir volumes.
    pub volume_size_limits: VolumeSizeLimits,
    /// Variables added to the agent's environment after Testcar's own (e.g. `KRB5_CONFIG`).
    pub extra_env: Vec<EnvVar>,
    /// ConfigMaps and Secrets whose keys become the agent's environment.
    pub env_from: Vec<EnvFromSource>,
    /// Volumes added to the pod for the agent (e.g. a `krb5.conf` ConfigMap).
    pub extra_volumes: Vec<Volume>,
    /// Mounts of `extra_volumes` in the agent container.
    pub extra_volume_mounts: Vec<VolumeMount>,
    /// Who may call the agent's `/result`, `/report` and `/metrics`.
    pub endpoints: Endpoints,
    /// The agent's UID (and GID); `null` leaves them to the platform (OpenShift's restricted
    /// SCC assigns one per namespace and refuses a fixed UID outside its range).
    pub run_as_user: Option<i64>,
    /// Keep service-mesh proxies off the agent's port: `auto` (pods that show Istio or
    /// Linkerd), `always` (every pod: namespace-wide injection is invisible to the webhook),
    /// `never`.
    pub mesh_port_exclusion: MeshPortExclusion,
}

/// When to add the mesh annotations that keep the agent's port out of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MeshPortExclusion {
    /// For pods that show a mesh.
    #[default]
    Auto,
    /// For every pod, for both Istio and Linkerd.
    Always,
    /// Never.
    Never,
}

/// `sizeLimit` of each emptyDir volume Testcar adds; `null` leaves a volume unbounded.
/// The kubelet evicts the pod when a volume outgrows its limit, so a limit turns "the node's
/// disk fills up" (every pod on the node at risk) into "this pod is evicted".
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct VolumeSizeLimits {
    /// The tests volume when it is an emptyDir (`shared`, `copy:`); unbounded by default, as
    /// the app fills it.
    pub tests: Option<Quantity>,
    /// The results volume (default 256Mi).
    pub results: Option<Quantity>,
    /// The agent's `/tmp` (default 256Mi).
    pub tmp: Option<Quantity>,
}

impl Default for VolumeSizeLimits {
    fn default() -> Self {
        VolumeSizeLimits {
            tests: None,
            results: Some(Quantity("256Mi".into())),
            tmp: Some(Quantity("256Mi".into())),
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            image: Image("ghcr.io/testcar/testcar-agent:0.1.0".into()),
            image_pull_policy: PullPolicy::IfNotPresent,
            allow_image_override: false,
            allowed_registries: Vec::new(),
            resources: Resources::default(),
            native_sidecar: false,
            hold_readiness: false,
            port: Port(testcar_contract::paths::AGENT_PORT),
            timeout: DurationValue(Duration::from_secs(600)),
            ready_timeout: DurationValue(Duration::from_secs(120)),
            tests_timeout: DurationValue(Duration::from_secs(120)),
            log_format: LogFormat::Json,
            image_pull_secrets: Vec::new(),
            volume_size_limits: VolumeSizeLimits::default(),
            endpoints: Endpoints::default(),
            run_as_user: Some(65532),
            mesh_port_exclusion: MeshPortExclusion::Auto,
            extra_env: Vec::new(),
            env_from: Vec::new(),
            extra_volumes: Vec::new(),
            extra_volume_mounts: Vec::new(),
        }
    }
}

/// Requests and limits.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Resources {
    /// Requests (default cpu 50m, memory 64Mi).
    pub requests: Requests,
    /// Limits (default cpu 1, memory 256Mi).
    pub limits: Limits,
}

/// Resource requests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Requests {
    /// CPU request.
    pub cpu: Quantity,
    /// Memory request.
    pub memory: Quantity,
    /// Ephemeral-storage request (default 64Mi): the scheduler reserves it, and the kubelet
    /// ranks pods for node-pressure eviction by their use above their requests.
    #[serde(rename = "ephemeral-storage")]
    pub ephemeral_storage: Option<Quantity>,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            cpu: Quantity("50m".into()),
            memory: Quantity("64Mi".into()),
            ephemeral_storage: Some(Quantity("64Mi".into())),
        }
    }
}

/// Resource limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Limits {
    /// CPU limit.
    pub cpu: Quantity,
    /// Memory limit.
    pub memory: Quantity,
    /// Ephemeral-storage limit; none by default. The kubelet holds the whole pod's ephemeral
    /// use (the app's logs and volumes too) to the sum of the limits its containers set, so a
    /// limit here on a pod whose app sets none would bound the app's use by the agent's.
    #[serde(rename = "ephemeral-storage")]
    pub ephemeral_storage: Option<Quantity>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Quantity("1".into()),
            memory: Quantity("256Mi".into()),
            ephemeral_storage: None,
        }
    }
}

/// `imagePullPolicy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PullPolicy {
    /// `Always`.
    Always,
    /// `IfNotPresent`.
    IfNotPresent,
    /// `Never`.
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Agent log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

impl LogFormat {
    /// The value of `TESTCAR_LOG_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::Text => "text",
        }
    }
}

/// A non-empty image reference without whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image(pub String);

impl<'de> Deserialize<'de> for Image {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(de::Error::custom(format!(
                "{s:?} is not an image reference; expected e.g. ghcr.io/testcar/testcar-agent:0.1.0"
            )));
        }
        Ok(Image(s))
    }
}

/// A Kubernetes resource quantity (`50m`, `0.5`, `64Mi`); YAML numbers are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_any(ScalarText)?;
        if quantity::parse(&s).is_none() {
            return Err(de::Error::custom(format!(
                "{s:?} is not a resource quantity; expected e.g. 50m, 0.5, 64Mi or 1Gi"
            )));
        }
        Ok(Quantity(s))
    }
}

/// A TCP port, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(de::Error::custom(format!(
                "{n} is not a port; expected 1 to 65535"
            ))),
        }
    }
}

/// A duration written as `90s`, `10m`, `1h30m` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl DurationValue {
    /// The short form users write (`10m`), as passed to the agent.
    pub fn render(self) -> String {
        format_duration(self.0)
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_any(ScalarText)?;
        match parse_duration(&s) {
            Ok(v) if !v.is_zero() => Ok(DurationValue(v)),
            _ => Err(de::Error::custom(format!(
                "{s:?} is not a duration; expected e.g. 90s, 10m or 1h30m"
            ))),
        }
    }
}

/// Reads a YAML scalar (string or number) as its text.
struct ScalarText;

impl Visitor<'_> for ScalarText {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Validate configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        // An empty document (or only comments) means "all defaults".
        let blank = text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        let config: Config = if blank {
            Config::default()
        } else {
            testcar_yaml::from_str(text).map_err(|e| yaml_error(e, origin))?
        };
        config.check(origin)?;
        Ok(config)
    }

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let inconsistent = |key: &str, message: String| ConfigError::Inconsistent {
            path: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let r = &self.agent.resources;
        for (key, req, lim) in [
            ("cpu", Some(&r.requests.cpu), Some(&r.limits.cpu)),
            ("memory", Some(&r.requests.memory), Some(&r.limits.memory)),
            (
                "ephemeral-storage",
                r.requests.ephemeral_storage.as_ref(),
                r.limits.ephemeral_storage.as_ref(),
            ),
        ] {
            let (Some(req), Some(lim)) = (req, lim) else {
                continue;
            };
            if quantity::parse(&req.0) > quantity::parse(&lim.0) {
                return Err(inconsistent(
                    &format!("agent.resources.requests.{key}"),
                    format!(
                        "request {} is above the limit {} (agent.resources.limits.{key})",
                        req.0, lim.0
                    ),
                ));
            }
        }
        for (i, ns) in self.exclude_namespaces.iter().enumerate() {
            if !testcar_contract::annotations::is_dns_label(ns) {
                return Err(inconsistent(
                    &format!("excludeNamespaces[{i}]"),
                    format!("{ns:?} is not a namespace name"),
                ));
            }
        }
        for (i, name) in self.agent.image_pull_secrets.iter().enumerate() {
            if !testcar_contract::annotations::is_dns_subdomain(name) {
                return Err(inconsistent(
                    &format!("agent.imagePullSecrets[{i}]"),
                    format!("{name:?} is not a Secret name"),
                ));
            }
        }
        self.check_extras(origin)?;
        for (i, prefix) in self.agent.allowed_registries.iter().enumerate() {
            if prefix.is_empty() || prefix.chars().any(char::is_whitespace) {
                return Err(inconsistent(
                    &format!("agent.allowedRegistries[{i}]"),
                    format!("{prefix:?} is not an image prefix; expected e.g. ghcr.io/testcar/"),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// What would make every injected pod invalid (and so refused by the API server) is an
    /// error here, found at `--check-config` rather than at the first rollout. A clash with
    /// a pod's own volume can only be known per pod: the injector leaves that one out with a
    /// warning.
    fn check_extras(&self, origin: &str) -> Result<(), ConfigError> {
        use testcar_contract::paths;
        let inconsistent = |key: String, message: String| ConfigError::Inconsistent {
            path: origin.to_string(),
            key,
            message,
        };
        let a = &self.agent;
        let own_volumes = [
            paths::TESTS_VOLUME,
            paths::RESULTS_VOLUME,
            paths::AUTH_VOLUME,
            paths::TMP_VOLUME,
        ];
        let mut names: Vec<&str> = Vec::new();
        for (i, v) in a.extra_volumes.iter().enumerate() {
            let key = format!("agent.extraVolumes[{i}].name");
            if !testcar_contract::annotations::is_dns_label(&v.name) {
                return Err(inconsistent(
                    key,
                    format!("{:?} is not a volume name", v.name),
                ));
            }
            if own_volumes.contains(&v.name.as_str()) {
                return Err(inconsistent(
                    key,
                    format!("{} is a volume Testcar adds", v.name),
                ));
            }
            if names.contains(&v.name.as_str()) {
                return Err(inconsistent(key, format!("{} is listed twice", v.name)));
            }
            names.push(&v.name);
        }
        let own_paths = [
            paths::TESTS_DIR,
            paths::RESULTS_DIR,
            paths::AUTH_DIR,
            paths::TMP_DIR,
        ];
        let mut mount_paths: Vec<&str> = Vec::new();
        for (i, m) in a.extra_volume_mounts.iter().enumerate() {
            if !names.contains(&m.name.as_str()) {
                return Err(inconsistent(
                    format!("agent.extraVolumeMounts[{i}].name"),
                    format!("{} is not one of agent.extraVolumes", m.name),
                ));
            }
            let path = m.mount_path.trim_end_matches('/');
            let key = format!("agent.extraVolumeMounts[{i}].mountPath");
            if !path.starts_with('/') {
                return Err(inconsistent(
                    key,
                    format!("{:?} is not an absolute path", m.mount_path),
                ));
            }
            if own_paths.contains(&path) {
                return Err(inconsistent(
                    key,
                    format!("the agent mounts its own volume at {path}"),
                ));
            }
            if mount_paths.contains(&path) {
                return Err(inconsistent(key, format!("{path} is mounted twice")));
            }
            mount_paths.push(path);
        }
        for (i, e) in a.extra_env.iter().enumerate() {
            if e.name.is_empty() {
                return Err(inconsistent(
                    format!("agent.extraEnv[{i}].name"),
                    "the name is empty".to_string(),
                ));
            }
        }
        Ok(())
    }
}

fn yaml_error(e: testcar_yaml::YamlError, origin: &str) -> ConfigError {
    ConfigError::Invalid {
        path: origin.to_string(),
        line: e.line.max(1),
        column: e.column.max(1),
        message: e.explained(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("# nothing\n\n", "c.yaml").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.agent.timeout.render(), "10m");
        assert_eq!(c.agent.port.0, 9464);
    }

    #[test]
    fn the_documented_example_parses() {
        let text = r#"
agent:
  image: ghcr.io/testcar/testcar-agent:0.1.0
  imagePullPolicy: IfNotPresent
  allowImageOverride: false
  allowedRegistries: []
  resources:
    requests: { cpu: 50m, memory: 64Mi, ephemeral-storage: 64Mi }
    limits: { cpu: "1", memory: 256Mi }
  nativeSidecar: false
  holdReadiness: false
  port: 9464
  timeout: 10m
  readyTimeout: 2m
  testsTimeout: 2m
  logFormat: json
  imagePullSecrets: []
  volumeSizeLimits: { tests: null, results: 256Mi, tmp: 256Mi }
excludeNamespaces: [kube-system, kube-public, kube-node-lease]
"#;
        assert_eq!(Config::parse(text, "c.yaml").unwrap(), Config::default());
    }

    #[test]
    fn partial_values_keep_other_defaults() {
        let c = Config::parse(
            "agent:\n  resources:\n    requests:\n      cpu: 100m\n  timeout: 300\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(c.agent.resources.requests.cpu.0, "100m");
        assert_eq!(c.agent.resources.requests.memory.0, "64Mi");
        assert_eq!(c.agent.resources.limits.cpu.0, "1");
        assert_eq!(c.agent.timeout.0, Duration::from_secs(300));
        assert_eq!(c.exclude_namespaces.len(), 3);
    }

    #[test]
    fn on_scale_out_default_and_a_bad_value() {
        use testcar_contract::annotations::OnScaleOut;
        assert_eq!(Config::default().on_scale_out, OnScaleOut::None);
        let c = Config::parse("onScaleOut: smoke\n", "c.yaml").unwrap();
        assert_eq!(c.on_scale_out, OnScaleOut::Smoke);
        let err = Config::parse("excludeNamespaces: []\nonScaleOut: some\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:2:"), "{err}");
        assert!(
            err.contains("none") && err.contains("smoke") && err.contains("all"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = Config::parse("agent:\n  image: a\n  imagePullPolicyy: Always\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:3:"), "{err}");
        assert!(err.contains("imagePullPolicyy"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_expected_form() {
        for (text, line, needle) in [
            ("agent:\n  timeout: soon\n", 2, "expected e.g. 90s"),
            ("agent:\n  port: 70000\n", 2, "expected 1 to 65535"),
            ("agent:\n  imagePullPolicy: Sometimes\n", 2, "Sometimes"),
            (
                "agent:\n  resources:\n    limits:\n      memory: lots\n",
                4,
                "resource quantity",
            ),
            ("agent:\n  logFormat: xml\n", 2, "xml"),
            ("excludeNamespaces: kube-system\n", 1, "excludeNamespaces"),
        ] {
            let err = Config::parse(text, "c.yaml").unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("c.yaml:{line}:")),
                "{text:?} → {err}"
            );
            assert!(err.contains(needle), "{text:?} → {err}");
        }
    }

    #[test]
    fn request_above_limit_is_refused() {
        let err = Config::parse(
            "agent:\n  resources:\n    requests: { memory: 1Gi }\n",
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("agent.resources.requests.memory"), "{err}");
        assert!(err.contains("256Mi"), "{err}");
    }

    #[test]
    fn storage_limits_are_optional_and_checked() {
        let c = Config::parse(
            "agent:\n  resources:\n    requests: { ephemeral-storage: null }\n    limits: { ephemeral-storage: 1Gi }\n  volumeSizeLimits: { tests: 1Gi, tmp: null }\n",
            "c.yaml",
        )
        .unwrap();
        let r = &c.agent.resources;
        assert_eq!(r.requests.ephemeral_storage, None);
        assert_eq!(r.limits.ephemeral_storage, Some(Quantity("1Gi".into())));
        let v = &c.agent.volume_size_limits;
        assert_eq!(v.tests, Some(Quantity("1Gi".into())));
        assert_eq!(v.results, Some(Quantity("256Mi".into())));
        assert_eq!(v.tmp, None);

        let err = Config::parse(
            "agent:\n  resources:\n    limits: { ephemeral-storage: 32Mi }\n",
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("agent.resources.requests.ephemeral-storage"),
            "{err}"
        );
        let err = Config::parse("agent:\n  volumeSizeLimits: { results: lots }\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:2:"), "{err}");
    }

    #[test]
    fn extras_read_as_kubernetes_objects_and_mounts_need_their_volume() {
        let text = r#"
agent:
  extraEnv:
    - { name: KRB5_CONFIG, value: /etc/krb5/krb5.conf }
    - name: API_KEY
      valueFrom: { secretKeyRef: { name: orders-key, key: key } }
  envFrom:
    - configMapRef: { name: testcar-agent-env }
  extraVolumes:
    - { name: krb5, configMap: { name: krb5-conf } }
  extraVolumeMounts:
    - { name: krb5, mountPath: /etc/krb5, readOnly: true }
"#;
        let c = Config::parse(text, "c.yaml").unwrap();
        assert_eq!(
            c.agent.extra_env[0].value.as_deref(),
            Some("/etc/krb5/krb5.conf")
        );
        assert!(c.agent.extra_env[1].value_from.is_some());
        assert_eq!(
            c.agent.env_from[0].config_map_ref.as_ref().unwrap().name,
            "testcar-agent-env"
        );
        assert_eq!(
            c.agent.extra_volumes[0].config_map.as_ref().unwrap().name,
            "krb5-conf"
        );
        assert_eq!(c.agent.extra_volume_mounts[0].read_only, Some(true));

        for (text, key, needle) in [
            (
                "agent:\n  extraVolumeMounts: [{name: krb5, mountPath: /etc/krb5}]\n",
                "agent.extraVolumeMounts[0].name",
                "not one of agent.extraVolumes",
            ),
            (
                "agent:\n  extraVolumes: [{name: testcar-tmp, emptyDir: {}}]\n",
                "agent.extraVolumes[0].name",
                "a volume Testcar adds",
            ),
            (
                "agent:\n  extraVolumes: [{name: k, emptyDir: {}}]\n  extraVolumeMounts: [{name: k, mountPath: /tmp/}]\n",
                "agent.extraVolumeMounts[0].mountPath",
                "its own volume at /tmp",
            ),
            (
                "agent:\n  extraVolumes: [{name: k, emptyDir: {}}, {name: k, emptyDir: {}}]\n",
                "agent.extraVolumes[1].name",
                "listed twice",
            ),
        ] {
            let err = Config::parse(text, "c.yaml").unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains(needle),
                "{text:?} → {err}"
            );
        }
    }

    #[test]
    fn pull_secrets_must_be_secret_names() {
        let c = Config::parse("agent:\n  imagePullSecrets: [mirror-pull]\n", "c.yaml").unwrap();
        assert_eq!(c.agent.image_pull_secrets, ["mirror-pull"]);
        let err = Config::parse("agent:\n  imagePullSecrets: [Mirror_Pull]\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("agent.imagePullSecrets[0]"), "{err}");
    }

    #[test]
    fn bad_namespace_is_refused() {
        let err = Config::parse("excludeNamespaces: [Kube_System]\n", "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("excludeNamespaces[0]"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Config::load(Path::new("/nonexistent/injector.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/injector.yaml"), "{err}");
    }
}
