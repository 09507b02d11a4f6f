//! DNS: queries and answers over UDP and TCP (ports 53 and 5353).
//!
//! `parser` reads the wire format; `app` turns a parsed message into `dns` event fields, with
//! the computed name fields of `names` (registered domain, label lengths, entropy).
pub mod names;
pub mod parser;

pub use parser::{
    opcode_name, parse_header, parse_message, parse_tcp, rcode_name, DnsError, Header, Message,
    Question, RData, Record, RecordType,
};
