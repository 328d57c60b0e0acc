//! Fuzz property: hostile `testcar.yaml` manifests (random structure, wrong types, deep
//! nesting, huge numbers, alias bombs, invalid UTF-8, truncation) load to `Ok` or a typed
//! error that names the file, never a panic or a hang. `PROPTEST_CASES` sets the budget.

#[path = "../../../../tests/fuzz/hostile.rs"]
mod fuzz;

use proptest::prelude::*;

const SEEDS: &[&str] = &[
    include_str!("../../test_data/manifest-full.yaml"),
    "suites:\n  - name: smoke\n    artillery: smoke.yml\n",
];

const KEYS: &[&str] = &[
    "suites",
    "name",
    "artillery",
    "exec",
    "consistency",
    "timeout",
    "environment",
    "env",
    "continueOnFailure",
    "auth",
    "steps",
    "oauth2",
    "tokenUrl",
    "clientIdFile",
    "junit",
    "results",
    "<<",
];

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn hostile_manifests_load_or_name_the_file(bytes in fuzz::document(SEEDS, KEYS)) {
        let (_dir, path) = fuzz::write_case("testcar.yaml", &bytes);
        let loading = path.clone();
        let result = fuzz::within("manifest::load", move || {
            testcar_agent::manifest::load(&loading).map(|_| ()).map_err(|e| e.to_string())
        });
        if let Err(message) = result {
            fuzz::check_error(&message, &path)?;
        }
    }
}

/// Regression (found by the property above): deep flow nesting took minutes in libyaml.
#[test]
fn hostile_deep_flow_nesting_is_refused_quickly() {
    let text = include_str!("../../test_data/deep-flow-nesting.yaml");
    let err = fuzz::within("deep flow nesting", move || {
        testcar_agent::manifest::parse(text, std::path::Path::new("/x/testcar.yaml")).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("/x/testcar.yaml:3:"), "{err}");
    assert!(err.contains("nests deeper than 256 levels"), "{err}");
}

#[test]
fn hostile_alias_bomb_is_refused() {
    let (_dir, path) = fuzz::write_case("testcar.yaml", fuzz::alias_bomb(10, 10).as_bytes());
    let loading = path.clone();
    let err = fuzz::within("alias bomb", move || {
        testcar_agent::manifest::load(&loading).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
}
