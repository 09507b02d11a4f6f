//! Packet decoding: link layers, IP, transport, overlays (`packet`), and light L7 metadata in
//! one folder per protocol (`dns`, `tls`, `http`, `ssh`, dispatched by `app`).
pub mod app;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod packet;
pub mod ssh;
pub mod tls;

/// Helpers for the decoders' tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// Bytes from a hex string (as tshark prints payloads).
    pub fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test input is valid hex"))
            .collect()
    }
}

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
