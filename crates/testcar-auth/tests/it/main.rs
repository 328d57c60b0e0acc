//! The credential chain's integration tests as one binary (one link instead of three);
//! `kerberos` stays apart: it runs its scenarios in a child process whose KRB5_CONFIG names a
//! throw-away realm (harness = false).

mod hostile;
mod oauth2;
mod signing_and_tls;
#[path = "../support/mod.rs"]
mod support;
