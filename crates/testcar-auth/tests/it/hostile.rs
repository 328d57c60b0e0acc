//! Fuzz property: hostile `auth.yaml` files (random structure, wrong types, deep nesting,
//! huge numbers, alias bombs, invalid UTF-8, truncation) load to `Ok` or a typed error that
//! names the file, never a panic or a hang. `PROPTEST_CASES` sets the budget.

#[path = "../../../../tests/fuzz/hostile.rs"]
mod fuzz;

use proptest::prelude::*;

const SEEDS: &[&str] = &[include_str!("../../test_data/auth-full.yaml")];

const KEYS: &[&str] = &[
    "steps",
    "oauth2",
    "tokenUrl",
    "clientIdFile",
    "clientSecretFile",
    "scopes",
    "audience",
    "static",
    "headers",
    "headersFile",
    "mtls",
    "certFile",
    "keyFile",
    "caFile",
    "hmac",
    "keyId",
    "secretFile",
    "algorithm",
    "template",
    "kerberos",
    "principal",
    "keytab",
    "spn",
    "header",
    "refreshBefore",
    "expiresIn",
    "grantType",
    "username",
    "passwordFile",
    "<<",
];

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn hostile_auth_files_load_or_name_the_file(bytes in fuzz::document(SEEDS, KEYS)) {
        let (_dir, path) = fuzz::write_case("auth.yaml", &bytes);
        let loading = path.clone();
        let result = fuzz::within("load_config", move || {
            testcar_auth::load_config(&loading).map(|_| ()).map_err(|e| e.to_string())
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
        testcar_auth::parse_config(text, "/x/auth.yaml").map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("/x/auth.yaml:3:"), "{err}");
    assert!(err.contains("nests deeper than 256 levels"), "{err}");
}

#[test]
fn hostile_alias_bomb_is_refused() {
    let (_dir, path) = fuzz::write_case("auth.yaml", fuzz::alias_bomb(10, 10).as_bytes());
    let loading = path.clone();
    let err = fuzz::within("alias bomb", move || {
        testcar_auth::load_config(&loading).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
}
