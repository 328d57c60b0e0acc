//! testcar-injector library: all the logic; `main.rs` only parses arguments and maps errors.

pub mod cli;
