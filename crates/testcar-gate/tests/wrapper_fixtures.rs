//! The recorded gate outputs the pipeline wrappers are tested with
//! (`integrations/testdata/<scenario>/`, played back by `integrations/testdata/fake-testcar-gate`)
//! are the gate's real outputs: this test renders each scenario with the gate's own code, or
//! runs the binary (bad kubeconfig), and compares. `TESTCAR_UPDATE_FIXTURES=1` rewrites them.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use testcar_contract::{Run, Status};
use testcar_gate::report::{GATE_SCHEMA_ID, GateReport, PodReport, PodStatus, WorkloadRef};
use testcar_gate::verdict::{HtmlReport, Source};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../integrations/testdata")
}

fn example(name: &str) -> Run {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/examples/{name}.json")),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn pod(name: &str, run: Option<Run>, status: PodStatus, message: Option<&str>) -> PodReport {
    PodReport {
        name: name.into(),
        status,
        source: run.as_ref().map(|_| Source::Log),
        restarts: 0,
        message: message.map(str::to_string),
        run,
        html_report: Some(HtmlReport {
            access: "token",
            port: 9464,
            proxy_path: format!("/api/v1/namespaces/shop/pods/{name}:9464/proxy/report"),
        }),
    }
}

fn report(pods: Vec<PodReport>, status: Status, error: Option<&str>) -> GateReport {
    GateReport {
        schema: GATE_SCHEMA_ID.into(),
        namespace: "shop".into(),
        workload: WorkloadRef {
            kind: "Deployment".into(),
            name: "orders".into(),
            revision: Some("7".into()),
            replica_set: Some("orders-7c9f8d6b5".into()),
        },
        status,
        error: error.map(str::to_string),
        min_pods: 1,
        expected_pods: Some(pods.len()),
        pods_seen: pods.len(),
        pods_reported: pods.iter().filter(|p| p.run.is_some()).count(),
        pods_ignored: 0,
        started: t("2026-11-22T10:04:05Z"),
        finished: t("2026-11-22T10:06:02Z"),
        duration_ms: 117_000,
        pods,
    }
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

fn check_report(scenario: &str, r: &GateReport, exit: u8) {
    check(scenario, "exit-code", &format!("{exit}\n"));
    check(scenario, "stdout.txt", &r.render_summary(false, true));
    check(scenario, "junit.xml", &r.to_junit());
    check(scenario, "gate.json", &r.to_json());
    check(scenario, "summary.md", &r.render_markdown());
}

#[test]
fn passed_failed_and_timeout_fixtures_are_the_gates_outputs() {
    let passed = report(
        vec![
            pod(
                "orders-7c9f8d6b5-2xkqz",
                Some(example("passed")),
                PodStatus::Passed,
                None,
            ),
            pod(
                "orders-7c9f8d6b5-8mn4p",
                Some(example("passed")),
                PodStatus::Passed,
                None,
            ),
        ],
        Status::Passed,
        None,
    );
    check_report("passed", &passed, 0);

    let failed = report(
        vec![
            pod(
                "orders-7c9f8d6b5-2xkqz",
                Some(example("passed")),
                PodStatus::Passed,
                None,
            ),
            pod(
                "orders-7c9f8d6b5-8mn4p",
                Some(example("failed")),
                PodStatus::Failed,
                None,
            ),
        ],
        Status::Failed,
        None,
    );
    check_report("failed", &failed, 1);

    let timeout = report(
        vec![
            pod(
                "orders-7c9f8d6b5-2xkqz",
                Some(example("passed")),
                PodStatus::Passed,
                None,
            ),
            pod(
                "orders-7c9f8d6b5-q7w2c",
                None,
                PodStatus::Pending,
                Some("container testcar has not started (pod phase Pending)"),
            ),
        ],
        Status::Error,
        Some(
            "timed out after 10m waiting for 1 of 2 pod(s): orders-7c9f8d6b5-q7w2c (container testcar has not started (pod phase Pending))",
        ),
    );
    check_report("timeout", &timeout, 2);
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
    let out = Command::new(env!("CARGO_BIN_EXE_testcar-gate"))
        .args([
            "--namespace",
            "shop",
            "--deployment",
            "orders",
            "--timeout",
            "30s",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .arg("--json")
        .arg(dir.path().join("gate.json"))
        .arg("--summary-markdown")
        .arg(dir.path().join("summary.md"))
        .env_remove("KUBECONFIG")
        .env("TESTCAR_LOG", "off")
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert_eq!(code, 2, "{}", String::from_utf8_lossy(&out.stderr));
    let tmp = dir.path().to_string_lossy().into_owned();
    let read = |f: &str| {
        normalize(&std::fs::read_to_string(dir.path().join(f)).unwrap()).replace(&tmp, "TMP")
    };
    let md = read("summary.md");
    assert!(md.starts_with("## Testcar gate: ⚠️ ERROR"), "{md}");
    assert!(md.contains("kubeconfig"), "{md}");
    check("bad-kubeconfig", "exit-code", &format!("{code}\n"));
    check(
        "bad-kubeconfig",
        "stdout.txt",
        &normalize(&String::from_utf8_lossy(&out.stdout)).replace(&tmp, "TMP"),
    );
    check("bad-kubeconfig", "junit.xml", &read("junit.xml"));
    check("bad-kubeconfig", "gate.json", &read("gate.json"));
    check("bad-kubeconfig", "summary.md", &md);
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
    let doc = include_str!("../../../docs/pipelines.md");
    let summary = std::fs::read_to_string(root().join("failed/summary.md")).unwrap();
    assert!(
        doc.contains(&format!("````markdown\n{summary}````")),
        "docs/pipelines.md's example summary differs from integrations/testdata/failed/summary.md"
    );
}
