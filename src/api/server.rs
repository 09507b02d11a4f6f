//! The API's accept loop: TLS handshakes with a deadline, HTTP/1.1 with a header read
//! timeout (slowloris) and a bounded number of connections, and a graceful stop that lets
//! requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::api::routes::{self, ApiState};
use crate::metrics;
use crate::source::ingest::Shutdown;

/// A client must finish its TLS handshake within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// ... and send a request's headers within this once it started (or after the last response).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// Largest request head (line and headers) read.
const MAX_HEAD: usize = 16 * 1024;
/// Requests in flight at shutdown get this long to finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A bound API listener.
pub struct ApiServer {
    listener: TcpListener,
    tls: TlsAcceptor,
    state: Arc<ApiState>,
}

impl ApiServer {
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<ServerConfig>,
        state: Arc<ApiState>,
    ) -> std::io::Result<ApiServer> {
        Ok(ApiServer {
            listener: TcpListener::bind(addr).await?,
            tls: TlsAcceptor::from(tls),
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until shutdown, then lets open connections finish for a bounded time.
    pub async fn serve(self, mut shutdown: Shutdown) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut conns = JoinSet::new();
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p {
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
            let _ = tcp.set_nodelay(true);
            let tls = self.tls.clone();
            let state = self.state.clone();
            let sd = shutdown.clone();
            conns.spawn(async move {
                let _permit = permit;
                connection(tls, tcp, peer, state, sd).await;
            });
            while conns.try_join_next().is_some() {}
        }
        let _ = tokio::time::timeout(STOP_GRACE, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
    }
}

async fn connection(
    tls: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<ApiState>,
    mut shutdown: Shutdown,
) {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) | Err(_) => {
            metrics::TLS_HANDSHAKE_ERRORS.inc();
            return;
        }
    };
    let gauge = metrics::CONNECTIONS.with_label_values(&["api"]);
    gauge.inc();
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(routes::handle(state, peer.ip(), req).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    let conn = http.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(STOP_GRACE, conn).await;
        }
    }
    gauge.dec();
}
