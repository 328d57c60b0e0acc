//! Runs a plan's suites in order under the whole-run timeout and the stop signal, feeding
//! the shared state and metrics, and assembles the result document; a run stopped midway
//! keeps the suites it ran and is `error` with the reason.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use testcar_contract::duration::format_duration;
use testcar_contract::{PodRef, Run, Status, Suite};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::credentials;
use crate::discover::Plan;
use crate::readiness::{self, Probe, ReadyError};
use crate::runners::{self, Progress, RunContext};
use crate::state::AgentState;

/// Stops a run (SIGTERM, timeout) and remembers the first reason given.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl Stop {
    /// Not stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stop, saying why (only the first reason is kept).
    pub fn stop(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.token.cancel();
    }

    /// Cancelled when stopped.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Why it was stopped.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// Stop with a timeout message once `limit` has passed.
    pub fn stop_after(&self, limit: Duration) -> tokio::task::JoinHandle<()> {
        let stop = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(limit) => {
                    stop.stop(format!("the run timed out after {}", format_duration(limit)));
                }
                _ = stop.token.cancelled() => {}
            }
        })
    }
}

/// Identity of a run, fixed when it starts.
#[derive(Debug, Clone)]
pub struct RunMeta {
    /// A UUID.
    pub run_id: String,
    /// The pod, in a sidecar.
    pub pod: Option<PodRef>,
    /// The service's base URL.
    pub target: Option<String>,
    /// Start time.
    pub started: DateTime<Utc>,
}

impl RunMeta {
    /// A new run starting now.
    pub fn start(pod: Option<PodRef>, target: Option<String>) -> Self {
        RunMeta {
            run_id: uuid::Uuid::new_v4().to_string(),
            pod,
            target: target.map(|t| readiness::redact(&t)),
            started: Utc::now(),
        }
    }

    /// The result document for `suites`; `error` makes it `error`.
    pub fn finish(&self, suites: Vec<Suite>, error: Option<String>) -> Run {
        let mut run = Run::finish(self.run_id.clone(), self.started, Utc::now(), suites, error);
        run.pod = self.pod.clone();
        run.target = self.target.clone();
        run.agent_version = Some(env!("CARGO_PKG_VERSION").to_string());
        run
    }
}

/// Run every suite of `plan` in order; returns the suites and, when the run was stopped,
/// why. After a suite that does not pass, later suites run only if it allows it
/// (`continueOnFailure`).
pub async fn execute(
    plan: &Plan,
    ctx: &RunContext,
    meta: &RunMeta,
    state: &AgentState,
    stop: &Stop,
) -> (Vec<Suite>, Option<String>) {
    state.running(&meta.run_id, meta.started, plan.suites.len());
    let mut suites = Vec::with_capacity(plan.suites.len());
    for (idx, def) in plan.suites.iter().enumerate() {
        if stop.token().is_cancelled() {
            break;
        }
        state.suite_started(&def.name);
        let (tx, mut rx) = watch::channel(Progress::default());
        let mut suite_ctx = ctx.clone();
        suite_ctx.cancel = stop.token().child_token();
        suite_ctx.progress = Some(tx);
        let suite = {
            let forward = async {
                while rx.changed().await.is_ok() {
                    let p = rx.borrow_and_update().clone();
                    state.progress(p);
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                suite = runners::run_suite(def, &suite_ctx) => suite,
                _ = forward => unreachable!("the forwarder never ends on its own"),
            }
        };
        // The runner's last word may not have been forwarded before it returned.
        if rx.has_changed().unwrap_or(false) {
            state.progress(rx.borrow_and_update().clone());
        }
        state.suite_finished(&suite);
        let passed = suite.status == Status::Passed;
        suites.push(suite);
        if !passed && !def.continue_on_failure && !stop.token().is_cancelled() {
            let rest: Vec<&str> = plan.suites[idx + 1..]
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            if !rest.is_empty() {
                tracing::warn!(suite = %def.name, skipped = ?rest, "suite did not pass; not running the suites after it (set continueOnFailure: true to run them)");
            }
            break;
        }
    }
    let error = stop.reason().map(|reason| {
        format!(
            "{reason}; the result is partial: {} of {} suites ran",
            suites.len(),
            plan.suites.len()
        )
    });
    (suites, error)
}

/// How a run reaches the service and where it writes; shared by the sidecar and `run`.
#[derive(Debug, Clone)]
pub struct Session {
    /// Base URL of the service under test.
    pub target: Option<String>,
    /// URL (or path on the target) answering 2xx when the service is ready.
    pub readiness_url: Option<String>,
    /// How long to wait for readiness.
    pub ready_timeout: Duration,
    /// The credential chain's `auth.yaml`, when one may exist.
    pub auth_file: Option<PathBuf>,
    /// Artillery environment (`-e`).
    pub environment: Option<String>,
    /// `artillery run` flags for every Artillery suite.
    pub overlay: testcar_artillery::Overlay,
    /// Whole-run limit from the command line or environment (a manifest's `timeout` also
    /// applies: whichever comes first stops the run).
    pub timeout: Option<Duration>,
    /// The results folder.
    pub results_dir: PathBuf,
}

/// Wait for the service, start the credentials, run the plan and assemble the result.
/// Anything that prevents testing becomes an `error` result saying why.
pub async fn run_plan(
    session: &Session,
    plan: Result<Plan, crate::discover::DiscoverError>,
    meta: &RunMeta,
    state: &AgentState,
    stop: &Stop,
) -> Run {
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!(error = %e, "{}", e.headline());
            return meta.finish(Vec::new(), Some(e.to_string()));
        }
    };
    // Run-wide fault proxies first: the service may only become ready through them (a
    // cluster whose peers talk through them).
    let proxies = match crate::faults::start_proxies(&plan.proxies).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "fault proxies");
            return meta.finish(Vec::new(), Some(e.to_string()));
        }
    };
    state.pending("waiting for the service");
    let probe = match Probe::choose(session.target.as_deref(), session.readiness_url.as_deref()) {
        Ok(p) => p,
        Err(e) => return meta.finish(Vec::new(), Some(e.to_string())),
    };
    if let Some(probe) = &probe {
        if let Err(e) = readiness::wait(probe, session.ready_timeout, stop.token()).await {
            let message = match (&e, stop.reason()) {
                (ReadyError::Interrupted { .. }, Some(reason)) => format!("{reason}: {e}"),
                _ => e.to_string(),
            };
            tracing::error!(error = %message, "service not ready");
            return meta.finish(Vec::new(), Some(message));
        }
    }
    state.pending("obtaining credentials");
    let source = match credentials::find_source(session.auth_file.as_deref(), plan.auth.as_ref()) {
        Ok(s) => s,
        Err(e) => return meta.finish(Vec::new(), Some(e.to_string())),
    };
    let creds = match credentials::start(source, &session.results_dir.join(".auth")).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "credentials");
            return meta.finish(Vec::new(), Some(e.to_string()));
        }
    };
    let limit = match (session.timeout, plan.timeout) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let timer = limit.map(|l| stop.stop_after(l));
    let ctx = RunContext {
        target: session.target.clone(),
        results_dir: session.results_dir.clone(),
        auth: creds.auth,
        exec_env: creds.exec_env,
        environment: session.environment.clone(),
        overlay: session.overlay.clone(),
        cancel: stop.token().clone(),
        progress: None,
        proxies,
        kube: crate::faults::KubeEnv::from_env(meta.pod.clone()),
    };
    let (suites, error) = execute(&plan, &ctx, meta, state, stop).await;
    if let Some(timer) = timer {
        timer.abort();
    }
    crate::faults::stop_proxies(&ctx.proxies).await;
    meta.finish(suites, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SuiteDef, SuiteKind};

    fn mk_exec(name: &str, script: &str, dir: &std::path::Path) -> SuiteDef {
        SuiteDef::new(
            name,
            SuiteKind::Exec(vec!["sh".into(), "-c".into(), script.into()]),
            dir,
        )
    }

    fn mk_ctx(dir: &std::path::Path) -> RunContext {
        RunContext::new(dir.to_path_buf())
    }

    #[tokio::test]
    async fn stops_after_failure_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan::default();
        plan.suites.push(mk_exec("a", "exit 1", dir.path()));
        plan.suites.push(mk_exec("b", "exit 0", dir.path()));
        let state = AgentState::new();
        let meta = RunMeta::start(None, None);
        let (suites, error) =
            execute(&plan, &mk_ctx(dir.path()), &meta, &state, &Stop::new()).await;
        assert_eq!(suites.len(), 1);
        assert!(error.is_none());

        plan.suites[0].continue_on_failure = true;
        let (suites, _) = execute(&plan, &mk_ctx(dir.path()), &meta, &state, &Stop::new()).await;
        assert_eq!(suites.len(), 2);
        let run = meta.finish(suites, None);
        assert_eq!(run.status, Status::Failed);
        assert_eq!(run.summary.suites.passed, 1);
    }

    #[tokio::test]
    async fn timeout_keeps_what_ran() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan::default();
        plan.suites.push(mk_exec("quick", "exit 0", dir.path()));
        plan.suites.push(mk_exec("slow", "sleep 30", dir.path()));
        plan.suites.push(mk_exec("never", "exit 0", dir.path()));
        let stop = Stop::new();
        let _timer = stop.stop_after(Duration::from_millis(500));
        let meta = RunMeta::start(None, None);
        let (suites, error) =
            execute(&plan, &mk_ctx(dir.path()), &meta, &AgentState::new(), &stop).await;
        let run = meta.finish(suites, error);
        assert_eq!(run.status, Status::Error);
        assert_eq!(run.suites.len(), 2);
        assert_eq!(run.suites[0].status, Status::Passed);
        assert_eq!(run.suites[1].status, Status::Error);
        assert_eq!(
            run.error.as_deref(),
            Some("the run timed out after 500ms; the result is partial: 2 of 3 suites ran")
        );
    }
}
