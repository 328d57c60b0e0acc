//! Unit tests of `build.rs`: pods built with `mk_*` go through `Injector::mutate`, and the
//! patch is applied as the API server would, so each rule is checked by its effect.

use crate::mutate::test_support::*;

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
    assert_eq!(again.reason, Reason::Skipped(Skip::AlreadyInjected));
    assert!(again.patch.0.is_empty());
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
fn storage_is_bounded_by_size_limits_and_an_ephemeral_storage_request() {
    let pod = mk_pod(
        &[("testcar.io/inject", "true")],
        vec![mk_container("app", Some(8080))],
    );
    let patched = apply(&pod, &mk_injector().mutate(&pod, "shop"));
    let limit_of = |p: &Pod, name: &str| -> Option<String> {
        let v = p
            .spec
            .as_ref()
            .unwrap()
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == name)
            .unwrap();
        v.empty_dir
            .as_ref()
            .unwrap()
            .size_limit
            .as_ref()
            .map(|q| q.0.clone())
    };
    // defaults: results and tmp bounded, the app-filled tests folder not
    assert_eq!(
        limit_of(&patched, "testcar-results").as_deref(),
        Some("256Mi")
    );
    assert_eq!(limit_of(&patched, "testcar-tmp").as_deref(), Some("256Mi"));
    assert_eq!(limit_of(&patched, "testcar-tests"), None);
    let res = agent_of(&patched).resources.unwrap();
    assert_eq!(res.requests.unwrap()["ephemeral-storage"].0, "64Mi");
    assert!(!res.limits.unwrap().contains_key("ephemeral-storage"));

    // configured: each volume, and a limit
    let mut config = Config::default();
    config.agent.volume_size_limits.tests = Some(crate::config::Quantity("1Gi".into()));
    config.agent.volume_size_limits.tmp = None;
    config.agent.resources.limits.ephemeral_storage = Some(crate::config::Quantity("2Gi".into()));
    let patched = apply(
        &pod,
        &Injector::new(config.clone(), None).mutate(&pod, "shop"),
    );
    assert_eq!(limit_of(&patched, "testcar-tests").as_deref(), Some("1Gi"));
    assert_eq!(limit_of(&patched, "testcar-tmp"), None);
    let res = agent_of(&patched).resources.unwrap();
    assert_eq!(res.limits.unwrap()["ephemeral-storage"].0, "2Gi");

    // a ConfigMap tests volume is no emptyDir: no sizeLimit to set
    let cm = mk_pod(
        &[
            ("testcar.io/inject", "true"),
            ("testcar.io/tests", "configmap:t"),
        ],
        vec![mk_container("app", Some(8080))],
    );
    let patched = apply(&cm, &Injector::new(config, None).mutate(&cm, "shop"));
    let tests = &patched.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
    assert!(tests.empty_dir.is_none() && tests.config_map.is_some());
}

/// With every option on, each variable the agent gets is in OWN_ENV (so `extraEnv` cannot
/// shadow one); a variable added to `agent_env` without listing it fails here.
#[test]
fn own_env_lists_every_variable_testcar_sets() {
    let mut app = mk_container("app", Some(8080));
    app.readiness_probe = Some(mk_probe_http(IntOrString::Int(8080), None));
    let pod = mk_replica_set_pod(mk_pod(
        &[
            ("testcar.io/inject", "true"),
            ("testcar.io/auth-secret", "a"),
            ("testcar.io/environment", "staging"),
            ("testcar.io/load", "shared"),
            ("testcar.io/replicas", "3"),
            ("testcar.io/on-scale-out", "smoke"),
        ],
        vec![app],
    ));
    let (inj, _dir) = mk_injector_verified(Config::default(), &[("shop.orders", b"orders-7d4b9c")]);
    let agent = agent_of(&apply(&pod, &inj.mutate(&pod, "shop")));
    let names: Vec<String> = agent.env.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names.len(), super::OWN_ENV.len(), "{names:?}");
    for n in &names {
        assert!(
            super::OWN_ENV.contains(&n.as_str()),
            "{n} is not in OWN_ENV"
        );
    }
}

/// `testcar.io/load: shared` with `testcar.io/replicas` reaches the agent as its share;
/// without a replica count the agent gets no share (it sends the whole load).
#[test]
fn a_shared_load_passes_the_replica_count_to_the_agent() {
    let share = |annotations: &[(&str, &str)]| {
        let mut all = vec![("testcar.io/inject", "true")];
        all.extend_from_slice(annotations);
        let pod = mk_pod(&all, vec![mk_container("app", Some(8080))]);
        let agent = agent_of(&apply(&pod, &mk_injector().mutate(&pod, "shop")));
        agent
            .env
            .unwrap()
            .into_iter()
            .find(|e| e.name == testcar_contract::env::LOAD_SHARE)
            .and_then(|e| e.value)
    };
    assert_eq!(
        share(&[("testcar.io/load", "shared"), ("testcar.io/replicas", "3")]),
        Some("3".to_string())
    );
    assert_eq!(share(&[("testcar.io/load", "shared")]), None);
    assert_eq!(share(&[("testcar.io/replicas", "3")]), None);
}

fn mk_extras_config() -> Config {
    Config::parse(
        r#"
agent:
  extraEnv:
    - { name: KRB5_CONFIG, value: /etc/krb5/krb5.conf }
    - { name: TESTCAR_TARGET, value: http://elsewhere }
  envFrom:
    - secretRef: { name: agent-env }
  extraVolumes:
    - { name: krb5, configMap: { name: krb5-conf } }
    - { name: data, emptyDir: {} }
  extraVolumeMounts:
    - { name: krb5, mountPath: /etc/krb5, readOnly: true }
    - { name: data, mountPath: /var/data }
"#,
        "c.yaml",
    )
    .unwrap()
}

#[test]
fn extras_are_added_to_the_agent_and_clashes_are_left_out_with_a_warning() {
    let inj = Injector::new(mk_extras_config(), None);
    let mut pod = mk_pod(
        &[("testcar.io/inject", "true")],
        vec![mk_container("app", Some(8080))],
    );
    // the pod has its own "data" volume: ours is left out, with its mount
    pod.spec.as_mut().unwrap().volumes = Some(vec![Volume {
        name: "data".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }]);
    let out = inj.mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
    assert!(
        out.warnings[0].contains("agent.extraEnv TESTCAR_TARGET is left out"),
        "{:?}",
        out.warnings
    );
    assert!(
        out.warnings[1].contains("agent.extraVolumes data is left out"),
        "{:?}",
        out.warnings
    );
    let patched = apply(&pod, &out);
    let agent = agent_of(&patched);
    // Testcar's own target stands; the operator's variable comes after Testcar's
    assert_eq!(
        env_of(&agent, env::TARGET).as_deref(),
        Some("http://127.0.0.1:8080")
    );
    let env = agent.env.as_ref().unwrap();
    assert_eq!(env.last().unwrap().name, "KRB5_CONFIG");
    assert_eq!(
        agent.env_from.as_ref().unwrap()[0]
            .secret_ref
            .as_ref()
            .unwrap()
            .name,
        "agent-env"
    );
    let mounts: Vec<&str> = agent
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert!(
        mounts.contains(&"/etc/krb5") && !mounts.contains(&"/var/data"),
        "{mounts:?}"
    );
    let vols: Vec<&str> = patched
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        vols,
        [
            "data",
            "testcar-tests",
            "testcar-results",
            "testcar-tmp",
            "krb5"
        ]
    );

    // not configured (the default): no envFrom, nothing extra
    let agent = agent_of(&apply(&pod, &mk_injector().mutate(&pod, "shop")));
    assert!(agent.env_from.is_none());
}

#[test]
fn the_agent_gets_the_endpoint_policy_and_a_read_token_of_its_own() {
    let pod = mk_pod(
        &[(keys::INJECT, "true")],
        vec![mk_container("app", Some(8080))],
    );
    let injector = mk_injector().with_token_source(|| "pinned-token".into());
    let agent = agent_of(&apply(&pod, &injector.mutate(&pod, "shop")));
    assert_eq!(
        env_of(&agent, env::ENDPOINTS).as_deref(),
        Some("result=token,report=token,metrics=open")
    );
    assert_eq!(
        env_of(&agent, env::READ_TOKEN).as_deref(),
        Some("pinned-token")
    );

    // real tokens: 64 hex characters, a different one for each pod
    let a = agent_of(&apply(&pod, &mk_injector().mutate(&pod, "shop")));
    let b = agent_of(&apply(&pod, &mk_injector().mutate(&pod, "shop")));
    let (ta, tb) = (
        env_of(&a, env::READ_TOKEN).unwrap(),
        env_of(&b, env::READ_TOKEN).unwrap(),
    );
    assert_eq!(ta.len(), 64);
    assert!(ta.chars().all(|c| c.is_ascii_hexdigit()), "{ta}");
    assert_ne!(ta, tb);
}

#[test]
fn the_pod_can_close_endpoints_but_not_open_them() {
    let pod = mk_pod(
        &[(keys::INJECT, "true"), (keys::ENDPOINTS, "metrics")],
        vec![mk_container("app", Some(8080))],
    );
    let agent = agent_of(&apply(&pod, &mk_injector().mutate(&pod, "shop")));
    assert_eq!(
        env_of(&agent, env::ENDPOINTS).as_deref(),
        Some("result=off,report=off,metrics=open")
    );
    // nothing needs a token, so none is minted
    assert_eq!(env_of(&agent, env::READ_TOKEN), None);

    // the operator closed metrics: a pod asking to keep it does not reopen it
    let mut config = Config::default();
    config.agent.endpoints.metrics = crate::config::AccessLevel::Off;
    let pod = mk_pod(
        &[(keys::INJECT, "true"), (keys::ENDPOINTS, "result,metrics")],
        vec![mk_container("app", Some(8080))],
    );
    let agent = agent_of(&apply(
        &pod,
        &Injector::new(config, None).mutate(&pod, "shop"),
    ));
    assert_eq!(
        env_of(&agent, env::ENDPOINTS).as_deref(),
        Some("result=token,report=off,metrics=off")
    );
}

#[test]
fn a_bad_endpoints_annotation_warns_and_keeps_the_policy() {
    let pod = mk_pod(
        &[(keys::INJECT, "true"), (keys::ENDPOINTS, "results")],
        vec![mk_container("app", Some(8080))],
    );
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("annotation testcar.io/endpoints: \"results\" is not valid")),
        "{:?}",
        out.warnings
    );
    let agent = agent_of(&apply(&pod, &out));
    assert_eq!(
        env_of(&agent, env::ENDPOINTS).as_deref(),
        Some("result=token,report=token,metrics=open")
    );
}

/// A pod as the ServiceAccount admission plugin leaves it before webhooks run: the
/// `kube-api-access-*` projected volume, mounted into every container of the pod then.
fn with_token_volume(mut pod: Pod) -> Pod {
    let spec = pod.spec.as_mut().unwrap();
    let name = "kube-api-access-7xk2p".to_string();
    spec.volumes = Some(vec![Volume {
        name: name.clone(),
        ..Default::default()
    }]);
    for c in &mut spec.containers {
        c.volume_mounts = Some(vec![VolumeMount {
            name: name.clone(),
            mount_path: paths::SERVICE_ACCOUNT_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }]);
    }
    pod
}

fn token_mount(agent: &Container) -> Option<VolumeMount> {
    agent
        .volume_mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|m| m.mount_path == paths::SERVICE_ACCOUNT_DIR)
        .cloned()
}

#[test]
fn faults_pods_mounts_the_service_account_token_into_the_agent() {
    let pod = with_token_volume(mk_pod(
        &[(keys::INJECT, "true"), (keys::FAULTS, "pods")],
        vec![mk_container("app", Some(8080))],
    ));
    let out = mk_injector().mutate(&pod, "shop");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let patched = apply(&pod, &out);
    let mount = token_mount(&agent_of(&patched)).expect("the agent mounts the token");
    assert_eq!(mount.name, "kube-api-access-7xk2p");
    assert_eq!(mount.read_only, Some(true));
    // The downward API gives the agent its pod, which pod faults start from.
    assert!(
        agent_of(&patched)
            .env
            .unwrap()
            .iter()
            .any(|e| e.name == env::POD_NAME && e.value_from.is_some())
    );
    // Still no capability, still restricted.
    let sc = agent_of(&patched).security_context.unwrap();
    assert_eq!(sc.capabilities.unwrap().add, None);

    // Without the annotation the agent gets no token, even though the pod has one.
    let pod = with_token_volume(mk_pod(
        &[(keys::INJECT, "true")],
        vec![mk_container("app", Some(8080))],
    ));
    let patched = apply(&pod, &mk_injector().mutate(&pod, "shop"));
    assert_eq!(token_mount(&agent_of(&patched)), None);
}

#[test]
fn faults_pods_without_a_token_warns() {
    let pod = mk_pod(
        &[(keys::INJECT, "true"), (keys::FAULTS, "pods")],
        vec![mk_container("app", Some(8080))],
    );
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(
        out.warnings[0].contains("automountServiceAccountToken: false"),
        "{:?}",
        out.warnings
    );
    assert_eq!(token_mount(&agent_of(&apply(&pod, &out))), None);
}

#[test]
fn faults_net_admin_runs_the_agent_as_root_with_net_admin_only() {
    let pod = mk_pod(
        &[(keys::INJECT, "true"), (keys::FAULTS, "net-admin")],
        vec![mk_container("app", Some(8080))],
    );
    let out = mk_injector().mutate(&pod, "shop");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let patched = apply(&pod, &out);
    let sc = agent_of(&patched).security_context.unwrap();
    let caps = sc.capabilities.unwrap();
    assert_eq!(caps.add.as_deref(), Some(&["NET_ADMIN".to_string()][..]));
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!((sc.run_as_user, sc.run_as_non_root), (Some(0), Some(false)));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    // No token unless pods is asked for too.
    assert_eq!(token_mount(&agent_of(&patched)), None);
}
