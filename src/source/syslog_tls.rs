//! Syslog over TLS (RFC 5425): a TCP listener that completes a rustls handshake within a
//! deadline, optionally requiring a client certificate, then reads the decrypted stream with
//! the TCP listener's framer (octet counting as RFC 5425 mandates, newline framing as senders
//! that ignore it use). Failed handshakes are counted by reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::metrics;
use crate::source::ingest::{BoxFuture, EventSender, Shutdown, Source};
use crate::source::syslog_net::read_stream;

/// A peer must finish its TLS handshake within this, so silent peers cannot hold a slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Syslog over TLS.
pub struct SyslogTls {
    listener: TcpListener,
    tls: TlsAcceptor,
    max_message: usize,
    connections: Arc<Semaphore>,
}

impl SyslogTls {
    /// Binds `addr`. `tls` is the server's configuration (with a client verifier when client
    /// certificates are required); its ALPN list is cleared, syslog negotiates none.
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<ServerConfig>,
        max_message: usize,
        max_connections: usize,
    ) -> std::io::Result<SyslogTls> {
        let mut cfg = (*tls).clone();
        cfg.alpn_protocols.clear();
        Ok(SyslogTls {
            listener: TcpListener::bind(addr).await?,
            tls: TlsAcceptor::from(Arc::new(cfg)),
            max_message,
            connections: Arc::new(Semaphore::new(max_connections.max(1))),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    async fn serve(self, out: EventSender, mut shutdown: Shutdown) {
        let mut conns = JoinSet::new();
        loop {
            // Past the connection limit new peers wait in the kernel's backlog.
            let permit = tokio::select! {
                p = self.connections.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = shutdown.wait() => break,
            };
            let (tcp, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(c) => c,
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.wait() => break,
            };
            let tls = self.tls.clone();
            let (out, max, mut sd) = (out.fork(), self.max_message, shutdown.clone());
            conns.spawn(async move {
                let _permit = permit;
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp));
                let stream = tokio::select! {
                    r = handshake => match r {
                        Ok(Ok(s)) => s,
                        Ok(Err(_)) => return handshake_failed("error"),
                        Err(_) => return handshake_failed("timeout"),
                    },
                    // A peer still negotiating at shutdown has sent no message yet.
                    _ = sd.wait() => return,
                };
                read_stream("syslog_tls", stream, out, max, peer, sd).await;
            });
            // Reap finished connections so the set does not grow.
            while conns.try_join_next().is_some() {}
        }
        // Open connections read what their peers already sent, for a bounded time.
        while conns.join_next().await.is_some() {}
    }
}

fn handshake_failed(reason: &str) {
    metrics::SOURCE_TLS_HANDSHAKE_ERRORS
        .with_label_values(&["syslog_tls", reason])
        .inc();
}

impl Source for SyslogTls {
    fn name(&self) -> &'static str {
        "syslog_tls"
    }
    fn describe(&self) -> String {
        match self.local_addr() {
            Ok(a) => format!("tls {a}"),
            Err(_) => "tls".into(),
        }
    }
    fn run(self: Box<Self>, out: EventSender, shutdown: Shutdown) -> BoxFuture {
        Box::pin(self.serve(out, shutdown))
    }
}
