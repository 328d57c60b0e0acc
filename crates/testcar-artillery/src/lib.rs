//! Native engine for Artillery 2.x scripts: loads and validates a script, runs it with
//! open-model arrivals on tokio, and reports Artillery's metrics, `--output` report and a
//! Testcar suite verdict. Scripts that need JavaScript are rejected with a pointer to `exec`.

// The engine's parts stay private: other crates load and run scripts through the functions
// and types below, so the parts can move without breaking them.
mod arrivals;
mod capture;
mod client;
/// A loopback server with the corpus' endpoints, for tests, examples and the compatibility
/// check; behind the `compat-server` feature so production builds do not carry it.
#[cfg(feature = "compat-server")]
pub mod compat_server;
mod cookies;
mod engine;
mod expect;
mod expr;
mod jsregex;
mod metrics;
mod overlay;
mod payload;
mod script;
mod template;
mod vu;
use testcar_yaml::tree as yaml;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use metrics::Hist;
pub use overlay::Overlay;
pub use script::{FALLBACK_ADVICE, Jitter, LoadOptions, Script, ScriptError};

/// How to run a script.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Overrides `config.target` (like `artillery run --target`).
    pub target: Option<String>,
    /// `-e NAME` (informational here: environments are applied by [`load_script`]).
    pub environment: Option<String>,
    /// If set, write the Artillery-shaped `report.json` there.
    pub report_dir: Option<PathBuf>,
    /// Credentials for every request.
    pub auth: Option<Arc<dyn testcar_auth::RequestAuth>>,
    /// Cancelled on SIGTERM or timeout: stop, keep what was measured.
    pub cancel: tokio_util::sync::CancellationToken,
    /// Progress, about once a second.
    pub progress: Option<tokio::sync::watch::Sender<Progress>>,
    /// `testcar.io/load: shared` across this many replicas: every phase's arrivals are
    /// divided by it (see the rollouts documentation), and the suite records the share.
    pub load_share: Option<u32>,
}

/// A snapshot of a running script.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Requests sent.
    pub requests: u64,
    /// Responses received.
    pub responses: u64,
    /// Requests that failed without a response.
    pub errors: u64,
    /// Requests per second over the last interval.
    pub rate: f64,
    /// p99 of `http.response_time` so far.
    pub p99_ms: Option<f64>,
    /// Every `http.response_time` sample so far, for exporting a real latency histogram.
    pub response_time: Option<std::sync::Arc<Hist>>,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The suite: runner artillery, checks, metrics, status, error.
    pub suite: testcar_contract::Suite,
    /// Artillery's `--output` shape `{aggregate, intermediate}`.
    pub report: serde_json::Value,
}

/// Load and validate a script (validation is loading).
pub fn load_script(path: &Path, opts: &LoadOptions) -> Result<Script, ScriptError> {
    script::load(path, opts)
}

/// Parse a script from text; `path` names it in errors and anchors relative paths
/// (payloads, `fromFile`). The overlay's config file, if any, is read from disk.
pub fn parse_script(text: &str, path: &Path, opts: &LoadOptions) -> Result<Script, ScriptError> {
    script::parse(text, path, opts)
}

/// Run a loaded script. Never panics: failures become a suite with status `error`.
pub async fn run_script(script: Script, opts: RunOptions) -> Outcome {
    engine::run(script, opts).await
}

/// A suite with status `error` for a script that did not load, named after the file.
pub fn invalid_script_suite(path: &Path, err: &ScriptError) -> testcar_contract::Suite {
    let mut suite = testcar_contract::Suite::new(
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script".into()),
        testcar_contract::RunnerKind::Artillery,
    );
    suite.source = Some(path.display().to_string());
    suite.status = testcar_contract::Status::Error;
    suite.error = Some(err.to_string());
    suite
}
