//! Command-line interface of `testcar-agent`: `sidecar` (configured by the environment the
//! injector sets), `run` (one-shot), `validate` and `render`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use testcar_contract::annotations::TestsSourceKind;
use testcar_contract::duration::parse_duration;
use testcar_contract::endpoints::EndpointPolicy;
use testcar_contract::tags::TagSelection;
use testcar_contract::{env, paths};

/// The Testcar agent: runs a service's tests from inside its pod (sidecar) or one-shot.
#[derive(Debug, Parser)]
#[command(name = "testcar-agent", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: testcar_telemetry::LogArgs,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run in a pod: discover, wait for the service, run, report, stay idle.
    Sidecar(SidecarArgs),
    /// Run test definitions once and exit 0 passed, 1 failed, 2 error.
    Run(RunArgs),
    /// Print a stored result document as the summary (and optionally JUnit XML).
    Render {
        /// A result.json (result v1).
        result: PathBuf,
        /// Also write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Render a result document (and its Artillery reports) as one self-contained HTML page.
    Report {
        /// A result.json (result v1).
        result: PathBuf,
        /// Artillery reports as `FILE` or `SUITE=FILE`; default: those the run recorded,
        /// read from the folder of `result`.
        #[arg(long = "artillery")]
        artillery: Vec<String>,
        /// Where to write the page.
        #[arg(long, short = 'o', default_value = "report.html")]
        output: PathBuf,
    },
    /// Check a recorded history for linearizability: exit 0 linearizable, 1 not,
    /// 2 unknown (time budget spent) or bad input.
    CheckHistory(testcar_consistency::CheckHistoryArgs),
    /// Check definitions without running anything.
    Validate {
        /// Scripts, manifests or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        artillery: ArtilleryFlags,
    },
}

/// `--tests-source`: one of the contract's kinds, listed in `--help`.
fn tests_source() -> impl clap::builder::TypedValueParser<Value = TestsSourceKind> {
    PossibleValuesParser::new(TestsSourceKind::NAMES).try_map(|s| s.parse::<TestsSourceKind>())
}

fn duration(text: &str) -> Result<Duration, testcar_contract::duration::DurationError> {
    parse_duration(text)
}

/// `testcar-agent sidecar`: every flag also reads the variable the injector sets.
#[derive(Debug, Clone, Args)]
pub struct SidecarArgs {
    /// Base URL of the service under test.
    #[arg(long, env = env::TARGET, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// URL (or path on the target) that answers 2xx when the service is ready; without
    /// it, a TCP connect to the target decides.
    #[arg(long, env = env::READINESS_URL)]
    pub readiness_url: Option<String>,
    /// Tests folder.
    #[arg(long, env = env::TESTS_DIR, default_value = paths::TESTS_DIR)]
    pub tests_dir: PathBuf,
    /// Where the tests come from (`shared`: wait for the application to fill the folder).
    #[arg(long, env = env::TESTS_SOURCE, value_parser = tests_source(), default_value = "configmap")]
    pub tests_source: TestsSourceKind,
    /// Results folder.
    #[arg(long, env = env::RESULTS_DIR, default_value = paths::RESULTS_DIR)]
    pub results_dir: PathBuf,
    /// Auth folder (holds `auth.yaml` when credentials are configured).
    #[arg(long, env = env::AUTH_DIR, default_value = paths::AUTH_DIR)]
    pub auth_dir: PathBuf,
    /// Whole-run limit (a manifest's `timeout` also applies; the first to expire stops the run).
    #[arg(long, env = env::TIMEOUT, default_value = "10m", value_parser = duration)]
    pub timeout: Duration,
    /// How long to wait for the service to be ready.
    #[arg(long, env = env::READY_TIMEOUT, default_value = "2m", value_parser = duration)]
    pub ready_timeout: Duration,
    /// How long to wait for a `shared` tests folder to be filled.
    #[arg(long, env = env::TESTS_WAIT_TIMEOUT, default_value = "2m", value_parser = duration)]
    pub tests_wait_timeout: Duration,
    /// How long a `shared` tests folder must stay unchanged to count as filled.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub tests_settle: Duration,
    /// Artillery environment (`-e`).
    #[arg(long, short = 'e', env = env::ENVIRONMENT)]
    pub environment: Option<String>,
    /// Address of `/result`, `/healthz`, `/metrics`.
    #[arg(long, env = env::LISTEN, default_value = "0.0.0.0:9464")]
    pub listen: SocketAddr,
    /// Who may call `/result`, `/report`, `/metrics`: ENDPOINT=ACCESS pairs, ACCESS one of
    /// off, local (the pod's loopback only), token (loopback or the read token), open.
    #[arg(long, env = env::ENDPOINTS, default_value = "result=token,report=token,metrics=open")]
    pub endpoints: EndpointPolicy,
    /// The pod's read token (set by the injector) that remote callers of `token`
    /// endpoints present in `X-Testcar-Token` or `Authorization: Bearer`.
    #[arg(long, env = env::READ_TOKEN, hide_env_values = true, value_parser = read_token)]
    pub read_token: Option<ReadToken>,
    /// Pod name (downward API).
    #[arg(long, env = env::POD_NAME)]
    pub pod_name: Option<String>,
    /// Pod namespace (downward API).
    #[arg(long, env = env::POD_NAMESPACE)]
    pub pod_namespace: Option<String>,
    /// `testcar.io/load: shared`: this many replicas share every Artillery script's load,
    /// so this pod sends 1/N of each phase's arrivals (from `testcar.io/replicas`).
    #[arg(long, env = env::LOAD_SHARE, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub load_share: Option<u32>,
    /// Run only the suites with one of these tags (comma-separated, e.g. `smoke`; a suite's
    /// `tags:` in testcar.yaml). Set by the injector on a scale-out pod of a verified
    /// ReplicaSet with `testcar.io/on-scale-out: smoke`. Selecting no suite is an error.
    #[arg(long, env = env::SUITE_TAGS, value_name = "TAGS")]
    pub tags: Option<TagSelection>,
}

/// `testcar-agent run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scripts, manifests or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Base URL of the service under test (Artillery's `-t`: overrides `config.target`).
    #[arg(long, short = 't', env = env::TARGET)]
    pub target: Option<String>,
    /// Artillery environment.
    #[arg(long, short = 'e')]
    pub environment: Option<String>,
    /// Artillery's JSON report (`aggregate` + `intermediate`, as `artillery run -o` writes it)
    /// of the run's one Artillery suite.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write Testcar's result document (result v1, JSON) here.
    #[arg(long, value_name = "FILE")]
    pub result: Option<PathBuf>,
    /// Also write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Whole-run limit (a manifest's `timeout` also applies; the first to expire stops the run).
    #[arg(long, value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Folder for result.json, junit.xml and suite reports (default: a new temporary folder).
    #[arg(long)]
    pub results_dir: Option<PathBuf>,
    /// URL (or path on the target) that answers 2xx when the service is ready; without
    /// it, a TCP connect to the target decides.
    #[arg(long)]
    pub readiness_url: Option<String>,
    /// How long to wait for the service to be ready.
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub ready_timeout: Duration,
    /// Credential chain configuration (`auth.yaml`).
    #[arg(long)]
    pub auth: Option<PathBuf>,
    /// Run only the suites with one of these tags (comma-separated, e.g. `smoke`; a suite's
    /// `tags:` in testcar.yaml). Selecting no suite is an error.
    #[arg(long, value_name = "TAGS")]
    pub tags: Option<TagSelection>,
    #[command(flatten)]
    pub artillery: ArtilleryFlags,
}

/// The flags of `artillery run` that reshape Artillery scripts, for every Artillery suite of
/// the run (a manifest suite's own settings win).
#[derive(Debug, Clone, Default, Args)]
pub struct ArtilleryFlags {
    /// Artillery: read more configuration from this file, merged over each script's.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Artillery: a JSON object merged over each script (a list replaces the script's).
    #[arg(long, value_name = "JSON", value_parser = json_object)]
    pub overrides: Option<serde_json::Value>,
    /// Artillery: a JSON object of variables, each replacing `config.variables.<name>`.
    #[arg(long, short = 'v', value_name = "JSON", value_parser = json_object)]
    pub variables: Option<serde_json::Value>,
    /// Artillery: accept any TLS certificate from the service.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Artillery: run one virtual user whatever the phases say.
    #[arg(long, short = 's')]
    pub solo: bool,
    /// Artillery: run only the scenario of this name.
    #[arg(long, value_name = "NAME")]
    pub scenario_name: Option<String>,
    /// Artillery: `KEY=VALUE` lines that `{{ $env.KEY }}` sees when the environment lacks KEY.
    #[arg(long, value_name = "FILE")]
    pub dotenv: Option<PathBuf>,
}

impl ArtilleryFlags {
    /// The flags as the engine takes them.
    pub fn overlay(&self) -> testcar_artillery::Overlay {
        testcar_artillery::Overlay {
            config_file: self.config.clone(),
            overrides: self.overrides.clone(),
            variables: match &self.variables {
                Some(serde_json::Value::Object(m)) => m.clone(),
                _ => Default::default(),
            },
            insecure: self.insecure,
            solo: self.solo,
            scenario_name: self.scenario_name.clone(),
            dotenv: self.dotenv.clone(),
            load_share: None,
        }
    }
}

fn json_object(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => {
            Err("expected a JSON object, e.g. '{\"config\": {\"target\": \"http://x\"}}'".into())
        }
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// The read token; its `Debug` never shows the value, so printing the flags is safe.
#[derive(Clone)]
pub struct ReadToken(pub String);

impl std::fmt::Debug for ReadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadToken(<redacted>)")
    }
}

fn read_token(value: &str) -> Result<ReadToken, String> {
    Ok(ReadToken(value.trim().to_string()))
}
