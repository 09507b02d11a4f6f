//! FTP control connections (RFC 959): client commands and server replies, one line per
//! packet, enough to see logins and their outcome.
pub mod parser;

pub use parser::{parse, FtpError, Message};
