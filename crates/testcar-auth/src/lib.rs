//! Credential chain: OAuth2, Kerberos/SPNEGO, chaining, mTLS, HMAC, static. The runners
//! see only [`RequestAuth`]: headers per request, a refresh on 401, and client TLS.

pub mod apply;

pub use apply::{AuthError, ClientTls, RequestAuth, RequestParts};
