//! Names and mount paths shared by the injector (which creates them) and the agent
//! (which reads and writes them).

/// Where the tests volume is mounted in the agent (and, for `shared`, in the app).
pub const TESTS_DIR: &str = "/etc/testcar/tests";
/// Where the agent writes `result.json`, `junit.xml` and each suite's reports.
pub const RESULTS_DIR: &str = "/etc/testcar/results";
/// Where the auth Secret (`testcar.io/auth-secret`) is mounted, read-only.
pub const AUTH_DIR: &str = "/etc/testcar/auth";
/// The agent's scratch space: its root filesystem is read-only, yet the Kerberos credential
/// cache and most test frameworks run by `exec` suites write to `/tmp`.
pub const TMP_DIR: &str = "/tmp";
/// Where the kubelet mounts a pod's service account token, CA and namespace; the injector
/// mounts it into the agent for pod faults (`testcar.io/faults: pods`).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Name of the injected agent container.
pub const CONTAINER_NAME: &str = "testcar";
/// Name of the init container that copies tests out of the app image (`copy:<path>`).
pub const COPY_INIT_CONTAINER_NAME: &str = "testcar-copy-tests";
/// Volume holding the tests.
pub const TESTS_VOLUME: &str = "testcar-tests";
/// Volume holding the results.
pub const RESULTS_VOLUME: &str = "testcar-results";
/// Volume holding the auth Secret.
pub const AUTH_VOLUME: &str = "testcar-auth";
/// The agent's scratch volume (an emptyDir at [`TMP_DIR`]).
pub const TMP_VOLUME: &str = "testcar-tmp";

/// The suite manifest's file name inside the tests folder.
pub const MANIFEST_FILE: &str = "testcar.yaml";
/// The credential chain's file name inside the auth folder.
pub const AUTH_FILE: &str = "auth.yaml";
/// The result document inside the results folder.
pub const RESULT_FILE: &str = "result.json";
/// The JUnit XML report inside the results folder.
pub const JUNIT_FILE: &str = "junit.xml";
/// The HTML report inside the results folder.
pub const REPORT_FILE: &str = "report.html";

/// Port the agent serves `/result`, `/healthz`, `/metrics` on.
pub const AGENT_PORT: u16 = 9464;
/// Name of that port on the injected container.
pub const AGENT_PORT_NAME: &str = "testcar";
/// The agent's verdict as a readiness check: 200 once the verdict is `passed`, 503 before
/// and for any other verdict. The injector points the sidecar's readinessProbe at it when
/// `testcar.io/hold-readiness` is on.
pub const PASSED_PATH: &str = "/passed";
