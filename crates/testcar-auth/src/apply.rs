//! The interface every runner uses to apply credentials: the engine asks for headers per
//! request, reports a 401 so the chain can refresh once, and builds its TLS client from
//! [`ClientTls`]. Secret values never appear in `Debug` output or errors.

use futures::future::BoxFuture;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What a signer may look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Full URL, including the query string.
    pub url: &'a str,
    /// The request body as sent (empty for none).
    pub body: &'a [u8],
}

/// Client-side TLS material for connections to the service (mTLS and private CAs).
pub struct ClientTls {
    /// Client certificate chain, leaf first (empty when only `roots` are given).
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// Client private key (absent when only `roots` are given).
    pub key: Option<PrivateKeyDer<'static>>,
    /// Extra trusted roots for the service's certificate.
    pub roots: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("cert_chain", &self.cert_chain.len())
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("roots", &self.roots.len())
            .finish()
    }
}

/// Why credentials could not be obtained or applied. Messages name the step and the
/// server's reason, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auth step {step}: {message}")]
pub struct AuthError {
    /// The step that failed (its name in the chain, e.g. `oauth2` or `kerberos`).
    pub step: String,
    /// What went wrong.
    pub message: String,
}

/// Credentials applied to every request a runner sends to the service.
pub trait RequestAuth: Send + Sync + std::fmt::Debug {
    /// Header name/value pairs to add to this request (bearer, Negotiate, HMAC signature,
    /// static headers). Cheap when cached: called once per request.
    fn headers<'a>(
        &'a self,
        req: RequestParts<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>>;

    /// The service answered 401: refresh what can be refreshed. `Ok(true)` means the
    /// request should be retried once with fresh headers.
    fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>>;

    /// Client TLS material for connections to the service, if any.
    fn client_tls(&self) -> Option<&ClientTls>;
}

/// Refuse a header name that HTTP does not allow (RFC 9110 token), naming `key`.
pub(crate) fn check_header_name(name: &str, key: &str, problem: &mut impl FnMut(&str, String)) {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        problem(key, format!("`{name}` is not a valid HTTP header name"));
    }
}
