use std::process::ExitCode;

use clap::Parser;
use testcar_injector::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    tracing::info!(listen = %cli.listen, "testcar-injector is not implemented yet");
    ExitCode::from(testcar_contract::ExitClass::Error)
}
