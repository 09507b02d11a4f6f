//! The API's TLS: rustls on the ring provider, TLS 1.2 and 1.3 only, HTTP/1.1 by ALPN, and
//! optionally client certificates checked against a CA (mutual TLS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read {what}: {reason}", path.display())]
    Pem {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("{}: holds no {what}", path.display())]
    Empty { path: PathBuf, what: &'static str },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA {}: {reason}", path.display())]
    ClientCa { path: PathBuf, reason: String },
}

/// The server's TLS configuration from PEM files.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certs(cert, "certificates")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
        path: key.to_path_buf(),
        what: "a private key",
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca, "CA certificates")? {
                roots.add(c).map_err(|e| TlsError::ClientCa {
                    path: ca.to_path_buf(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa {
                    path: ca.to_path_buf(),
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |e: rustls::pki_types::pem::Error| TlsError::Pem {
        path: path.to_path_buf(),
        what,
        reason: e.to_string(),
    };
    let list = CertificateDer::pem_file_iter(path)
        .map_err(pem_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    if list.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_path_buf(),
            what,
        });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::certs::DevTls;

    #[test]
    fn dev_material_loads_with_and_without_client_auth() {
        let dir = std::env::temp_dir().join(format!("vigil-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = DevTls::new(&dir);
        t.ensure(&[]).unwrap();
        server_config(&t.server_cert(), &t.server_key(), None).unwrap();
        server_config(&t.server_cert(), &t.server_key(), Some(&t.ca_cert())).unwrap();
        let e = server_config(&t.server_key(), &t.server_key(), None).unwrap_err();
        assert!(e.to_string().contains("holds no certificates"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
