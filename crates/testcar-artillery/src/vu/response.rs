//! The response that ended a request: captures and `match` (all or nothing), then
//! expectations and their tallies, then the plugins' response hooks, in Artillery's order.

use serde_json::Value as Json;

use super::{Endpoint, Vu, VuFailure};
use crate::capture::{self, Captured, Response};
use crate::client::Received;
use crate::expect;
use crate::metrics::Record;
use crate::script::model::{CaptureSource, Expectation, Request};
use crate::template::set_path;

impl Vu<'_> {
    /// Captures, expectations and the per-endpoint counters of the response that ended the
    /// request (the last of a redirect chain), in the order Artillery's response hooks run.
    pub(super) fn after_response(
        &mut self,
        r: &Request,
        rcv: &Received,
        url: &str,
        endpoint: Option<&Endpoint>,
    ) -> Result<(), VuFailure> {
        let sh = self.sh;
        let ct = rcv
            .parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let needs_body = !r.captures.is_empty()
            || !r.matches.is_empty()
            || !r.expects.is_empty()
            || sh
                .script
                .config
                .expect
                .as_ref()
                .is_some_and(|e| e.default_200);
        if !needs_body {
            self.plugin_hooks(rcv, endpoint, false);
            return Ok(());
        }
        let text = String::from_utf8_lossy(&rcv.body);
        let json: Option<Json> = if expect::is_json_type(ct) || ct.starts_with("application/json") {
            serde_json::from_str(&text).ok()
        } else {
            None
        };
        let res = Response {
            status: rcv.parts.status.as_u16(),
            headers: &rcv.parts.headers,
            text: &text,
            json: json.as_ref(),
        };
        // Captures first (all or nothing, like Artillery), then expectations.
        let mut captured = Vec::new();
        let mut capture_failed = false;
        for c in &r.captures {
            match capture::capture(c, &res, &self.scope()) {
                Captured::Value(v) => captured.push((c.var.clone(), Some(v))),
                Captured::Missing => {
                    if c.strict.unwrap_or(sh.script.config.strict_capture) {
                        capture_failed = true;
                    } else if matches!(c.source, CaptureSource::Json(_)) {
                        // Artillery stores `undefined` for a JSONPath that matched nothing
                        // (rendered "undefined" in text), and "" for a header or regexp.
                        captured.push((c.var.clone(), None));
                    } else {
                        captured.push((c.var.clone(), Some(Json::String(String::new()))));
                    }
                }
            }
        }
        for m in &r.matches {
            // Artillery compares with `!==`: same type and value, never equal for objects.
            let expected = m.value.as_ref().map(|v| v.render(&self.scope()));
            let same = capture::matches(capture::capture(m, &res, &self.scope()), expected);
            if !same && m.strict != Some(false) {
                capture_failed = true;
            }
        }
        if !capture_failed {
            for (k, v) in captured {
                match v {
                    Some(v) => set_path(&mut self.vars, &k, v),
                    None if !k.contains(['.', '[']) => {
                        self.vars.remove(&k);
                    }
                    None => set_path(&mut self.vars, &k, Json::Null),
                }
            }
        }
        let mut expect_failed = false;
        if let Some(opts) = &sh.script.config.expect {
            let default = [Expectation::StatusCode(crate::template::JsonTemplate::Lit(
                Json::from(200),
            ))];
            let list: &[Expectation] = if r.expects.is_empty() && opts.default_200 {
                &default
            } else {
                &r.expects
            };
            let key = r.id;
            let scope = self.scope();
            for (i, e) in list.iter().enumerate() {
                let out = expect::check(e, &res, &scope);
                let type_name = match e {
                    Expectation::HeaderEquals(name, _) => {
                        format!("header {} values equals", name.render(&scope))
                    }
                    other => other.type_name().to_string(),
                };
                let (total, by_type) = if out.ok {
                    (
                        "plugins.expect.ok",
                        format!("plugins.expect.ok.{type_name}"),
                    )
                } else {
                    expect_failed = true;
                    (
                        "plugins.expect.failed",
                        format!("plugins.expect.failed.{type_name}"),
                    )
                };
                self.record(&[Record::Counter(total, 1), Record::Counter(&by_type, 1)]);
                if opts.format != "silent" {
                    tracing::debug!(ok = out.ok, expectation = %type_name, expected = %out.expected, got = %out.got, %url, "expectation");
                }
                let mut tallies = sh.tallies.lock().unwrap_or_else(|p| p.into_inner());
                let t = tallies.entry((key, i)).or_default();
                if out.ok {
                    t.passes += 1;
                } else {
                    t.failures += 1;
                    if t.first_failure.is_none() {
                        t.first_failure = Some(format!(
                            "expected {}, got {} ({} {})",
                            out.expected,
                            out.got,
                            r.method.as_str(),
                            url
                        ));
                    }
                }
            }
            if expect_failed && opts.failures_as_errors {
                self.plugin_hooks(rcv, endpoint, true);
                // Named like the plugin does: the request's name, or its URL as requested
                // (before redirects and without `qs`).
                let what = match (&r.name, opts.use_only_names) {
                    (Some(name), true) => name.clone(),
                    _ => {
                        let rendered = r.url.render(&self.scope());
                        if rendered.starts_with('/') {
                            format!("{}{rendered}", sh.globals.target)
                        } else {
                            rendered.into_owned()
                        }
                    }
                };
                let code = format!("Failed expectations for request {what}");
                self.count_error(&code, None);
                return Err(VuFailure::new(code));
            }
        }
        self.plugin_hooks(rcv, endpoint, false);
        if capture_failed {
            let code = "Failed capture or match";
            self.count_error(code, None);
            return Err(VuFailure::new(code));
        }
        Ok(())
    }
}
