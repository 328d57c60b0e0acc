//! The flags and environment variables of `testcar-injector` and docs/injector.md stay in step: every
//! long flag and every `env` of the clap command (all subcommands) is named in the page, and
//! every `--flag` in the first column of a table of the page is a flag of the command.
//! Also: the `reason` label values of the admissions counter are all documented.

use std::collections::BTreeSet;

use clap::CommandFactory;

const DOC: &str = include_str!("../../../docs/injector.md");

fn walk(cmd: &clap::Command, flags: &mut BTreeSet<String>, envs: &mut BTreeSet<String>) {
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            if long != "help" && long != "version" {
                flags.insert(format!("--{long}"));
            }
        }
        if let Some(env) = arg.get_env() {
            envs.insert(env.to_string_lossy().into_owned());
        }
    }
    for sub in cmd.get_subcommands() {
        walk(sub, flags, envs);
    }
}

/// `--flag` names in the first cell of the page's table rows.
fn table_flags(doc: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `--")) {
        let cell = line[1..].split('|').next().unwrap_or_default();
        for part in cell.split('`').skip(1).step_by(2) {
            if let Some(name) = part.strip_prefix("--") {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                out.insert(format!("--{name}"));
            }
        }
    }
    out
}

/// `word` appears in the page as a whole word (not as the prefix of a longer flag).
fn named(doc: &str, word: &str) -> bool {
    doc.match_indices(word).any(|(i, _)| {
        let next = doc[i + word.len()..].chars().next();
        !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

#[test]
fn every_flag_and_env_of_the_cli_is_in_the_doc_and_every_documented_flag_exists() {
    let cmd = testcar_injector::cli::Cli::command();
    let (mut flags, mut envs) = (BTreeSet::new(), BTreeSet::new());
    walk(&cmd, &mut flags, &mut envs);
    assert!(flags.len() > 3, "{flags:?}");
    let missing: Vec<_> = flags
        .iter()
        .chain(&envs)
        .filter(|w| !named(DOC, w))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/injector.md does not name {missing:?} (see `testcar-injector --help`)"
    );
    let table = table_flags(DOC);
    assert!(!table.is_empty(), "docs/injector.md has no flags table");
    let unknown: Vec<_> = table.difference(&flags).collect();
    assert!(
        unknown.is_empty(),
        "docs/injector.md documents {unknown:?}, which testcar-injector does not take"
    );
}

/// Every `reason` label value (`Reason::as_str` in src/mutate.rs) is listed in docs/metrics.md,
/// which states how many there are, and in docs/injector.md's decision table.
#[test]
fn every_reason_label_is_documented_with_the_right_count() {
    let src = include_str!("../src/mutate.rs");
    let metrics = include_str!("../../../docs/metrics.md");
    let reasons: BTreeSet<&str> = src
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Reason::"))
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
