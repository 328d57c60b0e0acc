//! The engine's integration tests as one test binary: each of them links the whole engine,
//! so one binary is linked once instead of once per file.

mod corpus;
mod engine;
mod hostile;
mod overlay;
mod script_forms;
mod ws;
