//! Unit tests of `warnings.rs`: pods built with `mk_*` go through `Injector::mutate`, and the
//! patch is applied as the API server would, so each rule is checked by its effect.

use crate::mutate::test_support::*;

#[test]
fn many_warnings_stay_within_the_api_servers_budget() {
    let keys: Vec<String> = (0..80)
        .map(|i| format!("testcar.io/unknown-setting-number-{i:02}"))
        .collect();
    let mut annotations: Vec<(&str, &str)> = vec![("testcar.io/inject", "true")];
    annotations.extend(keys.iter().map(|k| (k.as_str(), "x")));
    let pod = mk_pod(&annotations, vec![mk_container("app", Some(8080))]);
    let out = mk_injector().mutate(&pod, "shop");
    assert_eq!(out.decision, Decision::Injected);
    let total: usize = out.warnings.iter().map(|w| w.chars().count()).sum();
    assert!(total <= MAX_WARNINGS_TOTAL_CHARS, "{total} chars");
    let last = out.warnings.last().unwrap();
    let kept = out.warnings.len() - 1;
    assert!(kept > 5, "{:?}", out.warnings);
    assert!(
        last.contains(&format!("{} more warning(s) left out", 80 - kept)),
        "{last}"
    );
    // The first warnings are kept whole, in order.
    assert!(
        out.warnings[0].contains("unknown-setting-number-00"),
        "{:?}",
        out.warnings[0]
    );
}

#[test]
fn huge_annotation_values_are_cut_in_warnings() {
    let big = "x".repeat(10_000);
    let pod = mk_pod(
        &[("testcar.io/inject", "true"), ("testcar.io/cpu", &big)],
        vec![mk_container("app", Some(8080))],
    );
    let out = mk_injector().mutate(&pod, "shop");
    assert!(out.warnings[0].len() < 400, "{}", out.warnings[0].len());
    let _ = json!(out.warnings);
    // an unknown key's warning lists every known key: capped to what the API server keeps
    let pod = mk_pod(
        &[
            ("testcar.io/inject", "true"),
            ("testcar.io/something-else-entirely", "1"),
        ],
        vec![mk_container("app", Some(8080))],
    );
    let out = mk_injector().mutate(&pod, "shop");
    assert!(
        out.warnings[0]
            .starts_with("testcar: unknown annotation testcar.io/something-else-entirely")
    );
    assert_eq!(out.warnings[0].chars().count(), MAX_WARNING_CHARS);
    assert!(out.warnings[0].ends_with('…'));
}
