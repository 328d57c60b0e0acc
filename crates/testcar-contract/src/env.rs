//! Environment variables the injector sets on the agent container and the agent reads
//! (each also a flag of `testcar-agent sidecar`), and those the agent gives exec suites.

/// Pod name (downward API `metadata.name`).
pub const POD_NAME: &str = "TESTCAR_POD_NAME";
/// Pod namespace (downward API `metadata.namespace`).
pub const POD_NAMESPACE: &str = "TESTCAR_POD_NAMESPACE";
/// Base URL of the service under test.
pub const TARGET: &str = "TESTCAR_TARGET";
/// URL that answers 2xx when the service is ready (from the app's readinessProbe).
pub const READINESS_URL: &str = "TESTCAR_READINESS_URL";
/// Tests folder.
pub const TESTS_DIR: &str = "TESTCAR_TESTS_DIR";
/// Results folder.
pub const RESULTS_DIR: &str = "TESTCAR_RESULTS_DIR";
/// Auth folder.
pub const AUTH_DIR: &str = "TESTCAR_AUTH_DIR";
/// Where the tests came from: `shared`, `configmap`, `image` or `copy`.
pub const TESTS_SOURCE: &str = "TESTCAR_TESTS_SOURCE";
/// Whole-run timeout (e.g. `10m`).
pub const TIMEOUT: &str = "TESTCAR_TIMEOUT";
/// How long to wait for the target to become ready.
pub const READY_TIMEOUT: &str = "TESTCAR_READY_TIMEOUT";
/// How long to wait for a `shared` tests folder to be filled by the app.
pub const TESTS_WAIT_TIMEOUT: &str = "TESTCAR_TESTS_WAIT_TIMEOUT";
/// Artillery environment to select (`-e`).
pub const ENVIRONMENT: &str = "TESTCAR_ENVIRONMENT";
/// Address the agent's HTTP endpoints listen on.
pub const LISTEN: &str = "TESTCAR_LISTEN";
/// Log format: `json` or `text`.
pub const LOG_FORMAT: &str = "TESTCAR_LOG_FORMAT";
/// Log filter (tracing `EnvFilter` syntax).
pub const LOG: &str = "TESTCAR_LOG";
/// `testcar.io/load: shared` with `testcar.io/replicas: N`: the agent runs 1/N of every
/// Artillery phase's arrivals, so the rollout's N pods together send the script's load.
pub const LOAD_SHARE: &str = "TESTCAR_LOAD_SHARE";
/// Run only the suites with one of these tags (comma-separated, see
/// [`crate::tags::TagSelection`]): `smoke` on a scale-out pod of a verified ReplicaSet with
/// `testcar.io/on-scale-out: smoke`.
pub const SUITE_TAGS: &str = "TESTCAR_SUITE_TAGS";

/// Given to exec suites: a file holding the bearer token from the credential chain.
pub const BEARER_TOKEN_FILE: &str = "TESTCAR_BEARER_TOKEN_FILE";
/// Given to exec suites: a file holding `Name: value` header lines to add to requests.
pub const AUTH_HEADERS_FILE: &str = "TESTCAR_AUTH_HEADERS_FILE";
/// Given to exec suites: client certificate (PEM) for mTLS.
pub const CLIENT_CERT_FILE: &str = "TESTCAR_CLIENT_CERT_FILE";
/// Given to exec suites: client key (PEM) for mTLS.
pub const CLIENT_KEY_FILE: &str = "TESTCAR_CLIENT_KEY_FILE";
/// Given to exec suites: CA bundle (PEM) for the service.
pub const CA_FILE: &str = "TESTCAR_CA_FILE";
/// Given to exec suites: the folder for the suite's own report files.
pub const SUITE_RESULTS_DIR: &str = "TESTCAR_SUITE_RESULTS_DIR";
/// Who may read the agent's endpoints (`result=token,report=token,metrics=open`; see
/// [`crate::endpoints::EndpointPolicy`]).
pub const ENDPOINTS: &str = "TESTCAR_ENDPOINTS";
/// The pod's read token, minted by the injector: remote callers of `token` endpoints
/// present it. Never logged.
pub const READ_TOKEN: &str = "TESTCAR_READ_TOKEN";
