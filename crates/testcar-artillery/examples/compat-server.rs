//! The corpus' deterministic server: `compat-server --port N` serves 127.0.0.1:N until killed.

use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, env = "COMPAT_PORT", default_value_t = 8080)]
    port: u16,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // A deep accept queue: the bench opens tens of thousands of connections per second
    // (one per VU) and a full queue would drop SYNs and add 1 s retransmits.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))?;
    let listener = socket.listen(4096)?;
    println!("listening on 127.0.0.1:{}", args.port);
    testcar_artillery::compat_server::serve(listener, tokio_util::sync::CancellationToken::new())
        .await;
    Ok(())
}
