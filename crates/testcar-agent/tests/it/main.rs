//! The agent's integration tests as one binary (one link instead of ten): the real binary's
//! commands, the sidecar's lifecycle and endpoints, faults (processes, proxies, pods through
//! a stand-in API server, kernel faults in a fresh network namespace), messages and the
//! CLI-vs-docs check.

mod artillery_flags;
mod cli_docs;
mod common;
mod faults;
mod hostile;
mod kernel_faults;
mod messages;
mod pod_faults;
mod run;
mod sidecar;
mod verdict_last;
