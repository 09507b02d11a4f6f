//! SSH: the identification string each side sends first.
//!
//! `parser` reads the line; `app` annotates the flow with it (SSH makes no event of its own).
pub mod parser;

pub use parser::{parse_banner, Banner, SshError};
