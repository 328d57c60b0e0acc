//! Sending a request to its end: cookies from the jar, credentials (headers per send,
//! one refresh and resend on a 401), redirects (got's rules), and decoding the body.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value as Json;

use super::build::build_request;
use super::{Vu, VuFailure};
use crate::client::{Origin, RequestError};
use crate::expr::Val;
use crate::metrics::Record;
use crate::script::model::{Method, Request};
use crate::template::{lookup, parse_path};

impl<'s> Vu<'s> {
    pub(super) async fn request(&mut self, r: &'s Request) -> Result<(), VuFailure> {
        let sh = self.sh;
        if !r.is_probable_enough(|| rand::random_range(0..=100)) {
            return Ok(());
        }
        if let Some(cond) = &r.if_true {
            let scope = self.scope();
            let v = cond.eval(
                &|name| match parse_path(name).and_then(|p| lookup(&scope, &p)) {
                    Some(Json::Number(n)) => Val::Num(n.as_f64().unwrap_or(0.0)),
                    Some(Json::Bool(b)) => Val::Num(if b { 1.0 } else { 0.0 }),
                    Some(Json::String(s)) => Val::Str(s),
                    Some(Json::Null) | None => Val::Missing,
                    Some(other) => Val::Str(other.to_string()),
                },
            );
            if !v.truthy() {
                return Ok(());
            }
        }
        let ready_at = Instant::now();
        let intended = self.intended.take().unwrap_or(ready_at).min(ready_at);
        let (url, mut headers, body) = self.build(r)?;
        let defaults = &sh.script.config.default_cookies;
        if !r.cookies.is_empty() || !defaults.is_empty() {
            // As Artillery does: set in the jar for the URL as requested, request values
            // overriding the defaults, so they are sent now and to later matching requests.
            if let Some(target) = self.parse_url(&url) {
                let mut set: Vec<(&str, String)> = Vec::new();
                for (name, value) in defaults.iter().chain(&r.cookies) {
                    let value = value.render(&self.scope()).into_owned();
                    match set.iter_mut().find(|(n, _)| *n == name.as_str()) {
                        Some(slot) => slot.1 = value,
                        None => set.push((name, value)),
                    }
                }
                for (name, value) in set {
                    // A value the jar refuses is not sent, as with Artillery's jar.
                    let _ = self.cookies.store(&target.0, &format!("{name}={value}"));
                }
            }
        }
        let endpoint = sh.endpoints.get(&r.id).and_then(Option::as_ref);
        let mut method = r.method;
        let mut url = url;
        let mut body = body;
        let mut creds = testcar_auth::RequestCredentials::new(sh.auth.as_deref());
        let mut hops = 0;
        let (received, final_url) = loop {
            let target = match self.parse_url(&url) {
                Some(p) => p,
                None => {
                    self.count_error("ERR_INVALID_URL", endpoint);
                    return Err(VuFailure::new("ERR_INVALID_URL"));
                }
            };
            let (parsed, origin) = &*target;
            let mut extra: Vec<(String, String)> = Vec::new();
            if !self.cookies.is_empty() && (self.jar_in_use || !r.cookies.is_empty()) {
                if let Some(cookie) = self.cookies.header_for(parsed) {
                    extra.push(("cookie".into(), cookie));
                }
            }
            let parts = testcar_auth::RequestParts {
                method: method.as_str(),
                url: &url,
                body: &body,
            };
            match creds.headers(parts).await {
                Ok(more) => extra.extend(more),
                Err(e) => {
                    tracing::warn!(error = %e.cause(), "credentials unavailable");
                    self.count_error("EAUTH", endpoint);
                    return Err(VuFailure::new("EAUTH"));
                }
            }
            let req =
                build_request(method, parsed, &headers, &extra, body.clone()).map_err(|e| {
                    self.count_error(&e.code, endpoint);
                    VuFailure::new(e.code)
                })?;
            self.record(&[
                Record::Counter("http.requests", 1),
                Record::Rate("http.request_rate"),
            ]);
            let res = self
                .conns
                .send(
                    &sh.connector,
                    origin,
                    req,
                    || build_request(method, parsed, &headers, &extra, body.clone()),
                    sh.script.config.timeout,
                )
                .await;
            let received = match res {
                Ok(rcv) => rcv,
                Err(RequestError { code, detail }) => {
                    tracing::debug!(%code, %detail, url = %url, "request failed");
                    self.count_error(&code, endpoint);
                    return Err(VuFailure::new(code));
                }
            };
            self.record_response(&received, intended);
            self.store_cookies(&received.parts.headers, parsed, endpoint);
            let status = received.parts.status.as_u16();
            // Once per request, redirects included: this URL goes again with fresh headers.
            match creds.resend_after(status).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e.cause(), "credential refresh failed"),
            }
            let location = received
                .parts
                .headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            if r.follow_redirect && matches!(status, 301 | 302 | 303 | 307 | 308) && hops < 10 {
                if let Some(next) = location.and_then(|l| parsed.join(l).ok()) {
                    hops += 1;
                    // got (under Artillery) rewrites the method to GET on a 303 only; a
                    // 301/302 repeats the method and body, as RFC 9110 allows.
                    if status == 303 && method != Method::Get && method != Method::Head {
                        method = Method::Get;
                        body = Bytes::new();
                        headers.retain(|(k, _)| {
                            !k.eq_ignore_ascii_case("content-type")
                                && !k.eq_ignore_ascii_case("content-length")
                        });
                    }
                    url = next.to_string();
                    continue;
                }
            }
            break (received, url);
        };
        let mut received = received;
        if r.gzip {
            match crate::client::decode(&received.parts.headers, received.body.clone()) {
                Ok(body) => received.body = body,
                Err(RequestError { code, detail }) => {
                    tracing::debug!(%code, %detail, url = %final_url, "cannot decode the body");
                    self.count_error(&code, endpoint);
                    return Err(VuFailure::new(code));
                }
            }
        }
        self.after_response(r, &received, &final_url, endpoint)
    }

    /// Keep a response's `Set-Cookie` values, counting the ones Artillery's jar refuses as
    /// Artillery does. Until a response has set a cookie, Artillery stores them itself and
    /// counts `errors.cookie_parse_error_invalid_cookie` for each refused value; once the jar
    /// is in use got stores them, and a refused value is a request error that only the
    /// metrics-by-endpoint plugin sees (`<endpoint>.errors.ERR_GOT_REQUEST_ERROR`, once per
    /// response): the response still counts and the VU goes on.
    fn store_cookies(
        &mut self,
        headers: &http::HeaderMap,
        url: &url::Url,
        endpoint: Option<&super::Endpoint>,
    ) {
        let was_in_use = self.jar_in_use;
        let mut refused = false;
        for v in headers.get_all(http::header::SET_COOKIE) {
            self.jar_in_use = true;
            let text = String::from_utf8_lossy(v.as_bytes());
            if let Err(why) = self.cookies.store(url, &text) {
                tracing::debug!(cookie = %text, %why, "Set-Cookie refused");
                if !was_in_use {
                    self.count_error("cookie_parse_error_invalid_cookie", None);
                }
                refused = true;
            }
        }
        if refused && was_in_use {
            if let Some(ep) = endpoint {
                let name = format!("{}ERR_GOT_REQUEST_ERROR", ep.errors);
                self.record(&[Record::Counter(&name, 1)]);
            }
        }
    }

    /// The parsed URL and origin of `url`, from the cache when it is the last one sent.
    pub(super) fn parse_url(&mut self, url: &str) -> Option<Arc<(url::Url, Origin)>> {
        if let Some((last, parsed)) = &self.last_url {
            if last == url {
                return Some(parsed.clone());
            }
        }
        let parsed = url::Url::parse(url).ok()?;
        let origin = Origin {
            tls: parsed.scheme() == "https",
            host: parsed
                .host_str()
                .unwrap_or("")
                .trim_matches(['[', ']'])
                .to_string(),
            port: parsed.port_or_known_default().unwrap_or(80),
        };
        let parsed = Arc::new((parsed, origin));
        self.last_url = Some((url.to_string(), parsed.clone()));
        Some(parsed)
    }
}
