//! Packet decoding: link layers, IP, transport, overlays (`packet`), and light L7 metadata in
//! one folder per protocol (`dns`, `tls`, `http`, `ssh`, dispatched by `app`).
pub mod app;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod packet;
pub mod ssh;
pub mod tls;

pub use packet::{decode, Decoded, Fragment, LinkType, Tunnel, TunnelKind, Tuple};

/// Why a frame could not be decoded: the layer, the byte offset in the frame, and what was
/// wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{layer} at byte {offset}: {reason}")]
pub struct DecodeError {
    pub layer: &'static str,
    pub offset: usize,
    pub reason: String,
}
