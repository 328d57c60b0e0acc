//! The running credential chain: [`start`] runs the configured steps in order, [`Chain`]
//! applies their result to every request (headers, refresh on 401, client TLS) and hands
//! exec suites 0600 credential files plus the environment variables naming them.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use testcar_contract::env;

use crate::apply::{AuthError, ClientTls, RequestAuth, RequestParts};
use crate::config::{AuthConfig, Step};
use crate::hmac::HmacSigner;
use crate::mtls::MtlsMaterial;
use crate::oauth::{OAuth2Source, TokenRequestAuth};
use crate::secret::Secret;
use crate::static_creds::StaticCreds;

/// A step after it ran.
#[derive(Debug, Clone)]
enum Built {
    OAuth2(Arc<OAuth2Source>),
    #[cfg(feature = "kerberos")]
    Kerberos(Arc<crate::kerberos::KerberosAuth>),
    Mtls(Arc<MtlsMaterial>),
    Hmac(Arc<HmacSigner>),
    Static(Arc<StaticCreds>),
}

impl Built {
    fn as_request_auth(&self) -> Option<Arc<dyn RequestAuth>> {
        match self {
            Built::OAuth2(s) => Some(s.clone()),
            #[cfg(feature = "kerberos")]
            Built::Kerberos(k) => Some(k.clone()),
            Built::Hmac(h) => Some(h.clone()),
            Built::Static(s) => Some(s.clone()),
            Built::Mtls(_) => None,
        }
    }
}

/// What the runners see: the steps applied to requests to the service.
#[derive(Debug)]
struct ChainAuth {
    /// Steps applied to the service, in config order, with their names.
    applied: Vec<(String, Built)>,
    tls: Option<ClientTls>,
    mtls: Option<Arc<MtlsMaterial>>,
}

/// A started credential chain.
#[derive(Debug, Clone)]
pub struct Chain {
    inner: Arc<ChainAuth>,
}

fn clone_tls(t: &ClientTls) -> ClientTls {
    ClientTls {
        cert_chain: t.cert_chain.clone(),
        key: t.key.as_ref().map(|k| k.clone_key()),
        roots: t.roots.clone(),
    }
}

/// Run the steps of `config` in order (relative file paths resolve against `base_dir`):
/// read secrets, log in, fetch first tokens, and start background refreshes. Fails on the
/// first step that fails, naming it.
pub async fn start(config: AuthConfig, base_dir: &Path) -> Result<Chain, AuthError> {
    config.validate("auth config").map_err(|e| AuthError {
        step: "config".into(),
        message: e.to_string(),
    })?;
    let consumed: Vec<String> = config
        .consumed_steps()
        .into_iter()
        .map(String::from)
        .collect();
    let mut built: HashMap<String, Built> = HashMap::new();
    let mut applied = Vec::new();
    let mut mtls_applied: Option<Arc<MtlsMaterial>> = None;
    for step in &config.steps {
        let name = step.name().to_string();
        let b = match step {
            Step::Oauth2(c) => {
                let mut auth = TokenRequestAuth::default();
                if let Some(with) = &c.authenticate_with {
                    match built.get(with) {
                        Some(Built::Mtls(m)) => auth.tls = Some(clone_tls(&m.tls)),
                        Some(other) => auth.headers = other.as_request_auth(),
                        None => {
                            return Err(AuthError {
                                step: name,
                                message: format!("authenticateWith: no earlier step `{with}`"),
                            });
                        }
                    }
                }
                Built::OAuth2(OAuth2Source::start(&name, c, base_dir, auth).await?)
            }
            Step::Kerberos(c) => {
                #[cfg(feature = "kerberos")]
                {
                    Built::Kerberos(crate::kerberos::KerberosAuth::start(&name, c, base_dir).await?)
                }
                #[cfg(not(feature = "kerberos"))]
                {
                    let _ = c;
                    return Err(AuthError {
                        step: name,
                        message: "this build of testcar has no Kerberos support (cargo feature `kerberos`)".into(),
                    });
                }
            }
            Step::Mtls(c) => Built::Mtls(Arc::new(MtlsMaterial::from_config(&name, c, base_dir)?)),
            Step::Hmac(c) => Built::Hmac(Arc::new(HmacSigner::from_config(&name, c, base_dir)?)),
            Step::Static(c) => {
                Built::Static(Arc::new(StaticCreds::from_config(&name, c, base_dir)?))
            }
        };
        tracing::info!(step = %name, kind = step.kind(), "auth step ready");
        if !consumed.contains(&name) {
            match &b {
                Built::Mtls(m) => {
                    if mtls_applied.is_some() {
                        return Err(AuthError {
                            step: name,
                            message: "only one mtls step can apply to the service".into(),
                        });
                    }
                    mtls_applied = Some(m.clone());
                }
                other => applied.push((name.clone(), other.clone())),
            }
        }
        built.insert(name, b);
    }
    Ok(Chain {
        inner: Arc::new(ChainAuth {
            applied,
            tls: mtls_applied.as_ref().map(|m| clone_tls(&m.tls)),
            mtls: mtls_applied,
        }),
    })
}

impl RequestAuth for ChainAuth {
    fn headers<'a>(
        &'a self,
        req: RequestParts<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
        async move {
            let mut out = Vec::new();
            for (_, b) in &self.applied {
                if let Some(a) = b.as_request_auth() {
                    out.extend(a.headers(req).await?);
                }
            }
            Ok(out)
        }
        .boxed()
    }

    fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>> {
        async move {
            let mut any = false;
            for (_, b) in &self.applied {
                if let Some(a) = b.as_request_auth() {
                    any |= a.refresh().await?;
                }
            }
            Ok(any)
        }
        .boxed()
    }

    fn client_tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }
}

/// Bearer token and fixed headers as exec suites get them.
#[derive(Debug, Clone)]
struct ExecHeaders {
    fixed: Vec<(String, Secret)>,
    bearer: Option<Secret>,
}

impl ExecHeaders {
    fn write(&self, dir: &Path, token: Option<(&str, &Secret)>) -> std::io::Result<()> {
        let mut headers = self.fixed.clone();
        let mut bearer = self.bearer.clone();
        if let Some((header, token)) = token {
            if header.eq_ignore_ascii_case("authorization") {
                headers.insert(
                    0,
                    (
                        header.to_string(),
                        Secret::new(format!("Bearer {}", token.expose())),
                    ),
                );
                bearer = Some(token.clone());
            } else {
                headers.push((header.to_string(), token.clone()));
            }
        }
        if let Some(b) = &bearer {
            write_private(&dir.join(BEARER_FILE), b.expose().as_bytes())?;
        }
        if !headers.is_empty() {
            let text: String = headers
                .iter()
                .map(|(n, v)| format!("{n}: {}\n", v.expose()))
                .collect();
            write_private(&dir.join(HEADERS_FILE), text.as_bytes())?;
        }
        Ok(())
    }
}

const BEARER_FILE: &str = "bearer-token";
const HEADERS_FILE: &str = "auth-headers";

/// Write a file readable only by its owner, replacing it atomically.
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Chain {
    /// Credentials for the runners.
    pub fn request_auth(&self) -> Arc<dyn RequestAuth> {
        self.inner.clone()
    }

    /// Names of the steps applied to requests to the service, in order.
    pub fn applied_steps(&self) -> Vec<&str> {
        self.inner.applied.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Files + env vars for exec suites, written under `dir` (created 0700) with mode 0600:
    /// `TESTCAR_BEARER_TOKEN_FILE` (the bearer token alone), `TESTCAR_AUTH_HEADERS_FILE`
    /// (`Name: value` lines of the fixed headers), `TESTCAR_CLIENT_CERT_FILE`,
    /// `TESTCAR_CLIENT_KEY_FILE`, `TESTCAR_CA_FILE`. Token files are rewritten on every
    /// refresh. Per-request headers (HMAC, Negotiate) cannot be given as files.
    pub fn exec_env(&self, dir: &Path) -> Result<Vec<(String, String)>, AuthError> {
        let err = |step: &str, what: &str, e: std::io::Error| AuthError {
            step: step.to_string(),
            message: format!("cannot write {what} under {}: {e}", dir.display()),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err("exec", "the credentials folder", e))?;
        let mut exec = ExecHeaders {
            fixed: Vec::new(),
            bearer: None,
        };
        let mut oauth: Option<(String, Arc<OAuth2Source>)> = None;
        for (name, b) in &self.inner.applied {
            match b {
                Built::Static(s) => {
                    exec.fixed.extend(s.headers.iter().cloned());
                    if s.bearer.is_some() {
                        exec.bearer = s.bearer.clone();
                    }
                }
                Built::OAuth2(o) => oauth = Some((name.clone(), o.clone())),
                _ => {}
            }
        }
        let token = match &oauth {
            Some((name, o)) => Some((
                o.header_name().to_string(),
                o.token_now().map_err(|e| AuthError {
                    step: name.clone(),
                    message: e.message,
                })?,
            )),
            None => None,
        };
        exec.write(dir, token.as_ref().map(|(h, t)| (h.as_str(), t)))
            .map_err(|e| err("exec", "the token and header files", e))?;
        let mut vars = Vec::new();
        let is_bearer = exec.bearer.is_some()
            || token
                .as_ref()
                .is_some_and(|(h, _)| h.eq_ignore_ascii_case("authorization"));
        if is_bearer {
            vars.push((
                env::BEARER_TOKEN_FILE.to_string(),
                path_str(&dir.join(BEARER_FILE)),
            ));
        }
        if !exec.fixed.is_empty() || token.is_some() {
            vars.push((
                env::AUTH_HEADERS_FILE.to_string(),
                path_str(&dir.join(HEADERS_FILE)),
            ));
        }
        if let Some((name, o)) = oauth {
            let dir = dir.to_path_buf();
            let header = o.header_name().to_string();
            o.on_refresh(move |t| {
                // the runner removed the folder after its exec suite: nothing to update
                if !dir.is_dir() {
                    return;
                }
                if let Err(error) = exec.write(&dir, Some((&header, t))) {
                    tracing::warn!(step = %name, %error, "cannot rewrite exec token files");
                }
            });
        }
        if let Some(m) = &self.inner.mtls {
            for (src, file, var) in [
                (&m.cert_file, "client.crt", env::CLIENT_CERT_FILE),
                (&m.key_file, "client.key", env::CLIENT_KEY_FILE),
                (&m.ca_file, "ca.crt", env::CA_FILE),
            ] {
                if let Some(src) = src {
                    let content = std::fs::read(src).map_err(|e| AuthError {
                        step: "mtls".into(),
                        message: format!("cannot read {}: {e}", src.display()),
                    })?;
                    let dst: PathBuf = dir.join(file);
                    write_private(&dst, &content).map_err(|e| err("mtls", file, e))?;
                    vars.push((var.to_string(), path_str(&dst)));
                }
            }
        }
        Ok(vars)
    }
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn empty_chain_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let chain = start(AuthConfig { steps: Vec::new() }, dir.path())
            .await
            .unwrap();
        let auth = chain.request_auth();
        let h = auth
            .headers(RequestParts {
                method: "GET",
                url: "http://127.0.0.1/",
                body: b"",
            })
            .await
            .unwrap();
        assert!(h.is_empty());
        assert!(!auth.refresh().await.unwrap());
        assert!(auth.client_tls().is_none());
        assert!(chain.exec_env(&dir.path().join("exec")).unwrap().is_empty());
    }

    #[cfg(not(feature = "kerberos"))]
    #[tokio::test]
    async fn kerberos_without_the_feature_is_a_clear_error() {
        let c = crate::config::parse_config(
            "steps:\n  - kerberos:\n      principal: a@B\n",
            "auth.yaml",
        )
        .unwrap();
        let err = start(c, Path::new("/nonexistent")).await.unwrap_err();
        assert_eq!(err.step, "kerberos");
        assert!(err.message.contains("cargo feature `kerberos`"), "{err}");
    }
}
