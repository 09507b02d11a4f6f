//! Packet decoding: link layers, IP, transport, overlays, and light L7 metadata.
pub mod app;
pub mod dns;
pub mod http;
pub mod ssh;
pub mod tls;
