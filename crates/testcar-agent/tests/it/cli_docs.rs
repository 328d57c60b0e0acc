//! The flags and environment variables of `testcar-agent` and docs/agent.md stay in step
//! (tests/support/cli_docs.rs says how).

use clap::CommandFactory;

#[path = "../../../../tests/support/cli_docs.rs"]
mod shared;

const DOC: &str = include_str!("../../../../docs/agent.md");

#[test]
fn every_flag_and_env_of_the_cli_is_in_the_doc_and_every_documented_flag_exists() {
    let cmd = testcar_agent::cli::Cli::command();
    shared::assert_in_step(&cmd, DOC, "docs/agent.md", "testcar-agent");
}
