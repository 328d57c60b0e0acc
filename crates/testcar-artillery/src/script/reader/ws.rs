//! The `ws` engine's part of a script: `config.engine`, `config.ws`, and a `ws` scenario's
//! flow (`connect` first, `send`/`wait` with `capture`/`match`, `think`, `loop`, `log`).
//! Artillery's ws engine ignores or mis-sends what it does not know; here it is refused.

use std::time::Duration;

use super::{Cx, R, join};
use crate::script::model::{Config, Step, WsConnect, WsScenario, WsSend};
use crate::yaml::{Node, Pos, Value};

/// Why `engine: socketio` is refused (followed by the `exec` advice).
pub(super) const SOCKETIO: &str = "the `socketio` engine (Socket.IO's own protocol over Engine.IO: its handshake, namespaces, events and acknowledgements, which Artillery runs through socket.io-client's JavaScript) is";

impl Cx {
    /// `engine` of `config` or a scenario (its key at `pos`): true for `ws`, false for
    /// `http`.
    pub(super) fn engine(&self, v: &Node, key: &str, pos: Pos) -> R<bool> {
        match self.string(v, key)?.as_str() {
            "http" => Ok(false),
            "ws" => Ok(true),
            "socketio" => Err(self.unsupported(pos, key, SOCKETIO)),
            other => Err(self.unsupported(pos, key, &format!("the `{other}` engine is"))),
        }
    }

    /// `config.ws`: `subprotocols`, `headers`, `timeout`, `rejectUnauthorized`.
    pub(super) fn config_ws(&self, v: &Node, key: &str, config: &mut Config) -> R<()> {
        let allowed = ["subprotocols", "headers", "timeout", "rejectUnauthorized"];
        let rejected = [("proxy", "a WebSocket `proxy` is")];
        let mut protocols_from_header = Vec::new();
        for (k, node, _) in self.entries(v, key, &allowed, &rejected)? {
            let kk = join(key, k);
            match k {
                "subprotocols" => config.ws.subprotocols = self.subprotocols(node, &kk)?,
                "headers" => {
                    let (headers, protocols) = self.ws_headers(node, &kk)?;
                    config.ws.headers = headers;
                    protocols_from_header = protocols;
                }
                "timeout" => config.ws.timeout = Duration::from_secs_f64(self.number(node, &kk)?),
                _ => config.ws.reject_unauthorized = Some(self.bool(node, &kk)?),
            }
        }
        // As Artillery: `subprotocols` first, then those of a `Sec-WebSocket-Protocol` header.
        config.ws.subprotocols.extend(protocols_from_header);
        Ok(())
    }

    fn subprotocols(&self, v: &Node, key: &str) -> R<Vec<String>> {
        self.seq(v, key)?
            .iter()
            .enumerate()
            .map(|(i, p)| self.string(p, &format!("{key}[{i}]")))
            .collect()
    }

    /// Handshake headers; a `Sec-WebSocket-Protocol` header becomes subprotocols.
    #[allow(clippy::type_complexity)]
    fn ws_headers(
        &self,
        v: &Node,
        key: &str,
    ) -> R<(Vec<(String, crate::template::Template)>, Vec<String>)> {
        let mut headers = Vec::new();
        let mut protocols = Vec::new();
        for (hk, hv) in self.map(v, key)? {
            let name = hk.scalar_text();
            let kk = join(key, &name);
            if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                let text = self.string(hv, &kk)?;
                protocols.extend(text.split(',').map(|p| p.trim().to_string()));
                continue;
            }
            headers.push((name, self.template(hv, &kk)?));
        }
        Ok((headers, protocols))
    }

    /// A `ws` scenario's flow: its `connect` first step, if any, and the other steps.
    pub(super) fn ws_flow(&self, node: &Node, key: &str) -> R<(WsScenario, Vec<Step>)> {
        let mut scenario = WsScenario::default();
        let mut steps = Vec::new();
        for (i, s) in self.seq(node, key)?.iter().enumerate() {
            let sk = format!("{key}[{i}]");
            if let Some(c) = s.get("connect") {
                let kpos = match &s.value {
                    Value::Map(entries) => entries[0].0.pos,
                    _ => s.pos,
                };
                if i != 0 {
                    return Err(self.err(kpos, &join(&sk, "connect"), "`connect` must be the first step of a ws scenario (Artillery connects when the VU starts and ignores it elsewhere)"));
                }
                self.single_key(s, &sk)?;
                scenario.connect = Some(self.connect(c, &join(&sk, "connect"))?);
                continue;
            }
            steps.push(self.ws_step(s, &sk)?);
        }
        Ok((scenario, steps))
    }

    fn single_key(&self, node: &Node, key: &str) -> R<()> {
        if let Value::Map(entries) = &node.value {
            if let Some((k, _)) = entries.get(1) {
                let first = entries[0].0.scalar_text();
                return Err(self.err(
                    k.pos,
                    &join(key, &k.scalar_text()),
                    format!("unexpected key next to {first}; a {first} step has that one key"),
                ));
            }
        }
        Ok(())
    }

    fn connect(&self, v: &Node, key: &str) -> R<WsConnect> {
        if !matches!(v.value, Value::Map(_)) {
            return Ok(WsConnect {
                target: Some(self.template(v, key)?),
                headers: None,
                subprotocols: None,
                reject_unauthorized: None,
                mapping: false,
            });
        }
        let allowed = ["target", "headers", "subprotocols", "rejectUnauthorized"];
        let rejected = [
            ("function", "`connect.function` (custom JavaScript) is"),
            ("proxy", "a WebSocket `proxy` is"),
        ];
        let mut c = WsConnect {
            target: None,
            headers: None,
            subprotocols: None,
            reject_unauthorized: None,
            mapping: true,
        };
        let mut protocols_from_header = Vec::new();
        for (k, node, _) in self.entries(v, key, &allowed, &rejected)? {
            let kk = join(key, k);
            match k {
                "target" => c.target = Some(self.template(node, &kk)?),
                "headers" => {
                    let (headers, protocols) = self.ws_headers(node, &kk)?;
                    c.headers = Some(headers);
                    protocols_from_header = protocols;
                }
                "subprotocols" => c.subprotocols = Some(self.subprotocols(node, &kk)?),
                _ => c.reject_unauthorized = Some(self.bool(node, &kk)?),
            }
        }
        if !protocols_from_header.is_empty() {
            c.subprotocols
                .get_or_insert_with(Vec::new)
                .extend(protocols_from_header);
        }
        Ok(c)
    }

    fn ws_step(&self, node: &Node, key: &str) -> R<Step> {
        let entries = self.map(node, key)?;
        let first = entries
            .first()
            .ok_or_else(|| self.err(node.pos, key, "empty step"))?;
        let kind = first.0.scalar_text();
        let (kpos, kk) = (first.0.pos, join(key, &kind));
        match kind.as_str() {
            "send" | "wait" => {
                self.single_key(node, key)?;
                Ok(Step::WsSend(Box::new(self.ws_send(&first.1, &kk, &kind, kpos)?)))
            }
            "think" => self.think_step(entries, key),
            "log" => {
                self.single_key(node, key)?;
                Ok(Step::Log(self.template(&first.1, &kk)?))
            }
            "loop" => {
                let mut steps = Vec::new();
                for (i, s) in self.seq(&first.1, &kk)?.iter().enumerate() {
                    let sk = format!("{kk}[{i}]");
                    if s.get("connect").is_some() {
                        return Err(self.err(s.pos, &join(&sk, "connect"), "`connect` must be the first step of a ws scenario (Artillery connects when the VU starts and ignores it elsewhere)"));
                    }
                    steps.push(self.ws_step(s, &sk)?);
                }
                self.loop_step(steps, entries, key, kpos)
            }
            "function" => Err(self.unsupported(kpos, &kk, "`function` steps (custom JavaScript) are")),
            "emit" | "context" | "reply" => Err(self.unsupported(kpos, &kk, &format!("`{kind}` steps (the Socket.IO engine) are"))),
            k if crate::script::model::Method::from_key(k).is_some() || k == "parallel" => Err(self.err(kpos, &kk, "an HTTP step in a ws scenario (Artillery's ws engine fails the VU with `invalid_step`); put HTTP requests in a scenario of their own")),
            _ => Err(self.err(kpos, &kk, "unknown step of a ws scenario; expected connect (first), send, wait, think, loop or log")),
        }
    }

    /// `send: <message>` (a string as is, a mapping or list as JSON), or
    /// `send`/`wait: {payload, capture, match}` which waits for the next message.
    fn ws_send(&self, v: &Node, key: &str, kind: &str, pos: Pos) -> R<WsSend> {
        let mut step = WsSend {
            payload: None,
            captures: Vec::new(),
            matches: Vec::new(),
            pos,
        };
        let reads = v.get("capture").is_some() || v.get("match").is_some();
        if matches!(v.value, Value::Null) {
            return Err(self.err(pos, key, "missing; expected the message to send (a string, or a mapping or list sent as JSON), or {payload, capture, match}"));
        }
        if !reads {
            if kind == "wait" {
                return Err(self.err(v.pos, key, "a wait needs `capture` or `match` (without them Artillery sends the wait itself as a message)"));
            }
            step.payload = Some(self.json_template(v, key)?);
            return Ok(step);
        }
        for (k, node, _) in self.entries(v, key, &["payload", "capture", "match"], &[])? {
            let kk = join(key, k);
            match k {
                "payload" => {
                    if matches!(node.value, Value::Null) {
                        return Err(self.err(node.pos, &kk, "expected the message to send"));
                    }
                    step.payload = Some(self.json_template(node, &kk)?)
                }
                _ => {
                    let is_match = k == "match";
                    let items: Vec<&Node> = match &node.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![node],
                    };
                    for (i, c) in items.into_iter().enumerate() {
                        let ck = format!("{kk}[{i}]");
                        if let Value::Map(entries) = &c.value {
                            if let Some((hk, _)) =
                                entries.iter().find(|(k, _)| k.as_str() == Some("header"))
                            {
                                return Err(self.err(
                                    hk.pos,
                                    &join(&ck, "header"),
                                    "a WebSocket message has no headers; use json or regexp",
                                ));
                            }
                        }
                        let c = self.capture(c, &ck, is_match)?;
                        if is_match {
                            step.matches.push(c)
                        } else {
                            step.captures.push(c)
                        }
                    }
                }
            }
        }
        Ok(step)
    }
}
