use std::process::ExitCode;

use clap::Parser;
use testcar_gate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    tracing::info!(namespace = %cli.namespace, "testcar-gate is not implemented yet");
    ExitCode::from(testcar_contract::ExitClass::Error)
}
