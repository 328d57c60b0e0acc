//! testcar-agent library: all the logic; `main.rs` only parses arguments and maps errors.
//! The sidecar (`sidecar`), the one-shot runner (`oneshot`), and what they share:
//! discovery, readiness, credentials, runners, results, state, metrics, endpoints.

mod access;
pub mod cli;
mod credentials;
mod discover;
mod execute;
pub mod faults;
pub mod manifest;
mod metrics;
mod oneshot;
mod readiness;
mod render;
mod results;
pub mod runners;
mod server;
mod sidecar;
mod state;
mod validate;

use cli::Command;
use testcar_contract::ExitClass;

/// Run one `testcar-agent` command to its exit class; errors are printed on stderr here,
/// so the binary only parses arguments and sets up logging.
pub fn run(command: Command) -> ExitClass {
    let report = |e: &dyn std::fmt::Display| {
        eprintln!("testcar-agent: {e}");
        ExitClass::Error
    };
    match command {
        Command::Render { result, junit } => {
            render::run(&result, junit.as_deref()).unwrap_or_else(|e| report(&e))
        }
        Command::Report {
            result,
            artillery,
            output,
        } => match results::write_report_page(&result, &artillery, &output) {
            Ok(()) => ExitClass::Passed,
            Err(e) => report(&e),
        },
        Command::CheckHistory(args) => {
            testcar_consistency::check_history(&args).unwrap_or_else(|e| report(&e))
        }
        Command::Validate { paths, artillery } => validate::run(&paths, &artillery.overlay()),
        Command::Run(args) => match runtime() {
            Ok(rt) => rt.block_on(oneshot::run(&args)),
            Err(e) => report(&format!("cannot start the runtime: {e}")),
        },
        Command::Sidecar(args) => match runtime() {
            Ok(rt) => rt.block_on(sidecar::run(&args)),
            Err(e) => report(&format!("cannot start the runtime: {e}")),
        },
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
