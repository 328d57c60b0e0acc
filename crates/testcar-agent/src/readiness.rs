//! Waits for the service under test: its readiness URL answering 2xx (as the kubelet's
//! HTTP probe would, certificates not verified), else a TCP connect to the target; bounded,
//! and a failure says what was tried and what happened last.

use std::time::Duration;

use reqwest::Url;
use testcar_contract::duration::format_duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Pause between attempts.
const RETRY_EVERY: Duration = Duration::from_millis(250);
/// Limit of one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// The service did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    /// A URL could not be read.
    #[error("{what} {url:?} is not a valid URL: {reason}")]
    BadUrl {
        /// Which URL (target, readiness URL).
        what: &'static str,
        /// The text given.
        url: String,
        /// Why.
        reason: String,
    },
    /// Time ran out.
    #[error(
        "the service was not ready after {waited}: {tried} ({attempts} attempts; last: {last})"
    )]
    NotReady {
        /// How long we waited.
        waited: String,
        /// What was tried.
        tried: String,
        /// How many attempts.
        attempts: u32,
        /// The last outcome.
        last: String,
    },
    /// Stopped while waiting.
    #[error("stopped while waiting for the service: {tried}")]
    Interrupted {
        /// What was being tried.
        tried: String,
    },
}

/// How readiness is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// GET this URL until 2xx.
    Http(Url),
    /// TCP connect to host:port.
    Tcp(String),
}

impl Probe {
    /// The readiness URL when given (a path is taken relative to the target), else the
    /// target's host and port.
    pub fn choose(
        target: Option<&str>,
        readiness_url: Option<&str>,
    ) -> Result<Option<Probe>, ReadyError> {
        let parse_target = |t: &str| parse_url("target", t);
        if let Some(ready) = readiness_url.filter(|r| !r.trim().is_empty()) {
            let url = if ready.starts_with('/') {
                let Some(t) = target else {
                    return Err(ReadyError::BadUrl {
                        what: "readiness URL",
                        url: ready.into(),
                        reason: "a path needs a target to be relative to".into(),
                    });
                };
                parse_target(t)?
                    .join(ready)
                    .map_err(|e| ReadyError::BadUrl {
                        what: "readiness URL",
                        url: ready.into(),
                        reason: e.to_string(),
                    })?
            } else {
                parse_url("readiness URL", ready)?
            };
            return Ok(Some(Probe::Http(url)));
        }
        let Some(t) = target else { return Ok(None) };
        let url = parse_target(t)?;
        let host = url.host_str().ok_or_else(|| ReadyError::BadUrl {
            what: "target",
            url: redact(t),
            reason: "no host".into(),
        })?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| ReadyError::BadUrl {
                what: "target",
                url: redact(t),
                reason: "no port and no default port for the scheme".into(),
            })?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        Ok(Some(Probe::Tcp(format!("{host}:{port}"))))
    }

    fn describe(&self) -> String {
        match self {
            Probe::Http(url) => format!("GET {} until it answers 2xx", redact(url.as_str())),
            Probe::Tcp(addr) => format!("TCP connect to {addr}"),
        }
    }
}

/// An absolute http(s) URL; without a scheme (`127.0.0.1:8080`, `localhost:8080`, which the
/// URL grammar would read as scheme `localhost`) the message says to add `http://`.
fn parse_url(what: &'static str, text: &str) -> Result<Url, ReadyError> {
    if !text.contains("://") {
        let with_scheme = redact(&format!("http://{}", text.trim()));
        return Err(ReadyError::BadUrl {
            what,
            url: redact(&with_scheme)
                .trim_start_matches("http://")
                .to_string(),
            reason: format!(
                "it has no scheme; add http:// (or https://) in front, e.g. \"{with_scheme}\""
            ),
        });
    }
    Url::parse(text).map_err(|e| ReadyError::BadUrl {
        what,
        url: redact(text),
        reason: e.to_string(),
    })
}

/// URLs in messages lose any user and password.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Wait until `probe` succeeds, at most `timeout`.
pub async fn wait(
    probe: &Probe,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), ReadyError> {
    let started = Instant::now();
    let client = match probe {
        Probe::Http(_) => Some(http_client()),
        Probe::Tcp(_) => None,
    };
    let mut attempts = 0u32;
    let mut last: String;
    tracing::info!(probe = %probe.describe(), timeout = %format_duration(timeout), "waiting for the service");
    loop {
        attempts += 1;
        let left = timeout.saturating_sub(started.elapsed());
        let limit = ATTEMPT_TIMEOUT.min(left).max(Duration::from_millis(50));
        let attempt = async {
            match probe {
                Probe::Http(url) => {
                    let client = client.as_ref().expect("http client for http probe");
                    match client.get(url.clone()).timeout(limit).send().await {
                        Ok(resp) if resp.status().is_success() => Ok(()),
                        Ok(resp) => Err(format!("answered {}", resp.status())),
                        Err(e) => Err(describe_reqwest(&e)),
                    }
                }
                Probe::Tcp(addr) => {
                    match tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr.as_str()))
                        .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err(format!("no answer within {}", format_duration(limit))),
                    }
                }
            }
        };
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return Err(ReadyError::Interrupted { tried: probe.describe() }),
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(()) => {
                tracing::info!(
                    attempts,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "service is ready"
                );
                return Ok(());
            }
            Err(why) => {
                tracing::debug!(attempts, last = %why, "service not ready yet");
                last = why;
            }
        }
        if started.elapsed() >= timeout {
            return Err(ReadyError::NotReady {
                waited: format_duration(timeout),
                tried: probe.describe(),
                attempts,
                last,
            });
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(ReadyError::Interrupted { tried: probe.describe() }),
            _ = tokio::time::sleep(RETRY_EVERY.min(timeout.saturating_sub(started.elapsed()))) => {}
        }
    }
}

/// reqwest's Display hides the cause (e.g. "connection refused") in the source chain.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer in time".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    if let Some(d) = deepest {
        text.push_str(": ");
        text.push_str(&d);
    }
    text
}

fn http_client() -> reqwest::Client {
    // One crypto provider for the process (ring); a second install attempt is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        // Like the kubelet's HTTPS probe: readiness, not identity, is what is checked here.
        .tls_danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .expect("a client with default settings builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_probe() {
        assert_eq!(
            Probe::choose(Some("http://127.0.0.1:8080/api"), None).unwrap(),
            Some(Probe::Tcp("127.0.0.1:8080".into()))
        );
        assert_eq!(
            Probe::choose(Some("https://svc.local"), None).unwrap(),
            Some(Probe::Tcp("svc.local:443".into()))
        );
        assert_eq!(
            Probe::choose(Some("http://127.0.0.1:8080"), Some("/readyz")).unwrap(),
            Some(Probe::Http(
                Url::parse("http://127.0.0.1:8080/readyz").unwrap()
            ))
        );
        assert_eq!(Probe::choose(None, None).unwrap(), None);
        let e = Probe::choose(Some("http://not a url"), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("target \"http://not a url\" is not a valid URL"),
            "{e}"
        );
        // no scheme: say to add http://, not "relative URL without a base"
        for (given, hint) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("localhost:8080", "http://localhost:8080"),
        ] {
            let e = Probe::choose(Some(given), None).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "target \"{given}\" is not a valid URL: it has no scheme; add http:// (or https://) in front, e.g. \"{hint}\""
                )
            );
        }
        let e = Probe::choose(Some("http://h:1"), Some("h:1/ready"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("readiness URL \"h:1/ready\"") && e.contains("add http://"),
            "{e}"
        );
        // a password in a scheme-less target stays out of the message
        let e = Probe::choose(Some("user:hunter2@h:1"), None)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(redact("http://user:hunter2@h:1/x"), "http://h:1/x");
        assert_eq!(redact("http://h:1/x"), "http://h:1/x");
    }

    #[tokio::test]
    async fn tcp_never_ready_says_what_was_tried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let probe = Probe::Tcp(addr.to_string());
        let e = wait(
            &probe,
            Duration::from_millis(600),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("TCP connect to {addr}")), "{e}");
        assert!(e.contains("refused"), "{e}");
    }
}
