//! Every AdmissionReview fixture under `test_data/` through the real review path. There is
//! no kube-apiserver here: the fixtures are recorded (kubewarden) or realistic requests. For
//! each: a valid response echoing the uid; the patch applies with the `json-patch` crate and
//! with Python's independent `jsonpatch`; the patched pod reads as a k8s-openapi `Pod` and
//! validates against the Kubernetes 1.34 OpenAPI schema (`kubernetes-validate --strict`);
//! a second pass over the patched pod gives no patch.

mod common;

use std::process::Command;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use testcar_injector::admission::review;
use testcar_injector::config::Config;
use testcar_injector::mutate::{Decision, Injector, Reason};

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
        ($file, include_str!(concat!("../test_data/", $file)))
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
            Reason::NotOptedIn,
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
            Reason::NotOptedIn,
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
            Reason::NotOptedIn,
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
            Reason::AlreadyInjected,
            &[],
        ),
        c(
            fixture!("kube-system.review.json"),
            false,
            Skipped,
            Reason::ExcludedNamespace,
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
            Reason::InvalidInject,
            &[
                "testcar.io/inject: \"yes\" is not valid; expected \"true\" or \"false\"; the pod is not injected",
            ],
        ),
        c(
            fixture!("collision.review.json"),
            false,
            Skipped,
            Reason::Collision,
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
            Reason::NotOptedIn,
            &[],
        ),
        c(
            fixture!("ephemeral-subresource.review.json"),
            false,
            Skipped,
            Reason::Subresource,
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

        let second = review(
            &inj,
            &serde_json::to_vec(&common::with_object(&request, &doc)).unwrap(),
        );
        assert_eq!(
            second.reason,
            Reason::AlreadyInjected,
            "{label}: second pass"
        );
        assert_eq!(second.patch_ops, 0, "{label}: second pass gives no patch");
        patched_all.push((label, original, patch, doc));
    }
    patched_all
}

#[test]
fn every_fixture_gives_a_valid_answer_and_a_patch_that_applies() {
    let patched = run_rust_checks();
    assert_eq!(patched.len(), 9, "injected fixtures");
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
