use std::process::ExitCode;

use clap::Parser;
use testcar_agent::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The sidecar's container log is its result channel: logs and verdict on one stream, so
    // that the runtime keeps their order and the verdict stays the last line.
    match cli.command {
        Command::Sidecar(_) => cli.log.init_on(testcar_telemetry::Stream::Stdout),
        _ => cli.log.init(),
    }
    ExitCode::from(testcar_agent::run(cli.command))
}
