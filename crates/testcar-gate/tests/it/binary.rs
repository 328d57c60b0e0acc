//! The real `testcar-gate` binary against the stand-in API server (recorded-shape payloads,
//! see `common/mod.rs`): exit codes, the summary on stdout, the JUnit and JSON files.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;

async fn run_gate(kubeconfig: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_testcar-gate"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "--namespace",
            "shop",
            "--interval",
            "50ms",
            "--log-format",
            "text",
        ])
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("TESTCAR_GATE_TIMEOUT")
        .env_remove("TESTCAR_GATE_NAMESPACE")
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    let t = String::from_utf8_lossy(bytes).into_owned();
    // shown with --nocapture: what a pipeline log looks like
    println!("{t}");
    t
}

fn passing_world() -> World {
    let mut w = World::orders();
    for pod in CURRENT {
        w.set_log(pod, &[log_with(RUN_PASSED, pod)]);
    }
    w
}

#[tokio::test]
async fn passed_exits_0_and_writes_junit_and_json() {
    let api = FakeApi::start(passing_world()).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    let junit = dir.path().join("reports/junit.xml");
    let json = dir.path().join("reports/gate.json");
    let out = run_gate(
        &kc,
        &[
            "--deployment",
            "orders",
            "--timeout",
            "20s",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("Verdict: PASSED (3 of 3 pod(s) passed, 3 reported, --min-pods 1)"),
        "{stdout}"
    );
    assert!(stdout.contains("POD"), "{stdout}");
    assert!(stderr.contains("pods seen 3/3, done 3"), "{stderr}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    for pod in CURRENT {
        assert!(
            xml.contains(&format!("testsuite name=\"{pod}/smoke\"")),
            "{xml}"
        );
        assert!(
            xml.contains(&format!("testsuite name=\"{pod}/api-contract\"")),
            "{xml}"
        );
    }
    assert!(xml.contains("failures=\"0\" errors=\"0\""), "{xml}");

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["schema"], "testcar.io/gate/v1");
    assert_eq!(doc["status"], "passed");
    assert_eq!(doc["podsReported"], 3);
    assert_eq!(doc["podsIgnored"], 1);
    assert_eq!(doc["workload"]["kind"], "Deployment");
    assert_eq!(doc["pods"][0]["name"], CURRENT[0]);
    assert_eq!(doc["pods"][0]["source"], "log");
    assert_eq!(doc["pods"][0]["run"]["schema"], "testcar.io/result/v1");

    // the kubeconfig's bearer token was used and never shown
    assert!(api.world().authorized > 0);
    for shown in [&stdout, &stderr, &xml, &doc.to_string()] {
        assert!(
            !shown.contains(TOKEN) && !shown.contains("SECRET"),
            "token leaked"
        );
    }
}

#[tokio::test]
async fn failed_exits_1_with_failures_in_junit() {
    let mut world = passing_world();
    world.set_log(CURRENT[0], &[log_with(RUN_FAILED, CURRENT[0])]);
    let api = FakeApi::start(world).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    let junit = dir.path().join("junit.xml");
    let out = run_gate(
        &kc,
        &[
            "--deployment",
            "orders",
            "--timeout",
            "20s",
            "--junit",
            junit.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Verdict: FAILED"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!("testsuite name=\"{}/load\"", CURRENT[0])),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"50 of 3000 responses had status 500"),
        "{xml}"
    );
}

#[tokio::test]
async fn timeout_exits_2_and_names_the_missing_pod() {
    let mut world = passing_world();
    world.set_log(CURRENT[1], &[log_without_result()]);
    let api = FakeApi::start(world).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    let json = dir.path().join("gate.json");
    let out = run_gate(
        &kc,
        &[
            "--deployment",
            "orders",
            "--timeout",
            "1s",
            "--json",
            json.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("Error: timed out after 1s; still missing: "),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{}: no result yet: none of the 12 log lines",
            CURRENT[1]
        )),
        "{stdout}"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["status"], "error");
    assert_eq!(doc["pods"][1]["status"], "pending");
    assert_eq!(doc["pods"][0]["status"], "passed");
}

#[tokio::test]
async fn no_pods_exits_2() {
    let mut world = World::orders();
    world.pods.clear();
    let api = FakeApi::start(world).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    let out = run_gate(&kc, &["--selector", "app=orders", "--timeout", "300ms"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("no pods found for pods matching app=orders"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn context_flag_selects_the_cluster() {
    let api = FakeApi::start(passing_world()).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    // "elsewhere" points at a closed port: the gate keeps trying until its timeout
    let out = run_gate(
        &kc,
        &[
            "--context",
            "elsewhere",
            "--pod",
            CURRENT[0],
            "--timeout",
            "500ms",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("cannot get pod shop/"), "{stdout}");
    assert_eq!(api.world().requests.len(), 0);

    let out = run_gate(
        &kc,
        &["--context", "fake", "--pod", CURRENT[0], "--timeout", "20s"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[tokio::test]
async fn bad_arguments_exit_2_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let out = run_gate(&kc, &["--deployment", "orders", "--timeout", "soon"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--timeout: \"soon\" is not a duration; expected"),
        "{err}"
    );
    // said once, not once more as its own cause
    assert_eq!(err.matches("is not a duration").count(), 1, "{err}");

    let out = run_gate(&kc, &["--deployment", "orders", "--min-pods", "0"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--min-pods must be at least 1"));

    // no workload flag: clap's usage error, also exit 2
    let out = run_gate(&kc, &[]).await;
    assert_eq!(out.status.code(), Some(2));

    // a kubeconfig that does not exist is named, and still yields the reports
    let json = dir.path().join("gate.json");
    let out = run_gate(
        &kc,
        &["--deployment", "orders", "--json", json.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains(&format!("kubeconfig {}", kc.display())),
        "{}",
        text(&out.stdout)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["status"], "error");
}

#[tokio::test]
async fn check_is_a_subcommand_with_its_own_flags_and_exit_2_without_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("missing-kubeconfig");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_testcar-gate"))
        .args([
            "check",
            "-n",
            "shop",
            "--testcar-namespace",
            "testcar",
            "-o",
            "json",
        ])
        .arg("--kubeconfig")
        .arg(&kc)
        .env_remove("KUBECONFIG")
        .env_remove("TESTCAR_GATE_NAMESPACE")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let first = &doc["findings"][0];
    assert_eq!(first["check"], "kubernetes API");
    assert_eq!(first["outcome"], "fail");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains(&format!("kubeconfig {}", kc.display())),
        "{doc}"
    );
    // gate flags do not mix with the subcommand
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_testcar-gate"))
        .args(["--deployment", "orders", "check"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A passed Deployment rollout records its ReplicaSet in the injector's ConfigMap, one key
/// `<namespace>.<deployment>` by a JSON merge patch, leaving the other Deployments' keys.
#[tokio::test]
async fn a_passed_rollout_marks_its_replica_set_verified() {
    let mut world = passing_world();
    world.add_configmap("testcar-system", "testcar-verified");
    world.configmaps[0]["data"] = serde_json::json!({"shop.billing": "billing-6f5d4c"});
    let api = FakeApi::start(world).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    let out = run_gate(
        &kc,
        &[
            "--deployment",
            "orders",
            "--timeout",
            "20s",
            "--verified-configmap",
            "testcar-system/testcar-verified",
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("marked replicaset orders-7c9f8d6b5 of deployment orders verified in configmap testcar-system/testcar-verified"),
        "{stderr}"
    );
    let w = api.world();
    assert_eq!(
        w.configmap_data("testcar-system", "testcar-verified")
            .unwrap(),
        serde_json::json!({"shop.billing": "billing-6f5d4c", "shop.orders": "orders-7c9f8d6b5"})
    );
    let (path, content_type, body) = &w.configmap_patches[0];
    assert_eq!(
        path,
        "/api/v1/namespaces/testcar-system/configmaps/testcar-verified"
    );
    assert_eq!(content_type, "application/merge-patch+json");
    assert_eq!(
        body,
        &serde_json::json!({"data": {"shop.orders": "orders-7c9f8d6b5"}})
    );
}

/// Without permission (403) the gate warns with the missing rule and still exits 0; a
/// ConfigMap that is not there is a note; a rollout that did not pass marks nothing; and
/// --no-mark-verified never asks.
#[tokio::test]
async fn marking_never_changes_the_verdict() {
    let mut world = passing_world();
    world.add_configmap("testcar-system", "testcar-verified");
    world.forbid_configmap_patch = true;
    let api = FakeApi::start(world).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    let args = ["--deployment", "orders", "--timeout", "20s"];
    let out = run_gate(&kc, &args).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: cannot mark replicaset orders-7c9f8d6b5 verified in configmap testcar-system/testcar-verified: HTTP 403 Forbidden")
            && stderr.contains("needs RBAC: patch configmaps/testcar-verified in namespace testcar-system")
            && stderr.contains("the verdict is unchanged"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));

    // Not there (an older chart): a note, exit 0.
    api.world().configmaps.clear();
    api.world().forbid_configmap_patch = false;
    let out = run_gate(&kc, &args).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("note: configmap testcar-system/testcar-verified not found, so scale-out pods of replicaset orders-7c9f8d6b5 are tested in full"),
        "{stderr}"
    );

    // --no-mark-verified: no patch at all.
    let before = api.world().configmap_patches.len();
    let mut no_mark = args.to_vec();
    no_mark.push("--no-mark-verified");
    let out = run_gate(&kc, &no_mark).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(api.world().configmap_patches.len(), before);

    // A failed rollout: no patch.
    api.world()
        .add_configmap("testcar-system", "testcar-verified");
    api.world()
        .set_log(CURRENT[0], &[log_with(RUN_FAILED, CURRENT[0])]);
    let out = run_gate(&kc, &args).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(api.world().configmap_patches.len(), before);
    assert_eq!(
        api.world()
            .configmap_data("testcar-system", "testcar-verified")
            .unwrap(),
        Value::Null
    );
}
