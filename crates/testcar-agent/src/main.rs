use std::process::ExitCode;

use clap::Parser;
use testcar_agent::cli::{Cli, Command};
use testcar_contract::ExitClass;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    let class = match cli.command {
        Command::Render { result, junit } => {
            match testcar_agent::render::run(&result, junit.as_deref()) {
                Ok(class) => class,
                Err(e) => {
                    eprintln!("testcar-agent: {e}");
                    ExitClass::Error
                }
            }
        }
        other => {
            tracing::error!(command = ?other, "not implemented yet");
            ExitClass::Error
        }
    };
    ExitCode::from(class)
}
