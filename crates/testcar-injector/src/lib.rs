//! testcar-injector: the mutating admission webhook that adds the Testcar agent to opted-in
//! pods. All logic lives here (`admission` reads and answers reviews, `mutate` decides for
//! one pod and patches it in stages, `server`/`tls` serve them); `main.rs` only parses
//! arguments and maps errors.

pub mod admission;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod mutate;
mod quantity;
pub mod server;
mod tls;
mod verified;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::cli::Cli;
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::mutate::Injector;
use crate::server::AppState;
use crate::tls::{CertStore, TlsError};

/// Why the injector could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--check-config` without `--config`.
    #[error("--check-config needs --config FILE")]
    NoConfigToCheck,
    /// A server task failed.
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The configuration named by `--config`, or the defaults.
pub fn load_config(cli: &Cli) -> Result<Config, ConfigError> {
    match &cli.config {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    }
}

/// `--check-config`: validate and describe the file.
pub fn check_config(cli: &Cli) -> Result<String, RunError> {
    let path = cli.config.as_ref().ok_or(RunError::NoConfigToCheck)?;
    let config = Config::load(path)?;
    Ok(format!(
        "{}: valid (agent image {}, excluded namespaces: {})",
        path.display(),
        config.agent.image.0,
        config.exclude_namespaces.join(", ")
    ))
}

/// Run the injector until SIGTERM or SIGINT, then shut down gracefully.
pub async fn run(cli: Cli) -> Result<(), RunError> {
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        signals.cancel();
    });
    serve(cli, shutdown).await
}

/// Serve until `shutdown` is cancelled.
pub async fn serve(cli: Cli, shutdown: CancellationToken) -> Result<(), RunError> {
    let config = load_config(&cli)?;
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(CertStore::load(
        &cli.tls_cert,
        &cli.tls_key,
        metrics.clone(),
    )?);
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(store.clone())?));
    let state = Arc::new(AppState {
        injector: {
            let injector = Injector::new(config, cli.namespace.as_deref());
            match &cli.verified_dir {
                Some(dir) => injector.with_verified(verified::VerifiedDir::new(dir)),
                None => injector,
            }
        },
        metrics,
        ready: Default::default(),
    });

    let tls_listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: cli.listen,
            source,
        })?;
    let ops_listener = TcpListener::bind(cli.metrics_listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: cli.metrics_listen,
            source,
        })?;

    let watcher_stop = CancellationToken::new();
    let watcher = tokio::spawn(tls::watch(store, watcher_stop.clone()));
    let ops_stop = CancellationToken::new();
    let ops = tokio::spawn({
        let app = server::ops_router(state.clone());
        let stop = ops_stop.clone();
        async move {
            axum::serve(ops_listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });

    state.ready.store(true, Ordering::Relaxed);
    tracing::info!(
        listen = %cli.listen,
        metrics_listen = %cli.metrics_listen,
        version = mutate::VERSION,
        "testcar-injector serving"
    );
    // Readiness drops the moment shutdown begins; the listener stays open for the drain delay
    // so that reviews routed here before the API server noticed still get an answer.
    let stop_accepting = CancellationToken::new();
    tokio::spawn({
        let state = state.clone();
        let shutdown = shutdown.clone();
        let stop_accepting = stop_accepting.clone();
        let drain = cli.drain_delay;
        async move {
            shutdown.cancelled().await;
            state.ready.store(false, Ordering::Relaxed);
            if !drain.is_zero() {
                tracing::info!(drain = ?drain, "draining: /readyz answers 503, reviews are still served");
                tokio::time::sleep(drain).await;
            }
            stop_accepting.cancel();
        }
    });
    server::serve_tls(
        tls_listener,
        acceptor,
        server::webhook_router(state.clone()),
        stop_accepting,
        server::Limits {
            shutdown_grace: cli.shutdown_grace,
            header_read_timeout: cli.header_read_timeout,
            max_connections: cli.max_connections as usize,
        },
    )
    .await;
    watcher_stop.cancel();
    ops_stop.cancel();
    if let Ok(Err(error)) = watcher.await {
        tracing::warn!(%error, "certificate watcher stopped");
    }
    if let Ok(Err(e)) = ops.await {
        return Err(RunError::Serve(e));
    }
    tracing::info!("testcar-injector stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
