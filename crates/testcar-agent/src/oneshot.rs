//! `testcar-agent run`: the sidecar's runner on a laptop or in CI. Runs once, shows a live
//! progress line on a terminal, prints the summary and the result line, writes the
//! requested files and exits with the run's class.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use testcar_contract::{ExitClass, Run, junit, line, summary};

use crate::cli::RunArgs;
use crate::discover;
use crate::execute::{RunMeta, Session, Stop, run_plan};
use crate::results;
use crate::state::AgentState;

/// Run `args` once and return the exit class.
pub async fn run(args: &RunArgs) -> ExitClass {
    let meta = RunMeta::start(None, args.target.clone());
    let state = Arc::new(AgentState::new());
    let stop = Stop::new();
    spawn_signal_stop(&stop);
    let results_dir = args
        .results_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("testcar-{}", meta.run_id)));
    tracing::info!(results = %results_dir.display(), "results folder");
    let session = Session {
        target: args.target.clone(),
        readiness_url: args.readiness_url.clone(),
        ready_timeout: args.ready_timeout,
        auth_file: args.auth.clone(),
        environment: args.environment.clone(),
        overlay: args.artillery.overlay(),
        timeout: args.timeout,
        results_dir: results_dir.clone(),
    };
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| spawn_progress_line(state.clone()));
    let plan = discover::discover(&args.paths);
    let run = run_plan(&session, plan, &meta, &state, &stop).await;
    if let Some(task) = progress {
        task.abort();
        eprint!("\r\x1b[2K");
    }
    state.done(&run);
    let mut class = ExitClass::from(run.status);
    for (what, outcome) in [
        (
            "results",
            results::write(&results_dir, &run).map_err(|e| e.to_string()),
        ),
        (
            "output",
            write_optional(args.output.as_deref(), || pretty(&run)),
        ),
        (
            "junit",
            write_optional(args.junit.as_deref(), || junit::render_junit(&run)),
        ),
    ] {
        if let Err(error) = outcome {
            tracing::error!(%error, what, "cannot write");
            class = class.worst(ExitClass::Error);
        }
    }
    print_result(&run);
    class
}

fn pretty(run: &Run) -> String {
    serde_json::to_string_pretty(run).expect("a Run always serializes")
}

fn write_optional(path: Option<&Path>, render: impl FnOnce() -> String) -> Result<(), String> {
    match path {
        Some(p) => {
            std::fs::write(p, render()).map_err(|e| format!("cannot write {}: {e}", p.display()))
        }
        None => Ok(()),
    }
}

/// The human summary, then the result line as the last line of stdout.
pub fn print_result(run: &Run) {
    let mut out = std::io::stdout().lock();
    let color = std::io::stdout().is_terminal();
    let _ = write!(out, "{}", summary::render_summary(run, color));
    let _ = writeln!(out, "{}", line::render_line(run));
    let _ = out.flush();
}

/// SIGINT and SIGTERM stop the run; what was measured is kept.
pub fn spawn_signal_stop(stop: &Stop) {
    let stop = stop.clone();
    tokio::spawn(async move {
        let name = wait_for_signal().await;
        tracing::warn!(signal = name, "stopping the run");
        stop.stop(format!("interrupted by {name}"));
    });
}

/// Resolves with the name of the first SIGINT or SIGTERM.
pub async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn spawn_progress_line(state: Arc<AgentState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            if let Some(line) = state.progress_line() {
                eprint!("\r\x1b[2K{line}");
                let _ = std::io::stderr().flush();
            }
        }
    })
}
