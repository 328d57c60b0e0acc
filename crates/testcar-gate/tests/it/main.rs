//! The gate's integration tests as one binary (one link instead of five): the real binary
//! against a stand-in API server, the library's gate and rollout merging, the CLI-vs-docs
//! check and the pipeline wrappers' recorded fixtures.

mod binary;
mod cli_docs;
mod common;
mod gate;
mod rollout_load;
mod wrapper_fixtures;
