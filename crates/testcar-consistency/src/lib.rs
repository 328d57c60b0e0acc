//! Consistency suites and the linearizability checker: concurrent clients drive a service
//! over HTTP, the history is recorded, and a Wing & Gong / Lowe search with
//! P-compositionality decides whether it is linearizable for a register, kv or bank model.

pub mod check;
pub mod cli;
pub mod format;
mod history;
mod html;
mod memory;
mod model;
mod refute;
mod runner;
mod search;
pub mod suite;
mod template;

pub use check::{CheckOptions, Linearizability, PartitionVerdict, Verdict, check};
pub use cli::{CheckError, CheckHistoryArgs, check_history};
pub use format::{Format, ParseError};
pub use history::{History, Input, Op, Outcome, Output};
pub use model::{ModelError, ModelKind};
pub use runner::{SuiteOptions, run_suite};
pub use suite::{ConsistencySuite, SuiteError, load_suite};
