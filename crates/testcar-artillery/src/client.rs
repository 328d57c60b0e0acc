//! HTTP/1.1 connections for virtual users: each VU opens its own connections (keep-alive
//! within the VU, like Artillery's per-VU agents), over TCP or rustls (ring). Failures map
//! to Node's error codes, which Artillery reports as `errors.<code>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

/// Why a request produced no response, as Node/Artillery name it (`errors.<code>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct RequestError {
    /// The Artillery error code, e.g. `ECONNREFUSED`, `ETIMEDOUT`, `ECONNRESET`.
    pub code: String,
    /// Details for logs.
    pub detail: String,
}

impl RequestError {
    fn new(code: &str, detail: impl std::fmt::Display) -> RequestError {
        RequestError {
            code: code.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// TLS could not be set up from the script and credentials.
#[derive(Debug, thiserror::Error)]
#[error("tls setup: {0}")]
pub struct TlsSetupError(#[source] pub rustls::Error);

/// Shared settings for every connection of a run.
#[derive(Debug, Clone)]
pub struct Connector {
    tls: Arc<rustls::ClientConfig>,
    /// `http.pool`: connections shared by all VUs instead of each VU's own.
    pool: Option<Arc<SharedPool>>,
}

/// `http.pool`: at most `size` connections per origin, shared by every VU; a request waits
/// for a free one (Node's agent with `maxSockets`), and an idle one is reused by any VU.
#[derive(Debug)]
struct SharedPool {
    size: usize,
    origins: std::sync::Mutex<Vec<(Origin, Arc<PoolSlot>)>>,
}

/// One origin's share of the pool.
#[derive(Debug)]
struct PoolSlot {
    permits: tokio::sync::Semaphore,
    idle: std::sync::Mutex<Vec<Open>>,
}

impl SharedPool {
    fn slot(&self, origin: &Origin) -> Arc<PoolSlot> {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, slot)) = origins.iter().find(|(o, _)| o == origin) {
            return slot.clone();
        }
        let slot = Arc::new(PoolSlot {
            permits: tokio::sync::Semaphore::new(self.size),
            idle: Default::default(),
        });
        origins.push((origin.clone(), slot.clone()));
        slot
    }
}

impl Connector {
    /// Build the TLS client: web PKI roots plus credential roots; no verification when
    /// `tls.rejectUnauthorized: false`; the client certificate from the credentials, if any.
    pub fn new(
        reject_unauthorized: bool,
        client_tls: Option<&testcar_auth::ClientTls>,
    ) -> Result<Connector, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError)?;
        let builder = if reject_unauthorized {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(t) = client_tls {
                for r in &t.roots {
                    roots.add(r.clone()).map_err(TlsSetupError)?;
                }
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        };
        let mut config = match client_tls {
            Some(t) if t.key.is_some() && !t.cert_chain.is_empty() => builder
                .with_client_auth_cert(
                    t.cert_chain.clone(),
                    t.key.as_ref().expect("checked").clone_key(),
                )
                .map_err(TlsSetupError)?,
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Connector {
            tls: Arc::new(config),
            pool: None,
        })
    }

    /// The TLS client settings (the `ws` engine's connections use them too).
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// Share at most `size` connections per origin among all VUs (`http.pool`).
    pub fn with_pool(mut self, size: usize) -> Connector {
        self.pool = Some(Arc::new(SharedPool {
            size: size.max(1),
            origins: Default::default(),
        }));
        self
    }
}

/// Where a connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `https`?
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// The task half of a hyper connection. The VU polls it itself while it waits for a
/// response (see [`drive`]) instead of spawning a task per connection: one task, one
/// wake-up per socket event, and an idle connection costs nothing between requests.
type ConnTask = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// How long setting up a connection took, phase by phase (Artillery's extended metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectTimes {
    /// Resolving the host name (near zero for an address).
    pub dns: Duration,
    /// The TCP handshake.
    pub tcp: Duration,
    /// The TLS handshake, for `https`.
    pub tls: Option<Duration>,
}

/// An open HTTP/1.1 connection of a VU.
struct Open {
    origin: Origin,
    /// Set up for this request: the times are reported once, with its response.
    fresh: Option<ConnectTimes>,
    sender: http1::SendRequest<Full<Bytes>>,
    /// `None` once the connection has ended.
    task: Option<ConnTask>,
}

impl std::fmt::Debug for Open {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Open")
            .field("origin", &self.origin)
            .field("ended", &self.task.is_none())
            .finish()
    }
}

/// Poll `fut` to completion while also driving the connection `task`, which does the
/// actual reading and writing.
async fn drive<F: Future>(task: &mut Option<ConnTask>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        let Some(t) = task.as_mut() else {
            return fut.as_mut().poll(cx);
        };
        match t.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                if let Err(error) = r {
                    tracing::trace!(%error, "connection ended");
                }
                *task = None;
                // The connection's end resolves the request one way or the other.
                fut.as_mut().poll(cx)
            }
        }
    })
    .await
}

/// One VU's open connections.
#[derive(Debug, Default)]
pub struct VuConnections {
    conns: Vec<Open>,
}

/// A received response.
#[derive(Debug)]
pub struct Received {
    /// Status and headers.
    pub parts: http::response::Parts,
    /// The body as received (see [`decode`] for compressed bodies).
    pub body: Bytes,
    /// Bytes received on the wire for the body.
    pub wire_bytes: u64,
    /// When the request was handed to the connection (after connecting).
    pub sent_at: Instant,
    /// When the response head arrived.
    pub first_byte_at: Instant,
    /// When the exchange began, before any connection set-up.
    pub started_at: Instant,
    /// When the whole body had arrived.
    pub done_at: Instant,
    /// The connection's set-up times when it was opened for this request; `None` when a
    /// kept-alive connection was reused.
    pub connected: Option<ConnectTimes>,
}

impl Received {
    /// The whole exchange: connection set-up (if any) to the end of the body.
    pub fn total(&self) -> Duration {
        self.done_at.saturating_duration_since(self.started_at)
    }
}

impl VuConnections {
    /// Send `req`, opening (or reopening) the connection to `origin` as needed. The whole
    /// exchange, connection included, is bounded by `timeout`. `remake` builds the request
    /// again for the one retry when a kept-alive connection turns out closed (rare, so the
    /// common path never copies a request).
    pub async fn send<F>(
        &mut self,
        connector: &Connector,
        origin: &Origin,
        req: http::Request<Full<Bytes>>,
        remake: F,
        timeout: Duration,
    ) -> Result<Received, RequestError>
    where
        F: Fn() -> Result<http::Request<Full<Bytes>>, RequestError>,
    {
        let started_at = Instant::now();
        let work = async {
            match &connector.pool {
                Some(pool) => {
                    // The permit is held for the whole exchange: a connection is busy until then.
                    let slot = pool.slot(origin);
                    let _permit = slot.permits.acquire().await;
                    let idle = slot.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let reused = match idle {
                        Some(open) => ready(open).await,
                        None => None,
                    };
                    let (rcv, keep) =
                        exchange(connector, origin, reused, req, remake, started_at).await?;
                    if let Some(open) = keep {
                        slot.idle
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(open);
                    }
                    Ok(rcv)
                }
                None => {
                    let reused = self.ready_conn(origin).await;
                    let (rcv, keep) =
                        exchange(connector, origin, reused, req, remake, started_at).await?;
                    if let Some(open) = keep {
                        self.conns.push(open);
                    }
                    Ok(rcv)
                }
            }
        };
        // A timed-out exchange drops its connection with it: it may be mid-response.
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| Err(RequestError::new("ETIMEDOUT", "request timed out")))
    }

    async fn ready_conn(&mut self, origin: &Origin) -> Option<Open> {
        let i = self.conns.iter().position(|c| c.origin == *origin)?;
        let open = self.conns.swap_remove(i);
        ready(open).await
    }
}

/// `open` once it can take a request, or `None` when it has closed.
async fn ready(mut open: Open) -> Option<Open> {
    if open.sender.is_closed() || open.task.is_none() {
        return None;
    }
    let Open { sender, task, .. } = &mut open;
    drive(task, sender.ready()).await.ok()?;
    Some(open)
}

/// One request on `reused`, or on a new connection; the response and the connection when it
/// can be kept alive.
async fn exchange(
    connector: &Connector,
    origin: &Origin,
    reused: Option<Open>,
    req: http::Request<Full<Bytes>>,
    remake: impl Fn() -> Result<http::Request<Full<Bytes>>, RequestError>,
    started_at: Instant,
) -> Result<(Received, Option<Open>), RequestError> {
    let (mut open, was_reused) = match reused {
        Some(c) => (c, true),
        None => (connect(connector, origin).await?, false),
    };
    let sent_at = Instant::now();
    let fut = open.sender.send_request(req);
    let res = match drive(&mut open.task, fut).await {
        Ok(res) => res,
        Err(e) if was_reused && (e.is_canceled() || e.is_incomplete_message()) => {
            // The server closed an idle keep-alive connection: one fresh attempt.
            open = connect(connector, origin).await?;
            let sent_at = Instant::now();
            let fut = open.sender.send_request(remake()?);
            let res = drive(&mut open.task, fut).await.map_err(map_hyper)?;
            return finish(open, res, sent_at, started_at).await;
        }
        Err(e) => return Err(map_hyper(e)),
    };
    finish(open, res, sent_at, started_at).await
}

async fn finish(
    mut open: Open,
    res: http::Response<hyper::body::Incoming>,
    sent_at: Instant,
    started_at: Instant,
) -> Result<(Received, Option<Open>), RequestError> {
    let first_byte_at = Instant::now();
    let (parts, body) = res.into_parts();
    let body = drive(&mut open.task, body.collect())
        .await
        .map_err(map_hyper)?
        .to_bytes();
    let done_at = Instant::now();
    let connected = open.fresh.take();
    let wire_bytes = body.len() as u64;
    let keep = !parts
        .headers
        .get(http::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let keep = keep && open.task.is_some();
    let rcv = Received {
        parts,
        body,
        wire_bytes,
        sent_at,
        first_byte_at,
        started_at,
        done_at,
        connected,
    };
    Ok((rcv, keep.then_some(open)))
}

async fn connect(connector: &Connector, origin: &Origin) -> Result<Open, RequestError> {
    let t0 = Instant::now();
    let (tcp, resolved) = connect_tcp(origin).await?;
    let t_tcp = Instant::now();
    // Requests are written in one piece; no reason to wait for ACKs of small segments.
    let _ = tcp.set_nodelay(true);
    let (sender, task, tls) = if origin.tls {
        let name = ServerName::try_from(origin.host.clone())
            .map_err(|e| RequestError::new("ERR_INVALID_URL", e))?;
        let tls = tokio_rustls::TlsConnector::from(connector.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(map_tls)?;
        let tls_time = t_tcp.elapsed();
        let (sender, task) = handshake(TokioIo::new(tls)).await?;
        (sender, task, Some(tls_time))
    } else {
        let (sender, task) = handshake(TokioIo::new(tcp)).await?;
        (sender, task, None)
    };
    Ok(Open {
        origin: origin.clone(),
        fresh: Some(ConnectTimes {
            dns: resolved.saturating_duration_since(t0),
            tcp: t_tcp.saturating_duration_since(resolved),
            tls,
        }),
        sender,
        task: Some(task),
    })
}

/// Resolve the host, then connect to its addresses in turn (as `TcpStream::connect` does),
/// returning the stream and when resolution finished.
async fn connect_tcp(origin: &Origin) -> Result<(TcpStream, Instant), RequestError> {
    let addrs: Vec<std::net::SocketAddr> = match origin.host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, origin.port)],
        Err(_) => tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(map_io)?
            .collect(),
    };
    let resolved = Instant::now();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => return Ok((tcp, resolved)),
            Err(e) => last = Some(e),
        }
    }
    Err(map_io(last.unwrap_or_else(|| {
        std::io::Error::other(format!(
            "failed to lookup address information: no address for {}",
            origin.host
        ))
    })))
}

async fn handshake<T>(io: T) -> Result<(http1::SendRequest<Full<Bytes>>, ConnTask), RequestError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(io).await.map_err(map_hyper)?;
    Ok((sender, Box::pin(conn)))
}

pub(crate) fn map_io(e: std::io::Error) -> RequestError {
    use std::io::ErrorKind as K;
    // Out of file descriptors (an overloaded run piles up VUs): Node's names.
    match e.raw_os_error() {
        Some(24) => return RequestError::new("EMFILE", e),
        Some(23) => return RequestError::new("ENFILE", e),
        _ => {}
    }
    let code = match e.kind() {
        K::ConnectionRefused => "ECONNREFUSED",
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => "ECONNRESET",
        K::BrokenPipe => "EPIPE",
        K::TimedOut => "ETIMEDOUT",
        K::AddrNotAvailable => "EADDRNOTAVAIL",
        _ if e.to_string().contains("failed to lookup address")
            || e.to_string().contains("Name or service not known") =>
        {
            "ENOTFOUND"
        }
        _ => "EIO",
    };
    RequestError::new(code, e)
}

pub(crate) fn map_tls(e: std::io::Error) -> RequestError {
    let text = e.to_string();
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        use rustls::CertificateError as C;
        let code = match inner {
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
                "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
            }
            rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                "CERT_HAS_EXPIRED"
            }
            rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            ) => "ERR_TLS_CERT_ALTNAME_INVALID",
            rustls::Error::InvalidCertificate(_) => "CERT_INVALID",
            _ => "EPROTO",
        };
        return RequestError::new(code, text);
    }
    map_io(e)
}

fn map_hyper(e: hyper::Error) -> RequestError {
    if e.is_timeout() {
        return RequestError::new("ETIMEDOUT", e);
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return RequestError::new("ECONNRESET", e);
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return RequestError::new("HPE_INVALID", e);
    }
    let source = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(|io| map_io(std::io::Error::new(io.kind(), io.to_string())));
    source.unwrap_or_else(|| RequestError::new("ECONNRESET", e))
}

/// Decode `content-encoding: gzip|deflate` bodies: got (under Artillery) does this unless a
/// request says `gzip: false`, so the caller decides.
pub fn decode(headers: &http::HeaderMap, body: Bytes) -> Result<Bytes, RequestError> {
    use std::io::Read;
    let Some(enc) = headers.get(http::header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let mut out = Vec::new();
    let r = match enc.as_bytes() {
        b"gzip" | b"x-gzip" => flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out),
        b"deflate" => flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out),
        _ => return Ok(body),
    };
    r.map_err(|e| RequestError::new("Z_DATA_ERROR", e))?;
    Ok(Bytes::from(out))
}

/// `tls.rejectUnauthorized: false`: accept any server certificate, still check signatures.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_get_node_codes() {
        let code = |e: std::io::Error| map_io(e).code;
        assert_eq!(code(std::io::Error::from_raw_os_error(24)), "EMFILE");
        assert_eq!(
            code(std::io::ErrorKind::ConnectionRefused.into()),
            "ECONNREFUSED"
        );
        assert_eq!(
            code(std::io::ErrorKind::ConnectionReset.into()),
            "ECONNRESET"
        );
        assert_eq!(code(std::io::ErrorKind::Other.into()), "EIO");
    }
}
