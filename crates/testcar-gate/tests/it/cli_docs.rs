//! The flags and environment variables of `testcar-gate` and docs/gate.md stay in step
//! (tests/support/cli_docs.rs says how).

use clap::CommandFactory;

#[path = "../../../../tests/support/cli_docs.rs"]
mod shared;

const DOC: &str = include_str!("../../../../docs/gate.md");

#[test]
fn every_flag_and_env_of_the_cli_is_in_the_doc_and_every_documented_flag_exists() {
    let cmd = testcar_gate::cli::Cli::command();
    shared::assert_in_step(&cmd, DOC, "docs/gate.md", "testcar-gate");
}
