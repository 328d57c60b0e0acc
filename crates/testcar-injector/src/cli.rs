//! Command-line flags of `testcar-injector` (each with an environment equivalent).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// TLS mutating admission webhook that injects the Testcar sidecar into opted-in pods.
#[derive(Debug, Parser)]
#[command(name = "testcar-injector", version, about)]
pub struct Cli {
    /// HTTPS address for `POST /mutate`.
    #[arg(long, env = "TESTCAR_INJECTOR_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM).
    #[arg(
        long,
        env = "TESTCAR_INJECTOR_TLS_CERT",
        default_value = "/etc/testcar-injector/tls/tls.crt"
    )]
    pub tls_cert: PathBuf,
    /// TLS private key (PEM).
    #[arg(
        long,
        env = "TESTCAR_INJECTOR_TLS_KEY",
        default_value = "/etc/testcar-injector/tls/tls.key"
    )]
    pub tls_key: PathBuf,
    /// Injector configuration file (YAML).
    #[arg(long, env = "TESTCAR_INJECTOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Plain-HTTP address for `/healthz`, `/readyz` and `/metrics`.
    #[arg(
        long,
        env = "TESTCAR_INJECTOR_METRICS_LISTEN",
        default_value = "0.0.0.0:9090"
    )]
    pub metrics_listen: SocketAddr,
    /// Folder of the ReplicaSets testcar-gate verified (the `testcar-verified` ConfigMap,
    /// mounted): a new pod of a verified ReplicaSet is a scale-out and runs what
    /// `testcar.io/on-scale-out` says. Without it every pod is tested in full.
    #[arg(long, env = "TESTCAR_INJECTOR_VERIFIED_DIR")]
    pub verified_dir: Option<PathBuf>,
    /// Validate the configuration file and exit (0 valid, 2 invalid).
    #[arg(long)]
    pub check_config: bool,
    /// The injector's own namespace, never injected (set from the downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// After SIGTERM, keep accepting reviews this long while `/readyz` answers 503: the API
    /// server learns that the pod is leaving from endpoint updates that arrive with a lag, and a
    /// review sent to a closed port lets the pod through without the sidecar.
    #[arg(long, env = "TESTCAR_INJECTOR_DRAIN_DELAY", default_value = "5s", value_parser = parse_grace)]
    pub drain_delay: std::time::Duration,
    /// How long in-flight requests may take to finish after the drain delay.
    #[arg(long, env = "TESTCAR_INJECTOR_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_grace)]
    pub shutdown_grace: std::time::Duration,
    /// Longest a client may take to send a request's headers (also how long an idle
    /// keep-alive connection stays open); slow-loris connections are closed after it. Not
    /// shorter: each close of an idle connection is a moment in which the API server may send
    /// a review on it, fail, and let that pod through without the sidecar.
    #[arg(long, env = "TESTCAR_INJECTOR_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_grace)]
    pub header_read_timeout: std::time::Duration,
    /// Most HTTPS connections open at once; further clients wait to be accepted.
    #[arg(long, env = "TESTCAR_INJECTOR_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    #[command(flatten)]
    pub log: testcar_telemetry::LogArgs,
}

fn parse_grace(s: &str) -> Result<std::time::Duration, String> {
    testcar_contract::duration::parse_duration(s).map_err(|e| e.to_string())
}
