//! Credential chain: OAuth2, Kerberos/SPNEGO, chaining, mTLS, HMAC, static. The runners
//! see only [`RequestAuth`]: headers per request, a refresh on 401, and client TLS, applied
//! the same way by every runner through [`RequestCredentials`].
//! [`load_config`] reads `auth.yaml`, [`start`] runs the steps into a [`Chain`].

pub mod apply;
pub mod chain;
pub mod config;
pub mod hmac;
#[cfg(feature = "kerberos")]
pub mod kerberos;
pub mod mtls;
pub mod oauth;
pub mod request;
pub mod secret;
pub mod static_creds;

pub use apply::{AuthError, ClientTls, RequestAuth, RequestParts};
pub use chain::{Chain, start};
pub use config::{AuthConfig, ConfigError, load_config, load_from_dir, parse_config};
pub use request::{CredentialError, RequestCredentials};
pub use secret::Secret;
