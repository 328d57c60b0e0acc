//! Logging flags shared by every Testcar binary (`--log-format`, `--log`) and the one
//! place the tracing subscriber is installed. Logs always go to stderr so that stdout
//! stays the result channel.

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// How log records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON when stderr is not a terminal (in a pod), text on a terminal.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Logging flags, flattened into each binary's arguments.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(long, env = "TESTCAR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,
    /// Log filter, in tracing's EnvFilter syntax (e.g. `info`, `testcar_agent=debug`).
    #[arg(
        long = "log",
        env = "TESTCAR_LOG",
        default_value = "info",
        global = true
    )]
    pub log_filter: String,
}

impl LogArgs {
    /// Install the global subscriber (call once, from `main`). A bad filter falls back to
    /// `info` and says so rather than failing the process.
    pub fn init(&self) {
        let (filter, bad) = match EnvFilter::try_new(&self.log_filter) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new("info"), Some(e.to_string())),
        };
        let json = match self.log_format {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => !std::io::stderr().is_terminal(),
        };
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false);
        let result = if json {
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .try_init()
        } else {
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init()
        };
        if result.is_ok() {
            if let Some(e) = bad {
                tracing::warn!(filter = %self.log_filter, error = %e, "invalid log filter, using info");
            }
        }
    }
}
