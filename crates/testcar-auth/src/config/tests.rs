//! Unit tests of the auth.yaml reader, beside it: fixtures under test_data/.

use super::*;
use crate::oauth::{ClientAuthMethod, OneOrMany};
use std::time::Duration;

const FULL: &str = include_str!("../../test_data/auth-full.yaml");

fn mk_err(yaml: &str) -> String {
    parse_config(yaml, "auth.yaml").unwrap_err().to_string()
}

#[test]
fn full_example_parses() {
    let c = parse_config(FULL, "auth.yaml").unwrap();
    let names: Vec<_> = c.steps.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        ["corp-kerberos", "corp-token", "mtls", "hmac", "static"]
    );
    let Step::Oauth2(o) = &c.steps[1] else {
        panic!("expected oauth2")
    };
    assert_eq!(o.auth_method, ClientAuthMethod::None);
    assert_eq!(
        o.scope,
        Some(OneOrMany::Many(vec!["read".into(), "write".into()]))
    );
    assert_eq!(o.refresh_before(), Some(Duration::from_secs(30)));
    assert_eq!(c.consumed_steps(), ["corp-kerberos"]);
}

#[test]
fn load_from_dir_finds_auth_yaml_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load_from_dir(dir.path()).unwrap().is_none());
    std::fs::write(
        dir.path().join("auth.yaml"),
        "steps:\n  - static:\n      bearerFile: t\n",
    )
    .unwrap();
    assert_eq!(load_from_dir(dir.path()).unwrap().unwrap().steps.len(), 1);
    std::fs::write(dir.path().join("auth.yaml"), "steps:\n  - static: {}\n").unwrap();
    let err = load_from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2: steps[0].static: expected at least one",
            dir.path().join("auth.yaml").display()
        )),
        "{err}"
    );
}

#[test]
fn empty_config_has_no_steps() {
    assert!(parse_config("", "auth.yaml").unwrap().steps.is_empty());
    assert!(
        parse_config("steps: []\n", "auth.yaml")
            .unwrap()
            .steps
            .is_empty()
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let err = mk_err(
        "steps:\n  - oauth2:\n      tokenUrl: http://x/token\n      clientId: a\n      clientSecret: inline\n",
    );
    assert!(err.starts_with("auth.yaml:5:"), "{err}");
    assert!(err.contains("steps[0].oauth2"), "{err}");
    assert!(err.contains("unknown field `clientSecret`"), "{err}");
    assert!(
        err.ends_with("give its path as `clientSecretFile`"),
        "{err}"
    );
    let err = mk_err("steps:\n  - oauth2\n");
    assert!(err.starts_with("auth.yaml:2:5: steps[0]: "), "{err}");
    assert!(err.contains("a step needs its settings"), "{err}");
}

#[test]
fn unknown_step_kind_is_named() {
    let err = mk_err("steps:\n  - saml:\n      x: 1\n");
    assert!(err.starts_with("auth.yaml:2:"), "{err}");
    assert!(err.contains("unknown variant `saml`"), "{err}");
}

#[test]
fn bad_duration_is_named() {
    let err = mk_err(
        "steps:\n  - oauth2:\n      tokenUrl: http://x/token\n      clientId: a\n      clientSecretFile: s\n      refreshBefore: soon\n",
    );
    assert!(
        err.starts_with("auth.yaml:6: steps[0].oauth2.refreshBefore: "),
        "{err}"
    );
    assert!(err.contains("\"soon\" is not a duration"), "{err}");
}

#[test]
fn semantic_errors_carry_the_line_of_the_key() {
    let err = mk_err(
        "steps:\n  - static:\n      headersFile: t\n  - oauth2:\n      tokenUrl: http://x/token\n      clientId: a\n      clientSecretFile: s\n      authenticateWith: nope\n",
    );
    assert!(
        err.starts_with(
            "auth.yaml:8: steps[1].oauth2.authenticateWith: no earlier step is named `nope`"
        ),
        "{err}"
    );
    let err = mk_err(
        "steps:\n- oauth2:\n    tokenUrl: ftp://x/token\n    clientId: a\n    clientSecretFile: s\n",
    );
    assert!(
        err.starts_with("auth.yaml:3: steps[0].oauth2.tokenUrl: expected an http or https URL"),
        "{err}"
    );
}

#[test]
fn missing_secret_file_and_bad_method_combinations() {
    let err = mk_err("steps:\n  - oauth2:\n      tokenUrl: http://x/token\n      clientId: a\n");
    assert!(
        err.contains("steps[0].oauth2.clientSecretFile: expected the path"),
        "{err}"
    );
    assert!(err.starts_with("auth.yaml:2:"), "{err}");
    let err = mk_err(
        "steps:\n  - oauth2:\n      tokenUrl: http://x/token\n      clientId: a\n      authMethod: none\n",
    );
    assert!(
        err.starts_with("auth.yaml:5: steps[0].oauth2.authMethod"),
        "{err}"
    );
}

#[test]
fn two_authorization_headers_are_refused() {
    let err = mk_err(
        "steps:\n  - static:\n      bearerFile: t\n  - oauth2:\n      tokenUrl: http://x/token\n      clientId: a\n      clientSecretFile: s\n",
    );
    assert!(
        err.contains("both step `static` and step `oauth2` set the Authorization header"),
        "{err}"
    );
    assert!(err.starts_with("auth.yaml:4:"), "{err}");
}

#[test]
fn duplicate_names_and_hmac_templates() {
    let err =
        mk_err("steps:\n  - static:\n      headersFile: h\n  - static:\n      headersFile: g\n");
    assert!(
        err.contains("steps[1].static.name: step name `static` is used twice"),
        "{err}"
    );
    let err =
        mk_err("steps:\n  - hmac:\n      secretFile: k\n      canonical: \"{method}\\n{verb}\"\n");
    assert!(
        err.starts_with("auth.yaml:4: steps[0].hmac.canonical"),
        "{err}"
    );
    assert!(err.contains("{verb}"), "{err}");
}

#[test]
fn mtls_needs_cert_and_key_together() {
    let err = mk_err("steps:\n  - mtls:\n      certFile: c.pem\n");
    assert!(err.contains("steps[0].mtls.keyFile"), "{err}");
}

#[test]
fn locate_handles_nesting_and_flat_sequences() {
    let text = "# c\nsteps:\n- a:\n    x: 1\n- b:\n    y: 2\n    z:\n      w: 3\n";
    let p = |segs: &[Seg]| locate(text, segs);
    use Seg::*;
    assert_eq!(
        p(&[
            Key("steps".into()),
            Index(1),
            Key("b".into()),
            Key("z".into()),
            Key("w".into())
        ]),
        Some(8)
    );
    assert_eq!(
        p(&[
            Key("steps".into()),
            Index(0),
            Key("a".into()),
            Key("x".into())
        ]),
        Some(4)
    );
    assert_eq!(
        p(&[
            Key("steps".into()),
            Index(0),
            Key("a".into()),
            Key("nope".into())
        ]),
        Some(3)
    );
    assert_eq!(p(&[Key("other".into())]), None);
}
