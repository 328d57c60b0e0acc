//! `kerberos` step: SPNEGO `Authorization: Negotiate` tokens through the system's MIT
//! GSSAPI (libgssapi). A keytab login is done with `kinit -k` into the default credential
//! cache (the process environment — `KRB5_CONFIG`, `KRB5CCNAME` — decides where that is),
//! renewed in the background; each request gets a fresh token for `HTTP@<host>`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use libgssapi::context::{ClientCtx, CtxFlags};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{
    GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL, OidSet,
};
use tracing::Instrument as _;

use base64::Engine as _;

use super::KerberosConfig;
use crate::apply::{AuthError, ClientTls, RequestAuth, RequestParts};
use crate::secret::resolve;

/// Renew this long before the credentials expire, at most half their lifetime.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// One `kerberos` step.
pub struct KerberosAuth {
    step: String,
    principal: String,
    keytab: Option<PathBuf>,
    service: Option<String>,
    cred: Mutex<Cred>,
}

impl std::fmt::Debug for KerberosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosAuth")
            .field("step", &self.step)
            .field("principal", &self.principal)
            .field("keytab", &self.keytab)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl KerberosAuth {
    /// Log in from the keytab (when given), acquire initiator credentials for the
    /// principal, and check a service ticket can be had when the service is configured.
    pub async fn start(
        step: &str,
        c: &KerberosConfig,
        base_dir: &Path,
    ) -> Result<Arc<Self>, AuthError> {
        let keytab = c.keytab_file.as_ref().map(|k| resolve(base_dir, k));
        let cred = login(step, &c.principal, keytab.as_deref()).await?;
        let auth = Arc::new(KerberosAuth {
            step: step.to_string(),
            principal: c.principal.clone(),
            keytab,
            service: c.service_principal.clone(),
            cred: Mutex::new(cred),
        });
        if let Some(service) = &auth.service {
            auth.token_for(service.clone()).await?;
        }
        tracing::info!(step = %step, principal = %c.principal, "kerberos credentials acquired");
        if auth.keytab.is_some() {
            let weak = Arc::downgrade(&auth);
            tokio::spawn(
                renew_loop(weak).instrument(tracing::info_span!("kerberos_renew", step = %step)),
            );
        }
        Ok(auth)
    }

    fn err(&self, message: String) -> AuthError {
        AuthError {
            step: self.step.clone(),
            message,
        }
    }

    /// A fresh SPNEGO token for a host-based service name such as `HTTP@host`.
    pub async fn token_for(&self, service: String) -> Result<String, AuthError> {
        let cred = self.cred.lock().expect("cred lock").clone();
        let principal = self.principal.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
            let target = Name::new(service.as_bytes(), Some(&GSS_NT_HOSTBASED_SERVICE))
                .map_err(|e| format!("invalid service name `{service}`: {}", gss_text(&e)))?;
            let mut ctx = ClientCtx::new(
                Some(cred),
                target,
                CtxFlags::empty(),
                Some(&GSS_MECH_SPNEGO),
            );
            match ctx.step(None, None) {
                Ok(Some(tok)) => Ok(tok.to_vec()),
                Ok(None) => Err(format!("GSSAPI produced no token for `{service}`")),
                Err(e) => Err(format!(
                    "cannot get a ticket for service `{service}` as `{principal}`: {}",
                    gss_text(&e)
                )),
            }
        })
        .await
        .map_err(|e| self.err(format!("GSSAPI task failed: {e}")))?;
        result
            .map(|tok| base64::engine::general_purpose::STANDARD.encode(tok))
            .map_err(|m| self.err(m))
    }

    /// Log in again from the keytab and use the new credentials.
    pub async fn renew(&self) -> Result<Duration, AuthError> {
        let cred = login(&self.step, &self.principal, self.keytab.as_deref()).await?;
        let life = cred.lifetime().unwrap_or(Duration::ZERO);
        *self.cred.lock().expect("cred lock") = cred;
        Ok(life)
    }

    fn lifetime(&self) -> Duration {
        self.cred
            .lock()
            .expect("cred lock")
            .lifetime()
            .unwrap_or(Duration::ZERO)
    }

    fn service_for(&self, url: &str) -> Result<String, AuthError> {
        if let Some(s) = &self.service {
            return Ok(s.clone());
        }
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .ok_or_else(|| {
                self.err(format!(
                    "cannot derive HTTP@host from URL `{url}`; set servicePrincipal"
                ))
            })?;
        Ok(format!("HTTP@{host}"))
    }
}

async fn renew_loop(auth: Weak<KerberosAuth>) {
    let mut failures = 0u32;
    loop {
        let wait = {
            let Some(a) = auth.upgrade() else { return };
            let life = a.lifetime();
            if failures > 0 {
                Duration::from_secs(2u64.pow(failures.min(5)))
            } else {
                life.saturating_sub(RENEW_BEFORE.min(life / 2))
                    .max(Duration::from_secs(1))
            }
        };
        tokio::time::sleep(wait).await;
        let Some(a) = auth.upgrade() else { return };
        match a.renew().await {
            Ok(life) => {
                failures = 0;
                tracing::info!(lifetime = ?life, "kerberos credentials renewed");
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, failures, "kerberos renewal failed; retrying");
            }
        }
    }
}

/// `kinit -k -t KEYTAB PRINCIPAL` (when a keytab is given), then acquire initiator
/// credentials for the principal from the default credential cache.
async fn login(step: &str, principal: &str, keytab: Option<&Path>) -> Result<Cred, AuthError> {
    let err = |message: String| AuthError {
        step: step.to_string(),
        message,
    };
    if let Some(keytab) = keytab {
        if !keytab.is_file() {
            return Err(err(format!(
                "keytabFile: {} does not exist",
                keytab.display()
            )));
        }
        let out = tokio::process::Command::new("kinit")
            .arg("-k")
            .arg("-t")
            .arg(keytab)
            .arg(principal)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| {
                err(format!(
                    "cannot run kinit (install MIT Kerberos' krb5-user): {e}"
                ))
            })?;
        if !out.status.success() {
            let reason = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(err(format!(
                "keytab login as `{principal}` with {} failed: {reason}",
                keytab.display()
            )));
        }
    }
    let principal_owned = principal.to_string();
    tokio::task::spawn_blocking(move || -> Result<Cred, String> {
        let name = Name::new(principal_owned.as_bytes(), Some(&GSS_NT_KRB5_PRINCIPAL))
            .map_err(|e| format!("invalid principal `{principal_owned}`: {}", gss_text(&e)))?;
        let mut mechs = OidSet::new().map_err(|e| gss_text(&e))?;
        mechs.add(&GSS_MECH_KRB5).map_err(|e| gss_text(&e))?;
        mechs.add(&GSS_MECH_SPNEGO).map_err(|e| gss_text(&e))?;
        Cred::acquire(Some(&name), None, CredUsage::Initiate, Some(&mechs)).map_err(|e| {
            format!(
                "no Kerberos credentials for `{principal_owned}` (give keytabFile or run kinit): {}",
                gss_text(&e)
            )
        })
    })
    .await
    .map_err(|e| err(format!("GSSAPI task failed: {e}")))?
    .map_err(err)
}

/// GSSAPI's text without its boilerplate: the minor (mechanism) message is the reason.
fn gss_text(e: &libgssapi::error::Error) -> String {
    // GSSAPI's buffers may carry their C string terminator
    let text = e.to_string().replace('\0', "");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.replace(
        "Unspecified GSS failure. Minor code may provide more information ",
        "",
    );
    match text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        Some(inner) if !inner.contains('(') => inner.to_string(),
        _ => text,
    }
}

impl RequestAuth for KerberosAuth {
    fn headers<'a>(
        &'a self,
        req: RequestParts<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
        async move {
            let service = self.service_for(req.url)?;
            let token = self.token_for(service).await?;
            Ok(vec![(
                "Authorization".to_string(),
                format!("Negotiate {token}"),
            )])
        }
        .boxed()
    }

    fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>> {
        async move {
            if self.keytab.is_none() {
                return Ok(false);
            }
            self.renew().await?;
            Ok(true)
        }
        .boxed()
    }

    fn client_tls(&self) -> Option<&ClientTls> {
        None
    }
}
