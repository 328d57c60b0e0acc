//! `kerberos` step: its configuration and checks (always built, so a config naming the step
//! is read and checked even without Kerberos support), and the SPNEGO implementation in
//! `login` (cargo feature `kerberos`).

use std::path::PathBuf;

use serde::Deserialize;

#[cfg(feature = "kerberos")]
mod login;
#[cfg(feature = "kerberos")]
pub(crate) use login::KerberosAuth;

/// `kerberos` step: SPNEGO `Authorization: Negotiate` from a keytab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KerberosConfig {
    /// Step name (default `kerberos`).
    pub name: Option<String>,
    /// Client principal, e.g. `svc-testcar@EXAMPLE.COM`.
    pub principal: String,
    /// Keytab holding the principal's keys. Without it the existing credential cache is used.
    pub keytab_file: Option<PathBuf>,
    /// Service principal in GSSAPI host-based form, e.g. `HTTP@api.example.com`
    /// (default `HTTP@<host of the request URL>`).
    pub service_principal: Option<String>,
}

impl KerberosConfig {
    /// This step's own checks (a key path under the step, and why); the chain's checks
    /// (names, who sets `Authorization`, `authenticateWith`) are in `config`.
    pub(crate) fn check(&self, problem: &mut impl FnMut(&str, String)) {
        let c = self;
        if c.principal.trim().is_empty() {
            problem("principal", "expected a principal such as svc@REALM".into());
        }
        if let Some(sp) = &c.service_principal {
            if !sp.contains('@') && !sp.contains('/') {
                problem(
                    "servicePrincipal",
                    format!("expected a host-based name like HTTP@host, got `{sp}`"),
                );
            }
        }
    }
}
