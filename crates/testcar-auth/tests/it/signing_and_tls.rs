//! HMAC signatures checked by an independent verifier (Python's `hmac`, in a subprocess),
//! mTLS against a rustls server that requires client certificates from a test CA, static
//! credentials, and the files exec suites get — with redaction checks throughout.

use crate::support;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use sha2::{Digest as _, Sha256};
use support::{ChildGuard, assert_no_secrets, capture_logs, captured_logs, put, send};
use testcar_auth::{RequestParts, parse_config, start};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const HMAC_KEY: &str = "hmac-shared-key-T0p5ecret";

fn start_hmac_verifier(dir: &Path) -> Option<(u16, ChildGuard)> {
    let Some(python) = support::which("python3") else {
        support::missing("python3");
        return None;
    };
    let key = put(dir, "verifier-key", HMAC_KEY);
    let port = support::free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/hmac_server.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(key)
        .arg(port.to_string())
        .arg("key-1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    Some((port, guard))
}

#[tokio::test]
async fn hmac_signatures_are_accepted_by_pythons_hmac() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let Some((port, _server)) = start_hmac_verifier(dir.path()) else {
        return;
    };
    put(dir.path(), "hmac-key", &format!("{HMAC_KEY}\n"));
    let yaml = "steps:\n  - hmac:\n      keyId: key-1\n      secretFile: hmac-key\n";
    let chain = start(parse_config(yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let auth = chain.request_auth();
    let client = support::http_client(None);
    let base = format!("http://127.0.0.1:{port}");
    for (method, path, body) in [
        ("GET", "/items?b=2&a=1", &b""[..]),
        ("POST", "/items", &br#"{"name":"widget"}"#[..]),
        ("PUT", "/items/7?force=true", &b"binary\x00\xffbody"[..]),
    ] {
        let (status, text) = send(
            &client,
            auth.as_ref(),
            method,
            &format!("{base}{path}"),
            body,
        )
        .await;
        assert_eq!(
            (status, text.as_str()),
            (200, "verified"),
            "{method} {path}"
        );
    }

    // the body is covered: a signature for one body does not verify another
    let url = format!("{base}/items");
    let headers = auth
        .headers(RequestParts {
            method: "POST",
            url: &url,
            body: b"signed body",
        })
        .await
        .unwrap();
    let mut req = client.post(&url).body("other body");
    for (n, v) in &headers {
        req = req.header(n, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.text().await.unwrap(), "bad signature");

    // a wrong key is refused by the verifier
    put(dir.path(), "hmac-key", "some-other-key");
    let wrong = start(parse_config(yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let (status, text) = send(&client, wrong.request_auth().as_ref(), "GET", &url, b"").await;
    assert_eq!((status, text.as_str()), (401, "bad signature"));

    // HMAC is per request: exec suites get no file for it
    assert!(chain.exec_env(&dir.path().join("exec")).unwrap().is_empty());
    assert_no_secrets(
        &[("debug", &format!("{chain:?}")), ("logs", &captured_logs())],
        &[HMAC_KEY, "some-other-key"],
    );
}

struct Pki {
    ca_pem: String,
    server_cert: rustls_pki_types::CertificateDer<'static>,
    server_key: rustls_pki_types::PrivateKeyDer<'static>,
    client_cert_pem: String,
    client_key_pem: String,
    client_cert_der: Vec<u8>,
    ca_der: rustls_pki_types::CertificateDer<'static>,
}

fn mk_pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "testcar test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut sp = CertificateParams::new(Vec::<String>::new()).unwrap();
    sp.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let server_cert = sp.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name
        .push(rcgen::DnType::CommonName, "testcar-agent");
    let client_cert = cp.signed_by(&client_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        server_cert: server_cert.der().clone(),
        server_key: rustls_pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
        client_cert_der: client_cert.der().to_vec(),
    }
}

/// An HTTPS server that requires a client certificate from the CA and answers with the
/// SHA-256 of the certificate it received.
async fn start_mtls_server(pki: &Pki) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server_cert.clone()], pki.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let peer = tls.get_ref().1.peer_certificates().map(|c| c[0].to_vec());
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let who = match peer {
                    Some(der) => format!("{:x}", Sha256::digest(der)),
                    None => "none".into(),
                };
                // POST /token: a token endpoint that authenticates clients by certificate
                // (RFC 8705 style) and names the certificate in the token it issues
                let body = if head.starts_with(b"POST /token ") {
                    format!(
                        r#"{{"access_token":"cert-{who}","token_type":"Bearer","expires_in":600}}"#
                    )
                } else {
                    who
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn mtls_client_certificate_is_presented_and_exec_gets_the_files() {
    capture_logs();
    let pki = mk_pki();
    let port = start_mtls_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client.crt", &pki.client_cert_pem);
    put(dir.path(), "client.key", &pki.client_key_pem);
    put(dir.path(), "ca.crt", &pki.ca_pem);
    let yaml = "steps:\n  - mtls:\n      certFile: client.crt\n      keyFile: client.key\n      caFile: ca.crt\n";
    let chain = start(parse_config(yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let auth = chain.request_auth();
    let tls = auth.client_tls().expect("client TLS");
    let url = format!("https://127.0.0.1:{port}/");
    let (status, body) = send(
        &support::http_client(Some(tls)),
        auth.as_ref(),
        "GET",
        &url,
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, format!("{:x}", Sha256::digest(&pki.client_cert_der)));

    // without the client certificate the server refuses the handshake
    let no_cert = testcar_auth::ClientTls {
        cert_chain: Vec::new(),
        key: None,
        roots: tls.roots.clone(),
    };
    assert!(
        support::http_client(Some(&no_cert))
            .get(&url)
            .send()
            .await
            .is_err()
    );

    let exec = dir.path().join("exec");
    let vars = chain.exec_env(&exec).unwrap();
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "TESTCAR_CLIENT_CERT_FILE",
            "TESTCAR_CLIENT_KEY_FILE",
            "TESTCAR_CA_FILE"
        ]
    );
    for (_, path) in &vars {
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        std::fs::read_to_string(&vars[1].1).unwrap(),
        pki.client_key_pem
    );
    assert_eq!(
        std::fs::metadata(&exec).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let key_body: String = pki
        .client_key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_no_secrets(
        &[
            ("debug", &format!("{chain:?} {tls:?}")),
            ("logs", &captured_logs()),
            ("env", &format!("{vars:?}")),
        ],
        &[&key_body[..40]],
    );
}

#[tokio::test]
async fn oauth2_token_request_authenticated_with_a_client_certificate() {
    let pki = mk_pki();
    let port = start_mtls_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client.crt", &pki.client_cert_pem);
    put(dir.path(), "client.key", &pki.client_key_pem);
    put(dir.path(), "ca.crt", &pki.ca_pem);
    let yaml = format!(
        "steps:\n  - mtls:\n      name: sso-tls\n      certFile: client.crt\n      keyFile: client.key\n      caFile: ca.crt\n  - oauth2:\n      tokenUrl: https://127.0.0.1:{port}/token\n      clientId: testcar\n      authMethod: none\n      authenticateWith: sso-tls\n"
    );
    let chain = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    assert_eq!(chain.applied_steps(), ["oauth2"]);
    let auth = chain.request_auth();
    assert!(
        auth.client_tls().is_none(),
        "the certificate was only for the token endpoint"
    );
    let h = auth
        .headers(RequestParts {
            method: "GET",
            url: "http://127.0.0.1/",
            body: b"",
        })
        .await
        .unwrap();
    assert_eq!(
        h,
        [(
            "Authorization".to_string(),
            format!("Bearer cert-{:x}", Sha256::digest(&pki.client_cert_der))
        )]
    );

    // without the certificate the token endpoint's TLS handshake fails, and the error says where
    let yaml = format!(
        "steps:\n  - oauth2:\n      tokenUrl: https://127.0.0.1:{port}/token\n      clientId: testcar\n      clientSecretFile: ca.crt\n      caFile: ca.crt\n"
    );
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap_err();
    assert_eq!(err.step, "oauth2");
    assert!(
        err.message.contains(&format!(
            "token endpoint https://127.0.0.1:{port}/token unreachable"
        )),
        "{err}"
    );
    println!("{err}");
}

#[tokio::test]
async fn mtls_with_a_key_that_does_not_fit_fails_clearly() {
    let pki = mk_pki();
    let other = mk_pki();
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "client.crt", &pki.client_cert_pem);
    put(dir.path(), "client.key", &other.client_key_pem);
    let yaml = "steps:\n  - mtls:\n      name: service-tls\n      certFile: client.crt\n      keyFile: client.key\n";
    let err = start(parse_config(yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap_err();
    assert_eq!(err.step, "service-tls");
    assert!(err.message.contains("does not fit"), "{err}");
}

#[tokio::test]
async fn static_credentials_and_exec_files() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "token", "static-bearer-XY12\n");
    put(dir.path(), "api-key", "api-key-value-77");
    put(
        dir.path(),
        "more-headers",
        "X-Tenant: blue\n# a comment\nX-Trace-Secret: trace-s3cret\n",
    );
    let yaml = "steps:\n  - static:\n      bearerFile: token\n      headersFile: more-headers\n      headerFiles:\n        X-Api-Key: api-key\n";
    let chain = start(parse_config(yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap();
    let auth = chain.request_auth();
    let headers = auth
        .headers(RequestParts {
            method: "GET",
            url: "http://127.0.0.1/x",
            body: b"",
        })
        .await
        .unwrap();
    assert_eq!(
        headers,
        [
            (
                "Authorization".to_string(),
                "Bearer static-bearer-XY12".to_string()
            ),
            ("X-Tenant".into(), "blue".into()),
            ("X-Trace-Secret".into(), "trace-s3cret".into()),
            ("X-Api-Key".into(), "api-key-value-77".into()),
        ]
    );
    assert!(
        !auth.refresh().await.unwrap(),
        "static credentials cannot be refreshed"
    );
    let vars = chain.exec_env(&dir.path().join("exec")).unwrap();
    assert_eq!(vars[0].0, "TESTCAR_BEARER_TOKEN_FILE");
    assert_eq!(
        std::fs::read_to_string(&vars[0].1).unwrap(),
        "static-bearer-XY12"
    );
    assert_eq!(vars[1].0, "TESTCAR_AUTH_HEADERS_FILE");
    assert_eq!(
        std::fs::read_to_string(&vars[1].1).unwrap(),
        "Authorization: Bearer static-bearer-XY12\nX-Tenant: blue\nX-Trace-Secret: trace-s3cret\nX-Api-Key: api-key-value-77\n"
    );
    assert_no_secrets(
        &[
            ("debug", &format!("{chain:?} {auth:?}")),
            ("logs", &captured_logs()),
            ("env", &format!("{vars:?}")),
        ],
        &["static-bearer-XY12", "api-key-value-77", "trace-s3cret"],
    );

    // a malformed headers file names the file and line, not the content
    put(
        dir.path(),
        "more-headers",
        "X-Ok: 1\nthis-line-is-secret-and-wrong\n",
    );
    let err = start(parse_config(yaml, "auth.yaml").unwrap(), dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("more-headers:2: expected `Name: value`"),
        "{err}"
    );
    assert!(!err.contains("this-line-is-secret"), "{err}");
}
