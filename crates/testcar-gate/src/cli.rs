//! Command-line flags of `testcar-gate`.

use std::path::PathBuf;

use clap::{ArgGroup, Parser};

/// Passes or fails a rollout from the verdicts of its pods' Testcar sidecars.
#[derive(Debug, Parser)]
#[command(name = "testcar-gate", version, about)]
#[command(group(ArgGroup::new("workload").required(true).args(["deployment", "statefulset", "selector", "pod"])))]
pub struct Cli {
    /// Namespace of the workload.
    #[arg(long, short = 'n', env = "TESTCAR_GATE_NAMESPACE")]
    pub namespace: String,
    /// A Deployment: its current ReplicaSet's pods are checked.
    #[arg(long)]
    pub deployment: Option<String>,
    /// A StatefulSet: its current revision's pods are checked.
    #[arg(long)]
    pub statefulset: Option<String>,
    /// A label selector.
    #[arg(long, short = 'l')]
    pub selector: Option<String>,
    /// One pod.
    #[arg(long)]
    pub pod: Option<String>,
    /// How long to wait for every verdict (e.g. 90s, 10m, 1h).
    #[arg(long, env = "TESTCAR_GATE_TIMEOUT", default_value = "10m")]
    pub timeout: String,
    /// Fewest pods that must report.
    #[arg(long, env = "TESTCAR_GATE_MIN_PODS", default_value_t = 1)]
    pub min_pods: usize,
    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the aggregated JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Kubeconfig file(s), colon-separated like $KUBECONFIG (default: ~/.kube/config if
    /// present, else the in-cluster service account).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// How often to poll the API server while waiting.
    #[arg(long, env = "TESTCAR_GATE_INTERVAL", default_value = "2s")]
    pub interval: String,
    /// Stop waiting as soon as one pod reports a failed or error verdict.
    #[arg(long)]
    pub fail_fast: bool,
    /// When a Deployment's new version does not pass, put its previous revision back (as
    /// `kubectl rollout undo` does). Needs `patch` on deployments.
    #[arg(long, requires = "deployment")]
    pub rollback: bool,
    /// Do not print each pod's suite table, only the pod table and the verdict.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub log: testcar_telemetry::LogArgs,
}
