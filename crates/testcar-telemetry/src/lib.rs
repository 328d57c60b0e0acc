//! Logging flags shared by every Testcar binary (`--log-format`, `--log`) and the one
//! place the tracing subscriber is installed. Logs go to stderr so that stdout stays the
//! result channel, except in a container whose log is the channel ([`Stream::Stdout`]).
//!
//! A process whose last output line is a contract (the sidecar's verdict, read with
//! `kubectl logs --tail=1`, which merges stdout and stderr) prints it with [`print_last`]:
//! no log record can be written after it.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};

use clap::{Args, ValueEnum};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

/// Guards every log write; `true` once [`print_last`] has sealed the log.
static SEALED: Mutex<bool> = Mutex::new(false);

/// Where log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard error: stdout stays free for results (a terminal, a pipeline).
    Stderr,
    /// Standard output, the same stream as the results. For a container: the runtime reads
    /// stdout and stderr with separate readers and timestamps each line as it reads it, so a
    /// log line written to stderr *before* the verdict can land *after* it in `kubectl logs`.
    /// Only one stream keeps the order.
    Stdout,
}

/// The log's writer: one record per write, nothing once the log is sealed.
struct LogWriter(Stream);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let sealed = SEALED.lock().unwrap_or_else(PoisonError::into_inner);
        if !*sealed {
            match self.0 {
                Stream::Stderr => std::io::stderr().write_all(buf)?,
                // stdout is line-buffered behind a lock: flush so the record is out before
                // the lock (and the order with the result lines) is released.
                Stream::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(buf)?;
                    out.flush()?;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0 {
            Stream::Stderr => std::io::stderr().flush(),
            Stream::Stdout => std::io::stdout().flush(),
        }
    }
}

/// Run `print` (which writes the process's final stdout lines) so that no log record is
/// written during it or after it: a record being written finishes first, later ones are
/// dropped. `print` must not log (the log waits for it). With debug logging enabled (`--log debug`, or `debug` or
/// `trace` for any target) the log stays open after `print`: the operator asked to see
/// everything, at the price of the final line no longer being last.
pub fn print_last(print: impl FnOnce()) {
    let mut sealed = SEALED.lock().unwrap_or_else(PoisonError::into_inner);
    print();
    let _ = std::io::stdout().flush();
    if !debug_enabled() {
        *sealed = true;
    }
}

/// Whether any target logs at debug or trace.
fn debug_enabled() -> bool {
    let max = LevelFilter::current();
    max == LevelFilter::DEBUG || max == LevelFilter::TRACE
}

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
    /// Install the global subscriber on stderr (call once, from `main`). A bad filter falls
    /// back to `info` and says so rather than failing the process.
    pub fn init(&self) {
        self.init_on(Stream::Stderr)
    }

    /// Install the global subscriber writing to `stream` (call once, from `main`).
    pub fn init_on(&self, stream: Stream) {
        let (filter, bad) = match EnvFilter::try_new(&self.log_filter) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new("info"), Some(e.to_string())),
        };
        let json = match self.log_format {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => !is_terminal(stream),
        };
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(move || LogWriter(stream))
            .with_target(false);
        let result = if json {
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .try_init()
        } else {
            builder.with_ansi(is_terminal(stream)).try_init()
        };
        if result.is_ok() {
            if let Some(e) = bad {
                tracing::warn!(filter = %self.log_filter, error = %e, "invalid log filter, using info");
            }
        }
    }
}

fn is_terminal(stream: Stream) -> bool {
    match stream {
        Stream::Stderr => std::io::stderr().is_terminal(),
        Stream::Stdout => std::io::stdout().is_terminal(),
    }
}
