//! `testcar-agent sidecar`: the agent's life in a pod. Serve the endpoints, run once
//! (a restarted container finds its stored result and does not run again), find the tests,
//! wait for the service, run, report, then stay idle until SIGTERM so that the container
//! is not restarted and its log, which holds the verdict, survives. The verdict is the last
//! line of that log: nothing is written to stdout or stderr after it.

use std::sync::Arc;

use testcar_contract::{ExitClass, PodRef};
use tokio_util::sync::CancellationToken;

use crate::access::Guard;
use crate::cli::SidecarArgs;
use crate::credentials;
use crate::discover;
use crate::execute::{RunMeta, Session, Stop, run_plan};
use crate::oneshot::{print_result, wait_for_signal};
use crate::results;
use crate::server;
use crate::state::AgentState;
use testcar_contract::annotations::TestsSourceKind;

/// Live the sidecar's life; returns the exit class when SIGTERM ends it.
pub async fn run(args: &SidecarArgs) -> ExitClass {
    let state = Arc::new(AgentState::new());
    let shutdown = CancellationToken::new();
    let server = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => {
            let guard = Guard::new(
                args.endpoints,
                args.read_token.as_ref().map(|t| t.0.clone()),
            );
            tracing::info!(listen = %args.listen, endpoints = %args.endpoints, read_token = args.read_token.is_some(), "serving /result, /report, /healthz, /metrics");
            let (state, shutdown) = (state.clone(), shutdown.clone());
            let results_dir = args.results_dir.clone();
            Some(tokio::spawn(async move {
                if let Err(error) =
                    server::serve(listener, state, results_dir, guard, shutdown).await
                {
                    tracing::error!(%error, "endpoint server stopped");
                }
            }))
        }
        Err(error) => {
            // The verdict still reaches the log; only the endpoints are missing.
            tracing::error!(listen = %args.listen, %error, "cannot serve the endpoints");
            None
        }
    };

    let stop = Stop::new();
    let terminated = CancellationToken::new();
    {
        let (stop, terminated, state) = (stop.clone(), terminated.clone(), state.clone());
        tokio::spawn(async move {
            let name = wait_for_signal().await;
            // Once the run is over the verdict is (about to be) the log's last line: end
            // quietly. Mid-run, say why the result will be partial.
            if state.result().is_none() {
                tracing::info!(signal = name, "terminating");
            }
            stop.stop(format!("interrupted by {name}"));
            terminated.cancel();
        });
    }

    let pod = args.pod_name.as_ref().map(|name| PodRef {
        name: name.clone(),
        namespace: args
            .pod_namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
    });

    let (run, class) = if let Some(stored) = results::stored_for(&args.results_dir, pod.as_ref()) {
        tracing::info!(run_id = %stored.run_id, status = %stored.status, "this pod already has a result; not running again");
        (stored, None)
    } else {
        let run = run_once(args, pod, &state, &stop).await;
        if let Err(error) = results::write(&args.results_dir, &run) {
            tracing::error!(%error, "cannot store the result");
        }
        let class = stop
            .token()
            .is_cancelled()
            .then(|| ExitClass::from(run.status));
        (run, class)
    };
    // Stopped mid-run by a signal: the pod is going away; the partial result is saved and
    // printed, then the process exits with its class. Otherwise the agent idles.
    let exit_now = class.filter(|_| terminated.is_cancelled());
    if exit_now.is_none() {
        tracing::info!(
            "idle after the run: the result follows as the last log line and stays at /result until SIGTERM"
        );
    }
    // The verdict is the last line of the container's log (stdout and stderr merged):
    // nothing is logged after it, neither by the endpoints nor on SIGTERM. /result shows the
    // document only once the verdict is in the log.
    testcar_telemetry::print_last(|| print_result(&run));
    state.done(&run);

    let class = match exit_now {
        Some(class) => class,
        None => {
            terminated.cancelled().await;
            ExitClass::Passed
        }
    };
    shutdown.cancel();
    if let Some(server) = server {
        let _ = server.await;
    }
    class
}

async fn run_once(
    args: &SidecarArgs,
    pod: Option<PodRef>,
    state: &AgentState,
    stop: &Stop,
) -> testcar_contract::Run {
    let meta = RunMeta::start(pod, Some(args.target.clone()));
    tracing::info!(run_id = %meta.run_id, tests = %args.tests_dir.display(), "run starting");
    let plan = async {
        if args.tests_source == TestsSourceKind::Shared {
            state.pending("waiting for the application to fill the tests folder");
            discover::wait_until_filled(
                &args.tests_dir,
                args.tests_wait_timeout,
                args.tests_settle,
                stop.token(),
            )
            .await?;
        }
        if args.tests_source == TestsSourceKind::Image && discover::is_empty_folder(&args.tests_dir)
        {
            return Err(discover::DiscoverError::ImageVolumeEmpty {
                path: args.tests_dir.clone(),
            });
        }
        state.pending("discovering tests");
        discover::discover(std::slice::from_ref(&args.tests_dir))?.select(args.tags.as_ref())
    }
    .await;
    let session = Session {
        target: Some(args.target.clone()),
        readiness_url: args.readiness_url.clone(),
        ready_timeout: args.ready_timeout,
        auth_file: Some(credentials::auth_file_in(&args.auth_dir)),
        environment: args.environment.clone(),
        overlay: testcar_artillery::Overlay {
            load_share: args.load_share,
            ..Default::default()
        },
        timeout: Some(args.timeout),
        results_dir: args.results_dir.clone(),
    };
    run_plan(&session, plan, &meta, state, stop).await
}
