//! TLS: the ClientHello's server name, offered versions and JA3 fingerprint.
//!
//! `parser` reads the hello; `app` turns it into `tls` event fields.
pub mod parser;

pub use parser::{is_grease, parse_client_hello, version_name, ClientHello, Ja3, TlsError};
