//! HTTP/1.x: the request line and a few headers of client requests.
//!
//! `parser` reads the request head; `app` turns it into `http` (Sigma `proxy`) event fields.
pub mod parser;

pub use parser::{parse_request, HttpError, Method, Request};
