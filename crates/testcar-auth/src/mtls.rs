//! `mtls` step: a client certificate and key (and an extra CA) read from PEM files into
//! [`ClientTls`], and the rustls client configuration (ring provider) built from it, used
//! for the service and for token endpoints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::apply::{AuthError, ClientTls};
use crate::secret::resolve;
use serde::Deserialize;

/// An `mtls` step after its files were read: the material, plus where it came from (exec
/// suites get copies of the files).
#[derive(Debug)]
pub struct MtlsMaterial {
    /// Parsed certificates and key.
    pub tls: ClientTls,
    /// Resolved certificate file.
    pub cert_file: Option<PathBuf>,
    /// Resolved key file.
    pub key_file: Option<PathBuf>,
    /// Resolved CA file.
    pub ca_file: Option<PathBuf>,
}

/// Read the PEM certificates in a file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no CERTIFICATE block found (expected PEM)",
            path.display()
        ));
    }
    Ok(certs)
}

/// Read a PEM private key (PKCS#8, PKCS#1 or SEC1). Errors never quote the file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls_pki_types::pem::Error::Io(io) => format!("cannot read {}: {io}", path.display()),
        rustls_pki_types::pem::Error::NoItemsFound => format!(
            "{}: no PRIVATE KEY block found (expected PEM: PKCS#8, PKCS#1 or SEC1)",
            path.display()
        ),
        _ => format!("{}: not a valid PEM private key", path.display()),
    })
}

impl MtlsMaterial {
    /// Read and check the files of an `mtls` step: the key must match the certificate.
    pub fn from_config(step: &str, c: &MtlsConfig, base_dir: &Path) -> Result<Self, AuthError> {
        let err = |message: String| AuthError {
            step: step.to_string(),
            message,
        };
        let cert_file = c.cert_file.as_ref().map(|p| resolve(base_dir, p));
        let key_file = c.key_file.as_ref().map(|p| resolve(base_dir, p));
        let ca_file = c.ca_file.as_ref().map(|p| resolve(base_dir, p));
        let cert_chain = match &cert_file {
            Some(p) => load_certs(p).map_err(|e| err(format!("certFile: {e}")))?,
            None => Vec::new(),
        };
        let key = match &key_file {
            Some(p) => Some(load_key(p).map_err(|e| err(format!("keyFile: {e}")))?),
            None => None,
        };
        let roots = match &ca_file {
            Some(p) => load_certs(p).map_err(|e| err(format!("caFile: {e}")))?,
            None => Vec::new(),
        };
        let tls = ClientTls {
            cert_chain,
            key,
            roots,
        };
        // building the config checks that the key belongs to the certificate
        client_config(Some(&tls)).map_err(|e| err(e.to_string()))?;
        Ok(MtlsMaterial {
            tls,
            cert_file,
            key_file,
            ca_file,
        })
    }
}

/// A rustls client configuration with the ring provider, the Mozilla roots plus
/// `tls.roots`, and the client certificate when present.
pub fn client_config(tls: Option<&ClientTls>) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(tls) = tls {
        for c in &tls.roots {
            roots.add(c.clone())?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    match tls {
        Some(ClientTls {
            cert_chain,
            key: Some(key),
            ..
        }) if !cert_chain.is_empty() => builder
            .with_client_auth_cert(cert_chain.clone(), key.clone_key())
            .map_err(|e| {
                rustls::Error::General(format!(
                    "the client key does not fit the client certificate: {e}"
                ))
            }),
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `mtls` step: client certificate for TLS connections to the service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MtlsConfig {
    /// Step name (default `mtls`).
    pub name: Option<String>,
    /// Client certificate chain (PEM, leaf first).
    pub cert_file: Option<PathBuf>,
    /// Client private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA bundle (PEM) trusted for the service's certificate.
    pub ca_file: Option<PathBuf>,
}

impl MtlsConfig {
    /// This step's own checks (a key path under the step, and why); the chain's checks
    /// (names, who sets `Authorization`, `authenticateWith`) are in `config`.
    pub(crate) fn check(&self, problem: &mut impl FnMut(&str, String)) {
        let c = self;
        match (&c.cert_file, &c.key_file) {
            (Some(_), None) => problem(
                "keyFile",
                "certFile is given: expected keyFile with its private key".into(),
            ),
            (None, Some(_)) => problem(
                "certFile",
                "keyFile is given: expected certFile with the certificate".into(),
            ),
            (None, None) if c.ca_file.is_none() => problem(
                "certFile",
                "expected certFile and keyFile (and/or caFile)".into(),
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let c = dir.join(format!("{name}.crt"));
        let k = dir.join(format!("{name}.key"));
        std::fs::write(&c, ck.cert.pem()).unwrap();
        std::fs::write(&k, ck.signing_key.serialize_pem()).unwrap();
        (c, k)
    }

    fn mk_config(cert: Option<&Path>, key: Option<&Path>, ca: Option<&Path>) -> MtlsConfig {
        MtlsConfig {
            name: None,
            cert_file: cert.map(Path::to_path_buf),
            key_file: key.map(Path::to_path_buf),
            ca_file: ca.map(Path::to_path_buf),
        }
    }

    #[test]
    fn loads_matching_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = mk_cert(dir.path(), "client");
        let m =
            MtlsMaterial::from_config("mtls", &mk_config(Some(&c), Some(&k), Some(&c)), dir.path())
                .unwrap();
        assert_eq!(m.tls.cert_chain.len(), 1);
        assert_eq!(m.tls.roots.len(), 1);
        assert!(format!("{m:?}").contains("<redacted>"));
    }

    #[test]
    fn mismatched_key_and_bad_pem_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _) = mk_cert(dir.path(), "a");
        let (_, k2) = mk_cert(dir.path(), "b");
        let e =
            MtlsMaterial::from_config("mtls", &mk_config(Some(&c), Some(&k2), None), dir.path())
                .unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        std::fs::write(dir.path().join("junk.key"), "not pem at all").unwrap();
        let e = MtlsMaterial::from_config(
            "mtls",
            &mk_config(Some(&c), Some(Path::new("junk.key")), None),
            dir.path(),
        )
        .unwrap_err();
        assert_eq!(e.step, "mtls");
        assert!(
            e.message.starts_with("keyFile: ") && e.message.contains("junk.key"),
            "{e}"
        );
        assert!(!e.message.contains("not pem at all"));
    }
}
