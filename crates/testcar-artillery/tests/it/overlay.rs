//! `artillery run` flags applied to scripts: a config file merged over the script (its
//! errors name the config file), overrides that replace lists, variables, `--insecure`,
//! `--solo` and `--scenario-name`, each checked by running against the local server.

use std::path::Path;

use serde_json::json;
use testcar_artillery::{LoadOptions, Overlay, RunOptions, compat_server, load_script, run_script};
use testcar_contract::Status;
use tokio_util::sync::CancellationToken;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const SCENARIOS: &str = "scenarios:\n  - name: json\n    flow:\n      - get:\n          url: /json\n  - name: text\n    flow:\n      - get:\n          url: \"/users/{{ who }}\"\n          capture:\n            - json: $.id\n              as: id\n          expect:\n            - equals:\n                - \"{{ id }}\"\n                - \"{{ expected }}\"\n";

async fn run_with(script: &Path, overlay: Overlay, target: &str) -> (Status, serde_json::Value) {
    let opts = LoadOptions {
        target: Some(target.to_string()),
        overlay,
        ..Default::default()
    };
    let script = load_script(script, &opts).unwrap_or_else(|e| panic!("{e}"));
    let out = run_script(script, RunOptions::default()).await;
    (
        out.suite.status,
        out.report["aggregate"]["counters"].clone(),
    )
}

#[tokio::test]
async fn a_config_file_is_merged_over_a_script_without_config() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "scenarios.yml", SCENARIOS);
    let config = write(
        dir.path(),
        "common.yml",
        "config:\n  target: http://unused\n  phases:\n    - duration: 1\n      arrivalCount: 4\n  variables:\n    who: 7\n    expected: 7\n  plugins:\n    expect: {}\n",
    );
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let target = format!("http://{addr}");
    let overlay = Overlay {
        config_file: Some(config.clone()),
        scenario_name: Some("text".into()),
        ..Default::default()
    };
    let (status, c) = run_with(&script, overlay, &target).await;
    assert_eq!(status, Status::Passed, "{c}");
    assert_eq!(
        c["vusers.created_by_name.text"], 4,
        "only the named scenario: {c}"
    );
    assert!(c.get("vusers.created_by_name.json").is_none(), "{c}");
    assert_eq!(c["plugins.expect.ok.equals"], 4, "{c}");

    // Variables from the command line replace the config's; a failed expectation shows it.
    let overlay = Overlay {
        config_file: Some(config.clone()),
        scenario_name: Some("text".into()),
        variables: json!({"expected": "8"}).as_object().unwrap().clone(),
        ..Default::default()
    };
    let (status, c) = run_with(&script, overlay, &target).await;
    assert_eq!(status, Status::Failed, "{c}");
    assert_eq!(c["plugins.expect.failed.equals"], 4, "{c}");

    // Overrides replace the phases list whole; --solo leaves one VU.
    let overlay = Overlay {
        config_file: Some(config.clone()),
        overrides: Some(json!({"config": {"phases": [{"duration": 1, "arrivalCount": 2}]}})),
        ..Default::default()
    };
    let (_, c) = run_with(&script, overlay, &target).await;
    assert_eq!(c["vusers.created"], 2, "{c}");
    let overlay = Overlay {
        config_file: Some(config),
        solo: true,
        ..Default::default()
    };
    let (_, c) = run_with(&script, overlay, &target).await;
    assert_eq!(c["vusers.created"], 1, "{c}");
    stop.cancel();
}

#[test]
fn errors_name_the_config_file_or_the_flag_they_come_from() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "scenarios.yml", SCENARIOS);
    let config = write(
        dir.path(),
        "common.yml",
        "config:\n  target: http://x\n  phases:\n    - duration: 1\n      arivalRate: 2\n",
    );
    let load = |overlay: Overlay| {
        load_script(
            &script,
            &LoadOptions {
                overlay,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string()
    };
    let err = load(Overlay {
        config_file: Some(config.clone()),
        ..Default::default()
    });
    assert!(
        err.starts_with(&format!(
            "{}:5:7: config.phases[0].arivalRate: unknown key",
            config.display()
        )),
        "{err}"
    );
    let ok = write(
        dir.path(),
        "ok.yml",
        "config:\n  target: http://x\n  plugins:\n    expect: {}\n",
    );
    let err = load(Overlay {
        config_file: Some(ok.clone()),
        overrides: Some(json!({"config": {"http": {"timeout": "soon"}}})),
        ..Default::default()
    });
    assert!(
        err.starts_with("--overrides:1:1: config.http.timeout:"),
        "{err}"
    );
    let err = load(Overlay {
        config_file: Some(ok.clone()),
        scenario_name: Some("nope".into()),
        ..Default::default()
    });
    assert!(
        err.ends_with("--scenario-name: no scenario named \"nope\"; the script has: json, text"),
        "{err}"
    );
    let err = load(Overlay {
        config_file: Some(dir.path().join("missing.yml")),
        ..Default::default()
    });
    assert!(
        err.contains("missing.yml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn insecure_turns_certificate_checks_off() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "s.yml",
        "config:\n  target: https://x\n  tls:\n    rejectUnauthorized: true\nscenarios:\n  - flow: []\n",
    );
    for (insecure, reject) in [(false, true), (true, false)] {
        let s = load_script(
            &script,
            &LoadOptions {
                overlay: Overlay {
                    insecure,
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.config.reject_unauthorized, reject);
    }
}

#[test]
fn a_suites_own_settings_win_over_the_runs() {
    let run = Overlay {
        config_file: Some("run.yml".into()),
        variables: json!({"a": 1, "b": 1}).as_object().unwrap().clone(),
        solo: true,
        ..Default::default()
    };
    let suite = Overlay {
        variables: json!({"b": 2}).as_object().unwrap().clone(),
        scenario_name: Some("s".into()),
        ..Default::default()
    };
    let merged = suite.or(&run);
    assert_eq!(merged.config_file.as_deref(), Some(Path::new("run.yml")));
    assert_eq!(json!(merged.variables), json!({"a": 1, "b": 2}));
    assert!(merged.solo);
    assert_eq!(merged.scenario_name.as_deref(), Some("s"));
    assert!(Overlay::default().is_empty() && !merged.is_empty());
}

#[tokio::test]
async fn a_dotenv_file_feeds_env_templates_without_overriding_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "s.yml",
        "config:\n  target: http://x\n  phases:\n    - duration: 1\n      arrivalCount: \"{{ $env.TESTCAR_TEST_VUS }}\"\n  plugins:\n    expect: {}\nscenarios:\n  - flow:\n      - get:\n          url: \"/users/{{ $env.CARGO_PKG_NAME }}\"\n          capture:\n            - json: $.path\n              as: path\n          expect:\n            - equals:\n                - \"{{ path }}\"\n                - \"/users/testcar-artillery\"\n",
    );
    // CARGO_PKG_NAME is set for the test process: the file must not override it.
    let env = write(
        dir.path(),
        "ci.env",
        "TESTCAR_TEST_VUS=3\nCARGO_PKG_NAME=from-the-file\n",
    );
    let stop = CancellationToken::new();
    let addr = compat_server::spawn(stop.clone()).await.unwrap();
    let overlay = Overlay {
        dotenv: Some(env.clone()),
        ..Default::default()
    };
    let opts = LoadOptions {
        target: Some(format!("http://{addr}")),
        overlay,
        ..Default::default()
    };
    let loaded = load_script(&script, &opts).unwrap_or_else(|e| panic!("{e}"));
    let out = run_script(loaded, RunOptions::default()).await;
    stop.cancel();
    let c = &out.report["aggregate"]["counters"];
    assert_eq!(c["vusers.created"], 3, "{c}");
    // The process's CARGO_PKG_NAME, not the file's, reached the URL.
    assert_eq!(c["plugins.expect.ok.equals"], 3, "{c}");
    assert_eq!(out.suite.status, Status::Passed);

    // Without the file the phase names an unset variable: refused, with file and line.
    let err = load_script(&script, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s.yml:5:21:") && err.contains("TESTCAR_TEST_VUS"),
        "{err}"
    );
    // A missing dotenv file is named.
    let err = load_script(
        &script,
        &LoadOptions {
            overlay: Overlay {
                dotenv: Some(dir.path().join("nope.env")),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("nope.env") && err.contains("cannot read"),
        "{err}"
    );
}
