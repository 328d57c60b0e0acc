//! Shared by each binary crate's `tests/cli_docs.rs` (included with `#[path]`): the flags and
//! environment variables of a clap command and its doc page stay in step. Every long flag and
//! every `env` of the command (all subcommands) is named in the page, and every `--flag` in the
//! first column of a table of the page is a flag of the command.

use std::collections::BTreeSet;

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

/// Assert that `doc` (the page `doc_name`) and the command of binary `bin` agree.
pub fn assert_in_step(cmd: &clap::Command, doc: &str, doc_name: &str, bin: &str) {
    let (mut flags, mut envs) = (BTreeSet::new(), BTreeSet::new());
    walk(cmd, &mut flags, &mut envs);
    assert!(flags.len() > 3, "{flags:?}");
    let missing: Vec<_> = flags
        .iter()
        .chain(&envs)
        .filter(|w| !named(doc, w))
        .collect();
    assert!(
        missing.is_empty(),
        "{doc_name} does not name {missing:?} (see `{bin} --help`)"
    );
    let table = table_flags(doc);
    assert!(!table.is_empty(), "{doc_name} has no flags table");
    let unknown: Vec<_> = table.difference(&flags).collect();
    assert!(
        unknown.is_empty(),
        "{doc_name} documents {unknown:?}, which {bin} does not take"
    );
}
