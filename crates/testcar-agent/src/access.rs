//! Who may read the agent's endpoints: any pod in the cluster can reach the agent's port,
//! and results carry request URLs and error messages. The policy comes from the injector;
//! loopback callers (the pod itself, `kubectl port-forward`) always pass `local` and `token`.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use testcar_contract::endpoints::{Access, Endpoint, EndpointPolicy, READ_TOKEN_HEADER};

/// The endpoint policy and the pod's read token, checked on each request.
#[derive(Clone)]
pub struct Guard {
    policy: EndpointPolicy,
    token: Option<String>,
}

impl std::fmt::Debug for Guard {
    // The token never reaches a log, not even a debug one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("policy", &self.policy.to_string())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Guard {
    /// A guard for `policy`; an empty token counts as none.
    pub fn new(policy: EndpointPolicy, token: Option<String>) -> Self {
        Guard {
            policy,
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// `Ok` when `peer` may call `endpoint`, else the answer to send instead.
    pub fn check(
        &self,
        endpoint: Endpoint,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<(), Denied> {
        let path = endpoint.path();
        let loopback = peer.ip().to_canonical().is_loopback();
        match self.policy.access(endpoint) {
            Access::Open => Ok(()),
            Access::Off => Err(deny(
                StatusCode::NOT_FOUND,
                format!(
                    "{path} is turned off on this pod (testcar.io/endpoints or the injector's agent.endpoints)\n"
                ),
            )),
            _ if loopback => Ok(()),
            Access::Local => Err(deny(
                StatusCode::FORBIDDEN,
                format!(
                    "{path} answers only on the pod's loopback: use kubectl port-forward, or testcar-gate\n"
                ),
            )),
            Access::Token => {
                let Some(expected) = &self.token else {
                    return Err(deny(
                        StatusCode::FORBIDDEN,
                        format!(
                            "{path} answers only on the pod's loopback: this pod has no read token (use kubectl port-forward)\n"
                        ),
                    ));
                };
                match presented(headers) {
                    None => Err(deny(
                        StatusCode::UNAUTHORIZED,
                        format!(
                            "{path} needs the pod's read token in the {READ_TOKEN_HEADER} header (testcar-gate sends it; or use kubectl port-forward)\n"
                        ),
                    )),
                    Some(given) if same(given.as_bytes(), expected.as_bytes()) => Ok(()),
                    Some(_) => Err(deny(
                        StatusCode::FORBIDDEN,
                        format!("{path}: the read token does not match this pod's\n"),
                    )),
                }
            }
        }
    }
}

/// A refused call: the status and the reason, sent as plain text.
#[derive(Debug)]
pub struct Denied {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110: a 401 names the scheme the caller should use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"testcar-agent\""),
            );
        }
        response
    }
}

fn deny(status: StatusCode, message: String) -> Denied {
    Denied { status, message }
}

/// The token from `X-Testcar-Token`, else from `Authorization: Bearer`.
fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(READ_TOKEN_HEADER) {
        return v.to_str().ok().map(str::trim);
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Equality whose time does not depend on where the first difference is, so the token
/// cannot be guessed byte by byte from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "3q2+7w-token-of-forty-bytes-0123456789ab";

    fn mk_guard(policy: &str) -> Guard {
        Guard::new(policy.parse().unwrap(), Some(TOKEN.into()))
    }

    fn mk_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn status(r: Result<(), Denied>) -> u16 {
        match r {
            Ok(()) => 200,
            Err(denied) => denied.into_response().status().as_u16(),
        }
    }

    const REMOTE: &str = "10.244.0.9:51000";
    const LOOPBACK: &str = "127.0.0.1:51000";
    const LOOPBACK6: &str = "[::1]:51000";
    const MAPPED: &str = "[::ffff:127.0.0.1]:51000";

    #[test]
    fn token_endpoints_admit_loopback_and_the_right_token_only() {
        let g = mk_guard("result=token");
        let none = HeaderMap::new();
        let check =
            |peer: &str, h: &HeaderMap| status(g.check(Endpoint::Result, peer.parse().unwrap(), h));
        assert_eq!(check(LOOPBACK, &none), 200);
        assert_eq!(check(LOOPBACK6, &none), 200);
        assert_eq!(check(MAPPED, &none), 200);
        assert_eq!(check(REMOTE, &none), 401);
        assert_eq!(
            check(REMOTE, &mk_headers(&[("x-testcar-token", TOKEN)])),
            200
        );
        assert_eq!(
            check(
                REMOTE,
                &mk_headers(&[("authorization", &format!("Bearer {TOKEN}"))])
            ),
            200
        );
        assert_eq!(
            check(REMOTE, &mk_headers(&[("x-testcar-token", "guess")])),
            403
        );
        // one byte short, one byte off
        assert_eq!(
            check(REMOTE, &mk_headers(&[("x-testcar-token", &TOKEN[1..])])),
            403
        );
        assert_eq!(
            check(
                REMOTE,
                &mk_headers(&[("authorization", &format!("Basic {TOKEN}"))])
            ),
            401
        );
    }

    #[test]
    fn the_401_says_how_to_get_in_and_never_echoes_a_token() {
        let g = mk_guard("result=token");
        let resp = g
            .check(Endpoint::Result, REMOTE.parse().unwrap(), &HeaderMap::new())
            .unwrap_err()
            .into_response();
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"testcar-agent\""
        );
        let wrong = g
            .check(
                Endpoint::Result,
                REMOTE.parse().unwrap(),
                &mk_headers(&[("x-testcar-token", "attacker-guess")]),
            )
            .unwrap_err()
            .into_response();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        assert!(!format!("{g:?}").contains(TOKEN), "{g:?}");
    }

    #[test]
    fn local_off_and_open() {
        let g = mk_guard("result=local,report=off,metrics=open");
        let with_token = mk_headers(&[("x-testcar-token", TOKEN)]);
        let check = |e, peer: &str| status(g.check(e, peer.parse().unwrap(), &with_token));
        assert_eq!(check(Endpoint::Result, LOOPBACK), 200);
        assert_eq!(check(Endpoint::Result, REMOTE), 403, "local ignores tokens");
        assert_eq!(check(Endpoint::Report, LOOPBACK), 404);
        assert_eq!(check(Endpoint::Metrics, REMOTE), 200);
    }

    #[test]
    fn token_mode_without_a_token_is_loopback_only() {
        let g = Guard::new("result=token".parse().unwrap(), Some(String::new()));
        let h = mk_headers(&[("x-testcar-token", "")]);
        assert_eq!(
            status(g.check(Endpoint::Result, REMOTE.parse().unwrap(), &h)),
            403
        );
        assert_eq!(
            status(g.check(Endpoint::Result, LOOPBACK.parse().unwrap(), &h)),
            200
        );
    }
}
