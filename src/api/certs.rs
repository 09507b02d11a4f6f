//! Development TLS material: a CA, a server certificate for `localhost`/`127.0.0.1` and client
//! certificates for mutual TLS, made with rcgen (ring) under `DATA/tls/`. Existing files are
//! kept; private keys are written with mode 0600. Production deployments bring their own.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::event::{civil_from_days, Timestamp};

/// The CA's subject; also how a reused CA key is turned back into an issuer.
const CA_NAME: &str = "vigil development CA";

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Key { path: PathBuf, source: rcgen::Error },
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("client name `{0}` may only hold letters, digits, `.`, `_` and `-`")]
    ClientName(String),
}

/// The files of the dev material in one folder.
#[derive(Clone, Debug)]
pub struct DevTls {
    pub dir: PathBuf,
}

impl DevTls {
    pub fn new(dir: impl Into<PathBuf>) -> DevTls {
        DevTls { dir: dir.into() }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    pub fn client_cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("client-{name}.crt"))
    }
    pub fn client_key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("client-{name}.key"))
    }

    /// Makes whatever is missing of the CA and the server certificate (for `localhost`,
    /// `127.0.0.1`, `::1` and `extra_names`). Returns the files written; none when all existed.
    pub fn ensure(&self, extra_names: &[String]) -> Result<Vec<PathBuf>, CertError> {
        let mut written = Vec::new();
        let have_server = self.server_cert().exists() && self.server_key().exists();
        let have_ca = self.ca_cert().exists() && self.ca_key().exists();
        if have_server && (have_ca || self.ca_cert().exists()) {
            return Ok(written);
        }
        self.make_dir()?;
        let (ca_params, ca_key) = if have_ca {
            let pem = read(&self.ca_key())?;
            let key = KeyPair::from_pem(&pem).map_err(|source| CertError::Key {
                path: self.ca_key(),
                source,
            })?;
            (ca_params()?, key)
        } else {
            let key = KeyPair::generate()?;
            let params = ca_params()?;
            let cert = params.self_signed(&key)?;
            write_file(&self.ca_key(), key.serialize_pem().as_bytes(), true)?;
            write_file(&self.ca_cert(), cert.pem().as_bytes(), false)?;
            written.extend([self.ca_cert(), self.ca_key()]);
            (params, key)
        };
        // A new CA invalidates the old server certificate; a kept CA keeps a kept one.
        if !have_server || !have_ca {
            let issuer = Issuer::new(ca_params, ca_key);
            let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
            names.extend(extra_names.iter().cloned());
            let mut params = CertificateParams::new(names)?;
            leaf(
                &mut params,
                "vigil server",
                ExtendedKeyUsagePurpose::ServerAuth,
            );
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &issuer)?;
            write_file(&self.server_key(), key.serialize_pem().as_bytes(), true)?;
            write_file(&self.server_cert(), cert.pem().as_bytes(), false)?;
            written.extend([self.server_cert(), self.server_key()]);
        }
        Ok(written)
    }

    /// Makes (or replaces) a client certificate signed by the dev CA, for mutual TLS.
    pub fn client(&self, name: &str) -> Result<Vec<PathBuf>, CertError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(CertError::ClientName(name.into()));
        }
        let mut written = self.ensure(&[])?;
        let pem = read(&self.ca_key())?;
        let ca_key = KeyPair::from_pem(&pem).map_err(|source| CertError::Key {
            path: self.ca_key(),
            source,
        })?;
        let issuer = Issuer::new(ca_params()?, ca_key);
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        leaf(&mut params, name, ExtendedKeyUsagePurpose::ClientAuth);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        write_file(&self.client_key(name), key.serialize_pem().as_bytes(), true)?;
        write_file(&self.client_cert(name), cert.pem().as_bytes(), false)?;
        written.extend([self.client_cert(name), self.client_key(name)]);
        Ok(written)
    }

    fn make_dir(&self) -> Result<(), CertError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| CertError::Io {
                path: self.dir.clone(),
                source,
            })
    }
}

/// The CA's parameters; the same every time, so that a kept CA key signs certificates whose
/// issuer matches the kept CA certificate.
fn ca_params() -> Result<CertificateParams, CertError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut p, 3650);
    Ok(p)
}

fn leaf(p: &mut CertificateParams, cn: &str, usage: ExtendedKeyUsagePurpose) {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    // Under 398 days, which browsers and most clients accept for leaf certificates.
    validity(p, 397);
}

/// Today plus `days`, as (year, month, day) in UTC.
fn day(days: i64) -> (i32, u8, u8) {
    let (y, m, d) = civil_from_days(Timestamp::now().secs().div_euclid(86_400) + days);
    (y as i32, m as u8, d as u8)
}

/// Sets the validity from yesterday (clock skew) to `days` from now.
fn validity(p: &mut CertificateParams, days: i64) {
    let ((y0, m0, d0), (y1, m1, d1)) = (day(-1), day(days));
    p.not_before = rcgen::date_time_ymd(y0, m0, d0);
    p.not_after = rcgen::date_time_ymd(y1, m1, d1);
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key.
fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), CertError> {
    let tmp = path.with_extension("tmp");
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io)?;
    f.write_all(data).and_then(|_| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn makes_once_keeps_after_and_protects_keys() {
        let dir = std::env::temp_dir().join(format!("vigil-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tls = DevTls::new(&dir);
        let made = tls.ensure(&[]).unwrap();
        assert_eq!(made.len(), 4);
        let mode = std::fs::metadata(tls.server_key())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(tls.ensure(&[]).unwrap().is_empty());
        // The server certificate alone is remade with the kept CA.
        std::fs::remove_file(tls.server_cert()).unwrap();
        assert_eq!(tls.ensure(&[]).unwrap().len(), 2);
        assert_eq!(tls.client("alice").unwrap().len(), 2);
        assert!(matches!(tls.client("../x"), Err(CertError::ClientName(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
