//! The `ws` engine against a real WebSocket server on loopback: what arrives at the server
//! (text as is, objects as JSON, templates rendered, handshake headers, subprotocols and
//! credentials), captures feeding later messages, Artillery's `websocket.*` counters and
//! error names, timeouts, cancellation; and bad `ws` input refused at `file:line:column: key`.

use crate::engine::RotatingToken;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use testcar_artillery::{LoadOptions, RunOptions, parse_script, run_script};
use testcar_contract::Status;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_util::sync::CancellationToken;

/// What the test server saw.
#[derive(Debug, Default)]
struct Seen {
    /// Text messages, in order, per connection path.
    messages: Mutex<Vec<String>>,
    /// Handshake headers of each connection (lower-case names).
    handshakes: Mutex<Vec<Vec<(String, String)>>>,
    /// Connections opened.
    connections: AtomicUsize,
}

/// A WebSocket server on a free port: `/echo` sends back every text message, `/close`
/// closes at once, `/auth` refuses the handshake (401) without `Bearer fresh`. The first
/// subprotocol offered is accepted.
async fn ws_server(stop: CancellationToken) -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                _ = stop.cancelled() => return,
            };
            let seen = seen2.clone();
            tokio::spawn(async move {
                let path = Arc::new(Mutex::new(String::new()));
                let path2 = path.clone();
                let seen3 = seen.clone();
                // tungstenite's callback type returns its large `ErrorResponse` by value.
                #[allow(clippy::result_large_err)]
                let callback = move |req: &Request, mut res: Response| {
                    let headers: Vec<(String, String)> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    let auth = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let protocol = req
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split(',').next())
                        .map(|p| p.trim().to_string());
                    seen3.handshakes.lock().unwrap().push(headers);
                    *path2.lock().unwrap() = req.uri().path().to_string();
                    if req.uri().path() == "/auth" && auth.as_deref() != Some("Bearer fresh") {
                        let mut denied = ErrorResponse::new(None);
                        *denied.status_mut() = http::StatusCode::UNAUTHORIZED;
                        return Err(denied);
                    }
                    if let Some(p) = protocol {
                        res.headers_mut()
                            .insert("sec-websocket-protocol", p.parse().unwrap());
                    }
                    Ok(res)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                seen.connections.fetch_add(1, Ordering::SeqCst);
                if path.lock().unwrap().as_str() == "/close" {
                    let _ = ws.close(None).await;
                    return;
                }
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = &msg {
                        seen.messages.lock().unwrap().push(t.as_str().to_string());
                        if ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn script(yaml: &str, target: &str) -> testcar_artillery::Script {
    let opts = LoadOptions {
        target: Some(target.to_string()),
        ..Default::default()
    };
    parse_script(yaml, Path::new("ws.yml"), &opts).unwrap_or_else(|e| panic!("{e}"))
}

fn counter(out: &testcar_artillery::Outcome, name: &str) -> Option<u64> {
    out.report["aggregate"]["counters"][name].as_u64()
}

#[tokio::test]
async fn messages_templates_captures_and_loops_reach_a_real_server() {
    let stop = CancellationToken::new();
    let (addr, seen) = ws_server(stop.clone()).await;
    let yaml = r#"
config:
  target: ws://placeholder
  phases: [{duration: 1, arrivalCount: 1}]
  variables: {who: ann}
  ws:
    subprotocols: [chat, other]
    headers: {x-team: "{{ who }}"}
scenarios:
  - engine: ws
    flow:
      - send:
          payload: {id: 7, tags: [a, b]}
          capture:
            - json: $.tags[1]
              as: tag
          match: {json: $.id, value: 7}
      # Plain sends do not wait for their echo (a capture right after one would read it,
      # in Artillery too).
      - send: "hello {{ who }}"
      - send: {kind: json, n: 1}
      - think: "10ms"
      - loop:
          - send: "{{ tag }}-{{ $loopElement }}"
        over: [x, y]
      - log: "sent {{ tag }}"
"#;
    let out = run_script(
        script(yaml, &format!("ws://{addr}/echo")),
        RunOptions::default(),
    )
    .await;
    assert_eq!(out.suite.status, Status::Passed, "{:#?}", out.suite);
    assert_eq!(counter(&out, "websocket.messages_sent"), Some(5));
    // Only the reply a capture waited for is read and counted, as in Artillery.
    assert_eq!(counter(&out, "websocket.messages_received"), Some(1));
    assert_eq!(counter(&out, "vusers.completed"), Some(1));
    assert!(out.report["aggregate"]["rates"]["websocket.send_rate"].is_number());
    // The echoes of plain sends are not awaited: wait for the server to have every message.
    let got = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let got = seen.messages.lock().unwrap().clone();
            if got.len() >= 5 {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server got {:?}", seen.messages.lock().unwrap()));
    assert_eq!(
        got,
        [
            r#"{"id":7,"tags":["a","b"]}"#,
            "hello ann",
            r#"{"kind":"json","n":1}"#,
            "b-x",
            "b-y"
        ]
    );
    let hs = seen.handshakes.lock().unwrap()[0].clone();
    let header = |n: &str| hs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(header("x-team").as_deref(), Some("ann"));
    assert_eq!(
        header("sec-websocket-protocol").as_deref(),
        Some("chat, other")
    );
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    stop.cancel();
}

#[tokio::test]
async fn the_handshake_carries_credentials_and_a_401_refreshes_them_once() {
    let stop = CancellationToken::new();
    let (addr, seen) = ws_server(stop.clone()).await;
    let yaml = "config:\n  target: ws://x\nscenarios:\n  - engine: ws\n    flow:\n      - send: {payload: hi, match: {regexp: hi, value: hi}}\n";
    let auth = Arc::new(RotatingToken::default());
    let out = run_script(
        script(yaml, &format!("ws://{addr}/auth")),
        RunOptions {
            auth: Some(auth.clone()),
            ..Default::default()
        },
    )
    .await;
    // Refused once (stale token), accepted after one refresh, then the echo matches.
    assert_eq!(out.suite.status, Status::Passed, "{:#?}", out.suite);
    assert_eq!(counter(&out, "websocket.messages_received"), Some(1));
    assert_eq!(auth.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(seen.handshakes.lock().unwrap().len(), 2);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(
        counter(&out, "errors.Unexpected server response: 401"),
        None
    );
    stop.cancel();
}

#[tokio::test]
async fn a_connection_the_server_closes_times_out_the_wait_under_artillerys_names() {
    let stop = CancellationToken::new();
    let (addr, _) = ws_server(stop.clone()).await;
    let yaml = "config:\n  target: ws://x\n  phases: [{duration: 1, arrivalCount: 2}]\n  ws: {timeout: 0.2}\nscenarios:\n  - engine: ws\n    flow:\n      - wait: {match: {json: $.a, value: 1}}\n";
    let out = run_script(
        script(yaml, &format!("ws://{addr}/close")),
        RunOptions::default(),
    )
    .await;
    assert_eq!(counter(&out, "errors.response timeout"), Some(2));
    assert_eq!(counter(&out, "errors.undefined"), Some(2));
    assert_eq!(counter(&out, "vusers.failed"), Some(2));
    assert_eq!(counter(&out, "websocket.messages_received"), None);
    // Artillery exits 0 on failed VUs, and so does Testcar (no ensure, no expectations).
    assert_eq!(out.suite.status, Status::Passed);
    stop.cancel();
}

#[tokio::test]
async fn a_subprotocol_the_server_does_not_return_fails_the_handshake() {
    // The compat server answers a plain HTTP request on /status/200: not an upgrade.
    let stop = CancellationToken::new();
    let addr = testcar_artillery::compat_server::spawn(stop.clone())
        .await
        .unwrap();
    let yaml =
        "config:\n  target: ws://x\nscenarios:\n  - engine: ws\n    flow:\n      - send: hi\n";
    let out = run_script(
        script(yaml, &format!("ws://{addr}/status/200")),
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        counter(&out, "errors.Unexpected server response: 200"),
        Some(2)
    );
    assert_eq!(counter(&out, "vusers.failed"), Some(1));
    stop.cancel();
}

#[tokio::test]
async fn cancellation_stops_a_vu_waiting_for_a_reply() {
    let stop = CancellationToken::new();
    let (addr, _) = ws_server(stop.clone()).await;
    let yaml = "config:\n  target: ws://x\n  ws: {timeout: 600}\nscenarios:\n  - engine: ws\n    flow:\n      - wait: {match: {json: $.a, value: 1}}\n";
    let cancel = CancellationToken::new();
    let run = run_script(
        script(yaml, &format!("ws://{addr}/close")),
        RunOptions {
            cancel: cancel.clone(),
            ..Default::default()
        },
    );
    let cancel_soon = async {
        // Cancel once the VU is connected and waiting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    };
    let (out, ()) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(run, cancel_soon)
    })
    .await
    .expect("a cancelled run ends well before the 600 s timeout");
    assert_eq!(out.suite.status, Status::Error);
    assert_eq!(counter(&out, "vusers.failed"), None);
    stop.cancel();
}

fn load_err(yaml: &str) -> String {
    parse_script(yaml, Path::new("bad.yml"), &LoadOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_ws_input_is_refused_at_its_file_line_and_key() {
    let head = "config:\n  target: ws://127.0.0.1:9/\nscenarios:\n  - engine: ws\n    flow:\n";
    let cases = [
        (
            "      - send:\n",
            "bad.yml:6:9: scenarios[0].flow[0].send: missing",
        ),
        (
            "      - send: hi\n        ifTrue: x\n",
            "bad.yml:7:9: scenarios[0].flow[0].ifTrue: unexpected key next to send",
        ),
        (
            "      - send: {payload: hi, capture: {json: $.a, as: a}, expect: {statusCode: 200}}\n",
            "bad.yml:6:58: scenarios[0].flow[0].send.expect: unknown key; expected one of: payload, capture, match",
        ),
        (
            "      - wait: {payload: hi}\n",
            "bad.yml:6:15: scenarios[0].flow[0].wait: a wait needs `capture` or `match`",
        ),
        (
            "      - send: hi\n      - connect: ws://x/\n",
            "bad.yml:7:9: scenarios[0].flow[1].connect: `connect` must be the first step",
        ),
        (
            "      - send: {payload: hi, capture: {header: x-a, as: a}}\n",
            "bad.yml:6:39: scenarios[0].flow[0].send.capture[0].header: a WebSocket message has no headers",
        ),
        (
            "      - get: {url: /}\n",
            "bad.yml:6:9: scenarios[0].flow[0].get: an HTTP step in a ws scenario",
        ),
        (
            "      - emit: {channel: a}\n",
            "bad.yml:6:9: scenarios[0].flow[0].emit: `emit` steps (the Socket.IO engine)",
        ),
        (
            "      - shout: hi\n",
            "bad.yml:6:9: scenarios[0].flow[0].shout: unknown step of a ws scenario",
        ),
        (
            "      - connect: {function: connectHandler}\n",
            "bad.yml:6:19: scenarios[0].flow[0].connect.function: `connect.function` (custom JavaScript)",
        ),
    ];
    let mut wrong = Vec::new();
    for (flow, prefix) in cases {
        let err = load_err(&format!("{head}{flow}"));
        if !err.starts_with(prefix) {
            wrong.push(format!("expected {prefix:?}, got {err:?}"));
        }
    }
    let config_cases = [
        (
            "config:\n  target: ws://x/\n  ws:\n    proxy: {url: http://p}\nscenarios:\n  - engine: ws\n    flow: [{send: hi}]\n",
            "bad.yml:4:5: config.ws.proxy: a WebSocket `proxy` is not supported",
        ),
        (
            "config:\n  target: ws://x/\n  ws:\n    maxPayload: 5\nscenarios:\n  - engine: ws\n    flow: [{send: hi}]\n",
            "bad.yml:4:5: config.ws.maxPayload: unknown key; expected one of: subprotocols, headers, timeout, rejectUnauthorized",
        ),
        (
            "config:\n  target: ws://x/\nscenarios:\n  - flow: [{get: {url: /}}]\n",
            "bad.yml:2:11: config.target: a ws:// target is for `engine: ws` scenarios, and scenarios[0] runs HTTP",
        ),
        (
            "config:\n  target: http://x/\nscenarios:\n  - flow: [{send: hi}]\n",
            "bad.yml:4:13: scenarios[0].flow[0].send: `send` is a step of the `ws` engine",
        ),
        (
            "config:\n  target: http://x/\n  engine: socketio\nscenarios:\n  - flow: [{emit: hi}]\n",
            "bad.yml:3:3: config.engine: the `socketio` engine (Socket.IO's own protocol",
        ),
    ];
    for (yaml, prefix) in config_cases {
        let err = load_err(yaml);
        if !err.starts_with(prefix) {
            wrong.push(format!("expected {prefix:?}, got {err:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A `before` flow may say `engine: http`, not `engine: ws`.
    let hook = "config:\n  target: http://x/\nbefore:\n  engine: ENGINE\n  flow: [{get: {url: /}}]\nscenarios:\n  - flow: [{get: {url: /}}]\n";
    parse_script(
        &hook.replace("ENGINE", "http"),
        Path::new("ok.yml"),
        &LoadOptions::default(),
    )
    .unwrap();
    let err = load_err(&hook.replace("ENGINE", "ws"));
    assert!(
        err.starts_with("bad.yml:4:3: before.engine: a `before`/`after` flow on the `ws` engine"),
        "{err}"
    );
    let socketio = load_err(
        "config:\n  target: http://x/\n  engine: socketio\nscenarios:\n  - flow: [{emit: hi}]\n",
    );
    assert!(
        socketio.ends_with(testcar_artillery::FALLBACK_ADVICE),
        "{socketio}"
    );
}

#[test]
fn config_engine_ws_makes_every_scenario_a_ws_one() {
    let yaml = "config:\n  target: ws://127.0.0.1:9/\n  engine: ws\nscenarios:\n  - flow:\n      - send: hi\n";
    parse_script(yaml, Path::new("ok.yml"), &LoadOptions::default()).unwrap();
    // A scenario may still say `engine: http`, and then sends HTTP.
    let yaml = "config:\n  target: http://127.0.0.1:9/\n  engine: ws\nscenarios:\n  - flow: [{send: hi}]\n  - engine: http\n    flow: [{get: {url: /}}]\n";
    parse_script(yaml, Path::new("ok.yml"), &LoadOptions::default()).unwrap();
}

#[tokio::test]
async fn in_a_pod_the_agents_http_target_and_connect_give_the_url() {
    // The agent replaces `config.target` with `http://127.0.0.1:PORT`, as `-t` does; a
    // `connect` step adds the path, and the http:// URL connects as ws://.
    let stop = CancellationToken::new();
    let (addr, seen) = ws_server(stop.clone()).await;
    let yaml = "config:\n  target: ws://chat.example.com/\n  engine: ws\nscenarios:\n  - flow:\n      - connect: \"{{ target }}/echo\"\n      - send: {payload: hi, match: {regexp: hi, value: hi}}\n";
    let out = run_script(
        script(yaml, &format!("http://{addr}")),
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        counter(&out, "websocket.messages_received"),
        Some(1),
        "{:#?}",
        out.report["aggregate"]["counters"]
    );
    assert_eq!(counter(&out, "vusers.completed"), Some(1));
    assert_eq!(seen.messages.lock().unwrap().as_slice(), ["hi"]);
    stop.cancel();
}

/// A `wss://` echo server with a self-signed certificate for 127.0.0.1.
async fn wss_server(stop: CancellationToken) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = super::engine::mk_tls_acceptor();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                _ = stop.cancelled() => return,
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn wss_verifies_the_certificate_unless_ws_or_tls_says_reject_unauthorized_false() {
    let stop = CancellationToken::new();
    let addr = wss_server(stop.clone()).await;
    let target = format!("wss://{addr}/");
    let flow = "scenarios:\n  - engine: ws\n    flow:\n      - send: {payload: '{\"a\": 1}', match: {json: $.a, value: 1}}\n";
    // Verified (the default): a self-signed certificate fails the handshake.
    let out = run_script(
        script(&format!("config:\n  target: ws://x\n{flow}"), &target),
        RunOptions::default(),
    )
    .await;
    let counters = &out.report["aggregate"]["counters"];
    assert_eq!(
        counter(&out, "errors.UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
        Some(1),
        "{counters:#}"
    );
    assert_eq!(
        counter(&out, "errors.unable to verify the first certificate"),
        Some(1),
        "{counters:#}"
    );
    assert_eq!(counter(&out, "vusers.failed"), Some(1));
    // `ws.rejectUnauthorized: false` wins over `tls`, and `tls` alone works too.
    for config in [
        "config:\n  target: ws://x\n  tls: {rejectUnauthorized: true}\n  ws: {rejectUnauthorized: false}\n",
        "config:\n  target: ws://x\n  tls: {rejectUnauthorized: false}\n",
    ] {
        let out = run_script(
            script(&format!("{config}{flow}"), &target),
            RunOptions::default(),
        )
        .await;
        assert_eq!(
            counter(&out, "vusers.completed"),
            Some(1),
            "{config}: {:#}",
            out.report["aggregate"]["counters"]
        );
        assert_eq!(counter(&out, "websocket.messages_received"), Some(1));
    }
    stop.cancel();
}

#[tokio::test]
async fn a_target_that_answers_no_handshake_is_an_error_one_that_refuses_with_a_status_is_not() {
    // Nothing listens on port 1: no WebSocket was answered, so the service was not tested.
    let yaml = "config:\n  target: ws://x\n  phases: [{duration: 1, arrivalCount: 2}]\nscenarios:\n  - engine: ws\n    flow:\n      - send: hi\n";
    let out = run_script(script(yaml, "ws://127.0.0.1:1/"), RunOptions::default()).await;
    assert_eq!(out.suite.status, Status::Error);
    let error = out.suite.error.clone().unwrap_or_default();
    assert!(error.starts_with("no response from the target"), "{error}");
    assert_eq!(
        counter(&out, "errors.connect ECONNREFUSED 127.0.0.1:1"),
        Some(2)
    );
    assert_eq!(counter(&out, "errors.ECONNREFUSED"), Some(2));
    // A handshake refused with a status is an answer: the VUs fail, the run is judged.
    let stop = CancellationToken::new();
    let addr = testcar_artillery::compat_server::spawn(stop.clone())
        .await
        .unwrap();
    let out = run_script(
        script(yaml, &format!("ws://{addr}/ws/nope")),
        RunOptions::default(),
    )
    .await;
    assert_eq!(out.suite.status, Status::Passed, "{:?}", out.suite.error);
    assert_eq!(counter(&out, "vusers.failed"), Some(2));
    stop.cancel();
}
