//! What a VU records: Artillery's counters and histograms per response and error, the
//! metrics-by-endpoint and apdex plugins' figures. `before`/`after` flows record nothing.

use std::time::Instant;

use super::{Endpoint, Vu};
use crate::client::Received;
use crate::metrics::{INTENDED_RESPONSE_TIME, Record};
use crate::script::model::{Request, Script};

impl Vu<'_> {
    pub(super) fn record(&self, records: &[Record<'_>]) {
        if !self.quiet {
            self.sh.metrics.record(records);
        }
    }

    pub(super) fn count_error(&self, code: &str, endpoint: Option<&Endpoint>) {
        let name = format!("errors.{code}");
        match endpoint {
            Some(ep) => {
                let ep_name = format!("{}{code}", ep.errors);
                self.record(&[Record::Counter(&name, 1), Record::Counter(&ep_name, 1)]);
            }
            None => self.record(&[Record::Counter(&name, 1)]),
        }
    }

    pub(super) fn record_endpoint(&mut self, rcv: &Received, ep: &Endpoint) {
        use std::fmt::Write;
        let rt = rcv.first_byte_at.saturating_duration_since(rcv.sent_at);
        let mut by_code = std::mem::take(&mut self.name_buf);
        by_code.clear();
        by_code.push_str(&ep.codes);
        let _ = write!(by_code, "{}", rcv.parts.status.as_u16());
        self.record(&[
            Record::Counter(&by_code, 1),
            Record::Histogram(&ep.response_time, rt),
        ]);
        self.name_buf = by_code;
    }

    pub(super) fn record_response(&mut self, rcv: &Received, intended: Instant) {
        let status = rcv.parts.status.as_u16();
        let rt = rcv.first_byte_at.saturating_duration_since(rcv.sent_at);
        let rt_intended = rcv.first_byte_at.saturating_duration_since(intended);
        let owned_code;
        let code = match code_name(status) {
            Some(c) => c,
            None => {
                owned_code = format!("http.codes.{status}");
                owned_code.as_str()
            }
        };
        let class = match status {
            200..=299 => Some("http.response_time.2xx"),
            300..=399 => Some("http.response_time.3xx"),
            400..=499 => Some("http.response_time.4xx"),
            500..=599 => Some("http.response_time.5xx"),
            _ => None,
        };
        let mut records: [Record<'_>; 6] = [
            Record::Counter(code, 1),
            Record::Counter("http.responses", 1),
            Record::Counter("http.downloaded_bytes", rcv.wire_bytes),
            Record::Histogram("http.response_time", rt),
            Record::Histogram(INTENDED_RESPONSE_TIME, rt_intended),
            Record::Counter("", 0),
        ];
        let mut n = 5;
        if let Some(class) = class {
            records[n] = Record::Histogram(class, rt);
            n += 1;
        }
        if !self.quiet {
            self.sh.metrics.record(&records[..n]);
        }
        if self.sh.script.config.extended_metrics {
            // A reused connection had no set-up: zero DNS and TCP time, no TLS handshake.
            let c = rcv.connected.unwrap_or_default();
            let mut ext = [
                Record::Histogram("http.dns", c.dns),
                Record::Histogram("http.tcp", c.tcp),
                Record::Histogram("http.total", rcv.total()),
                Record::Counter("", 0),
            ];
            let mut n = 3;
            if let Some(tls) = c.tls {
                ext[n] = Record::Histogram("http.tls", tls);
                n += 1;
            }
            self.record(&ext[..n]);
        }
    }

    /// The response hooks of metrics-by-endpoint and apdex for the response that ended a
    /// request. A failed expectation the expect plugin reports as an error stops the hooks
    /// of the plugins listed after it (`failed_expect`).
    pub(super) fn plugin_hooks(
        &mut self,
        rcv: &Received,
        endpoint: Option<&Endpoint>,
        failed_expect: bool,
    ) {
        let config = &self.sh.script.config;
        if let Some(ep) = endpoint {
            if !failed_expect || config.by_endpoint.before_expect {
                self.record_endpoint(rcv, ep);
            }
        }
        if let Some(a) = &config.apdex {
            if !failed_expect || a.before_expect {
                self.record_apdex(rcv, a.threshold_ms);
            }
        }
    }

    /// The apdex plugin's counters, judged on the response's total time. The plugin sets all
    /// three counters on every response, so each appears (as 0) from the first one.
    pub(super) fn record_apdex(&self, rcv: &Received, threshold_ms: f64) {
        let total_ms = rcv.total().as_secs_f64() * 1e3;
        let (s, t, f) = if total_ms <= threshold_ms {
            (1, 0, 0)
        } else if total_ms <= 4.0 * threshold_ms {
            (0, 1, 0)
        } else {
            (0, 0, 1)
        };
        self.record(&[
            Record::Counter("apdex.satisfied", s),
            Record::Counter("apdex.tolerated", t),
            Record::Counter("apdex.frustrated", f),
        ]);
    }
}

/// `http.codes.<status>` for the common statuses, without formatting per response.
fn code_name(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "http.codes.200",
        201 => "http.codes.201",
        202 => "http.codes.202",
        204 => "http.codes.204",
        301 => "http.codes.301",
        302 => "http.codes.302",
        303 => "http.codes.303",
        304 => "http.codes.304",
        307 => "http.codes.307",
        308 => "http.codes.308",
        400 => "http.codes.400",
        401 => "http.codes.401",
        403 => "http.codes.403",
        404 => "http.codes.404",
        409 => "http.codes.409",
        429 => "http.codes.429",
        500 => "http.codes.500",
        502 => "http.codes.502",
        503 => "http.codes.503",
        504 => "http.codes.504",
        _ => return None,
    })
}

/// The metrics-by-endpoint name of a request (the plugin's `calculateBaseUrl`), from the
/// URL as written, so templated URLs group under one name.
pub fn endpoint_name(script: &Script, target: &str, r: &Request) -> Option<String> {
    let opts = &script.config.by_endpoint;
    let raw = r.url.raw();
    let full = if raw.starts_with('/') {
        format!("{target}{raw}")
    } else {
        raw.to_string()
    };
    let base = match (url::Url::parse(target), url::Url::parse(&full)) {
        (Ok(t), Ok(u)) => {
            let mut s = String::new();
            if u.host_str() != t.host_str() {
                s.push_str(u.host_str().unwrap_or(""));
            }
            if u.port() != t.port() {
                if let Some(p) = u.port() {
                    s.push_str(&format!(":{p}"));
                }
            }
            s.push_str(u.path());
            if !opts.strip_query {
                if let Some(q) = u.query() {
                    s.push('?');
                    s.push_str(q);
                }
            }
            percent_decode(&s)
        }
        _ => raw.to_string(),
    };
    match &r.name {
        None if opts.ignore_unnamed => None,
        None => Some(base),
        Some(n) if opts.only_names => Some(n.clone()),
        Some(n) => Some(format!("{base} ({n})")),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
