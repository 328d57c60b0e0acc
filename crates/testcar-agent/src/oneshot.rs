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
use crate::manifest::SuiteKind;
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
    let plan = discover::discover(&args.paths).and_then(|p| p.select(args.tags.as_ref()));
    if let (Some(output), Ok(plan)) = (&args.output, &plan) {
        if let Err(e) = one_artillery_suite(plan, output) {
            eprintln!("testcar-agent: {e}");
            return ExitClass::Error;
        }
    }
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| spawn_progress_line(state.clone()));
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
            "result",
            write_optional(args.result.as_deref(), || pretty(&run)),
        ),
        (
            "output",
            match &args.output {
                Some(output) => copy_artillery_report(&run, &results_dir, output),
                None => Ok(()),
            },
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

/// `-o` writes one Artillery report, as `artillery run -o` does for its one script: the run
/// must have exactly one Artillery suite.
fn one_artillery_suite(plan: &discover::Plan, output: &Path) -> Result<(), String> {
    let names: Vec<&str> = plan
        .suites
        .iter()
        .filter(|s| matches!(s.kind, SuiteKind::Artillery(_)))
        .map(|s| s.name.as_str())
        .collect();
    match names.len() {
        1 => Ok(()),
        0 => Err(format!(
            "-o/--output {}: writes the Artillery report of the run's Artillery suite, but this run has none; use --result FILE for Testcar's result document",
            output.display()
        )),
        n => Err(format!(
            "-o/--output {}: writes one Artillery report, as `artillery run -o` does, but this run has {n} Artillery suites ({}); run one script, or use --results-dir DIR (each suite's report is DIR/<suite>/report.json) and --result FILE",
            output.display(),
            names.join(", ")
        )),
    }
}

/// Copy the report the Artillery suite recorded (kind `artillery-report`) to `output`.
fn copy_artillery_report(run: &Run, results_dir: &Path, output: &Path) -> Result<(), String> {
    let report = run.suites.iter().find_map(|s| {
        s.reports
            .iter()
            .find(|r| r.kind == testcar_report::ARTILLERY_REPORT)
            .map(|r| results_dir.join(&r.path))
    });
    match report {
        Some(from) => std::fs::copy(&from, output).map(|_| ()).map_err(|e| {
            format!(
                "cannot copy the Artillery report {} to {}: {e}",
                from.display(),
                output.display()
            )
        }),
        None => Err(format!(
            "cannot write {}: the Artillery suite recorded no report (see the run's error)",
            output.display()
        )),
    }
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
