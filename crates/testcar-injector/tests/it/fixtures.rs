//! Every AdmissionReview fixture under `test_data/` through the real review path. There is
//! no kube-apiserver here: the fixtures are recorded (kubewarden) or realistic requests. For
//! each: a valid response echoing the uid; the patch applies with the `json-patch` crate and
//! with Python's independent `jsonpatch`; the patched pod reads as a k8s-openapi `Pod` and
//! validates against the Kubernetes 1.34 OpenAPI schema (`kubernetes-validate --strict`);
//! a second pass over the patched pod gives no patch.

use crate::common;

use std::process::Command;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use testcar_injector::admission::review;
use testcar_injector::admission::{Decision, Reason};
use testcar_injector::config::Config;
use testcar_injector::mutate::{Injector, Skip};

struct Case {
    name: &'static str,
    text: &'static str,
    /// Add `testcar.io/inject: "true"` to the (recorded) object first.
    opt_in: bool,
    decision: Decision,
    reason: Reason,
    /// Substrings the warnings must contain (each matched by some warning).
    warnings: &'static [&'static str],
}

macro_rules! fixture {
    ($file:literal) => {
        ($file, include_str!(concat!("../../test_data/", $file)))
    };
}

fn cases() -> Vec<Case> {
    use Decision::*;
    let c = |(name, text): (&'static str, &'static str),
             opt_in,
             decision,
             reason,
             warnings: &'static [&'static str]| Case {
        name,
        text,
        opt_in,
        decision,
        reason,
        warnings,
    };
    vec![
        c(
            fixture!("kubewarden-replicaset-pod-generatename.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::NotOptedIn),
            &[],
        ),
        c(
            fixture!("kubewarden-replicaset-pod-generatename.review.json"),
            true,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("kubewarden-multi-container-init-dryrun.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::NotOptedIn),
            &[],
        ),
        // busybox pods: no containerPort, so no default target (warned)
        c(
            fixture!("kubewarden-multi-container-init-dryrun.review.json"),
            true,
            Injected,
            Reason::Injected,
            &["no containerPort"],
        ),
        c(
            fixture!("kubewarden-init-containers-volumes.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::NotOptedIn),
            &[],
        ),
        c(
            fixture!("kubewarden-init-containers-volumes.review.json"),
            true,
            Injected,
            Reason::Injected,
            &["no containerPort"],
        ),
        c(
            fixture!("deployment-pod.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("multi-container-native-copy.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("already-injected.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::AlreadyInjected),
            &[],
        ),
        c(
            fixture!("kube-system.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::ExcludedNamespace),
            &["namespace kube-system is excluded"],
        ),
        c(
            fixture!("dry-run-configmap.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("update.review.json"),
            false,
            Skipped,
            Reason::NotCreate,
            &[],
        ),
        c(
            fixture!("delete.review.json"),
            false,
            Skipped,
            Reason::NotCreate,
            &[],
        ),
        c(
            fixture!("deployment-kind.review.json"),
            false,
            Skipped,
            Reason::NotPod,
            &[],
        ),
        c(
            fixture!("escaping.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("bad-annotations.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[
                "annotation testcar.io/cpu: \"lots\" is not valid; expected a CPU quantity",
                "annotation testcar.io/tests: \"git:https://example.com/t.git\" is not valid; expected one of shared",
                "did you mean testcar.io/timeout?",
                "does not allow image overrides",
                "testcar.io/containers names ghost",
            ],
        ),
        c(
            fixture!("invalid-inject.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::InvalidInject),
            &[
                "testcar.io/inject: \"yes\" is not valid; expected \"true\" or \"false\"; the pod is not injected",
            ],
        ),
        c(
            fixture!("collision.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::Collision),
            &["a volume named testcar-results already exists"],
        ),
        c(
            fixture!("bare-pod.review.json"),
            false,
            Injected,
            Reason::Injected,
            &["no containerPort"],
        ),
        c(
            fixture!("not-opted-in.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::NotOptedIn),
            &[],
        ),
        c(
            fixture!("ephemeral-subresource.review.json"),
            false,
            Skipped,
            Reason::Subresource,
            &[],
        ),
        c(
            fixture!("statefulset-pod.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("job-pod.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("cronjob-pod.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[
                "annotation testcar.io/native-sidecar: \"false\" is overridden: with restartPolicy OnFailure",
            ],
        ),
        c(
            fixture!("daemonset-hostnetwork.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[
                "port 9464 (agent.port in the injector configuration) is already used by container node-agent; the agent listens on 9465 instead",
            ],
        ),
        c(
            fixture!("istio-injected.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("linkerd-native-sidecar.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("https-probe-headers.review.json"),
            false,
            Injected,
            Reason::Injected,
            &["sends headers (Host, X-Probe) that the agent's readiness check does not send"],
        ),
        c(
            fixture!("ports-omitted-grpc.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("ports-omitted-no-probes.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[
                "no containerPort or probe port on the app containers and no testcar.io/target annotation",
            ],
        ),
        c(
            fixture!("restricted-security-context.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("windows-pod.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::UnsupportedOs),
            &[
                "the pod runs on windows (spec.os.name); the agent runs on Linux only; the pod is not injected",
            ],
        ),
        c(
            fixture!("share-process-ephemeral.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("label-only-null-annotations.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::NotOptedIn),
            &[
                "the pod has the label testcar.io/inject=\"true\", but injection is chosen by the annotation",
            ],
        ),
        c(
            fixture!("label-only-null-annotations.review.json"),
            true,
            Injected,
            Reason::Injected,
            &[],
        ),
        c(
            fixture!("own-namespace.review.json"),
            false,
            Skipped,
            Reason::Skipped(Skip::ExcludedNamespace),
            &["namespace testcar-system is excluded"],
        ),
        c(
            fixture!("pod-level-resources.review.json"),
            false,
            Injected,
            Reason::Injected,
            &["annotation testcar.io/cpu is ignored: the pod sets pod-level spec.resources"],
        ),
        c(
            fixture!("large-pod.review.json"),
            false,
            Injected,
            Reason::Injected,
            &[],
        ),
    ]
}

fn mk_injector() -> Injector {
    Injector::new(Config::default(), Some("testcar-system"))
}

fn request_of(case: &Case) -> Value {
    let mut r: Value =
        serde_json::from_str(case.text).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    if case.opt_in {
        let meta = &mut r["request"]["object"]["metadata"];
        if meta.get("annotations").is_none_or(Value::is_null) {
            meta["annotations"] = json!({});
        }
        meta["annotations"]["testcar.io/inject"] = json!("true");
    }
    r
}

/// (fixture, original object, patch, patched object) for every injected case.
type Patched = (String, Value, Value, Value);

fn run_rust_checks() -> Vec<Patched> {
    let inj = mk_injector();
    let mut patched_all = Vec::new();
    for case in cases() {
        let label = format!(
            "{}{}",
            case.name,
            if case.opt_in { " (opted in)" } else { "" }
        );
        let request = request_of(&case);
        let r = review(&inj, &serde_json::to_vec(&request).unwrap());
        assert_eq!(
            (r.decision, r.reason),
            (case.decision, case.reason),
            "{label}: {:?}",
            r.warnings
        );
        let resp: Value = serde_json::from_slice(&r.body).expect("response is JSON");
        assert_eq!(resp["apiVersion"], "admission.k8s.io/v1", "{label}");
        assert_eq!(resp["kind"], "AdmissionReview", "{label}");
        assert_eq!(
            resp["response"]["uid"], request["request"]["uid"],
            "{label}: uid echoed"
        );
        assert_eq!(resp["response"]["allowed"], true, "{label}: never denied");
        for needle in case.warnings {
            assert!(
                r.warnings.iter().any(|w| w.contains(needle)),
                "{label}: no warning contains {needle:?}: {:?}",
                r.warnings
            );
        }
        if case.warnings.is_empty() {
            assert!(
                r.warnings.is_empty(),
                "{label}: unexpected warnings {:?}",
                r.warnings
            );
        }
        for w in &r.warnings {
            assert!(
                w.chars().count() <= testcar_injector::mutate::MAX_WARNING_CHARS,
                "{label}: warning longer than the API server keeps: {w}"
            );
        }
        let resp_warnings = resp["response"]["warnings"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        assert_eq!(
            resp_warnings,
            r.warnings.len(),
            "{label}: warnings in the response"
        );

        let patch = common::patch_of(&resp);
        if case.decision != Decision::Injected {
            assert!(patch.is_none(), "{label}: no patch expected");
            assert!(resp["response"].get("patchType").is_none(), "{label}");
            continue;
        }
        let patch = patch.unwrap_or_else(|| panic!("{label}: patch expected"));
        assert_eq!(resp["response"]["patchType"], "JSONPatch", "{label}");
        for op in patch.as_array().unwrap() {
            assert_eq!(op["op"], "add", "{label}: only add operations: {op}");
        }
        let original = request["request"]["object"].clone();
        let mut doc = original.clone();
        let ops: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
        json_patch::patch(&mut doc, &ops)
            .unwrap_or_else(|e| panic!("{label}: patch does not apply: {e}"));
        let pod: Pod = serde_json::from_value(doc.clone())
            .unwrap_or_else(|e| panic!("{label}: not a Pod: {e}"));
        let spec = pod.spec.as_ref().unwrap();
        let agent = spec
            .containers
            .iter()
            .chain(spec.init_containers.as_deref().unwrap_or_default())
            .find(|c| c.name == "testcar")
            .unwrap_or_else(|| panic!("{label}: no agent container"));
        assert_eq!(agent.args.as_deref(), Some(&["sidecar".to_string()][..]));
        // the patch must not touch anything that was there
        for (k, v) in original["metadata"]["annotations"]
            .as_object()
            .into_iter()
            .flatten()
        {
            assert_eq!(
                &doc["metadata"]["annotations"][k], v,
                "{label}: annotation {k} changed"
            );
        }
        assert_eq!(
            doc["metadata"]["annotations"]["testcar.io/status"], "injected",
            "{label}"
        );
        check_pod_shape(&label, &doc);
        let mut problems = restricted_violations(&doc, "testcar");
        problems.extend(restricted_volume_violations(&doc));
        assert!(
            problems.is_empty(),
            "{label}: the agent breaks Pod Security restricted: {problems:?}"
        );

        let second = review(
            &inj,
            &serde_json::to_vec(&common::with_object(&request, &doc)).unwrap(),
        );
        assert_eq!(
            second.reason,
            Reason::Skipped(Skip::AlreadyInjected),
            "{label}: second pass"
        );
        assert_eq!(second.patch_ops, 0, "{label}: second pass gives no patch");
        patched_all.push((label, original, patch, doc));
    }
    patched_all
}

/// What every injected pod must look like whatever its shape: a Job-like pod gets a native
/// sidecar, the agent's port clashes with nothing long-running, and on the host network the
/// agent declares no port (it would become a hostPort).
fn check_pod_shape(label: &str, doc: &Value) {
    let spec = &doc["spec"];
    let empty = Vec::new();
    let containers = spec["containers"].as_array().unwrap_or(&empty);
    let inits = spec["initContainers"].as_array().unwrap_or(&empty);
    let in_containers = containers.iter().any(|c| c["name"] == "testcar");
    let agent = containers
        .iter()
        .chain(inits)
        .find(|c| c["name"] == "testcar")
        .unwrap();
    let restart = spec["restartPolicy"].as_str().unwrap_or("Always");
    if restart != "Always" {
        assert!(
            !in_containers && agent["restartPolicy"] == "Always",
            "{label}: restartPolicy {restart} needs the agent as a native sidecar"
        );
    }
    let listen = agent["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TESTCAR_LISTEN")
        .and_then(|e| e["value"].as_str())
        .unwrap();
    let port: i64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    let long_running = containers
        .iter()
        .chain(inits.iter().filter(|c| c["restartPolicy"] == "Always"))
        .filter(|c| c["name"] != "testcar");
    for c in long_running {
        for p in c["ports"].as_array().into_iter().flatten() {
            let tcp = p["protocol"].as_str().unwrap_or("TCP") == "TCP";
            assert!(
                !(tcp && p["containerPort"] == port),
                "{label}: the agent's port {port} is container {}'s",
                c["name"]
            );
        }
    }
    if spec["hostNetwork"] == true {
        assert!(agent.get("ports").is_none(), "{label}: {agent}");
        assert!(listen.starts_with("127.0.0.1:"), "{label}: {listen}");
    } else {
        assert_eq!(agent["ports"][0]["containerPort"], port, "{label}");
    }
}

/// The Pod Security Standard "restricted" rules that apply to one container, judged as
/// the admission plugin does: a container field wins, else the pod-level field counts.
fn restricted_violations(pod: &Value, container: &str) -> Vec<String> {
    let spec = &pod["spec"];
    let c = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(spec["initContainers"].as_array().into_iter().flatten())
        .find(|c| c["name"] == container)
        .unwrap_or_else(|| panic!("no container {container}"));
    let sc = &c["securityContext"];
    let psc = &spec["securityContext"];
    let mut bad = Vec::new();
    if sc["privileged"] == true {
        bad.push("privileged".to_string());
    }
    if sc["allowPrivilegeEscalation"] != false {
        bad.push("allowPrivilegeEscalation is not false".to_string());
    }
    let non_root = match sc["runAsNonRoot"].as_bool() {
        Some(v) => v,
        None => psc["runAsNonRoot"] == true,
    };
    if !non_root {
        bad.push("runAsNonRoot is not true".to_string());
    }
    let uid = sc["runAsUser"].as_i64().or(psc["runAsUser"].as_i64());
    if uid == Some(0) {
        bad.push("runAsUser is 0".to_string());
    }
    let drops = sc["capabilities"]["drop"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !drops.iter().any(|d| d == "ALL") {
        bad.push("capabilities.drop lacks ALL".to_string());
    }
    for add in sc["capabilities"]["add"].as_array().into_iter().flatten() {
        if add != "NET_BIND_SERVICE" {
            bad.push(format!("capability {add} added"));
        }
    }
    let seccomp = sc["seccompProfile"]["type"]
        .as_str()
        .or(psc["seccompProfile"]["type"].as_str());
    if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
        bad.push(format!("seccompProfile is {seccomp:?}"));
    }
    for p in c["ports"].as_array().into_iter().flatten() {
        if p["hostPort"].as_i64().unwrap_or(0) != 0 {
            bad.push("hostPort set".to_string());
        }
    }
    bad
}

/// The volumes the injector added (named `testcar…`) whose type Pod Security "restricted"
/// refuses. `image` is allowed since Kubernetes 1.33 (kubernetes/kubernetes#130394).
fn restricted_volume_violations(pod: &Value) -> Vec<String> {
    const ALLOWED: &[&str] = &[
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    let mut bad = Vec::new();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or_default();
        if !name.starts_with("testcar") {
            continue;
        }
        for key in v.as_object().into_iter().flatten().map(|(k, _)| k) {
            if key != "name" && !ALLOWED.contains(&key.as_str()) {
                bad.push(format!("volume {name} is a {key} volume"));
            }
        }
    }
    bad
}

#[test]
fn every_fixture_gives_a_valid_answer_and_a_patch_that_applies() {
    let patched = run_rust_checks();
    assert_eq!(patched.len(), 23, "injected fixtures");
}

#[test]
fn the_restricted_check_can_fail() {
    let mut pod = json!({"spec": {"securityContext": {}, "containers": [{"name": "testcar", "securityContext": {
        "runAsNonRoot": true, "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]}});
    assert!(restricted_violations(&pod, "testcar").is_empty());
    let sc = &mut pod["spec"]["containers"][0]["securityContext"];
    sc["capabilities"]["add"] = json!(["NET_ADMIN"]);
    sc.as_object_mut().unwrap().remove("seccompProfile");
    sc.as_object_mut().unwrap().remove("runAsNonRoot");
    sc["allowPrivilegeEscalation"] = json!(true);
    assert_eq!(restricted_violations(&pod, "testcar").len(), 4);
    // pod-level settings count when the container leaves them out
    pod["spec"]["securityContext"] =
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}});
    assert_eq!(restricted_violations(&pod, "testcar").len(), 2);
    // only the injector's own volumes are judged, and a hostPath among them fails
    pod["spec"]["volumes"] = json!([
        {"name": "testcar-results", "emptyDir": {}},
        {"name": "testcar-tests", "image": {"reference": "registry.example/tests:1"}},
        {"name": "app-logs", "hostPath": {"path": "/var/log"}}
    ]);
    assert!(restricted_volume_violations(&pod).is_empty());
    pod["spec"]["volumes"][0] = json!({"name": "testcar-results", "hostPath": {"path": "/tmp"}});
    assert_eq!(
        restricted_volume_violations(&pod),
        ["volume testcar-results is a hostPath volume"]
    );
}

/// Apply the review's patch to its object; the patched pod and the warnings.
fn patched_fixture(name: &str) -> (Value, Vec<String>) {
    let case = cases()
        .into_iter()
        .find(|c| c.name == name && !c.opt_in)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    let request = request_of(&case);
    let r = review(&mk_injector(), &serde_json::to_vec(&request).unwrap());
    let resp: Value = serde_json::from_slice(&r.body).unwrap();
    let mut doc = request["request"]["object"].clone();
    let ops: json_patch::Patch =
        serde_json::from_value(common::patch_of(&resp).expect("a patch")).unwrap();
    json_patch::patch(&mut doc, &ops).unwrap();
    (doc, r.warnings)
}

fn agent_json(doc: &Value) -> Value {
    doc["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            doc["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .find(|c| c["name"] == "testcar")
        .cloned()
        .expect("agent container")
}

fn env_json(agent: &Value, name: &str) -> Option<String> {
    agent["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .map(str::to_string)
}

fn container_names(doc: &Value, list: &str) -> Vec<String> {
    doc["spec"][list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn mounts_tests(c: &Value) -> bool {
    c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["mountPath"] == "/etc/testcar/tests")
}

#[test]
fn statefulset_pod_keeps_identity_and_resolves_the_named_probe_port() {
    let (doc, _) = patched_fixture("statefulset-pod.review.json");
    assert_eq!(doc["metadata"]["name"], "search-1");
    assert_eq!(doc["spec"]["hostname"], "search-1");
    assert_eq!(doc["spec"]["subdomain"], "search-headless");
    assert_eq!(
        doc["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "data-search-1"
    );
    let agent = agent_json(&doc);
    assert_eq!(
        env_json(&agent, "TESTCAR_TARGET").as_deref(),
        Some("http://127.0.0.1:9200")
    );
    // named port resolved, query string kept
    assert_eq!(
        env_json(&agent, "TESTCAR_READINESS_URL").as_deref(),
        Some("http://127.0.0.1:9200/_cluster/health?local=true&wait_for_status=yellow")
    );
    // configmap tests: the app container is left alone
    assert!(!mounts_tests(&doc["spec"]["containers"][0]));
}

#[test]
fn job_and_cronjob_pods_get_a_native_sidecar_so_they_can_complete() {
    for name in ["job-pod.review.json", "cronjob-pod.review.json"] {
        let (doc, _) = patched_fixture(name);
        assert_eq!(container_names(&doc, "containers").len(), 1, "{name}");
        let inits = container_names(&doc, "initContainers");
        assert_eq!(inits, ["testcar"], "{name}");
        assert_eq!(agent_json(&doc)["restartPolicy"], "Always", "{name}");
    }
    let (doc, _) = patched_fixture("job-pod.review.json");
    assert_eq!(
        env_json(&agent_json(&doc), "TESTCAR_TARGET").as_deref(),
        Some("http://127.0.0.1:8081")
    );
    assert_eq!(
        doc["metadata"]["finalizers"][0],
        "batch.kubernetes.io/job-tracking"
    );
}

#[test]
fn daemonset_on_the_host_network_moves_off_the_taken_port_and_declares_none() {
    let (doc, _) = patched_fixture("daemonset-hostnetwork.review.json");
    let agent = agent_json(&doc);
    assert!(agent.get("ports").is_none(), "{agent}");
    assert_eq!(
        env_json(&agent, "TESTCAR_LISTEN").as_deref(),
        Some("127.0.0.1:9465")
    );
    // UDP statsd skipped: the first TCP port is the target
    assert_eq!(
        env_json(&agent, "TESTCAR_TARGET").as_deref(),
        Some("http://127.0.0.1:9100")
    );
    assert_eq!(
        env_json(&agent, "TESTCAR_READINESS_URL").as_deref(),
        Some("http://127.0.0.1:9100/healthz")
    );
}

#[test]
fn istio_pod_tests_the_app_not_the_proxy() {
    let (doc, _) = patched_fixture("istio-injected.review.json");
    let containers = doc["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers[0]["name"], "istio-proxy");
    assert!(
        !mounts_tests(&containers[0]),
        "no tests mount in istio-proxy"
    );
    assert!(mounts_tests(&containers[1]));
    let agent = agent_json(&doc);
    assert_eq!(
        env_json(&agent, "TESTCAR_TARGET").as_deref(),
        Some("http://127.0.0.1:8080")
    );
    // Istio rewrote the app's probe to pilot-agent, which answers inside the pod
    assert_eq!(
        env_json(&agent, "TESTCAR_READINESS_URL").as_deref(),
        Some("http://127.0.0.1:15020/app-health/cart/readyz")
    );
    assert_eq!(
        env_json(&agent, "TESTCAR_AUTH_DIR").as_deref(),
        Some("/etc/testcar/auth")
    );
    assert_eq!(container_names(&doc, "initContainers"), ["istio-init"]);
}

#[test]
fn linkerd_native_proxy_comes_first_and_the_probe_port_is_the_target() {
    let (doc, _) = patched_fixture("linkerd-native-sidecar.review.json");
    assert_eq!(
        container_names(&doc, "initContainers"),
        ["linkerd-init", "linkerd-proxy", "testcar"]
    );
    let agent = agent_json(&doc);
    assert_eq!(
        env_json(&agent, "TESTCAR_TARGET").as_deref(),
        Some("http://127.0.0.1:8443")
    );
    // tcpSocket readiness: no URL, the agent TCP-checks the target
    assert_eq!(env_json(&agent, "TESTCAR_READINESS_URL"), None);
}

#[test]
fn https_probe_gives_https_target_and_readiness() {
    let (doc, _) = patched_fixture("https-probe-headers.review.json");
    let agent = agent_json(&doc);
    assert_eq!(
        env_json(&agent, "TESTCAR_TARGET").as_deref(),
        Some("https://127.0.0.1:8443")
    );
    assert_eq!(
        env_json(&agent, "TESTCAR_READINESS_URL").as_deref(),
        Some("https://[::1]:8443/healthz/ready?verbose")
    );
}

#[test]
fn pods_without_ports_use_probe_ports_or_say_what_happens() {
    let (doc, _) = patched_fixture("ports-omitted-grpc.review.json");
    let agent = agent_json(&doc);
    assert_eq!(
        env_json(&agent, "TESTCAR_TARGET").as_deref(),
        Some("http://127.0.0.1:9090")
    );
    assert_eq!(env_json(&agent, "TESTCAR_READINESS_URL"), None);

    let (doc, warnings) = patched_fixture("ports-omitted-no-probes.review.json");
    let agent = agent_json(&doc);
    assert_eq!(env_json(&agent, "TESTCAR_TARGET"), None);
    assert!(
        warnings[0].contains("falls back to http://127.0.0.1:8080"),
        "{warnings:?}"
    );
}

#[test]
fn restricted_pod_stays_restricted_after_injection() {
    let (doc, _) = patched_fixture("restricted-security-context.review.json");
    for c in ["testcar", "testcar-copy-tests", "ledger"] {
        let bad = restricted_violations(&doc, c);
        assert!(bad.is_empty(), "{c}: {bad:?}");
    }
    let copy = doc["spec"]["initContainers"][0].clone();
    assert_eq!(copy["name"], "testcar-copy-tests");
    // the copy reads the app image's files as the app's user
    assert_eq!(copy["securityContext"]["runAsUser"], 10001);
    assert_eq!(doc["spec"]["automountServiceAccountToken"], false);
    assert_eq!(doc["spec"]["securityContext"]["fsGroup"], 2000);
}

#[test]
fn large_pod_is_answered_and_kept_whole() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "large-pod.review.json")
        .unwrap();
    assert!(case.text.len() > 60_000, "{}", case.text.len());
    let (doc, _) = patched_fixture("large-pod.review.json");
    assert_eq!(
        doc["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .len(),
        540
    );
    assert_eq!(
        env_json(&agent_json(&doc), "TESTCAR_TIMEOUT").as_deref(),
        Some("20m")
    );
}

#[test]
fn deployment_pod_gets_readiness_target_and_keeps_the_projected_token() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "deployment-pod.review.json")
        .unwrap();
    let request = request_of(&case);
    let r = review(&mk_injector(), &serde_json::to_vec(&request).unwrap());
    let resp: Value = serde_json::from_slice(&r.body).unwrap();
    let mut doc = request["request"]["object"].clone();
    let ops: json_patch::Patch = serde_json::from_value(common::patch_of(&resp).unwrap()).unwrap();
    json_patch::patch(&mut doc, &ops).unwrap();
    let containers = doc["spec"]["containers"].as_array().unwrap();
    let agent = containers.iter().find(|c| c["name"] == "testcar").unwrap();
    let env: Vec<(String, Value)> = agent["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e.get("value").cloned().unwrap_or(e["valueFrom"].clone()),
            )
        })
        .collect();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("TESTCAR_TARGET"), Some(json!("http://127.0.0.1:8080")));
    assert_eq!(
        get("TESTCAR_READINESS_URL"),
        Some(json!("http://127.0.0.1:8080/ready"))
    );
    assert_eq!(
        get("TESTCAR_POD_NAME"),
        Some(json!({"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}))
    );
    assert_eq!(doc["spec"]["volumes"][0]["name"], "kube-api-access-x7k2p");
    assert_eq!(
        containers[0]["volumeMounts"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["mountPath"],
        "/etc/testcar/tests"
    );
    assert_eq!(doc["metadata"]["generateName"], "orders-7d9f8b6c5d-");
    assert_eq!(doc["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
}

#[test]
fn python_jsonpatch_agrees_and_kubernetes_validate_accepts() {
    let patched = run_rust_checks();
    let dir = tempfile::tempdir().unwrap();
    let cases_file = dir.path().join("cases.json");
    std::fs::write(&cases_file, serde_json::to_vec(&patched).unwrap()).unwrap();

    if common::tool_available(
        "python3 module jsonpatch",
        Command::new("python3").args(["-c", "import jsonpatch"]),
    ) {
        // An independent RFC 6902 implementation must produce exactly the same pod.
        let script = r#"
import json, sys, jsonpatch
bad = []
for label, original, patch, expected in json.load(open(sys.argv[1])):
    try:
        got = jsonpatch.apply_patch(original, patch)
    except Exception as e:
        bad.append(f"{label}: {e}")
        continue
    if got != expected:
        bad.append(f"{label}: result differs from the json-patch crate")
print("\n".join(bad))
sys.exit(1 if bad else 0)
"#;
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&cases_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python jsonpatch: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    if common::tool_available(
        "kubernetes-validate",
        Command::new("kubernetes-validate").arg("--version"),
    ) {
        let mut files = Vec::new();
        for (i, (_, _, _, pod)) in patched.iter().enumerate() {
            let f = dir.path().join(format!("pod-{i}.json"));
            // kubernetes-validate needs metadata.name to report; the API server fills it in
            // from generateName after admission, so do the same here.
            let mut pod = pod.clone();
            if pod["metadata"].get("name").is_none_or(Value::is_null) {
                let generated = format!(
                    "{}x7f2q",
                    pod["metadata"]["generateName"].as_str().unwrap_or("pod-")
                );
                pod["metadata"]["name"] = json!(generated);
            }
            std::fs::write(&f, serde_json::to_vec_pretty(&pod).unwrap()).unwrap();
            files.push(f);
        }
        let out = Command::new("kubernetes-validate")
            .args(["--kubernetes-version", "1.34.0", "--strict", "--no-warn"])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubernetes-validate rejected a patched pod: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // and it does reject a broken pod, so the check above can fail
        let broken = dir.path().join("broken.json");
        let mut pod = patched[0].3.clone();
        pod["spec"]["containers"][0]["ports"] = json!([{"containerPort": "eighty"}]);
        std::fs::write(&broken, serde_json::to_vec(&pod).unwrap()).unwrap();
        let out = Command::new("kubernetes-validate")
            .args(["--kubernetes-version", "1.34.0", "--strict"])
            .arg(&broken)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "kubernetes-validate accepted a broken pod"
        );
    }
}

#[test]
fn pod_level_resources_leave_the_agent_inside_the_pod_budget() {
    let (doc, warnings) = patched_fixture("pod-level-resources.review.json");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let agent = agent_json(&doc);
    assert!(agent.get("resources").is_none(), "{agent}");
    let copy = &doc["spec"]["initContainers"][0];
    assert_eq!(copy["name"], "testcar-copy-tests");
    assert_eq!(copy["image"], "ghcr.io/acme/pricing:1.12.0");
    assert!(copy.get("resources").is_none(), "{copy}");
    assert_eq!(doc["spec"]["resources"]["limits"]["cpu"], "2");
}

/// Every operator option on at once (pull secrets, extras, storage limits): every fixture
/// still gets a patch that applies, names each volume, mount, variable and pull secret once
/// (the API server refuses duplicates; kubernetes-validate does not look), validates, and
/// gives no second patch.
#[test]
fn every_option_on_still_gives_valid_unique_pods() {
    let config = Config::parse(
        r#"
agent:
  imagePullSecrets: [mirror-pull, mirror-pull]
  resources:
    limits: { ephemeral-storage: 1Gi }
  volumeSizeLimits: { tests: 1Gi }
  extraEnv:
    - { name: KRB5_CONFIG, value: /etc/krb5/krb5.conf }
  envFrom:
    - configMapRef: { name: testcar-agent-env }
  extraVolumes:
    - { name: krb5, configMap: { name: krb5-conf } }
  extraVolumeMounts:
    - { name: krb5, mountPath: /etc/krb5, readOnly: true }
"#,
        "everything.yaml",
    )
    .unwrap();
    let inj = Injector::new(config, Some("testcar-system"));
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for case in cases().iter().filter(|c| c.decision == Decision::Injected) {
        let request = request_of(case);
        let r = review(&inj, &serde_json::to_vec(&request).unwrap());
        assert_eq!(
            r.decision,
            Decision::Injected,
            "{}: {:?}",
            case.name,
            r.warnings
        );
        let resp: Value = serde_json::from_slice(&r.body).unwrap();
        let patch = common::patch_of(&resp).unwrap();
        let mut doc = request["request"]["object"].clone();
        let ops: json_patch::Patch = serde_json::from_value(patch).unwrap();
        json_patch::patch(&mut doc, &ops).unwrap();
        let names = |v: &Value, key: &str| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|x| x[key].as_str().unwrap_or_default().to_string())
                .collect()
        };
        let agent = agent_json(&doc);
        for (what, list) in [
            ("volume", names(&doc["spec"]["volumes"], "name")),
            (
                "pull secret",
                names(&doc["spec"]["imagePullSecrets"], "name"),
            ),
            ("agent mount", names(&agent["volumeMounts"], "mountPath")),
            ("agent variable", names(&agent["env"], "name")),
        ] {
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                list.len(),
                "{}: a {what} twice: {list:?}",
                case.name
            );
        }
        assert!(names(&doc["spec"]["imagePullSecrets"], "name").contains(&"mirror-pull".into()));
        assert_eq!(
            env_json(&agent, "KRB5_CONFIG").as_deref(),
            Some("/etc/krb5/krb5.conf")
        );
        let second = review(
            &inj,
            &serde_json::to_vec(&common::with_object(&request, &doc)).unwrap(),
        );
        assert_eq!(second.patch_ops, 0, "{}: second pass", case.name);
        if doc["metadata"].get("name").is_none_or(Value::is_null) {
            doc["metadata"]["name"] = json!("generated-x7f2q");
        }
        let f = dir.path().join(format!("pod-{}.json", files.len()));
        std::fs::write(&f, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        files.push(f);
    }
    assert!(files.len() > 5, "{} injected fixtures", files.len());
    if common::tool_available(
        "kubernetes-validate",
        Command::new("kubernetes-validate").arg("--version"),
    ) {
        let out = Command::new("kubernetes-validate")
            .args(["--kubernetes-version", "1.34.0", "--strict", "--no-warn"])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubernetes-validate rejected a patched pod: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
