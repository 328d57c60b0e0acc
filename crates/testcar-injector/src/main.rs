use std::process::ExitCode;

use clap::Parser;
use testcar_contract::ExitClass;
use testcar_injector::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    if cli.check_config {
        return match testcar_injector::check_config(&cli) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::from(ExitClass::Passed)
            }
            Err(e) => {
                eprintln!("testcar-injector: {e}");
                ExitCode::from(ExitClass::Error)
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("testcar-injector: cannot start the async runtime: {e}");
            return ExitCode::from(ExitClass::Error);
        }
    };
    match runtime.block_on(testcar_injector::run(cli)) {
        Ok(()) => ExitCode::from(ExitClass::Passed),
        Err(e) => {
            tracing::error!(error = %e, "testcar-injector cannot run");
            eprintln!("testcar-injector: {e}");
            ExitCode::from(ExitClass::Error)
        }
    }
}
