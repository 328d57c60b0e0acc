//! The `testcar.io/*` pod annotations: key names, their typed parse, and precise errors
//! (the key, the bad value, the expected form) plus did-you-mean warnings for unknown keys.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::duration::parse_duration;

/// Prefix of every Testcar annotation.
pub const PREFIX: &str = "testcar.io/";

/// Annotation keys.
pub mod keys {
    /// `"true"` opts the pod in.
    pub const INJECT: &str = "testcar.io/inject";
    /// Set by the injector on injected pods: `injected`.
    pub const STATUS: &str = "testcar.io/status";
    /// Set by the injector: the injector's version.
    pub const INJECTOR_VERSION: &str = "testcar.io/injector-version";
    /// Base URL of the service under test.
    pub const TARGET: &str = "testcar.io/target";
    /// Where tests come from: `shared`, `configmap:<name>`, `image:<ref>`, `copy:<path>`.
    pub const TESTS: &str = "testcar.io/tests";
    /// App containers that get the shared tests volume (comma-separated; default all).
    pub const CONTAINERS: &str = "testcar.io/containers";
    /// Readiness URL override.
    pub const READINESS: &str = "testcar.io/readiness";
    /// Secret mounted at `/etc/testcar/auth`.
    pub const AUTH_SECRET: &str = "testcar.io/auth-secret";
    /// Agent image override (only if the injector config allows it).
    pub const IMAGE: &str = "testcar.io/image";
    /// Agent CPU request.
    pub const CPU: &str = "testcar.io/cpu";
    /// Agent memory request.
    pub const MEMORY: &str = "testcar.io/memory";
    /// Agent CPU limit.
    pub const CPU_LIMIT: &str = "testcar.io/cpu-limit";
    /// Agent memory limit.
    pub const MEMORY_LIMIT: &str = "testcar.io/memory-limit";
    /// `"true"` runs the agent as a native sidecar (init container, `restartPolicy: Always`).
    pub const NATIVE_SIDECAR: &str = "testcar.io/native-sidecar";
    /// Whole-run timeout.
    pub const TIMEOUT: &str = "testcar.io/timeout";
    /// How long to wait for the service to become ready.
    pub const READY_TIMEOUT: &str = "testcar.io/ready-timeout";
    /// How long to wait for a `shared` tests folder to be filled.
    pub const TESTS_TIMEOUT: &str = "testcar.io/tests-timeout";
    /// Artillery environment to select.
    pub const ENVIRONMENT: &str = "testcar.io/environment";
    /// `"true"` keeps the pod unready until the verdict is `passed` (a readiness probe on the
    /// agent's `/passed`), so a rollout of a failing version stops and the old pods serve on.
    pub const HOLD_READINESS: &str = "testcar.io/hold-readiness";
    /// The agent endpoints to keep serving (`none`, or e.g. `metrics` or `result,metrics`);
    /// the others are turned off. Can only close what the operator's policy opens.
    pub const ENDPOINTS: &str = "testcar.io/endpoints";
    /// `shared`: the rollout's pods divide every Artillery phase's load, so together they
    /// send what the script describes; `full` (default): every pod sends all of it.
    pub const LOAD: &str = "testcar.io/load";
    /// How many pods share the load with `testcar.io/load: shared` (the Deployment's
    /// `replicas`, written into the pod template: the injector cannot see it).
    pub const REPLICAS: &str = "testcar.io/replicas";
    /// What a new pod of a ReplicaSet the gate already verified runs (a scale-out, not a new
    /// version): `none` (not injected), `smoke` (suites tagged `smoke`) or `all`.
    pub const ON_SCALE_OUT: &str = "testcar.io/on-scale-out";
    /// What the agent's faults may reach beyond the pod's own processes: `pods` mounts the
    /// pod's service account token into the agent (pod faults through the Kubernetes API);
    /// `net-admin` runs the agent as root with NET_ADMIN (kernel network faults); `none`
    /// (default) adds nothing.
    pub const FAULTS: &str = "testcar.io/faults";

    /// Every key Testcar knows, for did-you-mean suggestions.
    pub const ALL: &[&str] = &[
        INJECT,
        STATUS,
        INJECTOR_VERSION,
        TARGET,
        TESTS,
        CONTAINERS,
        READINESS,
        AUTH_SECRET,
        IMAGE,
        CPU,
        MEMORY,
        CPU_LIMIT,
        MEMORY_LIMIT,
        NATIVE_SIDECAR,
        TIMEOUT,
        READY_TIMEOUT,
        TESTS_TIMEOUT,
        ENVIRONMENT,
        HOLD_READINESS,
        ENDPOINTS,
        LOAD,
        REPLICAS,
        ON_SCALE_OUT,
        FAULTS,
    ];
}

/// Value of `testcar.io/status` on an injected pod.
pub const STATUS_INJECTED: &str = "injected";

/// Value of `testcar.io/status` on a pod left without the agent because it scales out a
/// ReplicaSet the gate verified (`testcar.io/on-scale-out: none`).
pub const STATUS_SCALE_OUT_SKIPPED: &str = "skipped-scale-out";

/// Label the injector puts on injected pods (`"true"`), for NetworkPolicies and other
/// selectors, which cannot see annotations.
pub const INJECTED_LABEL: &str = "testcar.io/injected";

/// Where the tests folder comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TestsSource {
    /// An emptyDir also mounted in the app container(s); the app fills it.
    #[default]
    Shared,
    /// A ConfigMap by name.
    ConfigMap(String),
    /// An image volume (Kubernetes ≥ 1.31) by image reference.
    Image(String),
    /// An init container running the app's image copies this absolute folder.
    Copy(String),
}

impl TestsSource {
    /// Its kind, as passed to the agent in `TESTCAR_TESTS_SOURCE`.
    pub fn kind(&self) -> TestsSourceKind {
        match self {
            TestsSource::Shared => TestsSourceKind::Shared,
            TestsSource::ConfigMap(_) => TestsSourceKind::ConfigMap,
            TestsSource::Image(_) => TestsSourceKind::Image,
            TestsSource::Copy(_) => TestsSourceKind::Copy,
        }
    }
}

/// The kind of a [`TestsSource`]: what the agent needs to know to wait for its tests
/// (a shared folder fills while the app starts; an image folder may have been dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestsSourceKind {
    /// `shared`: the app fills an emptyDir.
    Shared,
    /// `configmap`: a ConfigMap volume.
    ConfigMap,
    /// `image`: an image volume.
    Image,
    /// `copy`: an init container copied the folder from the app's image.
    Copy,
}

impl TestsSourceKind {
    /// Every kind's name, in the order documented.
    pub const NAMES: [&'static str; 4] = ["shared", "configmap", "image", "copy"];

    /// The name in `TESTCAR_TESTS_SOURCE`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestsSourceKind::Shared => "shared",
            TestsSourceKind::ConfigMap => "configmap",
            TestsSourceKind::Image => "image",
            TestsSourceKind::Copy => "copy",
        }
    }
}

impl std::fmt::Display for TestsSourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TestsSourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shared" => Ok(TestsSourceKind::Shared),
            "configmap" => Ok(TestsSourceKind::ConfigMap),
            "image" => Ok(TestsSourceKind::Image),
            "copy" => Ok(TestsSourceKind::Copy),
            other => Err(format!(
                "unknown tests source `{other}`; expected one of {}",
                TestsSourceKind::NAMES.join(", ")
            )),
        }
    }
}

/// `testcar.io/load`: who sends a script's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadMode {
    /// Every pod sends the whole load (default).
    #[default]
    Full,
    /// The pods of the rollout divide it (`testcar.io/replicas` of them).
    Shared,
}

/// `testcar.io/on-scale-out`: what a new pod of a ReplicaSet the gate already verified runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnScaleOut {
    /// Not injected: the version passed its rollout; the pod gets Ready at once.
    #[default]
    None,
    /// Injected; the agent runs only the suites tagged `smoke` ([`crate::tags::SMOKE`]).
    Smoke,
    /// Injected as any pod: every suite runs.
    All,
}

impl OnScaleOut {
    /// The annotation's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OnScaleOut::None => "none",
            OnScaleOut::Smoke => "smoke",
            OnScaleOut::All => "all",
        }
    }
}

impl std::str::FromStr for OnScaleOut {
    type Err = String;

    fn from_str(value: &str) -> Result<OnScaleOut, String> {
        match value.trim() {
            "none" => Ok(OnScaleOut::None),
            "smoke" => Ok(OnScaleOut::Smoke),
            "all" => Ok(OnScaleOut::All),
            _ => Err("none, smoke or all".to_string()),
        }
    }
}

/// The typed `testcar.io/*` annotations of one pod.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestcarAnnotations {
    /// `testcar.io/inject: "true"`.
    pub inject: bool,
    /// `testcar.io/status`, as found.
    pub status: Option<String>,
    /// Target URL override.
    pub target: Option<String>,
    /// Tests source.
    pub tests: TestsSource,
    /// App containers that get the shared tests volume; `None` means all.
    pub containers: Option<Vec<String>>,
    /// Readiness URL override.
    pub readiness: Option<String>,
    /// Auth Secret name.
    pub auth_secret: Option<String>,
    /// Agent image override.
    pub image: Option<String>,
    /// Agent CPU request.
    pub cpu: Option<String>,
    /// Agent memory request.
    pub memory: Option<String>,
    /// Agent CPU limit.
    pub cpu_limit: Option<String>,
    /// Agent memory limit.
    pub memory_limit: Option<String>,
    /// Native sidecar override.
    pub native_sidecar: Option<bool>,
    /// Readiness hold override.
    pub hold_readiness: Option<bool>,
    /// Endpoints to keep serving; `None` keeps the operator's policy as it is.
    pub endpoints: Option<Vec<crate::endpoints::Endpoint>>,
    /// Whole-run timeout.
    pub timeout: Option<Duration>,
    /// Readiness wait.
    pub ready_timeout: Option<Duration>,
    /// Shared-folder wait.
    pub tests_timeout: Option<Duration>,
    /// Artillery environment.
    pub environment: Option<String>,
    /// `testcar.io/load`.
    pub load: LoadMode,
    /// `testcar.io/replicas`.
    pub replicas: Option<u32>,
    /// `testcar.io/on-scale-out`; `None` leaves the operator's default.
    pub on_scale_out: Option<OnScaleOut>,
    /// `testcar.io/faults`.
    pub faults: FaultAccess,
}

/// `testcar.io/faults`: what the agent gets for its faults beyond the restricted defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultAccess {
    /// `pods`: the pod's service account token is mounted into the agent, for `evict` and
    /// `delete-pod` faults (RBAC still decides: the chart's `faults.pods`).
    pub pods: bool,
    /// `net-admin`: the agent runs as root with the NET_ADMIN capability, for `netem` and
    /// `partition` faults (needs a namespace that allows it: Pod Security `privileged`).
    pub net_admin: bool,
}

impl TestcarAnnotations {
    /// Whether the injector already marked this pod.
    pub fn is_injected(&self) -> bool {
        self.status.as_deref() == Some(STATUS_INJECTED)
    }

    /// How many replicas share the load: `Some(n)` with `testcar.io/load: shared` and
    /// `testcar.io/replicas: n`, else `None` (every pod sends the whole load).
    pub fn load_share(&self) -> Option<u32> {
        match self.load {
            LoadMode::Shared => self.replicas,
            LoadMode::Full => None,
        }
    }
}

/// A `testcar.io/*` annotation whose value is not of the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}: {value:?} is not valid; expected {expected}")]
pub struct AnnotationError {
    /// The annotation key.
    pub key: String,
    /// The value found.
    pub value: String,
    /// The expected form, with an example.
    pub expected: String,
}

/// Something worth telling the pod's owner that does not stop injection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationWarning {
    /// The annotation key.
    pub key: String,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for AnnotationWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome of parsing: the typed values (invalid ones left at their defaults), the
/// errors and the warnings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedAnnotations {
    /// Typed values; a key with an invalid value is left unset.
    pub annotations: TestcarAnnotations,
    /// Invalid values.
    pub errors: Vec<AnnotationError>,
    /// Unknown keys and other non-fatal findings.
    pub warnings: Vec<AnnotationWarning>,
}

/// Parse every `testcar.io/*` annotation of a pod; other annotations are ignored.
pub fn parse(annotations: &BTreeMap<String, String>) -> ParsedAnnotations {
    let mut out = ParsedAnnotations::default();
    for (key, value) in annotations {
        if !key.starts_with(PREFIX) {
            continue;
        }
        let a = &mut out.annotations;
        let res: Result<(), String> = match key.as_str() {
            keys::INJECT => parse_bool(value).map(|b| a.inject = b),
            keys::STATUS => {
                a.status = Some(value.clone());
                Ok(())
            }
            keys::INJECTOR_VERSION => Ok(()),
            keys::TARGET => check_url(value).map(|()| a.target = Some(value.trim().to_string())),
            keys::READINESS => {
                check_url(value).map(|()| a.readiness = Some(value.trim().to_string()))
            }
            keys::TESTS => parse_tests_source(value).map(|t| a.tests = t),
            keys::CONTAINERS => parse_container_list(value).map(|c| a.containers = Some(c)),
            keys::AUTH_SECRET => {
                check_dns_subdomain(value).map(|()| a.auth_secret = Some(value.clone()))
            }
            keys::IMAGE => check_image(value).map(|()| a.image = Some(value.clone())),
            keys::CPU => check_quantity(value, Resource::Cpu).map(|()| a.cpu = Some(value.clone())),
            keys::CPU_LIMIT => {
                check_quantity(value, Resource::Cpu).map(|()| a.cpu_limit = Some(value.clone()))
            }
            keys::MEMORY => {
                check_quantity(value, Resource::Memory).map(|()| a.memory = Some(value.clone()))
            }
            keys::MEMORY_LIMIT => check_quantity(value, Resource::Memory)
                .map(|()| a.memory_limit = Some(value.clone())),
            keys::NATIVE_SIDECAR => parse_bool(value).map(|b| a.native_sidecar = Some(b)),
            keys::HOLD_READINESS => parse_bool(value).map(|b| a.hold_readiness = Some(b)),
            keys::ENDPOINTS => crate::endpoints::parse_kept(value)
                .map(|e| a.endpoints = Some(e))
                .map_err(|e| {
                    format!("none, or endpoints to keep from result, report, metrics, e.g. metrics ({e})")
                }),
            keys::TIMEOUT => parse_dur(value).map(|d| a.timeout = Some(d)),
            keys::READY_TIMEOUT => parse_dur(value).map(|d| a.ready_timeout = Some(d)),
            keys::TESTS_TIMEOUT => parse_dur(value).map(|d| a.tests_timeout = Some(d)),
            keys::LOAD => match value.trim() {
                "shared" => {
                    a.load = LoadMode::Shared;
                    Ok(())
                }
                "full" => {
                    a.load = LoadMode::Full;
                    Ok(())
                }
                _ => Err("shared or full".to_string()),
            },
            keys::REPLICAS => match value.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_REPLICAS).contains(&n) => {
                    a.replicas = Some(n);
                    Ok(())
                }
                _ => Err(format!(
                    "a replica count from 1 to {MAX_REPLICAS}, e.g. \"3\" (the Deployment's replicas)"
                )),
            },
            keys::ON_SCALE_OUT => value
                .parse::<OnScaleOut>()
                .map(|v| a.on_scale_out = Some(v)),
            keys::FAULTS => parse_fault_access(value).map(|f| a.faults = f),
            keys::ENVIRONMENT => {
                if value.trim().is_empty() {
                    Err("a non-empty Artillery environment name, e.g. staging".to_string())
                } else {
                    a.environment = Some(value.trim().to_string());
                    Ok(())
                }
            }
            unknown => {
                let message = match did_you_mean(unknown) {
                    Some(s) => {
                        format!("unknown annotation {unknown} is ignored (did you mean {s}?)")
                    }
                    None => format!(
                        "unknown annotation {unknown} is ignored; known testcar.io annotations: {}",
                        keys::ALL.join(", ")
                    ),
                };
                out.warnings.push(AnnotationWarning {
                    key: unknown.to_string(),
                    message,
                });
                Ok(())
            }
        };
        if let Err(expected) = res {
            out.errors.push(AnnotationError {
                key: key.clone(),
                value: value.clone(),
                expected,
            });
        }
    }
    check_load(annotations, &mut out);
    out
}

/// `none`, or a comma list of `pods`, `net-admin`.
fn parse_fault_access(value: &str) -> Result<FaultAccess, String> {
    let expected = || {
        "none, or a comma list of pods (the agent gets the pod's service account token for evict and delete-pod faults) and net-admin (the agent runs as root with NET_ADMIN for netem and partition faults), e.g. pods".to_string()
    };
    let mut out = FaultAccess::default();
    let v = value.trim();
    if v == "none" {
        return Ok(out);
    }
    for part in v.split(',').map(str::trim) {
        match part {
            "pods" => out.pods = true,
            "net-admin" => out.net_admin = true,
            _ => return Err(expected()),
        }
    }
    Ok(out)
}

/// Largest `testcar.io/replicas`.
pub const MAX_REPLICAS: u32 = 10_000;

/// `testcar.io/load: shared` needs `testcar.io/replicas`: without it every pod sends the
/// whole load (an error the injector reports as a warning). `testcar.io/replicas` alone is
/// ignored.
fn check_load(raw: &BTreeMap<String, String>, out: &mut ParsedAnnotations) {
    let a = &mut out.annotations;
    let replicas_invalid = raw.contains_key(keys::REPLICAS) && a.replicas.is_none();
    if a.load == LoadMode::Shared && a.replicas.is_none() && !replicas_invalid {
        a.load = LoadMode::Full;
        out.errors.push(AnnotationError {
            key: keys::REPLICAS.to_string(),
            value: String::new(),
            expected: format!(
                "a replica count with {}: shared, e.g. \"3\" (the Deployment's replicas); every pod sends the whole load until it is set",
                keys::LOAD
            ),
        });
    } else if a.load == LoadMode::Shared && replicas_invalid {
        a.load = LoadMode::Full;
    } else if a.load == LoadMode::Full && a.replicas.is_some() {
        out.warnings.push(AnnotationWarning {
            key: keys::REPLICAS.to_string(),
            message: format!(
                "{} is ignored without {}: shared (every pod sends the whole load)",
                keys::REPLICAS,
                keys::LOAD
            ),
        });
    }
}

/// The closest known key to `key`, if it is close enough to be a typo.
pub fn did_you_mean(key: &str) -> Option<&'static str> {
    keys::ALL
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("\"true\" or \"false\"".to_string()),
    }
}

fn parse_dur(value: &str) -> Result<Duration, String> {
    parse_duration(value).map_err(|_| "a duration such as 90s, 5m or 1h30m".to_string())
}

fn check_url(value: &str) -> Result<(), String> {
    let expected =
        || "an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080".to_string();
    let v = value.trim();
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or_else(expected)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') || v.chars().any(char::is_whitespace) {
        return Err(expected());
    }
    Ok(())
}

/// Whether `name` is a valid DNS-1123 subdomain (names of ConfigMaps and Secrets).
pub fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `name` is a valid DNS-1123 label (container names).
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && !name.contains('.') && is_dns_subdomain(name)
}

fn check_dns_subdomain(value: &str) -> Result<(), String> {
    if is_dns_subdomain(value) {
        Ok(())
    } else {
        Err("a Kubernetes object name (lowercase letters, digits, '-' and '.'), e.g. my-service-testcar-auth".to_string())
    }
}

fn check_image(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && !value.starts_with(['/', ':', '@', '.', '-'])
        && !value.ends_with([':', '@', '/']);
    if ok {
        Ok(())
    } else {
        Err("an image reference, e.g. ghcr.io/acme/testcar-agent:1.2.0".to_string())
    }
}

fn parse_container_list(value: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() || !names.iter().all(|n| is_dns_label(n)) {
        return Err("a comma-separated list of container names, e.g. app,worker".to_string());
    }
    Ok(names)
}

fn parse_tests_source(value: &str) -> Result<TestsSource, String> {
    let expected = || {
        "one of shared, configmap:<name>, image:<reference>, copy:<absolute path> (e.g. configmap:my-service-tests)"
            .to_string()
    };
    let v = value.trim();
    if v == "shared" {
        return Ok(TestsSource::Shared);
    }
    let (kind, arg) = v.split_once(':').ok_or_else(expected)?;
    let arg = arg.trim();
    match kind.trim() {
        "configmap" if is_dns_subdomain(arg) => Ok(TestsSource::ConfigMap(arg.to_string())),
        "image" if check_image(arg).is_ok() => Ok(TestsSource::Image(arg.to_string())),
        "copy" if arg.starts_with('/') && !arg.contains("..") && arg.len() > 1 => {
            Ok(TestsSource::Copy(arg.trim_end_matches('/').to_string()))
        }
        _ => Err(expected()),
    }
}

#[derive(Clone, Copy)]
enum Resource {
    Cpu,
    Memory,
}

/// Whether `value` is a Kubernetes resource quantity (`250m`, `0.5`, `64Mi`, `1G`, `1e3`).
pub fn is_quantity(value: &str) -> bool {
    let v = value.trim();
    let num_len = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(num_len);
    let num = num.trim_start_matches('+');
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return false;
    }
    const SUFFIXES: &[&str] = &[
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    // decimal exponent form: 1e3, 1E-2
    let exp = suffix.strip_prefix(['e', 'E']);
    matches!(exp, Some(e) if !e.is_empty() && e.trim_start_matches(['+', '-']).chars().all(|c| c.is_ascii_digit()) && !e.trim_start_matches(['+', '-']).is_empty())
}

fn check_quantity(value: &str, resource: Resource) -> Result<(), String> {
    if is_quantity(value) {
        return Ok(());
    }
    Err(match resource {
        Resource::Cpu => "a CPU quantity, e.g. 100m or 0.5".to_string(),
        Resource::Memory => "a memory quantity, e.g. 64Mi or 1Gi".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_source_kinds_round_trip_and_name_the_choices() {
        for name in TestsSourceKind::NAMES {
            let kind: TestsSourceKind = name.parse().unwrap();
            assert_eq!(kind.as_str(), name);
        }
        assert_eq!(
            TestsSource::ConfigMap("t".into()).kind(),
            TestsSourceKind::ConfigMap
        );
        assert_eq!(TestsSource::default().kind().to_string(), "shared");
        let e = "ConfigMap".parse::<TestsSourceKind>().unwrap_err();
        assert!(
            e.contains("`ConfigMap`") && e.contains("shared, configmap, image, copy"),
            "{e}"
        );
    }

    fn mk_annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_a_full_set() {
        let p = parse(&mk_annotations(&[
            ("testcar.io/inject", "true"),
            ("testcar.io/target", "http://127.0.0.1:8080/api"),
            ("testcar.io/tests", "configmap:orders-tests"),
            ("testcar.io/containers", "app, worker"),
            ("testcar.io/auth-secret", "orders-auth"),
            ("testcar.io/cpu", "250m"),
            ("testcar.io/memory", "64Mi"),
            ("testcar.io/native-sidecar", "true"),
            ("testcar.io/timeout", "5m"),
            ("kubectl.kubernetes.io/restartedAt", "x"),
        ]));
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert!(p.warnings.is_empty());
        let a = p.annotations;
        assert!(a.inject);
        assert_eq!(a.tests, TestsSource::ConfigMap("orders-tests".into()));
        assert_eq!(a.containers, Some(vec!["app".into(), "worker".into()]));
        assert_eq!(a.timeout, Some(Duration::from_secs(300)));
        assert_eq!(a.native_sidecar, Some(true));
    }

    #[test]
    fn fault_access() {
        let f = |v: &str| parse(&mk_annotations(&[("testcar.io/faults", v)]));
        assert!(f("pods").annotations.faults.pods);
        assert!(f(" pods ").annotations.faults.pods);
        assert!(!f("none").annotations.faults.pods);
        let p = f("pod");
        assert!(!p.annotations.faults.pods);
        assert_eq!(p.errors[0].key, "testcar.io/faults");
        assert!(
            p.errors[0]
                .to_string()
                .contains("expected none, or a comma list of pods")
        );
        let both = f("pods, net-admin").annotations.faults;
        assert!(both.pods && both.net_admin);
        assert!(!f("pods").annotations.faults.net_admin);
    }

    #[test]
    fn every_tests_source_form() {
        for (v, want) in [
            ("shared", TestsSource::Shared),
            (
                "image:ghcr.io/acme/tests:1",
                TestsSource::Image("ghcr.io/acme/tests:1".into()),
            ),
            ("copy:/app/tests/", TestsSource::Copy("/app/tests".into())),
        ] {
            let p = parse(&mk_annotations(&[("testcar.io/tests", v)]));
            assert_eq!(p.annotations.tests, want);
        }
    }

    #[test]
    fn errors_name_key_value_and_expected_form() {
        let p = parse(&mk_annotations(&[
            ("testcar.io/inject", "yes"),
            ("testcar.io/cpu", "lots"),
            ("testcar.io/memory", "12 GB"),
            ("testcar.io/tests", "git:https://x"),
            ("testcar.io/target", "localhost:8080"),
            ("testcar.io/timeout", "soon"),
            ("testcar.io/auth-secret", "My_Secret"),
            ("testcar.io/tests-timeout", "10x"),
        ]));
        assert_eq!(p.errors.len(), 8, "{:?}", p.errors);
        let cpu = p.errors.iter().find(|e| e.key == "testcar.io/cpu").unwrap();
        let msg = cpu.to_string();
        assert!(msg.contains("testcar.io/cpu"), "{msg}");
        assert!(msg.contains("\"lots\""), "{msg}");
        assert!(msg.contains("100m"), "{msg}");
        let inject = p
            .errors
            .iter()
            .find(|e| e.key == "testcar.io/inject")
            .unwrap();
        assert!(inject.to_string().contains("\"true\" or \"false\""));
        // invalid values leave defaults
        assert!(!p.annotations.inject);
        assert_eq!(p.annotations.cpu, None);
        assert_eq!(p.annotations.tests, TestsSource::Shared);
    }

    #[test]
    fn unknown_keys_warn_with_did_you_mean() {
        let p = parse(&mk_annotations(&[
            ("testcar.io/taget", "http://x"),
            ("testcar.io/auth-secrets", "a"),
            ("testcar.io/zzzzzzzzzzzzzzzzzz", "a"),
        ]));
        assert!(p.errors.is_empty());
        assert_eq!(p.warnings.len(), 3);
        let msgs: Vec<String> = p.warnings.iter().map(|w| w.message.clone()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("did you mean testcar.io/target?")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("did you mean testcar.io/auth-secret?")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("known testcar.io annotations")),
            "{msgs:?}"
        );
    }

    #[test]
    fn quantities() {
        for ok in ["100m", "0.5", "1", "64Mi", "1Gi", "128M", "1e3", "+1"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "lots", "1.2.3", "12 GB", "Mi", "1e", "-"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn on_scale_out_values_and_a_bad_one() {
        for (v, want) in [
            ("none", OnScaleOut::None),
            (" smoke", OnScaleOut::Smoke),
            ("all", OnScaleOut::All),
        ] {
            let p = parse(&mk_annotations(&[("testcar.io/on-scale-out", v)]));
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            assert_eq!(p.annotations.on_scale_out, Some(want));
        }
        let p = parse(&mk_annotations(&[("testcar.io/on-scale-out", "some")]));
        assert_eq!(p.annotations.on_scale_out, None);
        let e = p.errors[0].to_string();
        assert!(
            e.contains("testcar.io/on-scale-out")
                && e.contains("\"some\"")
                && e.contains("none, smoke or all"),
            "{e}"
        );
    }

    #[test]
    fn injected_marker() {
        let p = parse(&mk_annotations(&[("testcar.io/status", "injected")]));
        assert!(p.annotations.is_injected());
    }

    #[test]
    fn shared_load_needs_a_replica_count() {
        let p = parse(&mk_annotations(&[
            ("testcar.io/load", "shared"),
            ("testcar.io/replicas", "3"),
        ]));
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.annotations.load_share(), Some(3));

        let p = parse(&mk_annotations(&[("testcar.io/load", "shared")]));
        assert_eq!(p.annotations.load_share(), None);
        let e = p.errors[0].to_string();
        assert!(
            e.contains("testcar.io/replicas") && e.contains("testcar.io/load: shared"),
            "{e}"
        );

        let p = parse(&mk_annotations(&[
            ("testcar.io/load", "shared"),
            ("testcar.io/replicas", "0"),
        ]));
        assert_eq!(p.annotations.load_share(), None);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].key, "testcar.io/replicas");

        let p = parse(&mk_annotations(&[("testcar.io/load", "half")]));
        assert!(p.errors[0].to_string().contains("shared or full"));

        let p = parse(&mk_annotations(&[("testcar.io/replicas", "3")]));
        assert_eq!(p.annotations.load_share(), None);
        assert!(
            p.warnings[0]
                .message
                .contains("ignored without testcar.io/load: shared")
        );
    }
}
