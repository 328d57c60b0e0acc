//! The flags and environment variables of `testcar-injector` and docs/injector.md stay in step
//! (tests/support/cli_docs.rs says how).
//! Also: the `reason` label values of the admissions counter are all documented.

use std::collections::BTreeSet;

use clap::CommandFactory;

#[path = "../../../../tests/support/cli_docs.rs"]
mod shared;

const DOC: &str = include_str!("../../../../docs/injector.md");

#[test]
fn every_flag_and_env_of_the_cli_is_in_the_doc_and_every_documented_flag_exists() {
    let cmd = testcar_injector::cli::Cli::command();
    shared::assert_in_step(&cmd, DOC, "docs/injector.md", "testcar-injector");
}

/// Every `reason` label value (`Reason::as_str` in src/admission.rs for the request-level
/// reasons, `Skip::as_str` in src/mutate/eligibility.rs for the pod-level ones) is listed in
/// docs/metrics.md, which states how many there are, and in docs/injector.md's decision table.
#[test]
fn every_reason_label_is_documented_with_the_right_count() {
    let admission = include_str!("../../src/admission.rs");
    let eligibility = include_str!("../../src/mutate/eligibility.rs");
    let metrics = include_str!("../../../../docs/metrics.md");
    let reasons: BTreeSet<&str> = admission
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Reason::"))
        .chain(
            eligibility
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Skip::")),
        )
        .filter_map(|l| l.split_once(" => \""))
        .filter_map(|(_, rest)| rest.split_once('"').map(|(slug, _)| slug))
        .collect();
    assert!(reasons.len() >= 10, "{reasons:?}");
    let row = metrics
        .lines()
        .find(|l| l.starts_with("| `reason` |"))
        .expect("docs/metrics.md has a `reason` row in its label table");
    for slug in &reasons {
        let quoted = format!("`{slug}`");
        assert!(
            row.contains(&quoted),
            "docs/metrics.md's reason row lacks {quoted}"
        );
        assert!(DOC.contains(&quoted), "docs/injector.md lacks {quoted}");
    }
    assert!(
        row.trim_end().ends_with(&format!("| {} |", reasons.len())),
        "docs/metrics.md's reason row does not say {}: {row}",
        reasons.len()
    );
}
