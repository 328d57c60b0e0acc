//! The recorded gate outputs the pipeline wrappers are tested with
//! (`integrations/testdata/<scenario>/`, played back by `integrations/testdata/fake-testcar-gate`)
//! are the real binary's: this test runs `testcar-gate` against the stand-in API server
//! (`common/mod.rs`; passed, failed, a pod's run in error, timeout) or with an unreadable kubeconfig, makes times and
//! temporary paths stable, and compares. `TESTCAR_UPDATE_FIXTURES=1` rewrites them.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../integrations/testdata")
}

/// Compare `actual` with the fixture file, or write it under TESTCAR_UPDATE_FIXTURES=1.
fn check(scenario: &str, file: &str, actual: &str) {
    let path = root().join(scenario).join(file);
    if std::env::var("TESTCAR_UPDATE_FIXTURES").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (TESTCAR_UPDATE_FIXTURES=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "{} is not what the gate writes now; TESTCAR_UPDATE_FIXTURES=1 rewrites it",
        path.display()
    );
}

/// Run the binary with the three report flags into a temporary folder and record the scenario.
fn record(scenario: &str, kubeconfig: &Path, args: &[&str], expect: i32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_testcar-gate"))
        .args(["--namespace", "shop", "--interval", "50ms"])
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .arg("--json")
        .arg(dir.path().join("gate.json"))
        .arg("--summary-markdown")
        .arg(dir.path().join("summary.md"))
        .env_remove("KUBECONFIG")
        .env_remove("TESTCAR_GATE_TIMEOUT")
        .env_remove("TESTCAR_GATE_NAMESPACE")
        .env("TESTCAR_LOG", "off")
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert_eq!(
        code,
        expect,
        "{scenario}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tmps: Vec<String> = [dir.path(), kubeconfig.parent().unwrap()]
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let clean = |text: &str| {
        let mut t = normalize(text);
        for tmp in &tmps {
            t = t.replace(tmp.as_str(), "TMP");
        }
        t
    };
    let read = |f: &str| clean(&std::fs::read_to_string(dir.path().join(f)).unwrap());
    let md = read("summary.md");
    check(scenario, "exit-code", &format!("{code}\n"));
    check(
        scenario,
        "stdout.txt",
        &clean(&String::from_utf8_lossy(&out.stdout)),
    );
    check(scenario, "junit.xml", &read("junit.xml"));
    check(scenario, "gate.json", &read("gate.json"));
    check(scenario, "summary.md", &md);
    md
}

fn passing_world() -> World {
    let mut w = World::orders();
    for pod in CURRENT {
        w.set_log(pod, &[log_with(RUN_PASSED, pod)]);
    }
    w
}

#[tokio::test(flavor = "multi_thread")]
async fn passed_failed_error_and_timeout_fixtures_are_the_binarys_outputs() {
    let deployment = ["--deployment", "orders", "--timeout", "20s"];

    let api = FakeApi::start(passing_world()).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = api.kubeconfig(dir.path());
    let md = tokio::task::block_in_place(|| record("passed", &kc, &deployment, 0));
    assert!(md.starts_with("## Testcar gate: ✅ PASSED"), "{md}");

    let mut world = passing_world();
    world.set_log(CURRENT[1], &[log_with(RUN_FAILED, CURRENT[1])]);
    let api = FakeApi::start(world).await;
    let kc = api.kubeconfig(dir.path());
    let md = tokio::task::block_in_place(|| record("failed", &kc, &deployment, 1));
    assert!(md.contains("### Not passed"), "{md}");
    assert!(md.contains("### HTML reports"), "{md}");

    let mut world = passing_world();
    world.set_log(CURRENT[0], &[log_with(RUN_ERROR, CURRENT[0])]);
    let api = FakeApi::start(world).await;
    let kc = api.kubeconfig(dir.path());
    let md = tokio::task::block_in_place(|| record("error", &kc, &deployment, 2));
    assert!(
        md.contains("**Error:** pod orders-7c9f8d6b5-2xkqz could not test"),
        "{md}"
    );

    let mut world = passing_world();
    world.set_log(CURRENT[2], &[log_without_result()]);
    let api = FakeApi::start(world).await;
    let kc = api.kubeconfig(dir.path());
    let timeout = ["--deployment", "orders", "--timeout", "5s"];
    let md = tokio::task::block_in_place(|| record("timeout", &kc, &timeout, 2));
    assert!(md.contains("**Error:** timed out after 5s"), "{md}");
}

/// Timestamps and durations of a real run, made stable.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    // 2026-12-04T20:56:08.123456789Z (any precision) -> 2000-01-01T00:00:00Z
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 20)].iter().collect();
        let looks = rest.len() >= 19
            && rest.as_bytes()[4] == b'-'
            && rest.as_bytes()[7] == b'-'
            && rest.as_bytes()[10] == b'T'
            && rest.as_bytes()[13] == b':'
            && rest[..4].bytes().all(|b| b.is_ascii_digit());
        if looks {
            out.push_str("2000-01-01T00:00:00Z");
            i += 19;
            while i < bytes.len() && (bytes[i] == '.' || bytes[i].is_ascii_digit()) {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == 'Z' || bytes[i] == '+') {
                i += if bytes[i] == 'Z' { 1 } else { 6 };
            }
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    let mut lines: Vec<String> = Vec::new();
    for line in out.lines() {
        let l = if let Some(at) = line.find(" time=\"") {
            // JUnit: every time="S.mmm" attribute on the line
            let mut l = line[..at].to_string();
            let mut rest = &line[at..];
            while let Some(p) = rest.find(" time=\"") {
                l.push_str(&rest[..p]);
                l.push_str(" time=\"0.000\"");
                let after = &rest[p + 7..];
                rest = &after[after.find('"').map_or(0, |q| q + 1)..];
            }
            l.push_str(rest);
            l
        } else if line.contains(" reported, minimum ") {
            // Markdown: the run's duration ends the line
            match line.rsplit_once(", ") {
                Some((head, _)) => format!("{head}, 0.0s."),
                None => line.to_string(),
            }
        } else if line.trim_start().starts_with("\"durationMs\"") {
            let indent = &line[..line.len() - line.trim_start().len()];
            let comma = if line.ends_with(',') { "," } else { "" };
            format!("{indent}\"durationMs\": 0{comma}")
        } else {
            line.to_string()
        };
        lines.push(l);
    }
    let mut s = lines.join("\n");
    if out.ends_with('\n') {
        s.push('\n');
    }
    s
}

#[test]
fn bad_kubeconfig_fixture_is_what_the_binary_writes() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "this: [is not a kubeconfig\n").unwrap();
    let md = record(
        "bad-kubeconfig",
        &kubeconfig,
        &["--deployment", "orders", "--timeout", "30s"],
        2,
    );
    assert!(md.starts_with("## Testcar gate: ⚠️ ERROR"), "{md}");
    assert!(md.contains("failed to parse kubeconfig YAML"), "{md}");
}

/// The fake gate refuses flags the real one does not have: its list is the CLI's.
#[test]
fn gate_flags_list_is_the_clis() {
    use clap::CommandFactory;
    let cmd = testcar_gate::cli::Cli::command();
    let mut flags: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help" && *l != "version")
        .map(|l| format!("--{l}\n"))
        .collect();
    flags.sort();
    check(".", "gate-flags.txt", &flags.concat());
}

/// docs/pipelines.md shows the failed scenario's summary as the gate writes it.
#[test]
fn pipelines_doc_shows_the_real_summary() {
    let doc = include_str!("../../../../docs/pipelines.md");
    let summary = std::fs::read_to_string(root().join("failed/summary.md")).unwrap();
    assert!(
        doc.contains(&format!("````markdown\n{summary}````")),
        "docs/pipelines.md's example summary differs from integrations/testdata/failed/summary.md"
    );
}
