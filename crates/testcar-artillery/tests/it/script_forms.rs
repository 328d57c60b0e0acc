//! Script shapes real-world Artillery scripts come in (issue #23): JSON scripts, legacy
//! `config` keys Artillery accepts and ignores, request-level `probability`.

use std::path::Path;

use testcar_artillery::LoadOptions;
use testcar_artillery::parse_script as parse;

fn load(text: &str, file: &str) -> Result<testcar_artillery::Script, String> {
    let opts = LoadOptions {
        target: Some("http://127.0.0.1:1".into()),
        ..Default::default()
    };
    parse(text, Path::new(file), &opts).map_err(|e| e.to_string())
}

#[test]
fn json_scripts_load_and_their_errors_name_file_line_column_and_key() {
    let ok = "{\n\t\"config\": {\"phases\": [{\"duration\": 1, \"arrivalCount\": 1}]},\n\t\"scenarios\": [{\"flow\": [{\"get\": {\"url\": \"\\/x\"}}]}]\n}\n";
    load(ok, "load.json").unwrap();
    let bad = "{\n  \"config\": {\"phases\": [{\"duration\": 1, \"arrivalCount\": 1}]},\n  \"scenarios\": [{\"flow\": [{\"get\": {\"url\": \"/x\", \"bogus\": 1}}]}]\n}\n";
    let e = load(bad, "load.json").unwrap_err();
    assert!(
        e.starts_with("load.json:3:49: scenarios[0].flow[0].get.bogus: unknown key"),
        "{e}"
    );
    let e = load("{\"config\": {\"target\" \"x\"}}\n", "load.json").unwrap_err();
    assert!(e.starts_with("load.json:1:"), "{e}");
    assert!(e.contains(": (json): "), "{e}");
}

#[test]
fn legacy_config_keys_artillery_ignores_are_accepted_and_listed() {
    let text = "config:\n  statsInterval: 10\n  includeFiles: [a.csv]\n  bundling: {external: []}\n  mode: uniform\n  phases:\n    - duration: 1\n      arrivalRate: 1\n      mode: uniform\nscenarios:\n  - flow:\n      - get: {url: /}\n";
    let s = load(text, "old.yml").unwrap();
    assert_eq!(
        s.config.ignored_keys,
        [
            "old.yml:2:3: config.statsInterval",
            "old.yml:3:3: config.includeFiles",
            "old.yml:4:3: config.bundling",
        ]
    );
    assert_eq!(s.config.timeout, std::time::Duration::from_secs(10));
}

#[test]
fn legacy_config_timeout_wins_over_http_timeout_unless_zero() {
    let script = |timeout: &str| {
        format!(
            "config:\n  timeout: {timeout}\n  http: {{timeout: 3}}\nscenarios:\n  - flow:\n      - get: {{url: /}}\n"
        )
    };
    let s = load(&script("0.5"), "t.yml").unwrap();
    assert_eq!(s.config.timeout, std::time::Duration::from_millis(500));
    // `config.timeout || http.timeout`: 0 falls through.
    let s = load(&script("0"), "t.yml").unwrap();
    assert_eq!(s.config.timeout, std::time::Duration::from_secs(3));
}

#[test]
fn keys_that_would_change_the_run_stay_refused() {
    let e = load(
        "config:\n  mode: poisson\nscenarios:\n  - flow:\n      - get: {url: /}\n",
        "p.yml",
    )
    .unwrap_err();
    assert!(
        e.starts_with("p.yml:2:9: config.mode: `mode: poisson`"),
        "{e}"
    );
    let e = load(
        "config:\n  http:\n    cookieJarOptions: {looseMode: true}\nscenarios:\n  - flow:\n      - get: {url: /}\n",
        "c.yml",
    )
    .unwrap_err();
    assert!(
        e.starts_with("c.yml:3:5: config.http.cookieJarOptions: unknown key"),
        "{e}"
    );
    let e = load(
        "config:\n  statsIntervall: 10\nscenarios:\n  - flow:\n      - get: {url: /}\n",
        "typo.yml",
    )
    .unwrap_err();
    assert!(
        e.starts_with("typo.yml:2:3: config.statsIntervall: unknown key"),
        "{e}"
    );
}

#[test]
fn think_is_alone_in_its_step_and_a_duration_in_http_and_ws_flows_alike() {
    for (engine, target, at) in [
        ("", "http://127.0.0.1:1", "t.yml:7:"),
        ("    engine: ws\n", "ws://127.0.0.1:1", "t.yml:8:"),
    ] {
        let script = |step: &str| {
            format!(
                "config:\n  target: {target}\n  phases: [{{duration: 1, arrivalCount: 1}}]\nscenarios:\n  -\n{engine}    flow:\n      - {step}\n"
            )
        };
        load(&script("think: 0.5"), "t.yml").unwrap();
        load(&script("think: \"{{ pause }}\""), "t.yml").unwrap();
        let e = load(&script("{think: 1, log: hi}"), "t.yml").unwrap_err();
        assert!(
            e.starts_with(at)
                && e.contains("scenarios[0].flow[0].log: unexpected key next to think"),
            "{engine}{e}"
        );
        let e = load(&script("think: soon"), "t.yml").unwrap_err();
        assert!(
            e.starts_with(at) && e.contains("scenarios[0].flow[0].think: "),
            "{engine}{e}"
        );
    }
}
