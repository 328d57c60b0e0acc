use std::process::ExitCode;

use clap::Parser;
use testcar_agent::cli::{Cli, Command};
use testcar_contract::ExitClass;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The sidecar's container log is its result channel: logs and verdict on one stream, so
    // that the runtime keeps their order and the verdict stays the last line.
    match cli.command {
        Command::Sidecar(_) => cli.log.init_on(testcar_telemetry::Stream::Stdout),
        _ => cli.log.init(),
    }
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
        Command::Report {
            result,
            artillery,
            output,
        } => match testcar_agent::results::write_report_page(&result, &artillery, &output) {
            Ok(()) => ExitClass::Passed,
            Err(e) => {
                eprintln!("testcar-agent: {e}");
                ExitClass::Error
            }
        },
        Command::CheckHistory(args) => match testcar_consistency::check_history(&args) {
            Ok(class) => class,
            Err(e) => {
                eprintln!("testcar-agent: {e}");
                ExitClass::Error
            }
        },
        Command::Validate { paths, artillery } => {
            testcar_agent::validate::run(&paths, &artillery.overlay())
        }
        Command::Run(args) => match runtime() {
            Ok(rt) => rt.block_on(testcar_agent::oneshot::run(&args)),
            Err(e) => fail(e),
        },
        Command::Sidecar(args) => match runtime() {
            Ok(rt) => rt.block_on(testcar_agent::sidecar::run(&args)),
            Err(e) => fail(e),
        },
    };
    ExitCode::from(class)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn fail(e: anyhow::Error) -> ExitClass {
    eprintln!("testcar-agent: cannot start the runtime: {e:#}");
    ExitClass::Error
}
