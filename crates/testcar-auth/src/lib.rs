//! Credential chain: OAuth2, Kerberos/SPNEGO, chaining, mTLS, HMAC, static. The runners
//! see only [`RequestAuth`]: headers per request, a refresh on 401, and client TLS, applied
//! the same way by every runner through [`RequestCredentials`].
//! [`load_config`] reads `auth.yaml`, [`start`] runs the steps into a [`Chain`].

mod apply;
mod chain;
mod config;
mod hmac;
mod kerberos;
pub mod mtls;
mod oauth;
mod request;
mod secret;
mod static_creds;

pub use apply::{AuthError, ClientTls, RequestAuth, RequestParts};
pub use chain::{Chain, start};
pub use config::{AuthConfig, ConfigError, load_config, load_from_dir, parse_config};
pub use request::{CredentialError, RequestCredentials};
pub use secret::Secret;
