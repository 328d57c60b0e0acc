//! testcar-agent library: all the logic; `main.rs` only parses arguments and maps errors.
//! The sidecar (`sidecar`), the one-shot runner (`oneshot`), and what they share:
//! discovery, readiness, credentials, runners, results, state, metrics, endpoints.

pub mod access;
pub mod cli;
pub mod credentials;
pub mod discover;
pub mod execute;
pub mod faults;
pub mod manifest;
pub mod metrics;
pub mod oneshot;
pub mod readiness;
pub mod render;
pub mod results;
pub mod runners;
pub mod server;
pub mod sidecar;
pub mod state;
pub mod validate;
