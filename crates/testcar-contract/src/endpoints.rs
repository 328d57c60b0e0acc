//! Who may read the agent's HTTP endpoints. Results carry request URLs and error messages,
//! so the injector decides a policy per pod (the operator's setting, narrowed by the pod's
//! `testcar.io/endpoints` annotation) and hands it to the agent, which enforces it.

use std::fmt;
use std::str::FromStr;

/// Header carrying the pod's read token. `Authorization: Bearer` works too when the agent
/// is called directly, but the API server's pod proxy removes `Authorization` (it
/// authenticated the caller with it) and passes other headers on, so the gate uses this one.
pub const READ_TOKEN_HEADER: &str = "x-testcar-token";

/// The agent endpoints a policy governs. `/healthz` and `/passed` are always served: they
/// say only "alive" and "passed or not", and the kubelet probes them without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `/result`: the result document (URLs, error messages, timings).
    Result,
    /// `/report`: the HTML report (the same content, drawn).
    Report,
    /// `/metrics`: Prometheus text (counters and latencies per suite).
    Metrics,
}

impl Endpoint {
    /// Every endpoint, in the order policies are written.
    pub const ALL: [Endpoint; 3] = [Endpoint::Result, Endpoint::Report, Endpoint::Metrics];

    /// The name used in policies and the annotation.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Result => "result",
            Endpoint::Report => "report",
            Endpoint::Metrics => "metrics",
        }
    }

    /// The URL path the agent serves it on.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Result => "/result",
            Endpoint::Report => "/report",
            Endpoint::Metrics => "/metrics",
        }
    }

    fn parse(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Who may call one endpoint, from the most closed to the most open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Not served (404).
    Off,
    /// Only callers on the pod's loopback: the pod's own containers and `kubectl
    /// port-forward`, which the API server authorizes (`pods/portforward`).
    Local,
    /// Loopback callers, and remote callers presenting the pod's read token.
    Token,
    /// Anyone who can reach the port.
    Open,
}

impl Access {
    /// The spelling in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Off => "off",
            Access::Local => "local",
            Access::Token => "token",
            Access::Open => "open",
        }
    }

    fn parse(value: &str) -> Option<Access> {
        [Access::Off, Access::Local, Access::Token, Access::Open]
            .into_iter()
            .find(|a| a.as_str() == value)
    }
}

/// The access of each endpoint. Written `result=token,report=token,metrics=open`; an
/// endpoint left out keeps its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// `/result`.
    pub result: Access,
    /// `/report`.
    pub report: Access,
    /// `/metrics`.
    pub metrics: Access,
}

impl Default for EndpointPolicy {
    /// Results need the token from off the pod; metrics stay open for Prometheus.
    fn default() -> Self {
        EndpointPolicy {
            result: Access::Token,
            report: Access::Token,
            metrics: Access::Open,
        }
    }
}

/// Why a policy or an endpoint list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointsError {
    /// An item is not `name=access`.
    #[error("{item:?} is not ENDPOINT=ACCESS (e.g. result=token)")]
    NotAPair {
        /// The item as written.
        item: String,
    },
    /// An endpoint name is unknown.
    #[error("unknown endpoint {name:?}: expected result, report or metrics")]
    UnknownEndpoint {
        /// The name as written.
        name: String,
    },
    /// An access level is unknown.
    #[error("unknown access {value:?} for {endpoint}: expected off, local, token or open")]
    UnknownAccess {
        /// The endpoint it was given for.
        endpoint: &'static str,
        /// The value as written.
        value: String,
    },
}

impl EndpointPolicy {
    /// The access of `endpoint`.
    pub fn access(&self, endpoint: Endpoint) -> Access {
        match endpoint {
            Endpoint::Result => self.result,
            Endpoint::Report => self.report,
            Endpoint::Metrics => self.metrics,
        }
    }

    fn set(&mut self, endpoint: Endpoint, access: Access) {
        match endpoint {
            Endpoint::Result => self.result = access,
            Endpoint::Report => self.report = access,
            Endpoint::Metrics => self.metrics = access,
        }
    }

    /// Keep only `kept` served: the others are turned off. A pod can close its own
    /// endpoints this way but never open them wider than the operator set.
    pub fn keep_only(mut self, kept: &[Endpoint]) -> Self {
        for endpoint in Endpoint::ALL {
            if !kept.contains(&endpoint) {
                self.set(endpoint, Access::Off);
            }
        }
        self
    }

    /// Whether any endpoint needs the pod's read token.
    pub fn needs_token(&self) -> bool {
        Endpoint::ALL
            .into_iter()
            .any(|e| self.access(e) == Access::Token)
    }
}

impl FromStr for EndpointPolicy {
    type Err = EndpointsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut policy = EndpointPolicy::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((name, value)) = item.split_once('=') else {
                return Err(EndpointsError::NotAPair { item: item.into() });
            };
            let endpoint =
                Endpoint::parse(name.trim()).ok_or_else(|| EndpointsError::UnknownEndpoint {
                    name: name.trim().into(),
                })?;
            let access =
                Access::parse(value.trim()).ok_or_else(|| EndpointsError::UnknownAccess {
                    endpoint: endpoint.as_str(),
                    value: value.trim().into(),
                })?;
            policy.set(endpoint, access);
        }
        Ok(policy)
    }
}

impl fmt::Display for EndpointPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = Endpoint::ALL
            .into_iter()
            .map(|e| format!("{}={}", e.as_str(), self.access(e).as_str()))
            .collect();
        f.write_str(&items.join(","))
    }
}

/// Read the `testcar.io/endpoints` annotation: `none`, or the comma-separated endpoints to
/// keep serving (`metrics`, `result,metrics`, …).
pub fn parse_kept(value: &str) -> Result<Vec<Endpoint>, EndpointsError> {
    let value = value.trim();
    if value == "none" {
        return Ok(Vec::new());
    }
    let mut kept = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let endpoint = Endpoint::parse(name)
            .ok_or_else(|| EndpointsError::UnknownEndpoint { name: name.into() })?;
        if !kept.contains(&endpoint) {
            kept.push(endpoint);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trips_and_fills_defaults() {
        let p: EndpointPolicy = "report=off, metrics=token".parse().unwrap();
        assert_eq!(p.result, Access::Token);
        assert_eq!(p.report, Access::Off);
        assert_eq!(p.metrics, Access::Token);
        assert_eq!(p.to_string(), "result=token,report=off,metrics=token");
        assert_eq!(p.to_string().parse::<EndpointPolicy>().unwrap(), p);
        assert_eq!(
            "".parse::<EndpointPolicy>().unwrap(),
            EndpointPolicy::default()
        );
    }

    #[test]
    fn bad_policies_name_the_item_and_the_choices() {
        let e = "result".parse::<EndpointPolicy>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"result\" is not ENDPOINT=ACCESS (e.g. result=token)"
        );
        let e = "results=open".parse::<EndpointPolicy>().unwrap_err();
        assert!(
            e.to_string().contains("expected result, report or metrics"),
            "{e}"
        );
        let e = "metrics=public".parse::<EndpointPolicy>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown access \"public\" for metrics: expected off, local, token or open"
        );
    }

    #[test]
    fn the_annotation_only_closes_endpoints() {
        let open: EndpointPolicy = "result=open,report=local,metrics=open".parse().unwrap();
        let kept = parse_kept("metrics, result").unwrap();
        let p = open.keep_only(&kept);
        assert_eq!(
            (p.result, p.report, p.metrics),
            (Access::Open, Access::Off, Access::Open)
        );
        assert_eq!(
            EndpointPolicy::default().keep_only(&parse_kept("none").unwrap()),
            EndpointPolicy {
                result: Access::Off,
                report: Access::Off,
                metrics: Access::Off
            }
        );
        assert!(parse_kept("result,html").is_err());
    }

    #[test]
    fn needs_token_only_when_some_endpoint_is_token() {
        assert!(EndpointPolicy::default().needs_token());
        assert!(
            !"result=local,report=off"
                .parse::<EndpointPolicy>()
                .unwrap()
                .needs_token()
        );
    }
}
