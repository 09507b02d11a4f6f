//! Syslog over TLS (RFC 5425): a TCP listener that completes a rustls handshake within a
//! deadline, optionally requiring a client certificate, then reads the decrypted stream with
//! the TCP listener's framer (octet counting as RFC 5425 mandates, newline framing as senders
//! that ignore it use). Failed handshakes are counted by reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::metrics;
use crate::source::ingest::Shutdown;
use crate::source::syslog_net::SyslogTcp;

/// A peer must finish its TLS handshake within this, so silent peers cannot hold a slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds syslog over TLS on `addr`. `tls` is the server's configuration (with a client
/// verifier when client certificates are required); its ALPN list is cleared, syslog
/// negotiates none. The listener is the TCP one, with a handshake before the framing.
pub async fn bind(
    addr: SocketAddr,
    tls: Arc<ServerConfig>,
    max_message: usize,
    max_connections: usize,
) -> std::io::Result<SyslogTcp> {
    let mut cfg = (*tls).clone();
    cfg.alpn_protocols.clear();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    SyslogTcp::bind_with(addr, Some(acceptor), max_message, max_connections).await
}

/// Completes the server side of a handshake within [`HANDSHAKE_TIMEOUT`]; `None` (counted by
/// reason) when it fails or times out, or when shutdown comes first: a peer still negotiating
/// has sent no message yet.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    shutdown: &mut Shutdown,
) -> Option<TlsStream<TcpStream>> {
    let attempt = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    tokio::select! {
        r = attempt => match r {
            Ok(Ok(s)) => Some(s),
            Ok(Err(_)) => handshake_failed("error"),
            Err(_) => handshake_failed("timeout"),
        },
        _ = shutdown.wait() => None,
    }
}

fn handshake_failed<T>(reason: &str) -> Option<T> {
    metrics::SOURCE_TLS_HANDSHAKE_ERRORS
        .with_label_values(&["syslog_tls", reason])
        .inc();
    None
}
