//! A small HTTP/1.1 client for vigil's own calls out: the outputs (Alertmanager, webhooks) and
//! the `vigil incidents` command against the API. hyper 1 over TCP, with rustls on the ring
//! provider for `https://` (a CA file, or the system roots), plain `http://` for loopback peers.
//! One connection per request: callers batch, so the handshake is not on any hot path.

pub mod incidents;
pub mod replay;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::RootCertStore;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where the system's trusted roots are read from when no CA file is given (Debian's bundle).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Largest response body read; anything longer is an error, not a memory blow-up.
const MAX_BODY: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url}: not a usable URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("the token holds characters not allowed in an HTTP header")]
    BadToken,
    #[error("{}: cannot load CA certificates: {reason}", path.display())]
    Ca { path: PathBuf, reason: String },
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: TLS handshake failed: {reason}")]
    Tls { url: String, reason: String },
    #[error("{url}: no answer within {}s", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    #[error("{url}: HTTP error: {reason}")]
    Http { url: String, reason: String },
}

impl ClientError {
    /// Whether the peer could not be reached at all (refused, unreachable, no route).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }
}

/// How a [`Client`] connects.
#[derive(Clone)]
pub struct ClientOptions {
    /// PEM file of the CAs trusted for `https://`; without it, [`SYSTEM_ROOTS`].
    pub cacert: Option<PathBuf>,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Connecting, including the TLS handshake.
    pub connect_timeout: Duration,
    /// The whole exchange: connect, send, and read the full response.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            cacert: None,
            token: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
        }
    }
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The body as text, lossily, for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP/1.1 client; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Client {
    opts: ClientOptions,
    auth: Option<HeaderValue>,
    /// Built on the first `https://` request, so that a loopback `http://` peer never needs a
    /// CA bundle on the machine.
    tls: Arc<OnceLock<Result<TlsConnector, CaError>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Client")
            .field("cacert", &self.opts.cacert)
            .field("timeout", &self.opts.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client; a given CA file is read now, so that a bad path fails at startup.
    pub fn new(opts: ClientOptions) -> Result<Client, ClientError> {
        let auth = match &opts.token {
            None => None,
            Some(t) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", t.trim()))
                    .map_err(|_| ClientError::BadToken)?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let tls = Arc::new(OnceLock::new());
        if let Some(ca) = &opts.cacert {
            let c = connector(ca).map_err(CaError::into_error)?;
            let _ = tls.set(Ok(c));
        }
        Ok(Client { opts, auth, tls })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    pub async fn get(&self, url: &str) -> Result<Response, ClientError> {
        self.request(Method::GET, url, &[], None).await
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, url: &str, body: Bytes) -> Result<Response, ClientError> {
        self.request(Method::POST, url, &[], Some(("application/json", body)))
            .await
    }

    /// One request with extra headers and an optional `(content type, body)`.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&'static str, String)],
        body: Option<(&str, Bytes)>,
    ) -> Result<Response, ClientError> {
        let target = Target::parse(url)?;
        let mut req = Request::builder()
            .method(method)
            .uri(target.path_and_query.as_str())
            .header(HOST, target.host_header.as_str())
            .header(USER_AGENT, concat!("vigil/", env!("CARGO_PKG_VERSION")));
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let payload = match body {
            Some((ct, b)) => {
                req = req.header(CONTENT_TYPE, ct);
                b
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|e| ClientError::Http {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let after = self.opts.timeout;
        match tokio::time::timeout(after, self.exchange(&target, req)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout {
                url: url.to_string(),
                after,
            }),
        }
    }

    async fn exchange(
        &self,
        t: &Target,
        req: Request<Full<Bytes>>,
    ) -> Result<Response, ClientError> {
        let url = &t.url;
        let connect = TcpStream::connect((t.host.as_str(), t.port));
        let tcp = match tokio::time::timeout(self.opts.connect_timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(ClientError::Connect {
                    url: url.clone(),
                    source,
                })
            }
            Err(_) => {
                return Err(ClientError::Timeout {
                    url: url.clone(),
                    after: self.opts.connect_timeout,
                })
            }
        };
        let _ = tcp.set_nodelay(true);
        if !t.https {
            return send(url, tcp, req).await;
        }
        let connector = self
            .tls
            .get_or_init(|| connector(Path::new(SYSTEM_ROOTS)))
            .as_ref()
            .map_err(|e| e.clone().into_error())?;
        let name = ServerName::try_from(t.host.clone()).map_err(|e| ClientError::BadUrl {
            url: url.clone(),
            reason: format!("`{}` is not a TLS server name: {e}", t.host),
        })?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| ClientError::Tls {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        send(url, tls, req).await
    }
}

async fn send<S>(url: &str, io: S, req: Request<Full<Bytes>>) -> Result<Response, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: &dyn std::fmt::Display| ClientError::Http {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| http(&e))?;
    let driver = tokio::spawn(conn);
    let res = sender.send_request(req).await.map_err(|e| http(&e));
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            driver.abort();
            return Err(e);
        }
    };
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = Limited::new(res.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| http(&e))?
        .to_bytes();
    drop(sender);
    driver.abort();
    Ok(Response {
        status,
        content_type,
        body,
    })
}

/// Why a CA file cannot be used; kept (and cloned) in the client's cached connector slot.
#[derive(Clone, Debug)]
struct CaError {
    path: PathBuf,
    reason: String,
}

impl CaError {
    fn into_error(self) -> ClientError {
        ClientError::Ca {
            path: self.path,
            reason: self.reason,
        }
    }
}

/// A TLS connector trusting the CAs in `path` (PEM).
fn connector(path: &Path) -> Result<TlsConnector, CaError> {
    let err = |reason: String| CaError {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(err("holds no usable certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(cfg)))
}

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq)]
struct Target {
    url: String,
    https: bool,
    /// Without IPv6 brackets, for connecting and for the TLS server name.
    host: String,
    port: u16,
    host_header: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri =
            url.parse()
                .map_err(|e: hyper::http::uri::InvalidUri| ClientError::BadUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(s) => return Err(bad(&format!("scheme `{s}` is not http or https"))),
            None => return Err(bad("it needs http:// or https://")),
        };
        let auth = uri.authority().ok_or_else(|| bad("it names no host"))?;
        if auth.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported; use a token"));
        }
        let raw_host = auth.host();
        let host = raw_host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        let port = auth.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        Ok(Target {
            url: url.to_string(),
            https,
            host: host.to_string(),
            port,
            host_header: auth.as_str().to_string(),
            path_and_query,
        })
    }
}

/// Joins a base URL (`https://host:port` or with a path prefix) and a path starting with `/`.
pub fn join(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// Percent-encodes a query value or a path segment (RFC 3986 unreserved characters pass).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults() {
        let t = Target::parse("https://127.0.0.1:8443/api/v1/incidents?limit=5").unwrap();
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8443));
        assert_eq!(t.path_and_query, "/api/v1/incidents?limit=5");
        let t = Target::parse("http://[::1]:9093").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9093));
        assert_eq!(t.host_header, "[::1]:9093");
        assert_eq!(t.path_and_query, "/");
        assert_eq!(Target::parse("https://example.org").unwrap().port, 443);
    }

    #[test]
    fn bad_urls_say_why() {
        for (u, why) in [
            ("ftp://x/", "scheme"),
            ("127.0.0.1:8443", "http"),
            ("http://u:p@h/", "credentials"),
            ("not a url", "URL"),
        ] {
            let e = Target::parse(u).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(u), "{u}: {e}");
        }
    }

    #[test]
    fn a_missing_ca_file_fails_at_construction() {
        let e = Client::new(ClientOptions {
            cacert: Some("/nonexistent/ca.crt".into()),
            ..ClientOptions::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
    }

    #[test]
    fn encoding_escapes_reserved_characters() {
        assert_eq!(encode("a b/c&d=é"), "a%20b%2Fc%26d%3D%C3%A9");
        assert_eq!(join("https://h:1/", "/x"), "https://h:1/x");
    }

    #[tokio::test]
    async fn refused_connections_name_the_url() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = Client::new(ClientOptions::default()).unwrap();
        let url = format!("http://127.0.0.1:{port}/x");
        let e = c.get(&url).await.unwrap_err();
        assert!(e.is_connect(), "{e}");
        assert!(e.to_string().contains(&url), "{e}");
    }
}
