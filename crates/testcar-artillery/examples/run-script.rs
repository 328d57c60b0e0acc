//! Run one Artillery script with the native engine, like `artillery run --output`:
//! writes the report, prints the suite JSON as the last stdout line, exits 0/1/2.

use std::path::PathBuf;

use clap::Parser;
use testcar_contract::ExitClass;

#[derive(Parser, Debug)]
struct Args {
    /// The script.
    script: PathBuf,
    /// Overrides config.target.
    #[arg(long, env = "TESTCAR_TARGET")]
    target: Option<String>,
    /// Environment from config.environments.
    #[arg(short = 'e', long)]
    environment: Option<String>,
    /// Where to write Artillery's report JSON.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load = testcar_artillery::LoadOptions {
        environment: args.environment.clone(),
        target: args.target.clone(),
        ..Default::default()
    };
    let suite = match testcar_artillery::load_script(&args.script, &load) {
        Ok(script) => {
            let cancel = tokio_util::sync::CancellationToken::new();
            let on_signal = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    on_signal.cancel();
                }
            });
            let outcome = testcar_artillery::run_script(
                script,
                testcar_artillery::RunOptions {
                    target: args.target,
                    environment: args.environment,
                    cancel,
                    ..Default::default()
                },
            )
            .await;
            if let Some(out) = &args.output {
                std::fs::write(out, serde_json::to_vec_pretty(&outcome.report)?)?;
            }
            outcome.suite
        }
        Err(e) => {
            eprintln!("{e}");
            testcar_artillery::invalid_script_suite(&args.script, &e)
        }
    };
    println!("{}", serde_json::to_string(&suite)?);
    std::process::exit(ExitClass::from(suite.status).code());
}
