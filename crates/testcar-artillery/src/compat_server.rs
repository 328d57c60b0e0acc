//! A small deterministic HTTP server for the compatibility corpus and tests: fixed answers
//! per path, so Artillery and Testcar must count exactly the same codes and expectations.
//! Run it with `cargo run -p testcar-artillery --example compat-server -- --port N`.
//! WebSocket endpoints (`/ws/echo`, `/ws/silent`) serve the `ws` engine's corpus scripts.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serve on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, stop: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .with_upgrades()
                .await;
        });
    }
}

/// Bind 127.0.0.1 on a free port and serve in the background; returns the address.
pub async fn spawn(stop: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, stop));
    Ok(addr)
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

fn json_response(status: u16, v: serde_json::Value) -> Response<Full<Bytes>> {
    respond(status, "application/json; charset=utf-8", v.to_string())
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if path.starts_with("/ws/") {
        return Ok(websocket(req, path));
    }
    let method = req.method().clone();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let res = match (method.as_str(), path.as_str()) {
        (_, "/") => respond(200, "text/plain", "ok"),
        ("GET", "/json") => json_response(
            200,
            json!({"id": 1, "name": "ann", "token": "t-123", "items": [{"id": 10}, {"id": 20}], "nested": {"flag": true}}),
        ),
        ("GET", "/text") => respond(200, "text/html; charset=utf-8", "<p>order 42 is ready</p>"),
        ("GET", "/header") => Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .header("x-custom", "yes")
            .header("x-request-id", "req-7")
            .body(Full::new(Bytes::from_static(b"headers")))
            .expect("valid"),
        ("GET", "/redirect") => Response::builder()
            .status(302)
            .header("location", "/json")
            .body(Full::new(Bytes::new()))
            .expect("valid"),
        // Redirects of any method to /echo, which shows the method and body that arrived.
        (_, "/redirect/302" | "/redirect/303" | "/redirect/307") => Response::builder()
            .status(path["/redirect/".len()..].parse::<u16>().unwrap_or(302))
            .header("location", "/echo")
            .body(Full::new(Bytes::new()))
            .expect("valid"),
        ("GET", "/cookie/set") => Response::builder()
            .status(200)
            .header("set-cookie", "sid=abc; Path=/")
            .body(Full::new(Bytes::from_static(b"set")))
            .expect("valid"),
        // Set-Cookie values tough-cookie refuses: no `=`, a tab in the value, a domain that
        // is not the server's, an IP address as the domain (a "public suffix" to
        // tough-cookie); and one good cookie.
        ("GET", "/cookie/malformed") => Response::builder()
            .status(200)
            .header("set-cookie", "novalue")
            .header("set-cookie", "tab=a\tb")
            .header("set-cookie", "other=1; Domain=example.com")
            .header("set-cookie", "ip=1; Domain=127.0.0.1")
            .header("set-cookie", "good=1; Path=/")
            .body(Full::new(Bytes::from_static(b"malformed")))
            .expect("valid"),
        ("GET", "/cookie/malformed-one") => Response::builder()
            .status(200)
            .header("set-cookie", "=nameless")
            .body(Full::new(Bytes::from_static(b"malformed")))
            .expect("valid"),
        // A cookie only for paths under /cookie/private, and one that ends the session.
        ("GET", "/cookie/set-private") => Response::builder()
            .status(200)
            .header("set-cookie", "private=yes; Path=/cookie/private")
            .body(Full::new(Bytes::from_static(b"set")))
            .expect("valid"),
        ("GET", "/cookie/clear") => Response::builder()
            .status(200)
            .header("set-cookie", "sid=; Path=/; Max-Age=0")
            .body(Full::new(Bytes::from_static(b"cleared")))
            .expect("valid"),
        ("GET", p) if p.starts_with("/cookie/private") => {
            let cookie = header("cookie").unwrap_or_default();
            json_response(200, json!({"cookie": cookie}))
        }
        ("GET", "/cookie/check") => {
            let ok = header("cookie").is_some_and(|c| c.contains("sid=abc"));
            respond(
                if ok { 200 } else { 401 },
                "text/plain",
                if ok { "ok" } else { "no cookie" },
            )
        }
        ("GET", "/auth/basic") => {
            // user:pass
            let ok = header("authorization").as_deref() == Some("Basic dXNlcjpwYXNz");
            respond(if ok { 200 } else { 401 }, "text/plain", "")
        }
        ("GET", "/auth/bearer") => {
            let ok = header("authorization").as_deref() == Some("Bearer fresh");
            respond(if ok { 200 } else { 401 }, "text/plain", "")
        }
        ("GET", "/gzip") => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = enc.write_all(br#"{"compressed":true}"#);
            let body = enc.finish().unwrap_or_default();
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Full::new(Bytes::from(body)))
                .expect("valid")
        }
        ("GET", "/slow") => {
            let ms = query_param(&req, "ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            respond(200, "text/plain", "slow")
        }
        (_, p) if p.starts_with("/status/") => {
            let code = p["/status/".len()..].parse().unwrap_or(500);
            respond(code, "text/plain", format!("status {code}"))
        }
        ("GET", p) if p.starts_with("/users/") => {
            let id = &p["/users/".len()..];
            let id_json = id
                .parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| json!(id));
            json_response(200, json!({"id": id_json, "path": p}))
        }
        ("POST", "/login") => json_response(200, json!({"token": "fresh", "expires": 3600})),
        ("POST", "/types") => {
            // The JSON type of each top-level field posted, so a script can check that a
            // placeholder kept its type.
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let types: serde_json::Map<String, serde_json::Value> =
                match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(serde_json::Value::Object(m)) => m
                        .into_iter()
                        .map(|(k, v)| (k, json!(json_type(&v))))
                        .collect(),
                    _ => serde_json::Map::new(),
                };
            json_response(200, serde_json::Value::Object(types))
        }
        (m, "/echo") => {
            let query = req.uri().query().unwrap_or("").to_string();
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                .collect();
            let m = m.to_string();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body).into_owned();
            let parsed: serde_json::Value =
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            json_response(
                200,
                json!({"method": m, "query": query, "headers": headers, "body": text, "json": parsed}),
            )
        }
        _ => respond(404, "text/plain", "not found"),
    };
    Ok(res)
}

/// A WebSocket upgrade: `/ws/echo` sends every message back as it came, `/ws/silent` never
/// answers. The first subprotocol the client offers is accepted. Anything that is not an
/// upgrade request, or another path, is answered 404 (the client's handshake then fails).
fn websocket(mut req: Request<Incoming>, path: String) -> Response<Full<Bytes>> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::{Message, Role};
    let echo = match path.as_str() {
        "/ws/echo" => true,
        "/ws/silent" => false,
        _ => return respond(404, "text/plain", "not found"),
    };
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return respond(404, "text/plain", "not a websocket upgrade");
    };
    let protocol = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|p| p.trim().to_string());
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            let reply = echo && matches!(msg, Message::Text(_) | Message::Binary(_));
            if matches!(msg, Message::Close(_)) || (reply && ws.send(msg).await.is_err()) {
                return;
            }
        }
    });
    let mut res = Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header(
            "sec-websocket-accept",
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
        );
    if let Some(p) = protocol {
        res = res.header("sec-websocket-protocol", p);
    }
    res.body(Full::new(Bytes::new())).expect("valid")
}
