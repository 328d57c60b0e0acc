//! testcar-agent library: all the logic; `main.rs` only parses arguments and maps errors.

pub mod cli;
pub mod render;
