use std::process::ExitCode;

use clap::Parser;
use testcar_agent::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    tracing::info!(command = ?cli.command, "testcar-agent is not implemented yet");
    ExitCode::from(testcar_contract::ExitClass::Error)
}
