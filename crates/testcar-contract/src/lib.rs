//! The contract every Testcar part speaks: the result document (schema v1), the
//! annotation / environment / path contract between injector and agent, exit classes,
//! and the renderers (result line, JUnit XML, human summary). No runtime, no kube client.

pub mod annotations;
pub mod duration;
pub mod endpoints;
pub mod env;
pub mod exit;
pub mod histogram;
pub mod junit;
pub mod line;
pub mod paths;
pub mod result;
pub mod schema;
pub mod summary;
pub mod tags;

pub use exit::ExitClass;
pub use result::{
    Check, CheckKind, CheckStatus, Counts, FaultRecord, HttpMetrics, LatencySummary, LoadShare,
    PodRef, Report, Run, RunnerKind, SCHEMA_ID, Status, Suite, Summary, VuserCounts,
};
