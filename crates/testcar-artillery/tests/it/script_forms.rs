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
