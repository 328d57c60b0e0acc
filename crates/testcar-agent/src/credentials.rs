//! Finds the credential chain's configuration (the auth folder's `auth.yaml` or a
//! manifest's `auth:` block) and starts it with `testcar-auth`: runners get per-request
//! credentials, exec suites get credential files. A chain that fails makes the run `error`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use testcar_contract::paths::AUTH_FILE;

/// Credentials could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The configuration could not be read (names file, line and key).
    #[error("credentials: {0}")]
    Config(#[from] testcar_auth::ConfigError),
    /// A step of the chain failed (names the step and the server's reason, never a secret).
    #[error("credentials from {origin}: {source}")]
    Start {
        /// Where the configuration is.
        origin: String,
        /// Why.
        #[source]
        source: testcar_auth::AuthError,
    },
    /// Two configurations.
    #[error("credentials are configured twice ({first} and {second}); keep one")]
    Twice {
        /// The auth file.
        first: String,
        /// The manifest.
        second: String,
    },
}

/// Where the credential chain's configuration comes from.
#[derive(Debug, Clone)]
pub enum AuthSource {
    /// An `auth.yaml` file (the mounted auth Secret, or `--auth`).
    File(PathBuf),
    /// The `auth:` block of a manifest.
    Manifest {
        /// The manifest.
        origin: PathBuf,
        /// The block, untyped.
        block: testcar_yaml::Value,
    },
}

impl AuthSource {
    fn origin(&self) -> String {
        match self {
            AuthSource::File(p) => p.display().to_string(),
            AuthSource::Manifest { origin, .. } => format!("{} (auth:)", origin.display()),
        }
    }
}

/// What runners get from the chain.
#[derive(Default)]
pub struct Credentials {
    /// Applied to every request by the HTTP runners.
    pub auth: Option<Arc<dyn testcar_auth::RequestAuth>>,
    /// Variables naming the credential files for exec suites.
    pub exec_env: Vec<(String, String)>,
    /// The running chain: held (never read) so that its background refresh lives as long
    /// as the run.
    _chain: Option<testcar_auth::Chain>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("auth", &self.auth.as_ref().map(|_| "<credentials>"))
            .field("exec_env", &self.exec_env.len())
            .finish()
    }
}

/// The configuration to use: `auth_file` when it exists, else the manifest's block.
pub fn find_source(
    auth_file: Option<&Path>,
    manifest_block: Option<&(PathBuf, testcar_yaml::Value)>,
) -> Result<Option<AuthSource>, CredentialsError> {
    let file = auth_file.filter(|p| p.is_file()).map(Path::to_path_buf);
    match (file, manifest_block) {
        (Some(f), Some((m, _))) => Err(CredentialsError::Twice {
            first: f.display().to_string(),
            second: m.display().to_string(),
        }),
        (Some(f), None) => Ok(Some(AuthSource::File(f))),
        (None, Some((origin, block))) => Ok(Some(AuthSource::Manifest {
            origin: origin.clone(),
            block: block.clone(),
        })),
        (None, None) => Ok(None),
    }
}

/// The auth file inside an auth folder.
pub fn auth_file_in(dir: &Path) -> PathBuf {
    dir.join(AUTH_FILE)
}

/// Start the chain for `source` (none: no credentials); files for exec suites go under
/// `work_dir`. Relative secret paths resolve against the folder of the configuration.
pub async fn start(
    source: Option<AuthSource>,
    work_dir: &Path,
) -> Result<Credentials, CredentialsError> {
    let Some(source) = source else {
        return Ok(Credentials::default());
    };
    let origin = source.origin();
    let (config, base_dir) = match &source {
        AuthSource::File(path) => (
            testcar_auth::load_config(path)?,
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        ),
        AuthSource::Manifest {
            origin: file,
            block,
        } => {
            let text = testcar_yaml::to_string(block).expect("a YAML value serializes");
            (
                testcar_auth::parse_config(&text, &format!("{} (auth:)", file.display()))?,
                file.parent().unwrap_or(Path::new(".")).to_path_buf(),
            )
        }
    };
    let start_err = |source| CredentialsError::Start {
        origin: origin.clone(),
        source,
    };
    let chain = testcar_auth::start(config, &base_dir)
        .await
        .map_err(start_err)?;
    let exec_env = chain.exec_env(work_dir).map_err(start_err)?;
    tracing::info!(steps = ?chain.applied_steps(), %origin, "credential chain ready");
    Ok(Credentials {
        auth: Some(chain.request_auth()),
        exec_env,
        _chain: Some(chain),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_configuration_means_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let source = find_source(Some(&auth_file_in(dir.path())), None).unwrap();
        assert!(source.is_none());
        let creds = start(source, dir.path()).await.unwrap();
        assert!(creds.auth.is_none() && creds.exec_env.is_empty());
    }

    #[tokio::test]
    async fn static_bearer_reaches_exec_files_without_leaking() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "s3cr3t-token-value";
        std::fs::write(dir.path().join("token"), secret).unwrap();
        let file = auth_file_in(dir.path());
        std::fs::write(&file, "steps:\n  - static:\n      bearerFile: token\n").unwrap();
        let source = find_source(Some(&file), None).unwrap();
        let work = dir.path().join("work");
        let creds = start(source, &work).await.unwrap();
        let auth = creds.auth.clone().unwrap();
        let headers = auth
            .headers(testcar_auth::RequestParts {
                method: "GET",
                url: "http://127.0.0.1/x",
                body: b"",
            })
            .await
            .unwrap();
        assert!(
            headers
                .iter()
                .any(|(_, v)| v == &format!("Bearer {secret}"))
        );
        let (_, token_file) = creds
            .exec_env
            .iter()
            .find(|(k, _)| k == testcar_contract::env::BEARER_TOKEN_FILE)
            .expect("token file for exec suites");
        assert_eq!(std::fs::read_to_string(token_file).unwrap().trim(), secret);
        assert!(!format!("{creds:?}").contains(secret));
    }

    #[tokio::test]
    async fn bad_configuration_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = auth_file_in(dir.path());
        std::fs::write(&file, "steps:\n  - static:\n      bearerToken: inline\n").unwrap();
        let source = find_source(Some(&file), None).unwrap();
        let e = start(source, dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("auth.yaml:3"), "{e}");
        assert!(e.contains("bearerToken"), "{e}");
        let block = (PathBuf::from("t/testcar.yaml"), testcar_yaml::Value::Null);
        assert!(matches!(
            find_source(Some(&file), Some(&block)),
            Err(CredentialsError::Twice { .. })
        ));
    }
}
