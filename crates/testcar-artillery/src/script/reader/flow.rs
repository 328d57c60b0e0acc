//! Scenarios and their flows: steps (requests, think, loop, parallel, log), and in a
//! request its body, captures, matches and expectations.

use std::path::Path;

use super::{Cx, R, join};
use crate::expr::Expr;
use crate::script::model::{
    Body, Capture, CaptureSource, Expectation, FormPart, LoopOver, LoopStep, Method, Request,
    Scenario, Step,
};
use crate::script::think_duration;
use crate::template::Template;
use crate::yaml::{Node, Pos, Value};

impl Cx {
    /// A scenario; `ws_default` is `config.engine: ws`.
    pub(super) fn scenario(&self, node: &Node, index: usize, ws_default: bool) -> R<Scenario> {
        let key = format!("scenarios[{index}]");
        let rejected = [
            ("beforeScenario", "`beforeScenario` (custom JavaScript) is"),
            ("afterScenario", "`afterScenario` (custom JavaScript) is"),
            ("beforeRequest", "`beforeRequest` (custom JavaScript) is"),
            ("afterResponse", "`afterResponse` (custom JavaScript) is"),
            ("onError", "`onError` (custom JavaScript) is"),
        ];
        let mut name = None;
        let mut weight = 1;
        let mut flow_node = None;
        let mut ws = ws_default;
        for (k, v, kpos) in self
            .map(node, &key)?
            .iter()
            .map(|(a, b)| (a.scalar_text(), b, a.pos))
        {
            self.check_key(
                &k,
                kpos,
                &key,
                &["name", "weight", "flow", "engine"],
                &rejected,
            )?;
            let kk = join(&key, &k);
            match k.as_str() {
                "name" => name = Some(self.string(v, &kk)?),
                "weight" => weight = self.number(v, &kk)? as u32,
                "engine" => ws = self.engine(v, &kk, kpos)?,
                _ => flow_node = Some((v, kk)),
            }
        }
        let Some((flow_node, kk)) = flow_node else {
            return Err(self.err(
                node.pos,
                &join(&key, "flow"),
                "missing; expected a list of steps",
            ));
        };
        let (ws, flow) = if ws {
            let (scenario, flow) = self.ws_flow(flow_node, &kk)?;
            (Some(scenario), flow)
        } else {
            (None, self.flow(flow_node, &kk)?)
        };
        Ok(Scenario {
            name: name.unwrap_or_else(|| index.to_string()),
            weight,
            flow,
            ws,
        })
    }

    pub(super) fn flow(&self, node: &Node, key: &str) -> R<Vec<Step>> {
        let mut steps = Vec::new();
        for (i, s) in self.seq(node, key)?.iter().enumerate() {
            steps.push(self.step(s, &format!("{key}[{i}]"))?);
        }
        Ok(steps)
    }

    /// A `loop` step once its steps are read: `count` or `over` beside them (the same keys in
    /// HTTP and ws flows).
    pub(super) fn loop_step(
        &self,
        steps: Vec<Step>,
        entries: &[(Node, Node)],
        key: &str,
        kpos: Pos,
    ) -> R<Step> {
        let (mut count, mut over) = (None, None);
        for (k, v) in &entries[1..] {
            let name = k.scalar_text();
            let sk = join(key, &name);
            match name.as_str() {
                "count" => count = Some(self.template(v, &sk)?),
                "over" => {
                    over = Some(match &v.value {
                        Value::Seq(items) => LoopOver::List(
                            items
                                .iter()
                                .map(|i| self.json_template(i, &sk))
                                .collect::<R<_>>()?,
                        ),
                        _ => LoopOver::Var(self.string(v, &sk)?),
                    })
                }
                "whileTrue" => {
                    return Err(self.unsupported(
                        k.pos,
                        &sk,
                        "`whileTrue` (a JavaScript function) is",
                    ));
                }
                _ => return Err(self.err(k.pos, &sk, "unknown loop key; expected count or over")),
            }
        }
        if count.is_some() && over.is_some() {
            return Err(self.err(kpos, key, "use either count or over, not both"));
        }
        Ok(Step::Loop(Box::new(LoopStep { steps, count, over })))
    }

    /// `- think: 2` (HTTP and ws flows alike): alone in its step, a duration or a template.
    pub(super) fn think_step(&self, entries: &[(Node, Node)], key: &str) -> R<Step> {
        let (k, value) = &entries[0];
        let kk = join(key, &k.scalar_text());
        if let Some((k, _)) = entries.get(1) {
            return Err(self.err(k.pos, &join(key, &k.scalar_text()), "unexpected key next to think (Artillery refuses it too); for jitter use config.defaults.think.jitter"));
        }
        let t = self.template(value, &kk)?;
        if !t.is_dynamic() {
            think_duration(t.raw()).map_err(|m| self.err(value.pos, &kk, m))?;
        }
        Ok(Step::Think(t))
    }

    fn step(&self, node: &Node, key: &str) -> R<Step> {
        let entries = self.map(node, key)?;
        let first = entries
            .first()
            .ok_or_else(|| self.err(node.pos, key, "empty step"))?;
        let kind = first.0.scalar_text();
        let kpos = first.0.pos;
        let kk = join(key, &kind);
        if let Some(method) = Method::from_key(&kind) {
            if entries.len() > 1 {
                return Err(self.err(
                    entries[1].0.pos,
                    &join(key, &entries[1].0.scalar_text()),
                    "unexpected key next to the request; put it inside the request",
                ));
            }
            return Ok(Step::Request(Box::new(
                self.request(&first.1, &kk, method, kpos)?,
            )));
        }
        match kind.as_str() {
            "think" => self.think_step(entries, key),
            "log" => {
                if entries.len() > 1 {
                    return Err(self.err(entries[1].0.pos, key, "unexpected key next to log"));
                }
                Ok(Step::Log(self.template(&first.1, &kk)?))
            }
            "loop" => {
                let steps = self.flow(&first.1, &kk)?;
                self.loop_step(steps, entries, key, kpos)
            }
            "function" => Err(self.unsupported(kpos, &kk, "`function` steps (custom JavaScript) are")),
            "parallel" => {
                let steps = self.flow(&first.1, &kk)?;
                // Artillery's validation refuses any key beside `parallel` (`limit` included).
                if let Some((k, _)) = entries.get(1) {
                    return Err(self.err(k.pos, &join(key, &k.scalar_text()), "unexpected key next to parallel; a parallel step has that one key"));
                }
                Ok(Step::Parallel(steps))
            }
            "send" | "connect" | "wait" => {
                Err(self.err(kpos, &kk, format!("`{kind}` is a step of the `ws` engine and this flow runs HTTP; add `engine: ws` to the scenario (or `engine: ws` to config)")))
            }
            "emit" | "context" | "reply" => {
                Err(self.unsupported(kpos, &kk, &format!("`{kind}` steps (the Socket.IO engine) are")))
            }
            _ => Err(self.err(kpos, &kk, "unknown step; expected get, post, put, patch, delete, head, options, think, loop, parallel or log")),
        }
    }

    fn request(&self, node: &Node, key: &str, method: Method, pos: Pos) -> R<Request> {
        let allowed = [
            "url",
            "uri",
            "name",
            "headers",
            "qs",
            "json",
            "body",
            "form",
            "auth",
            "followRedirect",
            "gzip",
            "capture",
            "expect",
            "ifTrue",
            "cookie",
            "match",
            "formData",
            "probability",
        ];
        let rejected = [
            ("beforeRequest", "`beforeRequest` (custom JavaScript) is"),
            ("afterResponse", "`afterResponse` (custom JavaScript) is"),
            ("function", "`function` (custom JavaScript) is"),
        ];
        let mut r = Request {
            id: self.request_id(),
            method,
            url: Template::literal(""),
            name: None,
            headers: Vec::new(),
            qs: Vec::new(),
            body: Body::None,
            auth: None,
            cookies: Vec::new(),
            follow_redirect: true,
            gzip: true,
            captures: Vec::new(),
            matches: Vec::new(),
            expects: Vec::new(),
            if_true: None,
            probability: None,
            pos,
        };
        let mut has_url = false;
        for (k, v, kpos) in self.entries(node, key, &allowed, &rejected)? {
            let kk = join(key, k);
            let set_body = |r: &mut Request, b: Body| -> R<()> {
                if !matches!(r.body, Body::None) {
                    return Err(self.err(kpos, &kk, "use only one of json, body and form"));
                }
                r.body = b;
                Ok(())
            };
            match k {
                "url" | "uri" => {
                    r.url = self.template(v, &kk)?;
                    has_url = true;
                }
                "name" => r.name = Some(self.string(v, &kk)?),
                "headers" => {
                    for (hk, hv) in self.map(v, &kk)? {
                        let name = hk.scalar_text();
                        r.headers
                            .push((name.clone(), self.template(hv, &join(&kk, &name))?));
                    }
                }
                "qs" => {
                    for (qk, qv) in self.map(v, &kk)? {
                        let name = qk.scalar_text();
                        r.qs.push((name.clone(), self.json_template(qv, &join(&kk, &name))?));
                    }
                }
                "json" => set_body(&mut r, Body::Json(self.json_template(v, &kk)?))?,
                "body" => set_body(&mut r, Body::Raw(self.template(v, &kk)?))?,
                "form" => {
                    let mut fields = Vec::new();
                    for (fk, fv) in self.map(v, &kk)? {
                        let name = fk.scalar_text();
                        fields.push((name.clone(), self.template(fv, &join(&kk, &name))?));
                    }
                    set_body(&mut r, Body::Form(fields))?
                }
                "formData" => {
                    let mut parts = Vec::new();
                    for (fk, fv) in self.map(v, &kk)? {
                        let name = fk.scalar_text();
                        parts.push((name.clone(), self.form_part(fv, &join(&kk, &name))?));
                    }
                    set_body(&mut r, Body::Multipart(parts))?
                }
                "auth" => {
                    let mut user = None;
                    let mut pass = Template::literal("");
                    for (ak, av, _) in self.entries(v, &kk, &["user", "pass"], &[])? {
                        let t = self.template(av, &join(&kk, ak))?;
                        if ak == "user" {
                            user = Some(t)
                        } else {
                            pass = t
                        }
                    }
                    let user =
                        user.ok_or_else(|| self.err(v.pos, &join(&kk, "user"), "missing"))?;
                    r.auth = Some((user, pass));
                }
                "cookie" => r.cookies = self.cookies(v, &kk)?,
                "followRedirect" => r.follow_redirect = self.bool(v, &kk)?,
                "gzip" => r.gzip = self.bool(v, &kk)?,
                "capture" | "match" => {
                    let is_match = k == "match";
                    let items: Vec<&Node> = match &v.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![v],
                    };
                    for (i, c) in items.into_iter().enumerate() {
                        let c = self.capture(c, &format!("{kk}[{i}]"), is_match)?;
                        if is_match {
                            r.matches.push(c)
                        } else {
                            r.captures.push(c)
                        }
                    }
                }
                "expect" => match &v.value {
                    Value::Seq(items) => {
                        for (i, e) in items.iter().enumerate() {
                            let ek = format!("{kk}[{i}]");
                            let entries = self.map(e, &ek)?;
                            for (ek2, ev) in entries {
                                r.expects.push(self.expectation(ek2, ev, &ek)?);
                            }
                        }
                    }
                    Value::Map(entries) => {
                        for (ek, ev) in entries {
                            r.expects.push(self.expectation(ek, ev, &kk)?);
                        }
                    }
                    _ => return Err(self.err(v.pos, &kk, "expected a list of expectations")),
                },
                "probability" => r.probability = Some(self.probability(v, &kk)?),
                _ => {
                    let text = self.string(v, &kk)?;
                    r.if_true =
                        Some(Expr::parse(&text).map_err(|e| self.err(v.pos, &kk, e.to_string()))?);
                }
            }
        }
        if !has_url {
            return Err(self.err(
                node.pos,
                &join(key, "url"),
                "missing; every request needs a url",
            ));
        }
        Ok(r)
    }

    /// `probability`: a percentage, a number or a numeric string (Artillery takes
    /// `Number(probability)`); above 100 is 100. Anything else Artillery reads as 0 and never
    /// sends the request, which is refused here as the mistake it must be.
    fn probability(&self, v: &Node, key: &str) -> R<f64> {
        let n = match &v.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() => Ok(n.min(100.0)),
            _ => Err(self.err(
                v.pos,
                key,
                "expected a percentage (a number); Artillery would never send this request",
            )),
        }
    }

    /// A `capture` entry, or with `is_match` a `match` entry (`value` instead of `as`).
    pub(super) fn capture(&self, node: &Node, key: &str, is_match: bool) -> R<Capture> {
        let allowed: &[&str] = if is_match {
            &[
                "json", "header", "regexp", "value", "strict", "group", "flags",
            ]
        } else {
            &["json", "header", "regexp", "as", "strict", "group", "flags"]
        };
        let mut value = None;
        let rejected = [
            ("xpath", "xpath captures are"),
            ("selector", "selector (HTML) captures are"),
            ("transform", "capture `transform` is"),
        ];
        let mut source = None;
        let mut var = None;
        let mut strict = None;
        let mut group = None;
        let mut flags = String::new();
        let mut regexp_pos = node.pos;
        for (k, v, _) in self.entries(node, key, allowed, &rejected)? {
            let kk = join(key, k);
            match k {
                "value" => value = Some(self.json_template(v, &kk)?),
                "json" => {
                    let t = self.template(v, &kk)?;
                    if !t.is_dynamic() {
                        serde_json_path::JsonPath::parse(t.raw())
                            .map_err(|e| self.err(v.pos, &kk, format!("invalid JSONPath: {e}")))?;
                    }
                    source = Some(CaptureSource::Json(t));
                }
                "header" => source = Some(CaptureSource::Header(self.template(v, &kk)?)),
                "regexp" => {
                    regexp_pos = v.pos;
                    source = Some(CaptureSource::Regexp {
                        pattern: self.template(v, &kk)?,
                        group: None,
                        flags: String::new(),
                    });
                }
                "as" => var = Some(self.string(v, &kk)?),
                "strict" => strict = Some(self.bool(v, &kk)?),
                "group" => group = Some(self.string(v, &kk)?),
                _ => flags = self.string(v, &kk)?,
            }
        }
        if let Some(CaptureSource::Regexp {
            pattern,
            group: g,
            flags: f,
        }) = &mut source
        {
            *g = group;
            *f = flags;
            if !pattern.is_dynamic() {
                crate::jsregex::compile(pattern.raw(), f)
                    .map_err(|e| self.err(regexp_pos, &join(key, "regexp"), e))?;
            }
        }
        let source =
            source.ok_or_else(|| self.err(node.pos, key, "expected json, header or regexp"))?;
        if is_match {
            let value = value.ok_or_else(|| {
                self.err(
                    node.pos,
                    &join(key, "value"),
                    "missing; the value the response must hold",
                )
            })?;
            return Ok(Capture {
                source,
                var: String::new(),
                strict,
                value: Some(value),
            });
        }
        let var = var.ok_or_else(|| {
            self.err(
                node.pos,
                &join(key, "as"),
                "missing; name the variable to capture into",
            )
        })?;
        Ok(Capture {
            source,
            var,
            strict,
            value: None,
        })
    }

    fn expectation(&self, k: &Node, v: &Node, key: &str) -> R<Expectation> {
        let name = k.scalar_text();
        let kk = join(key, &name);
        Ok(match name.as_str() {
            "statusCode" => Expectation::StatusCode(self.json_template(v, &kk)?),
            "notStatusCode" => Expectation::NotStatusCode(self.json_template(v, &kk)?),
            "contentType" => Expectation::ContentType(self.template(v, &kk)?),
            "hasProperty" => Expectation::HasProperty(self.template(v, &kk)?),
            "notHasProperty" => Expectation::NotHasProperty(self.template(v, &kk)?),
            "equals" => Expectation::Equals(
                self.seq(v, &kk)?
                    .iter()
                    .map(|i| self.template(i, &kk))
                    .collect::<R<_>>()?,
            ),
            "hasHeader" => Expectation::HasHeader(self.template(v, &kk)?),
            "headerEquals" => {
                let items = self.seq(v, &kk)?;
                if items.len() != 2 {
                    return Err(self.err(v.pos, &kk, "expected [header-name, value]"));
                }
                Expectation::HeaderEquals(
                    self.template(&items[0], &kk)?,
                    self.template(&items[1], &kk)?,
                )
            }
            "matchesRegexp" => {
                let t = self.template(v, &kk)?;
                if !t.is_dynamic() {
                    crate::jsregex::compile(t.raw(), "").map_err(|e| self.err(v.pos, &kk, e))?;
                }
                Expectation::MatchesRegexp(t)
            }
            "cdnHit" | "jmespath" | "jpath" => {
                return Err(self.unsupported(k.pos, &kk, &format!("the `{name}` expectation is")));
            }
            _ => {
                return Err(self.err(k.pos, &kk, "unknown expectation; expected statusCode, notStatusCode, contentType, hasProperty, notHasProperty, equals, hasHeader, headerEquals or matchesRegexp"));
            }
        })
    }

    /// A `formData` field: a scalar, `{value, contentType}` or `{fromFile, contentType}`.
    fn form_part(&self, node: &Node, key: &str) -> R<FormPart> {
        if !matches!(node.value, Value::Map(_)) {
            return Ok(FormPart::Text {
                value: self.template(node, key)?,
                content_type: None,
            });
        }
        let (mut value, mut file, mut content_type) = (None, None, None);
        for (k, v, _) in self.entries(node, key, &["value", "fromFile", "contentType"], &[])? {
            let kk = join(key, k);
            match k {
                "value" => value = Some(self.template(v, &kk)?),
                "fromFile" => file = Some((self.string(v, &kk)?, v.pos, kk)),
                _ => content_type = Some(self.template(v, &kk)?),
            }
        }
        match (value, file) {
            (_, Some((path, pos, kk))) => {
                if path.contains("{{") {
                    return Err(self.err(
                        pos,
                        &kk,
                        "a templated file path is not supported; name the file",
                    ));
                }
                // Relative to the script, as Artillery resolves it.
                let full = self.dir.join(&path);
                let bytes = std::fs::read(&full).map_err(|e| {
                    self.err(pos, &kk, format!("cannot read {}: {e}", full.display()))
                })?;
                let name = Path::new(&path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(path);
                Ok(FormPart::File {
                    name,
                    bytes: bytes.into(),
                    content_type,
                })
            }
            (Some(value), None) => Ok(FormPart::Text {
                value,
                content_type,
            }),
            (None, None) => Err(self.err(node.pos, key, "expected value or fromFile")),
        }
    }

    /// A `cookie` mapping: names to (templated) values.
    pub(super) fn cookies(&self, node: &Node, key: &str) -> R<Vec<(String, Template)>> {
        let mut out = Vec::new();
        for (ck, cv) in self.map(node, key)? {
            let name = ck.scalar_text();
            if name.is_empty() || name.contains(['=', ';', ' ']) {
                return Err(self.err(ck.pos, &join(key, &name), "not a valid cookie name"));
            }
            out.push((name.clone(), self.template(cv, &join(key, &name))?));
        }
        Ok(out)
    }
}
