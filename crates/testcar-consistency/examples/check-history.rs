//! `check-history` outside the agent: the same arguments and exit codes as
//! `testcar-agent check-history` (0 linearizable, 1 not, 2 unknown or bad input).

use std::process::ExitCode;

use clap::Parser;
use testcar_consistency::{CheckHistoryArgs, check_history};
use testcar_contract::ExitClass;

#[derive(Parser, Debug)]
#[command(
    name = "check-history",
    about = "Check a recorded history for linearizability"
)]
struct Cli {
    #[command(flatten)]
    args: CheckHistoryArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let class = match check_history(&cli.args) {
        Ok(class) => class,
        Err(e) => {
            eprintln!("check-history: {e}");
            ExitClass::Error
        }
    };
    ExitCode::from(class)
}
