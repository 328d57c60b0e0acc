//! The injector's integration tests as one binary (one link instead of four): recorded reviews
//! through the whole path, the real server over TLS, hostile input and patch properties, and
//! the CLI-vs-docs check.

mod cli_docs;
mod common;
mod fixtures;
mod hostile;
mod properties;
mod server;
