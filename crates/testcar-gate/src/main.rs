use std::process::ExitCode;

use clap::Parser;
use testcar_contract::ExitClass;
use testcar_gate::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(testcar_gate::cli::Command::Check(args)) => args.log.init(),
        None => cli.log.init(),
    }
    match testcar_gate::run(&cli).await {
        Ok(class) => class.into(),
        Err(e) => {
            // Every GateError's message already ends with its cause: print it once.
            eprintln!("testcar-gate: error: {e}");
            ExitClass::Error.into()
        }
    }
}
