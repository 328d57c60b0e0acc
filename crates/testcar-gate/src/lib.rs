//! testcar-gate: waits for the verdicts of a rollout's Testcar sidecars and passes or fails
//! it. All the logic lives here; `main.rs` only parses arguments and maps the exit class.

mod api_error;
mod check;
pub mod cli;
pub mod client;
mod gate;
mod hint;
mod markdown;
pub mod merge;
pub mod report;
mod rollback;
pub mod verdict;
mod verified;
mod workload;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use testcar_contract::ExitClass;
use testcar_contract::duration::{DurationError, parse_duration};

pub use gate::{GateOptions, run_gate};
pub use report::GateReport;
pub use workload::Workload;

/// Why the gate could not run or write its reports.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A duration flag could not be read.
    #[error("--{flag}: {source}")]
    Duration {
        /// The flag.
        flag: &'static str,
        /// What was wrong.
        #[source]
        source: DurationError,
    },
    /// `--min-pods 0` would pass a rollout nobody tested.
    #[error("--min-pods must be at least 1")]
    MinPods,
    /// A report file could not be written.
    #[error("cannot write {what} to {}: {source}", path.display())]
    Write {
        /// `JUnit XML`, `JSON` or `Markdown summary`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

impl GateOptions {
    /// Options from the command line.
    pub fn from_cli(cli: &cli::Cli) -> Result<GateOptions, GateError> {
        let workload = match (&cli.deployment, &cli.statefulset, &cli.selector, &cli.pod) {
            (Some(d), _, _, _) => Workload::Deployment(d.clone()),
            (_, Some(s), _, _) => Workload::StatefulSet(s.clone()),
            (_, _, Some(l), _) => Workload::Selector(l.clone()),
            (_, _, _, Some(p)) => Workload::Pod(p.clone()),
            // clap's required ArgGroup guarantees one of them
            _ => unreachable!("clap requires one workload flag"),
        };
        if cli.min_pods == 0 {
            return Err(GateError::MinPods);
        }
        Ok(GateOptions {
            namespace: cli.namespace.clone().unwrap_or_default(),
            workload,
            timeout: parse_duration(&cli.timeout).map_err(|source| GateError::Duration {
                flag: "timeout",
                source,
            })?,
            min_pods: cli.min_pods,
            interval: parse_duration(&cli.interval)
                .map_err(|source| GateError::Duration {
                    flag: "interval",
                    source,
                })?
                .max(std::time::Duration::from_millis(50)),
            fail_fast: cli.fail_fast,
        })
    }
}

fn write_file(what: &'static str, path: &Path, text: &str) -> Result<(), GateError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| GateError::Write {
            what,
            path: path.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| GateError::Write {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Write `--junit` / `--json` / `--summary-markdown` and print the summary on stdout.
pub fn emit(cli: &cli::Cli, report: &GateReport) -> Result<(), GateError> {
    if let Some(path) = &cli.junit {
        write_file("JUnit XML", path, &report.to_junit())?;
    }
    if let Some(path) = &cli.json {
        write_file("JSON", path, &report.to_json())?;
    }
    if let Some(path) = &cli.summary_markdown {
        write_file("Markdown summary", path, &report.render_markdown())?;
    }
    let stdout = std::io::stdout();
    let color = stdout.is_terminal();
    let mut out = stdout.lock();
    let _ = out.write_all(report.render_summary(color, !cli.quiet).as_bytes());
    let _ = out.flush();
    Ok(())
}

/// The whole command: connect, wait, judge, write the reports. The exit class is the
/// verdict's; setting up or writing failures are errors.
pub async fn run(cli: &cli::Cli) -> Result<ExitClass, GateError> {
    if let Some(cli::Command::Check(args)) = &cli.command {
        return Ok(check::run(args).await);
    }
    let opts = GateOptions::from_cli(cli)?;
    let client =
        match client::connect(cli.kube.kubeconfig.as_deref(), cli.kube.context.as_deref()).await {
            Ok(client) => client,
            Err(e) => {
                let report = gate::error_report(&opts, e.to_string());
                emit(cli, &report)?;
                return Ok(report.exit_class());
            }
        };
    let report = run_gate(&client, &opts, &mut std::io::stderr()).await;
    emit(cli, &report)?;
    let mut class = report.exit_class();
    if let (Workload::Deployment(name), false) = (&opts.workload, class == ExitClass::Passed) {
        class = after_failure(&client, &opts.namespace, name, cli.rollback, class).await;
    }
    if let (Workload::Deployment(name), Some(rs), true, Some(target)) = (
        &opts.workload,
        &report.workload.replica_set,
        class == ExitClass::Passed,
        cli.verified.target(),
    ) {
        mark_verified(&client, target, &opts.namespace, name, rs).await;
    }
    Ok(class)
}

/// A Deployment that passed: record its ReplicaSet as verified for the injector. Whatever
/// happens, the verdict stands; a failure is a warning that says what is missing.
async fn mark_verified(
    client: &kube::Client,
    target: &verified::VerifiedConfigMap,
    ns: &str,
    name: &str,
    rs: &str,
) {
    match verified::mark(client, target, ns, name, rs).await {
        Ok(()) => eprintln!(
            "testcar-gate: marked replicaset {rs} of deployment {name} verified in configmap {target}: new pods the autoscaler adds to it run what testcar.io/on-scale-out says"
        ),
        Err(e @ verified::MarkError::NotFound { .. }) => eprintln!("testcar-gate: note: {e}"),
        Err(e) => eprintln!("testcar-gate: warning: {e}; the verdict is unchanged"),
    }
}

/// A Deployment that did not pass: say whether Kubernetes holds its rollout, and with
/// `--rollback` put the previous revision back. A rollback that fails makes the run an error.
async fn after_failure(
    client: &kube::Client,
    ns: &str,
    name: &str,
    rollback: bool,
    class: ExitClass,
) -> ExitClass {
    match rollback::check_stalled(client, ns, name).await {
        Ok(Some(message)) => eprintln!("testcar-gate: deployment {name}: {message}"),
        Ok(None) => {}
        Err(e) => eprintln!("testcar-gate: {e}"),
    }
    if !rollback {
        return class;
    }
    match rollback::rollback(client, ns, name).await {
        Ok(done) => {
            eprintln!(
                "testcar-gate: rolled deployment {name} back from revision {} to revision {}",
                done.from, done.to
            );
            // `kubectl rollout status` would fail at once on the stale deadline condition
            // until the failed pods are gone; say what to wait for instead.
            eprintln!(
                "testcar-gate: to wait until revision {} serves alone again: kubectl -n {ns} wait deploy/{name} --timeout=5m --for=jsonpath='{{.status.conditions[?(@.type==\"Progressing\")].reason}}'=NewReplicaSetAvailable",
                done.to
            );
            class
        }
        Err(e) => {
            eprintln!("testcar-gate: --rollback failed: {e}");
            ExitClass::Error
        }
    }
}
