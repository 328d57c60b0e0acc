//! Building the kube-rs client: an explicit kubeconfig (one file or a colon-separated
//! list, like `$KUBECONFIG`) with an optional context, else `~/.kube/config`, else in-cluster.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A kubeconfig file could not be read or parsed.
    #[error("kubeconfig {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig was read but does not yield a usable configuration (unknown
    /// context, missing cluster URL, bad certificate data).
    #[error("kubeconfig{}: {source}", context.as_ref().map(|c| format!(" context {c:?}")).unwrap_or_default())]
    Config {
        /// The context asked for.
        context: Option<String>,
        /// What went wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error(
        "no kubeconfig and not running in a cluster: {source}; pass --kubeconfig or set KUBECONFIG"
    )]
    Infer {
        /// What went wrong.
        #[source]
        source: kube::config::InferConfigError,
    },
    /// The HTTP client could not be built from the configuration.
    #[error("cannot build the Kubernetes client: {source}")]
    Build {
        /// What went wrong.
        #[source]
        source: kube::Error,
    },
}

/// Connect as the flags say. `kubeconfig` may hold several files separated by `:`;
/// they are merged in order, the first definition of a name winning (kubectl's rule).
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, ClientError> {
    // Testcar uses ring everywhere; install it before kube builds its TLS config.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(paths) => {
            let merged = read_merged(paths)?;
            Config::from_custom_kubeconfig(merged, &options)
                .await
                .map_err(|source| ClientError::Config {
                    context: options.context.clone(),
                    source,
                })?
        }
        None if context.is_some() => {
            Config::from_kubeconfig(&options)
                .await
                .map_err(|source| ClientError::Config {
                    context: options.context.clone(),
                    source,
                })?
        }
        None => Config::infer()
            .await
            .map_err(|source| ClientError::Infer { source })?,
    };
    let mut config = config;
    // The gate's wait loop is the retry: kube's own backoff on 503 would stall a poll for
    // seconds whenever an agent's /result is not reachable yet through the pod proxy.
    config.default_retry = false;
    Client::try_from(config).map_err(|source| ClientError::Build { source })
}

fn read_merged(paths: &Path) -> Result<Kubeconfig, ClientError> {
    let text = paths.to_string_lossy();
    let mut merged: Option<Kubeconfig> = None;
    for path in text.split(':').filter(|p| !p.is_empty()) {
        let read = |source| ClientError::Read {
            path: path.to_string(),
            source,
        };
        let next = Kubeconfig::read_from(path).map_err(read)?;
        merged = Some(match merged {
            None => next,
            Some(acc) => acc.merge(next).map_err(read)?,
        });
    }
    merged.ok_or_else(|| ClientError::Read {
        path: text.to_string(),
        source: kube::config::KubeconfigError::ReadConfig(
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty path"),
            paths.to_path_buf(),
        ),
    })
}
