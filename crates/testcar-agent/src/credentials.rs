//! The credential-chain seam: finds the auth configuration (the auth folder's `auth.yaml`
//! or a manifest's `auth:` block) and starts the chain. This agent is built without the
//! chain, so a configuration is an error (never a silent unauthenticated run).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use testcar_contract::paths::AUTH_FILE;

/// Credentials could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A configuration exists but this agent cannot act on it.
    #[error(
        "credentials are configured in {origin} but the credential chain is not built into this agent"
    )]
    NotBuiltIn {
        /// Where the configuration is.
        origin: String,
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
        block: serde_yaml::Value,
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
    manifest_block: Option<&(PathBuf, serde_yaml::Value)>,
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
/// `_work_dir`.
pub async fn start(
    source: Option<AuthSource>,
    _work_dir: &Path,
) -> Result<Credentials, CredentialsError> {
    match source {
        None => Ok(Credentials::default()),
        Some(source) => Err(CredentialsError::NotBuiltIn {
            origin: source.origin(),
        }),
    }
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
    async fn configuration_without_chain_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = auth_file_in(dir.path());
        std::fs::write(&file, "steps: []\n").unwrap();
        let source = find_source(Some(&file), None).unwrap();
        let e = start(source, dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("not built into this agent"), "{e}");
        let block = (PathBuf::from("t/testcar.yaml"), serde_yaml::Value::Null);
        assert!(matches!(
            find_source(Some(&file), Some(&block)),
            Err(CredentialsError::Twice { .. })
        ));
    }
}
