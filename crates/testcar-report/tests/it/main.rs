//! The report crate's integration tests as one binary (one link instead of four).

mod common;
mod chromium;
mod dashboard;
mod files;
mod render;
