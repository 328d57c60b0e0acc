//! `agent.endpoints`: who may call the injected agents' `/result`, `/report` and `/metrics`.
//! The operator's setting; a pod can only narrow it (`testcar.io/endpoints`), never widen it.

use serde::Deserialize;
use testcar_contract::endpoints::{Access, EndpointPolicy};

/// Access of each endpoint, as the configuration file spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Endpoints {
    /// `/result` (default `token`).
    pub result: AccessLevel,
    /// `/report` (default `token`).
    pub report: AccessLevel,
    /// `/metrics` (default `open`, for Prometheus).
    pub metrics: AccessLevel,
}

impl Default for Endpoints {
    fn default() -> Self {
        let p = EndpointPolicy::default();
        Endpoints {
            result: p.result.into(),
            report: p.report.into(),
            metrics: p.metrics.into(),
        }
    }
}

impl Endpoints {
    /// The policy the agent enforces.
    pub fn policy(&self) -> EndpointPolicy {
        EndpointPolicy {
            result: self.result.into(),
            report: self.report.into(),
            metrics: self.metrics.into(),
        }
    }
}

/// One endpoint's access: `off`, `local` (the pod's loopback), `token` (loopback or the
/// pod's read token), `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// Not served.
    Off,
    /// The pod's loopback only.
    Local,
    /// Loopback, or the pod's read token.
    Token,
    /// Anyone who reaches the port.
    Open,
}

impl From<AccessLevel> for Access {
    fn from(a: AccessLevel) -> Access {
        match a {
            AccessLevel::Off => Access::Off,
            AccessLevel::Local => Access::Local,
            AccessLevel::Token => Access::Token,
            AccessLevel::Open => Access::Open,
        }
    }
}

impl From<Access> for AccessLevel {
    fn from(a: Access) -> AccessLevel {
        match a {
            Access::Off => AccessLevel::Off,
            Access::Local => AccessLevel::Local,
            Access::Token => AccessLevel::Token,
            Access::Open => AccessLevel::Open,
        }
    }
}
