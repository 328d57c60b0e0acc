//! The serving certificate: loaded from PEM files, handed to rustls per handshake, and
//! reloaded when the files change (Kubernetes Secret mounts swap a `..data` symlink), so
//! rotation needs no restart and loses no request: open connections keep their session,
//! new handshakes get the new certificate, a bad new pair keeps the old one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How often the files are re-read even without a change notification (network file
/// systems and some volume drivers do not deliver inotify events).
pub const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Time given to writers to finish a burst of changes before reloading.
const SETTLE: Duration = Duration::from_millis(150);

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{path}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// The key file holds no usable private key.
    #[error(
        "{path}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1; RSA, ECDSA or Ed25519): {reason}"
    )]
    BadKey {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Certificate and key do not belong together, or the certificate is unreadable.
    #[error("{cert} and {key} do not form a usable pair: {reason}")]
    Pair {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// Why.
        reason: String,
    },
    /// The rustls configuration could not be built.
    #[error("cannot configure TLS: {0}")]
    Config(#[source] rustls::Error),
    /// The folder watcher could not be started.
    #[error("cannot watch {path} for certificate changes: {source}")]
    Watch {
        /// The folder.
        path: String,
        /// Why.
        #[source]
        source: notify::Error,
    },
}

/// A loaded certificate with its notAfter.
#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    /// The raw file contents, to tell a real change from a touch.
    source: (Vec<u8>, Vec<u8>),
    not_after: i64,
}

/// The current serving certificate, swapped atomically on reload.
#[derive(Debug)]
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    source: Mutex<(Vec<u8>, Vec<u8>)>,
    metrics: Arc<Metrics>,
}

impl CertStore {
    /// Load the pair once; an error here stops the injector from starting.
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
        metrics: Arc<Metrics>,
    ) -> Result<CertStore, TlsError> {
        let loaded = load_pair(cert_path, key_path)?;
        metrics.cert_expiry(loaded.not_after);
        tracing::info!(cert = %cert_path.display(), not_after = loaded.not_after, "serving certificate loaded");
        Ok(CertStore {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(loaded.key),
            source: Mutex::new(loaded.source),
            metrics,
        })
    }

    /// Re-read the files; swap in the new pair if it changed and is valid. Returns whether
    /// the serving certificate changed.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let cert = read(&self.cert_path)?;
        let key = read(&self.key_path)?;
        {
            let current = self.source.lock().unwrap_or_else(|p| p.into_inner());
            if current.0 == cert && current.1 == key {
                return Ok(false);
            }
        }
        match build(&self.cert_path, &self.key_path, cert, key) {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded.key;
                *self.source.lock().unwrap_or_else(|p| p.into_inner()) = loaded.source;
                self.metrics.cert_expiry(loaded.not_after);
                self.metrics.tls_reload(true);
                tracing::info!(cert = %self.cert_path.display(), not_after = loaded.not_after, "serving certificate reloaded");
                Ok(true)
            }
            Err(e) => {
                self.metrics.tls_reload(false);
                Err(e)
            }
        }
    }

    /// The folders to watch: those holding the files (Secret mounts change `..data` there).
    fn folders(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = [&self.cert_path, &self.key_path]
            .iter()
            .map(|p| match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        dirs.dedup();
        dirs
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// A rustls server configuration (TLS 1.2 and 1.3, ring, ALPN h2 and http/1.1) that asks
/// `store` for the certificate on every handshake.
pub fn server_config(store: Arc<CertStore>) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Watch the certificate folders until `cancel`, reloading on change and every
/// [`POLL_INTERVAL`]. Failed reloads keep the current certificate and are logged.
pub async fn watch(store: Arc<CertStore>, cancel: CancellationToken) -> Result<(), TlsError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    })
    .map_err(|source| TlsError::Watch {
        path: store.cert_path.display().to_string(),
        source,
    })?;
    for dir in store.folders() {
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| TlsError::Watch {
                path: dir.display().to_string(),
                source,
            })?;
    }
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = poll.tick() => {}
            got = rx.recv() => {
                if got.is_none() { break; }
                // A Secret update is several events (new folder, new symlink, rename):
                // wait until they settle, then read once.
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
            }
        }
        if let Err(error) = store.reload() {
            tracing::warn!(%error, "certificate reload failed; still serving the previous certificate");
        }
    }
    drop(watcher);
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn load_pair(cert_path: &Path, key_path: &Path) -> Result<Loaded, TlsError> {
    build(cert_path, key_path, read(cert_path)?, read(key_path)?)
}

fn build(
    cert_path: &Path,
    key_path: &Path,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
) -> Result<Loaded, TlsError> {
    let cert_name = || cert_path.display().to_string();
    let key_name = || key_path.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate { path: cert_name() })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_name() });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: key_name(),
        reason: e.to_string(),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| TlsError::Pair {
        cert: cert_name(),
        key: key_name(),
        reason: e.to_string(),
    })?;
    let not_after = not_after(&certified.cert[0]).ok_or_else(|| TlsError::Pair {
        cert: cert_name(),
        key: key_name(),
        reason: "the certificate is not valid X.509".to_string(),
    })?;
    Ok(Loaded {
        key: Arc::new(certified),
        source: (cert_pem, key_pem),
        not_after,
    })
}

/// notAfter of a DER certificate, Unix seconds.
fn not_after(der: &CertificateDer<'_>) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn loads_reloads_and_keeps_old_on_bad_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = mk_pair("a.example");
        let cp = dir.path().join("tls.crt");
        let kp = dir.path().join("tls.key");
        std::fs::write(&cp, &c).unwrap();
        std::fs::write(&kp, &k).unwrap();
        let metrics = Arc::new(Metrics::new());
        let store = CertStore::load(&cp, &kp, metrics.clone()).unwrap();
        assert!(!store.reload().unwrap(), "unchanged files are not a reload");

        // a new cert with the old key: mismatched pair, old one kept
        let (c2, k2) = mk_pair("b.example");
        std::fs::write(&cp, &c2).unwrap();
        let before = store.current.read().unwrap().clone();
        let err = store.reload().unwrap_err().to_string();
        assert!(err.contains("do not form a usable pair"), "{err}");
        assert!(Arc::ptr_eq(&before, &store.current.read().unwrap()));

        std::fs::write(&kp, &k2).unwrap();
        assert!(store.reload().unwrap());
        let text = metrics.encode();
        assert!(
            text.contains("testcar_injector_tls_reloads_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("testcar_injector_tls_reloads_total{result=\"error\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cp = dir.path().join("tls.crt");
        let kp = dir.path().join("tls.key");
        std::fs::write(&cp, "not a cert").unwrap();
        std::fs::write(&kp, "not a key").unwrap();
        let m = Arc::new(Metrics::new());
        let err = CertStore::load(&cp, &kp, m.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tls.crt") && err.contains("no PEM certificate"),
            "{err}"
        );
        let (c, _) = mk_pair("a");
        std::fs::write(&cp, c).unwrap();
        let err = CertStore::load(&cp, &kp, m.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls.key"), "{err}");
        let err = CertStore::load(&dir.path().join("missing.crt"), &kp, m)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.crt"), "{err}");
    }
}
