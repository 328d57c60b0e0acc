//! The report crate's integration tests as one binary (one link instead of four).

mod chromium;
mod common;
mod dashboard;
mod files;
mod render;
