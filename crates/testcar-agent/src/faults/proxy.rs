//! The fault proxy: a TCP relay on 127.0.0.1 between the tests and the target that adds
//! latency, limits bandwidth, resets, stalls, drops or cuts connections on demand. It needs
//! no privileges (no NET_ADMIN), so it works in a restricted pod, in CI and on a laptop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::schedule::SplitMix64;

/// Bytes read at once from either side.
const CHUNK: usize = 16 * 1024;
/// Chunks read but not yet written (held by latency), per direction.
const IN_FLIGHT: usize = 64;

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The address to listen on is taken or not local.
    #[error("cannot listen on {0} for the fault proxy: {1}")]
    Listen(SocketAddr, #[source] std::io::Error),
}

/// What the proxy does to traffic right now: the sum of the faults that are on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Added to each response chunk.
    pub latency: Duration,
    /// Uniform spread around `latency`.
    pub jitter: Duration,
    /// Bytes per second per direction.
    pub rate: Option<u64>,
    /// Reset open and new connections.
    pub reset: bool,
    /// Hold all traffic.
    pub stall: bool,
    /// Share of new connections reset at once.
    pub drop: f64,
    /// Partition: new connections are held unforwarded, open ones carry nothing.
    pub cut: bool,
}

impl Effects {
    fn holds(&self) -> bool {
        self.stall || self.cut
    }
}

/// What the proxy did, for the logs and tests.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections relayed to the target.
    pub forwarded: AtomicU64,
    /// Connections reset by `reset` or `drop`.
    pub reset: AtomicU64,
    /// Connections held by `cut`.
    pub held: AtomicU64,
}

/// A running proxy; stopping (or dropping) it closes the listener and every connection.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    effects: watch::Sender<Effects>,
    shutdown: CancellationToken,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl Proxy {
    /// Listen on a free port of 127.0.0.1 and relay to `upstream`.
    pub async fn start(upstream: SocketAddr, seed: u64) -> Result<Proxy, ProxyError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), upstream, seed).await
    }

    /// Listen on `listen` and relay to `upstream`.
    pub async fn start_on(
        listen: SocketAddr,
        upstream: SocketAddr,
        seed: u64,
    ) -> Result<Proxy, ProxyError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| ProxyError::Listen(listen, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ProxyError::Listen(listen, e))?;
        let (effects, rx) = watch::channel(Effects::default());
        let shutdown = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            rx,
            shutdown.clone(),
            counters.clone(),
            seed,
        ));
        tracing::info!(proxy = %addr, upstream = %upstream, "fault proxy listening");
        Ok(Proxy {
            addr,
            upstream,
            effects,
            shutdown,
            task: std::sync::Mutex::new(Some(task)),
            counters,
        })
    }

    /// Where the tests connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it relays to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Apply `effects` to every connection, open and new.
    pub fn set(&self, effects: Effects) {
        self.effects.send_replace(effects);
    }

    /// What it is doing now.
    pub fn effects(&self) -> Effects {
        self.effects.borrow().clone()
    }

    /// What it did.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Heal, close the listener and every connection, and wait for its tasks to end.
    pub async fn stop(&self) {
        self.effects.send_replace(Effects::default());
        self.shutdown.cancel();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        tracing::info!(
            proxy = %self.addr,
            accepted = self.counters.accepted.load(Ordering::Relaxed),
            reset = self.counters.reset.load(Ordering::Relaxed),
            held = self.counters.held.load(Ordering::Relaxed),
            "fault proxy stopped"
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Never leave a proxy cutting traffic: the listener task and its connections end.
        self.shutdown.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    effects: watch::Receiver<Effects>,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
    seed: u64,
) {
    let mut conns = JoinSet::new();
    let mut rng = SplitMix64(seed);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (client, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "fault proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_nodelay(true);
        let now = effects.borrow().clone();
        let roll = rng.unit();
        let jitter_seed = rng.next_u64();
        let effects = effects.clone();
        let shutdown = shutdown.clone();
        let counters = counters.clone();
        conns.spawn(async move {
            if now.cut {
                counters.held.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "fault proxy: connection held (cut)");
                hold(client, effects, &shutdown).await;
                return;
            }
            if now.reset || roll < now.drop {
                counters.reset.fetch_add(1, Ordering::Relaxed);
                reset(&client);
                return;
            }
            relay(client, upstream, effects, &shutdown, &counters, jitter_seed).await;
        });
    }
    // Dropping the set aborts every connection task: nothing is left relaying or held.
    conns.shutdown().await;
}

/// Close with RST instead of FIN.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// A connection that arrived during a cut: never forwarded, closed once the cut is healed
/// (the client sees a timeout, as behind a partition).
async fn hold(
    client: TcpStream,
    mut effects: watch::Receiver<Effects>,
    shutdown: &CancellationToken,
) {
    tokio::select! {
        _ = effects.wait_for(|e| !e.cut) => {}
        _ = shutdown.cancelled() => {}
    }
    reset(&client);
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    effects: watch::Receiver<Effects>,
    shutdown: &CancellationToken,
    counters: &Counters,
    seed: u64,
) {
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, %upstream, "fault proxy: target refused the connection");
            reset(&client);
            return;
        }
    };
    counters.forwarded.fetch_add(1, Ordering::Relaxed);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mut watch_reset = effects.clone();
    let ended = tokio::select! {
        _ = async {
            tokio::join!(
                pump(&mut cr, &mut sw, effects.clone(), false, seed),
                pump(&mut sr, &mut cw, effects.clone(), true, seed.rotate_left(17)),
            )
        } => true,
        _ = watch_reset.wait_for(|e| e.reset) => false,
        _ = shutdown.cancelled() => false,
    };
    if !ended {
        counters.reset.fetch_add(1, Ordering::Relaxed);
        reset(cr.as_ref());
        reset(sr.as_ref());
    }
}

/// Copy one direction until EOF, applying the effects to each chunk. Latency applies to
/// responses (`downstream`), like a slow network path back to the client: each chunk leaves
/// `latency ± jitter` after it arrived, so delays do not add up over a long response.
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    effects: watch::Receiver<Effects>,
    downstream: bool,
    seed: u64,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(IN_FLIGHT);
    let mut read_effects = effects.clone();
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            if read_effects.wait_for(|e| !e.holds()).await.is_err() {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if tx
                .send((tokio::time::Instant::now(), buf[..n].to_vec()))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let mut write_effects = effects;
    let writer = async move {
        let mut rng = SplitMix64(seed);
        while let Some((arrived, chunk)) = rx.recv().await {
            // Data read during a stall or cut is held until it is healed, then delivered.
            if write_effects.wait_for(|e| !e.holds()).await.is_err() {
                return;
            }
            let now = write_effects.borrow().clone();
            if downstream && !now.latency.is_zero() {
                let spread = now.jitter.as_nanos() as f64;
                let offset = (rng.unit() * 2.0 - 1.0) * spread;
                let delay = (now.latency.as_nanos() as f64 + offset).max(0.0);
                tokio::time::sleep_until(arrived + Duration::from_nanos(delay as u64)).await;
            }
            let Some(rate) = now.rate else {
                if to.write_all(&chunk).await.is_err() {
                    return;
                }
                continue;
            };
            // Paced: n bytes take n / rate seconds, written in tenths of a second's worth.
            let slice = (rate as usize / 10).clamp(1, CHUNK);
            for part in chunk.chunks(slice) {
                if to.write_all(part).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs_f64(part.len() as f64 / rate as f64)).await;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(addr: SocketAddr) -> std::io::Result<Duration> {
        let mut s = TcpStream::connect(addr).await?;
        let t = Instant::now();
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await?;
        Ok(t.elapsed())
    }

    #[tokio::test]
    async fn relays_adds_latency_resets_and_stops() {
        let up = echo_server().await;
        let proxy = Proxy::start(up, 1).await.unwrap();
        let base = round_trip(proxy.addr()).await.unwrap();
        proxy.set(Effects {
            latency: Duration::from_millis(200),
            ..Effects::default()
        });
        let slow = round_trip(proxy.addr()).await.unwrap();
        assert!(
            slow >= base + Duration::from_millis(150),
            "{base:?} then {slow:?}"
        );
        proxy.set(Effects {
            reset: true,
            ..Effects::default()
        });
        assert!(round_trip(proxy.addr()).await.is_err());
        proxy.set(Effects::default());
        round_trip(proxy.addr()).await.unwrap();
        let addr = proxy.addr();
        proxy.stop().await;
        assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    }

    #[tokio::test]
    async fn stall_holds_then_delivers_and_cut_holds_new_connections() {
        let up = echo_server().await;
        let proxy = Proxy::start(up, 2).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.set(Effects {
            stall: true,
            ..Effects::default()
        });
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut buf)).await;
        assert!(early.is_err(), "nothing gets through a stall");
        proxy.set(Effects::default());
        tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"ping");

        proxy.set(Effects {
            cut: true,
            ..Effects::default()
        });
        let held = tokio::time::timeout(Duration::from_millis(300), round_trip(proxy.addr())).await;
        assert!(held.is_err(), "a cut holds new connections");
        assert!(proxy.counters().held.load(Ordering::Relaxed) >= 1);
        proxy.stop().await;
    }

    async fn transfer(addr: SocketAddr, bytes: usize) -> Duration {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let t = Instant::now();
        let data = vec![7u8; bytes];
        let (mut r, mut w) = s.split();
        let send = async {
            w.write_all(&data).await.unwrap();
        };
        let recv = async {
            let mut back = vec![0u8; bytes];
            r.read_exact(&mut back).await.unwrap();
        };
        tokio::join!(send, recv);
        t.elapsed()
    }

    #[tokio::test]
    async fn bandwidth_paces_and_drop_resets_new_connections() {
        let up = echo_server().await;
        let proxy = Proxy::start(up, 3).await.unwrap();
        let base = transfer(proxy.addr(), 40_000).await;
        proxy.set(Effects {
            rate: Some(40_000),
            ..Effects::default()
        });
        // 40 kB each way at 40 kB/s: about a second, at least ~0.8 s.
        let slow = transfer(proxy.addr(), 40_000).await;
        assert!(
            slow >= base + Duration::from_millis(700),
            "{base:?} then {slow:?}"
        );
        proxy.set(Effects {
            drop: 1.0,
            ..Effects::default()
        });
        assert!(round_trip(proxy.addr()).await.is_err());
        assert!(proxy.counters().reset.load(Ordering::Relaxed) >= 1);
        proxy.stop().await;
    }

    #[tokio::test]
    async fn latency_does_not_add_up_over_a_long_response() {
        let up = echo_server().await;
        let proxy = Proxy::start(up, 4).await.unwrap();
        proxy.set(Effects {
            latency: Duration::from_millis(200),
            ..Effects::default()
        });
        // The echo answers in 1 kB pieces: 100 of them. Held one after the other, they would
        // take 20 s; held each from its own arrival, a little over 200 ms.
        let took = transfer(proxy.addr(), 100_000).await;
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        proxy.stop().await;
    }
}
