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
        self.state.set_stop(shutdown.clone());
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsConnector;

    use super::*;
    use crate::api::certs::DevTls;
    use crate::api::testing::MemStore;
    use crate::api::tls::server_config;
    use crate::api::tokens::{self, NewToken, TokenFile};
    use crate::api::Role;
    use crate::daemon::readiness::Readiness;
    use crate::incident::Level;
    use crate::source::ingest::shutdown_signal;

    fn connector(ca: &Path) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(ca).unwrap())
            .unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        TlsConnector::from(Arc::new(cfg))
    }

    /// Sends one request over a new TLS connection; returns what came back before `until`
    /// appeared (or the connection closed).
    async fn exchange(
        tls: &TlsConnector,
        addr: SocketAddr,
        head: &str,
        until: Option<&str>,
    ) -> String {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut s = tls.connect(name, tcp).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("answer in time")
                .unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if n == 0 || until.is_some_and(|u| text.contains(u)) {
                return text.into_owned();
            }
        }
    }

    fn get(path: &str, token: Option<&str>) -> String {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
    }

    #[tokio::test]
    async fn the_api_answers_over_tls_with_tokens_from_the_file() {
        let dir = std::env::temp_dir().join(format!("vigil-api-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dev = DevTls::new(dir.join("tls"));
        dev.ensure(&[]).unwrap();
        let cfg = server_config(&dev.server_cert(), &dev.server_key(), None).unwrap();
        let store = MemStore::new(64);
        store.push(Some("acme"), Level::High, "r-1", &[]);
        let state = ApiState::new(
            Arc::new(Readiness::default()),
            Arc::new(TokenFile::new(&dir)),
        )
        .with_store(store.clone());
        let server = ApiServer::bind("127.0.0.1:0".parse().unwrap(), cfg, Arc::new(state))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (trigger, shutdown) = shutdown_signal();
        let serving = tokio::spawn(server.serve(shutdown));
        let tls = connector(&dev.ca_cert());

        // A token made while the server runs works at once.
        let (token, _) = tokens::create(
            &dir,
            NewToken {
                role: Role::Viewer,
                tenant: Some("acme".into()),
                name: Some("e2e".into()),
            },
        )
        .unwrap();
        let r = exchange(&tls, addr, &get("/api/v1/alerts", None), None).await;
        assert!(r.starts_with("HTTP/1.1 401"), "{r}");
        assert!(
            r.to_ascii_lowercase().contains("www-authenticate: bearer"),
            "{r}"
        );
        let r = exchange(&tls, addr, &get("/api/v1/alerts", Some(&token)), None).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains(r#""id":"a-0000000000000001""#), "{r}");
        let r = exchange(&tls, addr, &get("/api/v1/ingest", Some(&token)), None).await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");

        // The stream replays over TLS, then follows.
        let stream = tokio::spawn({
            let tls = tls.clone();
            let head = get("/api/v1/stream?last_event_id=0", Some(&token));
            async move { exchange(&tls, addr, &head, Some("id: 3\n")).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.push(Some("globex"), Level::High, "r-1", &[]);
        store.push(Some("acme"), Level::High, "r-1", &[]);
        let r = stream.await.unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains("text/event-stream"), "{r}");
        assert!(r.contains("id: 1\nevent: alert\n"), "{r}");
        assert!(!r.contains("id: 2\n"), "another tenant's alert: {r}");

        // A stream still open at the stop ends with it, well inside the stop grace.
        let open = tokio::spawn({
            let tls = tls.clone();
            let head = get("/api/v1/stream", Some(&token));
            async move { exchange(&tls, addr, &head, None).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stopping = std::time::Instant::now();
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .unwrap()
            .unwrap();
        assert!(
            stopping.elapsed() < STOP_GRACE / 2,
            "{:?}",
            stopping.elapsed()
        );
        let r = tokio::time::timeout(Duration::from_secs(1), open)
            .await
            .expect("the stream ended")
            .unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
