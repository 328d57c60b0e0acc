//! A VU of a `ws` scenario: the connection Artillery's ws engine opens when the VU starts,
//! `send` (counted in `websocket.messages_sent`) and, with `capture`/`match`, the next
//! message read as JSON or text, under the error names Artillery counts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::Value as Json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::protocol::Message;

use super::{Shared, Vu, VuFailure};
use crate::capture::{self, Captured, Response};
use crate::client::{Connector, RequestError, map_io, map_tls};
use crate::metrics::Record;
use crate::script::model::{CaptureSource, WsScenario, WsSend};
use crate::template::set_path;

/// A plain or TLS stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A VU's open WebSocket.
pub(super) struct WsConn {
    stream: WebSocketStream<Box<dyn Io>>,
}

impl std::fmt::Debug for WsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsConn")
    }
}

/// Why the connection did not open: Artillery counts the `ws` library's error message and
/// then its code (or the message again when it has none), so each failure counts twice.
struct OpenError {
    message: String,
    code: String,
    /// The server answered the handshake (with a status, or a bad upgrade): it is up.
    answered: bool,
}

impl OpenError {
    fn same(message: impl Into<String>) -> OpenError {
        let message = message.into();
        OpenError {
            code: message.clone(),
            message,
            answered: false,
        }
    }

    fn answered(mut self) -> OpenError {
        self.answered = true;
        self
    }
}

impl<'s> Vu<'s> {
    /// Open the scenario's WebSocket, as Artillery does before the first step.
    pub(super) async fn ws_open(&mut self, spec: &'s WsScenario) -> Result<(), VuFailure> {
        let sh = self.sh;
        let config = &sh.script.config;
        let scope = self.scope();
        let connect = spec.connect.as_ref();
        let url = match connect.and_then(|c| c.target.as_ref()) {
            Some(t) => t.render(&scope).into_owned(),
            None => sh.globals.target.clone(),
        };
        let mapping = connect.is_some_and(|c| c.mapping);
        let headers = match connect.and_then(|c| c.headers.as_ref()) {
            Some(h) if mapping => h,
            _ => &config.ws.headers,
        };
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.clone(), v.render(&scope).into_owned()))
            .collect();
        let subprotocols = match connect.and_then(|c| c.subprotocols.as_ref()) {
            Some(p) if mapping => p,
            _ => &config.ws.subprotocols,
        };
        // `{...tls, ...ws}` in Artillery; the mapping form of `connect` replaces `ws`.
        let reject = match connect {
            Some(c) if c.mapping => c.reject_unauthorized,
            _ => config.ws.reject_unauthorized,
        }
        .unwrap_or(config.reject_unauthorized);
        let tls = if reject == config.reject_unauthorized {
            Ok(sh.connector.tls_config())
        } else {
            let client = sh.auth.as_ref().and_then(|a| a.client_tls());
            Connector::new(reject, client).map(|c| c.tls_config())
        };
        sh.ws_tried.fetch_add(1, Ordering::Relaxed);
        let result = match tls {
            Ok(tls) => {
                let deadline = config.timeout;
                match tokio::time::timeout(
                    deadline,
                    ws_handshake(sh, &url, &headers, subprotocols, tls),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(OpenError::same("Opening handshake has timed out")),
                }
            }
            Err(e) => Err(OpenError::same(e.to_string())),
        };
        if result.as_ref().map_or_else(|e| e.answered, |_| true) {
            sh.ws_answered.fetch_add(1, Ordering::Relaxed);
        }
        match result {
            Ok(conn) => {
                self.ws = Some(conn);
                Ok(())
            }
            Err(e) => {
                tracing::debug!(%url, error = %e.message, "websocket did not open");
                self.count_error(&e.message, None);
                self.count_error(&e.code, None);
                Err(VuFailure::new(e.code))
            }
        }
    }

    /// A `send` or `wait` step.
    pub(super) async fn ws_send(&mut self, step: &WsSend) -> Result<(), VuFailure> {
        let timeout = self.sh.script.config.ws.timeout;
        let Some(conn) = self.ws.as_mut() else {
            return Err(VuFailure::new("invalid_step"));
        };
        // Artillery reads only what arrives once the step's handler is set: what came
        // before (the echo of an earlier plain send, say) is dropped.
        if step.waits() {
            while let Some(Some(Ok(_))) = conn.stream.next().now_or_never() {}
        }
        let waited_from = tokio::time::Instant::now();
        if let Some(payload) = &step.payload {
            let text = match payload.render(&self.scope()) {
                Json::String(s) => s,
                Json::Null => String::new(),
                v @ (Json::Array(_) | Json::Object(_)) => v.to_string(),
                v => crate::template::json_text(&v),
            };
            self.record(&[
                Record::Counter("websocket.messages_sent", 1),
                Record::Rate("websocket.send_rate"),
            ]);
            let conn = self.ws.as_mut().expect("checked above");
            if let Err(e) = conn.stream.send(Message::text(text)).await {
                tracing::debug!(error = %e, "websocket send failed");
                let message = "WebSocket is not open: readyState 3 (CLOSED)";
                self.count_error(&format!("Error: {message}"), None);
                self.count_error(message, None);
                return Err(VuFailure::new(message));
            }
        }
        if !step.waits() {
            return Ok(());
        }
        let conn = self.ws.as_mut().expect("checked above");
        let deadline = waited_from + timeout;
        let data = loop {
            let next = tokio::select! {
                n = conn.stream.next() => n,
                _ = tokio::time::sleep_until(deadline) => break None,
                _ = self.sh.cancel.cancelled() => return Err(VuFailure::new("ECANCELED")),
            };
            match next {
                Some(Ok(Message::Text(t))) => break Some(t.as_str().to_string()),
                Some(Ok(Message::Binary(b))) => {
                    break Some(String::from_utf8_lossy(&b).into_owned());
                }
                Some(Ok(_)) => continue,
                // A closed connection sends nothing more: the step waits out its timeout,
                // as Artillery's does.
                Some(Err(_)) | None => {
                    tokio::time::sleep_until(deadline).await;
                    break None;
                }
            }
        };
        let Some(data) = data else {
            // Artillery's timer counts `response timeout`, then its scenario callback
            // counts the code of that string error, which is undefined.
            self.count_error("response timeout", None);
            self.count_error("undefined", None);
            return Err(VuFailure::new("response timeout"));
        };
        self.record(&[
            Record::Counter("websocket.messages_received", 1),
            Record::Rate("websocket.receive_rate"),
        ]);
        if data.is_empty() {
            let code = "Empty response from WS server";
            self.count_error(code, None);
            return Err(VuFailure::new(code));
        }
        self.ws_read(step, &data)
    }

    /// `capture` and `match` on a message, all or nothing (Artillery's `captureOrMatch`
    /// over `{body: JSON.parse(data)}`, else the text).
    fn ws_read(&mut self, step: &WsSend, data: &str) -> Result<(), VuFailure> {
        let doc: Option<Json> = serde_json::from_str(data).ok();
        // A regexp sees the text, or `JSON.stringify` of what parsed.
        let text = match &doc {
            Some(Json::String(s)) => s.clone(),
            Some(_) => minify(data),
            None => data.to_string(),
        };
        let container = doc.as_ref().filter(|d| d.is_object() || d.is_array());
        let headers = http::HeaderMap::new();
        let res = Response {
            status: 0,
            headers: &headers,
            text: &text,
            json: container,
        };
        let read = |c: &crate::script::model::Capture, vu: &Vu<'_>| match &c.source {
            // A JSONPath reads an object or a list; a number, a string or text gives nothing.
            CaptureSource::Json(_) if container.is_none() => Captured::Missing,
            _ => capture::capture(c, &res, &vu.scope()),
        };
        let mut failed = false;
        let mut captured = Vec::new();
        for c in &step.captures {
            match read(c, self) {
                Captured::Value(v) => captured.push((c.var.clone(), Some(v))),
                // The ws engine ignores `defaults.strictCapture`: strict unless the capture
                // says `strict: false`.
                Captured::Missing if c.strict != Some(false) => failed = true,
                Captured::Missing => captured.push((c.var.clone(), None)),
            }
        }
        for m in &step.matches {
            let want = m.value.as_ref().map(|v| v.render(&self.scope()));
            if !capture::matches(read(m, self), want) && m.strict != Some(false) {
                failed = true;
            }
        }
        if failed {
            let code = "Failed capture or match";
            self.count_error(code, None);
            return Err(VuFailure::new(code));
        }
        for (k, v) in captured {
            match v {
                Some(v) => set_path(&mut self.vars, &k, v),
                None => {
                    self.vars.remove(&k);
                }
            }
        }
        Ok(())
    }

    /// Close the WebSocket at the end of the flow, as Artillery does: the VU ends at once
    /// while the closing handshake goes on (the `ws` library waits up to 30 s for the
    /// server's close frame). Dropping the socket with unread echoes in it instead would
    /// reset the connection and lose the last messages on their way to the server.
    pub(super) fn ws_close(&mut self) {
        if let Some(mut conn) = self.ws.take() {
            tokio::spawn(async move {
                let closing = async {
                    let _ = conn.stream.close(None).await;
                    while let Some(Ok(_)) = conn.stream.next().await {}
                };
                let _ = tokio::time::timeout(Duration::from_secs(30), closing).await;
            });
        }
    }
}

/// TCP, TLS for `wss://`, credentials, then the opening handshake (once more after a
/// 401 that renewed the credentials).
async fn ws_handshake(
    sh: &Shared,
    url: &str,
    headers: &[(String, String)],
    subprotocols: &[String],
    tls: Arc<rustls::ClientConfig>,
) -> Result<WsConn, OpenError> {
    // The `ws` library takes http(s):// URLs for ws(s)://.
    let url = match url.split_once("://") {
        Some(("http", rest)) => format!("ws://{rest}"),
        Some(("https", rest)) => format!("wss://{rest}"),
        _ => url.to_string(),
    };
    let parsed = url::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "ws" | "wss") && u.host_str().is_some())
        .ok_or_else(|| OpenError::same(format!("Invalid URL: {url}")))?;
    let secure = parsed.scheme() == "wss";
    let host = parsed
        .host_str()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut creds = testcar_auth::RequestCredentials::new(sh.auth.as_deref());
    loop {
        let tcp = ws_tcp(&host, port).await?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if secure {
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|_| OpenError::same(format!("Invalid URL: {url}")))?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| tls_error(map_tls(e)))?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| OpenError::same(e.to_string()))?;
        let parts = testcar_auth::RequestParts {
            method: "GET",
            url: &url,
            body: &Bytes::new(),
        };
        let more = creds.headers(parts).await.map_err(|e| {
            tracing::warn!(error = %e.cause(), "credentials unavailable");
            OpenError::same("EAUTH")
        })?;
        let h = request.headers_mut();
        for (k, v) in headers.iter().chain(more.iter()) {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::try_from(k.as_str()),
                http::HeaderValue::try_from(v.as_str()),
            ) {
                h.insert(k, v);
            }
        }
        if !subprotocols.is_empty() {
            if let Ok(v) = http::HeaderValue::try_from(subprotocols.join(", ")) {
                h.insert("sec-websocket-protocol", v);
            }
        }
        match tokio_tungstenite::client_async_with_config(request, io, None).await {
            Ok((stream, _)) => return Ok(WsConn { stream }),
            Err(WsError::Http(res)) => {
                let status = res.status().as_u16();
                if creds.resend_after(status).await.unwrap_or(false) {
                    continue;
                }
                return Err(
                    OpenError::same(format!("Unexpected server response: {status}")).answered(),
                );
            }
            // The server answered, but not as a WebSocket server should.
            Err(e @ WsError::Protocol(_)) => return Err(handshake_error(e).answered()),
            Err(e) => return Err(handshake_error(e)),
        }
    }
}

/// Connect TCP to `host:port`, with Node's error messages (`connect ECONNREFUSED ip:port`).
async fn ws_tcp(host: &str, port: u16) -> Result<TcpStream, OpenError> {
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => match tokio::net::lookup_host((host, port)).await {
            Ok(a) => a.collect(),
            Err(_) => Vec::new(),
        },
    };
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some((map_io(e).code, *addr)),
        }
    }
    Err(match last {
        Some((code, addr)) => OpenError {
            message: format!("connect {code} {}:{}", addr.ip(), addr.port()),
            code,
            answered: false,
        },
        None => OpenError {
            message: format!("getaddrinfo ENOTFOUND {host}"),
            code: "ENOTFOUND".into(),
            answered: false,
        },
    })
}

/// A TLS failure as Node names it: its message, then its code.
fn tls_error(e: RequestError) -> OpenError {
    let message = match e.code.as_str() {
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE" => "unable to verify the first certificate",
        "CERT_HAS_EXPIRED" => "certificate has expired",
        "ECONNRESET" => "socket hang up",
        other => other,
    };
    OpenError {
        message: message.to_string(),
        code: e.code,
        answered: false,
    }
}

/// A failed opening handshake, in the `ws` library's words.
fn handshake_error(e: WsError) -> OpenError {
    match e {
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(p)) => {
            OpenError::same(match p {
                SubProtocolError::NoSubProtocol => "Server sent no subprotocol",
                SubProtocolError::ServerSentSubProtocolNoneRequested => {
                    "Server sent a subprotocol but none was requested"
                }
                SubProtocolError::InvalidSubProtocol => "Server sent an invalid subprotocol",
            })
        }
        WsError::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch) => {
            OpenError::same("Invalid Sec-WebSocket-Accept header")
        }
        WsError::Protocol(ProtocolError::MissingUpgradeWebSocketHeader) => {
            OpenError::same("Invalid Upgrade header")
        }
        WsError::Io(e) => {
            let code = map_io(e).code;
            OpenError {
                message: if code == "ECONNRESET" {
                    "socket hang up".into()
                } else {
                    code.clone()
                },
                code,
                answered: false,
            }
        }
        other => OpenError::same(other.to_string()),
    }
}

/// JSON text without the whitespace between its tokens: `JSON.stringify(JSON.parse(text))`
/// for text that parsed (numbers and escapes are kept as written).
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_drops_whitespace_between_tokens_only() {
        assert_eq!(
            minify("{ \"a b\": [1, 2],\n \"c\": \"x \\\" y\" }"),
            "{\"a b\":[1,2],\"c\":\"x \\\" y\"}"
        );
    }
}
