//! Command-line flags of `testcar-gate`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// Passes or fails a rollout from the verdicts of its pods' Testcar sidecars.
#[derive(Debug, Parser)]
#[command(name = "testcar-gate", version, about)]
#[command(group(ArgGroup::new("workload").required(true).args(["deployment", "statefulset", "selector", "pod"])))]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    /// `check`: the installation's health; without a subcommand the gate judges a rollout.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Namespace of the workload.
    #[arg(long, short = 'n', env = "TESTCAR_GATE_NAMESPACE", required = true)]
    pub namespace: Option<String>,
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
    /// Write the verdict as Markdown here (pod table, checks that did not pass, HTML
    /// report access), for CI job summaries.
    #[arg(long, value_name = "FILE")]
    pub summary_markdown: Option<PathBuf>,
    #[command(flatten)]
    pub kube: KubeArgs,
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
    #[command(flatten)]
    pub verified: VerifiedArgs,
    /// Do not print each pod's suite table, only the pod table and the verdict.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub log: testcar_telemetry::LogArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that Testcar is installed and working for a namespace, as `linkerd check`
    /// does: the webhook configuration, its CA bundle against the serving certificate, the
    /// injector's readiness, the namespace's selection and Pod Security level, and a sample
    /// pod injected through a server-side dry run. Exit 0 when every check passes.
    Check(CheckArgs),
}

/// How to reach the cluster; shared by the gate and `check`.
#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Kubeconfig file(s), colon-separated like $KUBECONFIG (default: ~/.kube/config if
    /// present, else the in-cluster service account).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
}

/// Where a passed rollout's ReplicaSet is recorded; shared by the gate (which writes it) and
/// `check` (which compares it with what the injector reads).
#[derive(Debug, Args)]
pub struct VerifiedArgs {
    /// After a Deployment's rollout passed, record its ReplicaSet as verified in this
    /// ConfigMap (in the injector's namespace; the chart creates it): new pods the autoscaler
    /// adds to that ReplicaSet then run what `testcar.io/on-scale-out` says instead of every
    /// suite. Needs `patch` on that ConfigMap; without it the gate warns, and the verdict and
    /// exit code stay the same.
    #[arg(
        long,
        env = "TESTCAR_GATE_VERIFIED_CONFIGMAP",
        value_name = "NAMESPACE/NAME",
        default_value = "testcar-system/testcar-verified"
    )]
    pub verified_configmap: crate::verified::VerifiedConfigMap,
    /// Do not record a passed rollout's ReplicaSet as verified (every new pod is tested in
    /// full).
    #[arg(long, env = "TESTCAR_GATE_NO_MARK_VERIFIED")]
    pub no_mark_verified: bool,
}

impl VerifiedArgs {
    /// The ConfigMap to record in; `None` with `--no-mark-verified`.
    pub fn target(&self) -> Option<&crate::verified::VerifiedConfigMap> {
        (!self.no_mark_verified).then_some(&self.verified_configmap)
    }
}

/// `testcar-gate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Namespace whose pods should be injected: its selection by the webhook, its Pod
    /// Security level and a dry-run pod are checked there.
    #[arg(
        long,
        short = 'n',
        env = "TESTCAR_GATE_NAMESPACE",
        default_value = "default"
    )]
    pub namespace: String,
    /// Namespace Testcar (the injector) is installed in.
    #[arg(long, env = "TESTCAR_NAMESPACE", default_value = "testcar-system")]
    pub testcar_namespace: String,
    /// Name of Testcar's MutatingWebhookConfiguration (default: the one labelled
    /// app.kubernetes.io/name=testcar, or the only one calling a testcar service).
    #[arg(long)]
    pub webhook: Option<String>,
    /// Skip the dry-run pod (it needs `create` on pods in the namespace).
    #[arg(long)]
    pub no_dry_run: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = CheckOutput::Text)]
    pub output: CheckOutput,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub verified: VerifiedArgs,
    #[command(flatten)]
    pub log: testcar_telemetry::LogArgs,
}

/// `check`'s output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckOutput {
    /// One line per check, hints indented under failures.
    Text,
    /// One JSON document.
    Json,
}
