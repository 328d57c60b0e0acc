//! Pure builders: the agent container, the copy init container and the volumes, made from
//! the plan alone. Nothing here chooses or warns (that is the plan's job) and nothing here
//! knows where in the pod an object goes (that is `patch.rs`'s).

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ImageVolumeSource, LocalObjectReference, ObjectFieldSelector,
    PodSpec, Probe, ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use testcar_contract::annotations::TestsSource;
use testcar_contract::{env, paths};

use super::plan::Plan;

/// UID and GID the agent runs as (the distroless `nonroot` user): a numeric user lets the
/// kubelet enforce `runAsNonRoot` whatever `USER` the image declares.
const AGENT_UID: i64 = 65532;

/// Everything the pod gets, in the order it is added.
#[derive(Debug, Clone)]
pub(super) struct Additions {
    /// Appended to `spec.volumes`.
    pub volumes: Vec<Volume>,
    /// The tests mount for each app container (by index), for `shared` tests.
    pub app_mounts: Vec<(usize, VolumeMount)>,
    /// Appended to `spec.containers` (the agent, unless it is a native sidecar).
    pub containers: Vec<Container>,
    /// Appended to `spec.initContainers` (the copy container, then a native-sidecar agent).
    pub init_containers: Vec<Container>,
    /// Appended to `spec.imagePullSecrets`.
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Pod annotations set (added, or replaced with the extended value).
    pub annotations: Vec<(String, String)>,
}

/// What the plan adds to a pod with this `spec`.
pub(super) fn additions(plan: &Plan, spec: &PodSpec) -> Additions {
    let agent = agent_container(plan);
    let mut init_containers = Vec::new();
    if let (TestsSource::Copy(path), Some((app, image))) = (&plan.tests, &plan.copy_from) {
        init_containers.push(copy_container(
            path,
            image.clone(),
            &spec.containers[*app],
            plan.resources.clone(),
        ));
    }
    let mut containers = Vec::new();
    if plan.native {
        init_containers.push(agent);
    } else {
        containers.push(agent);
    }
    let app_mounts = if plan.tests == TestsSource::Shared {
        let mount = VolumeMount {
            name: paths::TESTS_VOLUME.into(),
            mount_path: paths::TESTS_DIR.into(),
            ..Default::default()
        };
        plan.apps.iter().map(|&i| (i, mount.clone())).collect()
    } else {
        Vec::new()
    };
    Additions {
        volumes: volumes(plan),
        app_mounts,
        containers,
        init_containers,
        image_pull_secrets: plan
            .image_pull_secrets
            .iter()
            .map(|name| LocalObjectReference { name: name.clone() })
            .collect(),
        annotations: plan.annotations.clone(),
    }
}

/// The tests, results, auth (when asked for) and tmp volumes.
fn volumes(plan: &Plan) -> Vec<Volume> {
    let mut volumes = vec![
        tests_volume(&plan.tests, &plan.size_limits.tests),
        Volume {
            name: paths::RESULTS_VOLUME.into(),
            empty_dir: Some(empty_dir(&plan.size_limits.results)),
            ..Default::default()
        },
    ];
    if let Some(secret) = &plan.auth_secret {
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
        empty_dir: Some(empty_dir(&plan.size_limits.tmp)),
        ..Default::default()
    });
    volumes.extend(plan.extras.volumes.iter().cloned());
    volumes
}

fn empty_dir(size_limit: &Option<Quantity>) -> EmptyDirVolumeSource {
    EmptyDirVolumeSource {
        size_limit: size_limit.clone(),
        ..Default::default()
    }
}

/// Every variable [`agent_env`] may set: the operator's `agent.extraEnv` may not reuse
/// them. A variable added there must be listed here (a unit test checks).
pub(super) const OWN_ENV: &[&str] = &[
    env::POD_NAME,
    env::POD_NAMESPACE,
    env::TARGET,
    env::READINESS_URL,
    env::TESTS_DIR,
    env::TESTS_SOURCE,
    env::RESULTS_DIR,
    env::AUTH_DIR,
    env::TIMEOUT,
    env::READY_TIMEOUT,
    env::TESTS_WAIT_TIMEOUT,
    env::ENVIRONMENT,
    env::LOAD_SHARE,
    env::SUITE_TAGS,
    env::LISTEN,
    env::LOG_FORMAT,
    env::ENDPOINTS,
    env::READ_TOKEN,
];

/// The agent's environment: the one place it is assembled, so that every variable the
/// agent reads (see `testcar_contract::env`) is set here and nowhere else. The operator's
/// `extraEnv` comes last, so that it can refer to Testcar's with `$(NAME)`.
fn agent_env(plan: &Plan) -> Vec<EnvVar> {
    let mut envs = vec![
        field_env(env::POD_NAME, "metadata.name"),
        field_env(env::POD_NAMESPACE, "metadata.namespace"),
    ];
    if let Some(t) = &plan.target {
        envs.push(value_env(env::TARGET, t.clone()));
    }
    if let Some(r) = &plan.readiness {
        envs.push(value_env(env::READINESS_URL, r.clone()));
    }
    envs.push(value_env(env::TESTS_DIR, paths::TESTS_DIR));
    envs.push(value_env(env::TESTS_SOURCE, plan.tests.kind().as_str()));
    envs.push(value_env(env::RESULTS_DIR, paths::RESULTS_DIR));
    if plan.auth_secret.is_some() {
        envs.push(value_env(env::AUTH_DIR, paths::AUTH_DIR));
    }
    let t = &plan.timeouts;
    envs.push(value_env(env::TIMEOUT, t.run.clone()));
    envs.push(value_env(env::READY_TIMEOUT, t.ready.clone()));
    envs.push(value_env(env::TESTS_WAIT_TIMEOUT, t.tests_wait.clone()));
    if let Some(e) = &plan.environment {
        envs.push(value_env(env::ENVIRONMENT, e.clone()));
    }
    if let Some(n) = plan.load_share {
        envs.push(value_env(env::LOAD_SHARE, n.to_string()));
    }
    if let Some(tags) = &plan.suite_tags {
        envs.push(value_env(env::SUITE_TAGS, tags.to_string()));
    }
    // On the node's network the agent's endpoints stay on loopback, and its port is not
    // declared: a declared port becomes a hostPort there, and two injected hostNetwork
    // pods (say two DaemonSets) could then never share a node.
    let listen_host = if plan.host_network {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    envs.push(value_env(
        env::LISTEN,
        format!("{listen_host}:{}", plan.port),
    ));
    envs.push(value_env(env::LOG_FORMAT, plan.log_format.clone()));
    envs.push(value_env(env::ENDPOINTS, plan.endpoints.to_string()));
    if let Some(token) = &plan.read_token {
        envs.push(value_env(env::READ_TOKEN, token.clone()));
    }
    envs.extend(plan.extras.env.iter().cloned());
    envs
}

/// The agent's mounts: tests (read-only), results, tmp, auth and the service account token
/// when asked for.
fn agent_mounts(plan: &Plan) -> Vec<VolumeMount> {
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
    if plan.auth_secret.is_some() {
        mounts.push(VolumeMount {
            name: paths::AUTH_VOLUME.into(),
            mount_path: paths::AUTH_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    // `testcar.io/faults: pods`: the token the ServiceAccount admission plugin mounted into
    // the pod's other containers before this webhook ran.
    if let Some(volume) = &plan.api_access {
        mounts.push(VolumeMount {
            name: volume.clone(),
            mount_path: paths::SERVICE_ACCOUNT_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    mounts.extend(plan.extras.volume_mounts.iter().cloned());
    mounts
}

/// The agent container.
fn agent_container(plan: &Plan) -> Container {
    let port = plan.port;
    // Readiness by verdict, never liveness: a long run must not get the container killed.
    let readiness_probe = plan.hold_readiness.then(|| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(paths::PASSED_PATH.into()),
            port: IntOrString::Int(i32::from(port)),
            // On the node's network the agent listens on loopback only.
            host: plan.host_network.then(|| "127.0.0.1".to_string()),
            ..Default::default()
        }),
        period_seconds: Some(2),
        timeout_seconds: Some(2),
        failure_threshold: Some(1),
        ..Default::default()
    });
    Container {
        name: paths::CONTAINER_NAME.into(),
        image: Some(plan.image.clone()),
        readiness_probe,
        image_pull_policy: Some(plan.image_pull_policy.clone()),
        args: Some(vec!["sidecar".into()]),
        env: Some(agent_env(plan)),
        env_from: (!plan.extras.env_from.is_empty()).then(|| plan.extras.env_from.clone()),
        ports: (!plan.host_network).then(|| {
            vec![ContainerPort {
                name: Some(paths::AGENT_PORT_NAME.into()),
                container_port: i32::from(port),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]
        }),
        resources: plan.resources.clone(),
        security_context: Some(if plan.net_admin {
            net_admin_security_context()
        } else {
            SecurityContext {
                run_as_user: plan.run_as_user,
                run_as_group: plan.run_as_user,
                ..restricted_security_context()
            }
        }),
        volume_mounts: Some(agent_mounts(plan)),
        restart_policy: plan.native.then(|| "Always".to_string()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
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

fn tests_volume(tests: &TestsSource, size_limit: &Option<Quantity>) -> Volume {
    let mut v = Volume {
        name: paths::TESTS_VOLUME.into(),
        ..Default::default()
    };
    match tests {
        TestsSource::Shared | TestsSource::Copy(_) => {
            v.empty_dir = Some(empty_dir(size_limit));
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

/// `testcar.io/faults: net-admin`: the restricted context, but as root with NET_ADMIN added
/// (a non-root process does not get added capabilities in its effective set). Pod Security
/// `baseline` does not allow NET_ADMIN, so this needs a `privileged` namespace.
fn net_admin_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(false),
        run_as_user: Some(0),
        run_as_group: Some(0),
        capabilities: Some(Capabilities {
            add: Some(vec!["NET_ADMIN".into()]),
            drop: Some(vec!["ALL".into()]),
        }),
        ..restricted_security_context()
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

#[cfg(test)]
mod tests;
