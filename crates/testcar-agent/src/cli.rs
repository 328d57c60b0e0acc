//! Command-line interface of `testcar-agent`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The Testcar agent: runs a service's tests from inside its pod (sidecar) or one-shot.
#[derive(Debug, Parser)]
#[command(name = "testcar-agent", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: testcar_telemetry::LogArgs,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run in a pod: discover, wait for the service, run, report, stay idle.
    Sidecar,
    /// Run test definitions once and exit 0 passed, 1 failed, 2 error.
    Run {
        /// Scripts, manifests or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Base URL of the service under test.
        #[arg(long, env = "TESTCAR_TARGET")]
        target: Option<String>,
    },
    /// Print a stored result document as the summary (and optionally JUnit XML).
    Render {
        /// A result.json (result v1).
        result: PathBuf,
        /// Also write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Check definitions without running anything.
    Validate {
        /// Scripts, manifests or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}
