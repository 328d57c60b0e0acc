use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::*;

/// A CA and a serving certificate for `names`, signed by it; PEM.
fn mk_pki(ca_name: &str, names: &[&str], not_after_year: i32) -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem())
}

fn mk_roots(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(Result::unwrap)
        .collect()
}

const DNS: &str = "testcar-injector.testcar.svc";

#[test]
fn the_bundle_verifies_a_certificate_it_signed_for_the_service_name() {
    let (ca, crt) = mk_pki("testcar CA", &[DNS], 2100);
    assert_eq!(verify_serving(&mk_roots(&ca), crt.as_bytes(), DNS), Ok(()));
}

#[test]
fn another_ca_a_wrong_name_or_an_expired_certificate_fail_with_the_reason() {
    let (ca, crt) = mk_pki("testcar CA", &[DNS], 2100);
    let (other_ca, _) = mk_pki("another CA", &[DNS], 2100);
    let e = verify_serving(&mk_roots(&other_ca), crt.as_bytes(), DNS).unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = verify_serving(&mk_roots(&ca), crt.as_bytes(), "other.testcar.svc").unwrap_err();
    assert!(
        e.contains("not valid for name \"other.testcar.svc\""),
        "{e}"
    );
    let (ca, old) = mk_pki("testcar CA", &[DNS], 2021);
    let e = verify_serving(&mk_roots(&ca), old.as_bytes(), DNS).unwrap_err();
    assert!(e.contains("certificate expired"), "{e}");
    let e = verify_serving(&mk_roots(&ca), b"not a pem", DNS).unwrap_err();
    assert_eq!(e, "tls.crt holds no certificate");
}

fn mk_selector(v: serde_json::Value) -> LabelSelector {
    serde_json::from_value(v).unwrap()
}

fn mk_labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn namespace_selection_follows_match_labels_and_expressions() {
    // the chart's default: every namespace but the excluded ones
    let chart = mk_selector(serde_json::json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "testcar"]}
    ]}));
    let shop = mk_labels(&[("kubernetes.io/metadata.name", "shop")]);
    let system = mk_labels(&[("kubernetes.io/metadata.name", "kube-system")]);
    assert_eq!(selector_matches(&chart, &shop), Ok(()));
    assert_eq!(
        selector_matches(&chart, &system).unwrap_err(),
        "kubernetes.io/metadata.name NotIn [kube-system, testcar]"
    );
    assert!(selector_fix("kube-system", &chart).starts_with("kube-system is excluded on purpose"));
    let opt_in_expr = mk_selector(serde_json::json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]},
        {"key": "testcar.io/inject", "operator": "In", "values": ["enabled"]}
    ]}));
    assert_eq!(
        selector_matches(&opt_in_expr, &shop).unwrap_err(),
        "testcar.io/inject In [enabled]"
    );
    assert_eq!(
        selector_fix("shop", &opt_in_expr),
        "kubectl label namespace shop testcar.io/inject=enabled"
    );
    // namespace opt-in by label
    let opt_in = mk_selector(serde_json::json!({"matchLabels": {"testcar.io/inject": "enabled"}}));
    assert_eq!(
        selector_matches(&opt_in, &shop).unwrap_err(),
        "needs label testcar.io/inject=enabled"
    );
    assert_eq!(
        selector_fix("shop", &opt_in),
        "kubectl label namespace shop testcar.io/inject=enabled"
    );
    let exists = mk_selector(serde_json::json!({"matchExpressions": [
        {"key": "team", "operator": "Exists"}, {"key": "legacy", "operator": "DoesNotExist"}
    ]}));
    assert_eq!(
        selector_matches(&exists, &mk_labels(&[("team", "a")])),
        Ok(())
    );
    assert!(selector_matches(&exists, &mk_labels(&[("team", "a"), ("legacy", "1")])).is_err());
}

#[test]
fn the_report_shows_hints_under_failures_and_fails_the_exit_class() {
    let mut r = CheckReport::default();
    r.ok("kubernetes API", "reachable, v1.35.4".into());
    r.fail(
        "namespace",
        "not selected".into(),
        "kubectl label namespace shop a=b".into(),
    );
    let text = r.render_text();
    assert!(
        text.contains("[ok]   kubernetes API: reachable, v1.35.4\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "[FAIL] namespace: not selected\n       fix: kubectl label namespace shop a=b\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("1 ok, 0 warnings, 1 failed, 0 skipped\n"),
        "{text}"
    );
    assert_eq!(r.exit_class(), ExitClass::Failed);
    r.findings.pop();
    assert_eq!(r.exit_class(), ExitClass::Passed);
}

#[test]
fn the_sample_pod_opts_in_and_meets_the_restricted_level() {
    let pod = sample_pod();
    assert_eq!(
        pod.annotations().get(keys::INJECT).map(String::as_str),
        Some("true")
    );
    let spec = pod.spec.unwrap();
    assert_eq!(spec.security_context.unwrap().run_as_non_root, Some(true));
    let sc = spec.containers[0].security_context.clone().unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
}
