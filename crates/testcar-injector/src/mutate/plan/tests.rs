//! Unit tests of `plan.rs`: pods built with `mk_*` go through `Injector::mutate`, and the
//! patch is applied as the API server would, so each rule is checked by its effect.

use crate::mutate::test_support::*;

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

fn mk_config_on(version: &str) -> Config {
    Config {
        kubernetes_version: Some(version.into()),
        ..Config::default()
    }
}

#[test]
fn cluster_versions_read_as_major_minor() {
    for (v, want) in [
        ("1.34.2", Some((1, 34))),
        ("v1.28.5-eks-6b0d2f1", Some((1, 28))),
        ("v1.30.1+k3s1", Some((1, 30))),
        ("latest", None),
    ] {
        assert_eq!(mk_config_on(v).kubernetes_minor(), want, "{v}");
    }
    assert!(
        Config::default().native_sidecars(),
        "unknown means assume yes"
    );
    assert!(!mk_config_on("1.28.9").native_sidecars());
    assert!(mk_config_on("1.29.0").native_sidecars());
}

#[test]
fn before_1_29_a_job_pod_is_left_alone_and_others_get_a_container() {
    let injector = Injector::new(mk_config_on("v1.28.5"), None);
    let mut job = mk_pod(
        &[(keys::INJECT, "true")],
        vec![mk_container("app", Some(8080))],
    );
    job.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    let out = injector.mutate(&job, "shop");
    assert_eq!(out.decision, Decision::Skipped);
    assert_eq!(out.reason, Reason::NoNativeSidecars);
    assert!(
        out.warnings[0].contains("no native sidecars (Kubernetes 1.29+)"),
        "{:?}",
        out.warnings
    );

    let pod = mk_pod(
        &[(keys::INJECT, "true"), (keys::NATIVE_SIDECAR, "true")],
        vec![mk_container("app", Some(8080))],
    );
    let out = injector.mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    let patched = apply(&pod, &out);
    assert!(
        patched
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .any(|c| c.name == "testcar")
    );
    assert!(patched.spec.as_ref().unwrap().init_containers.is_none());
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("native sidecars need Kubernetes 1.29")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn image_tests_warn_where_image_volumes_are_off_by_default() {
    let pod = mk_pod(
        &[
            (keys::INJECT, "true"),
            (keys::TESTS, "image:registry.example/tests:1"),
        ],
        vec![mk_container("app", Some(8080))],
    );
    let warned = |config: Config| {
        Injector::new(config, None)
            .mutate(&pod, "shop")
            .warnings
            .iter()
            .any(|w| w.contains("ImageVolume feature gate"))
    };
    assert!(warned(mk_config_on("1.34.1")));
    assert!(!warned(mk_config_on("1.35.0")));
    assert!(!warned(Config::default()));
}

#[test]
fn the_agent_uid_can_be_left_to_the_platform() {
    let pod = mk_pod(
        &[(keys::INJECT, "true")],
        vec![mk_container("app", Some(8080))],
    );
    let sc = |config: Config| {
        agent_of(&apply(
            &pod,
            &Injector::new(config, None).mutate(&pod, "shop"),
        ))
        .security_context
        .unwrap()
    };
    let fixed = sc(Config::default());
    assert_eq!(
        (fixed.run_as_user, fixed.run_as_group),
        (Some(65532), Some(65532))
    );
    let mut openshift = Config::default();
    openshift.agent.run_as_user = None;
    let assigned = sc(openshift);
    assert_eq!((assigned.run_as_user, assigned.run_as_group), (None, None));
    assert_eq!(assigned.run_as_non_root, Some(true));
}

#[test]
fn a_mesh_proxy_is_kept_off_the_agent_port() {
    const ISTIO: &str = "traffic.sidecar.istio.io/excludeInboundPorts";
    const LINKERD: &str = "config.linkerd.io/skip-inbound-ports";
    let annotations_after = |pod: &Pod, config: Config| {
        apply(pod, &Injector::new(config, None).mutate(pod, "shop"))
            .metadata
            .annotations
            .unwrap()
    };
    let istio = mk_pod(
        &[
            (keys::INJECT, "true"),
            ("sidecar.istio.io/inject", "true"),
            (ISTIO, "15020"),
        ],
        vec![mk_container("app", Some(8080))],
    );
    let got = annotations_after(&istio, Config::default());
    assert_eq!(got.get(ISTIO).map(String::as_str), Some("15020,9464"));
    assert!(!got.contains_key(LINKERD));

    let linkerd = mk_pod(
        &[(keys::INJECT, "true")],
        vec![
            mk_container("app", Some(8080)),
            mk_container("linkerd-proxy", Some(4143)),
        ],
    );
    let got = annotations_after(&linkerd, Config::default());
    assert_eq!(got.get(LINKERD).map(String::as_str), Some("9464"));

    let plain = mk_pod(
        &[(keys::INJECT, "true")],
        vec![mk_container("app", Some(8080))],
    );
    let got = annotations_after(&plain, Config::default());
    assert!(
        !got.contains_key(ISTIO) && !got.contains_key(LINKERD),
        "{got:?}"
    );

    let mut always = Config::default();
    always.agent.mesh_port_exclusion = crate::config::MeshPortExclusion::Always;
    let got = annotations_after(&plain, always);
    assert_eq!(got.get(ISTIO).map(String::as_str), Some("9464"));
    assert_eq!(got.get(LINKERD).map(String::as_str), Some("9464"));

    let mut never = Config::default();
    never.agent.mesh_port_exclusion = crate::config::MeshPortExclusion::Never;
    assert!(
        !annotations_after(&istio, never)
            .get(ISTIO)
            .unwrap()
            .contains("9464")
    );
}
