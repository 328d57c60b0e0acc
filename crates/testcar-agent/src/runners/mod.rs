//! Runs one suite with the runner its kind names, under the suite's timeout and the run's
//! cancellation; every runner returns a `Suite` (never panics, never loses what it measured).
//! One function per runner takes the suite definition and a [`RunContext`].

pub mod artillery;
pub mod consistency;
pub mod exec;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use testcar_contract::duration::format_duration;
use testcar_contract::{Status, Suite};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::faults::Faults;
use crate::manifest::{SuiteDef, SuiteKind};

/// Live figures of a running suite: the engine's own snapshot type, which every runner
/// publishes.
pub use testcar_artillery::Progress;

/// What every runner gets besides its suite definition.
#[derive(Clone)]
pub struct RunContext {
    /// Base URL of the service under test.
    pub target: Option<String>,
    /// The run's results folder; a suite writes under `<results_dir>/<suite slug>/`.
    pub results_dir: PathBuf,
    /// Credentials to apply to every request, from the credential chain.
    pub auth: Option<Arc<dyn testcar_auth::RequestAuth>>,
    /// Variables pointing exec suites at the credential files.
    pub exec_env: Vec<(String, String)>,
    /// Artillery environment when the suite names none (`-e`).
    pub environment: Option<String>,
    /// `artillery run` flags for every Artillery suite (a suite's own settings win).
    pub overlay: testcar_artillery::Overlay,
    /// Cancelled on SIGTERM or when the run's time is up: stop, keep what was measured.
    pub cancel: CancellationToken,
    /// Where runners publish live figures.
    pub progress: Option<watch::Sender<Progress>>,
    /// The run-wide fault proxies (`proxies:`), for faults that name one.
    pub proxies: crate::faults::NamedProxies,
    /// The agent's pod and the in-cluster API settings, for pod faults.
    pub kube: crate::faults::KubeEnv,
}

impl RunContext {
    /// A context that writes under `results_dir` and has nothing else: no target, no
    /// credentials, no fault proxies, its own cancellation. Callers set what they have.
    pub fn new(results_dir: PathBuf) -> Self {
        RunContext {
            target: None,
            results_dir,
            auth: None,
            exec_env: Vec::new(),
            environment: None,
            overlay: Default::default(),
            cancel: CancellationToken::new(),
            progress: None,
            proxies: Default::default(),
            kube: Default::default(),
        }
    }
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("target", &self.target)
            .field("results_dir", &self.results_dir)
            .field("auth", &self.auth.as_ref().map(|_| "<credentials>"))
            .field(
                "exec_env",
                &self.exec_env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// Folder name for a suite's files: lowercase letters, digits and dashes.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "suite".into() } else { out }
}

/// Run `def` to the end, its timeout, or the run's cancellation. A suite cut short is
/// `error` and says why; whatever the runner measured stays in it.
pub async fn run_suite(def: &SuiteDef, ctx: &RunContext) -> Suite {
    let started = Instant::now();
    let cancel = ctx.cancel.child_token();
    let timed_out = CancellationToken::new();
    let timer = def.timeout.map(|limit| {
        let cancel = cancel.clone();
        let timed_out = timed_out.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            timed_out.cancel();
            cancel.cancel();
        })
    });
    let mut suite_ctx = ctx.clone();
    suite_ctx.cancel = cancel;
    tracing::info!(suite = %def.name, runner = def.kind.runner().as_str(), "suite starting");
    let suite_dir = ctx.results_dir.join(slug(&def.name));
    let faults = if def.faults.is_empty() {
        None
    } else {
        let target = ctx.target.clone().or_else(|| own_target(def, ctx));
        match Faults::start(
            &def.faults,
            target.as_deref(),
            &ctx.proxies,
            &ctx.kube,
            def.base_dir.clone(),
            suite_dir,
        )
        .await
        {
            Ok(f) => Some(f),
            Err(e) => {
                if let Some(timer) = timer {
                    timer.abort();
                }
                tracing::error!(suite = %def.name, error = %e, "faults could not be set up");
                return error_suite(def, e.to_string());
            }
        }
    };
    if let Some(faults) = &faults {
        if let (Some(target), Some(proxy)) = (faults.target(), faults.proxy()) {
            // The suite reaches the target through the fault proxy, without script changes.
            tracing::info!(suite = %def.name, proxy = %proxy.addr(), "target rewritten to the fault proxy");
            suite_ctx.target = Some(target.to_string());
        }
    }
    let mut suite = match &def.kind {
        SuiteKind::Exec(cmd) => exec::run(def, cmd, &suite_ctx).await,
        SuiteKind::Artillery(_) => artillery::run(def, &suite_ctx).await,
        SuiteKind::Consistency(_) => consistency::run(def, &suite_ctx).await,
    };
    if let Some(timer) = timer {
        timer.abort();
    }
    // Healed whatever ended the suite: its end, its timeout, or the run's stop.
    if let Some(faults) = faults {
        suite.faults = faults.heal().await;
        if !suite.faults.is_empty() {
            suite.reports.push(testcar_contract::Report {
                kind: "fault-events".into(),
                path: format!("{}/{}", slug(&def.name), crate::faults::EVENTS_FILE),
            });
        }
    }
    suite.name = def.name.clone();
    if suite.source.is_none() {
        suite.source = def.source.clone();
    }
    suite.duration_ms = started.elapsed().as_millis() as u64;
    if timed_out.is_cancelled() {
        suite.status = Status::Error;
        suite.error = Some(format!(
            "timed out after {}; stopped, results so far kept",
            format_duration(def.timeout.unwrap_or_default())
        ));
    } else if ctx.cancel.is_cancelled() {
        suite.status = Status::Error;
        suite.error = Some("interrupted before the suite finished; results so far kept".into());
    }
    tracing::info!(suite = %def.name, status = %suite.status, duration_ms = suite.duration_ms, "suite finished");
    suite
}

/// The target a suite names itself (an Artillery script's `config.target`, a consistency
/// suite's `target`), for the fault proxy when the agent was given none.
fn own_target(def: &SuiteDef, ctx: &RunContext) -> Option<String> {
    let path = def.file()?;
    match &def.kind {
        SuiteKind::Artillery(_) => {
            let opts = testcar_artillery::LoadOptions {
                environment: def.environment.clone().or_else(|| ctx.environment.clone()),
                target_from_runner: true,
                overlay: def.overlay.clone().or(&ctx.overlay),
                ..Default::default()
            };
            let script = testcar_artillery::load_script(&path, &opts).ok()?;
            Some(script.config.target).filter(|t| !t.is_empty())
        }
        SuiteKind::Consistency(_) => testcar_consistency::load_suite(&path).ok()?.target,
        SuiteKind::Exec(_) => None,
    }
}

/// A suite that could not run at all.
pub fn error_suite(def: &SuiteDef, message: impl Into<String>) -> Suite {
    let mut suite = Suite::new(def.name.clone(), def.kind.runner());
    suite.source = def.source.clone();
    suite.status = Status::Error;
    suite.error = Some(message.into());
    suite
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("API contract / v2"), "api-contract-v2");
        assert_eq!(slug("smoke"), "smoke");
        assert_eq!(slug("***"), "suite");
    }

    #[test]
    fn debug_hides_credential_values() {
        let ctx = RunContext {
            exec_env: vec![("TESTCAR_BEARER_TOKEN_FILE".into(), "/r/.auth/token".into())],
            ..RunContext::new(PathBuf::from("/r"))
        };
        let dbg = format!("{ctx:?}");
        assert!(dbg.contains("TESTCAR_BEARER_TOKEN_FILE"));
        assert!(!dbg.contains("/r/.auth/token"));
    }
}
