//! DNS wire format (RFC 1035) as pure functions over `&[u8]`: the header, every question and
//! every resource record, with record data rendered as presentation text. Compression pointers
//! must point strictly further back than the previous one, so no message can make the name
//! reader loop; every error says what was wrong and at which byte of the input.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Size of the fixed header.
pub const HEADER_LEN: usize = 12;
/// A name is at most 255 bytes on the wire (RFC 1035 2.3.4).
const MAX_NAME_LEN: usize = 255;
/// Smallest question: the root name (1 byte), type and class.
const MIN_QUESTION_LEN: usize = 5;
/// Smallest record: the root name, type, class, ttl and rdata length.
const MIN_RECORD_LEN: usize = 11;

/// Why a DNS message could not be read. Offsets count from the start of the input given to
/// the parser (for DNS over TCP, from the start of the segment, length prefixes included).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DnsError {
    #[error("message ends at byte {offset}, inside the {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("header announces {records} questions and records, which cannot fit in {len} bytes")]
    ImplausibleCounts { records: usize, len: usize },
    #[error("compression pointer at byte {offset} points to byte {target}, which is not before the name part it continues")]
    BadPointer { offset: usize, target: usize },
    #[error("name starting at byte {offset} is longer than 255 bytes")]
    NameTooLong { offset: usize },
    #[error("reserved label type 0x{byte:02x} at byte {offset}")]
    LabelType { offset: usize, byte: u8 },
    #[error("{rtype} record data at byte {offset} is {len} bytes, which does not fit its type")]
    BadRdata {
        offset: usize,
        rtype: RecordType,
        len: usize,
    },
    #[error("DNS over TCP length prefix at byte {offset} is zero")]
    EmptyFrame { offset: usize },
}

impl DnsError {
    /// The same error with its offsets moved by `base` (a message inside a TCP segment).
    fn shifted(self, base: usize) -> DnsError {
        use DnsError::*;
        match self {
            Truncated { offset, what } => Truncated {
                offset: offset + base,
                what,
            },
            ImplausibleCounts { records, len } => ImplausibleCounts { records, len },
            BadPointer { offset, target } => BadPointer {
                offset: offset + base,
                target: target + base,
            },
            NameTooLong { offset } => NameTooLong {
                offset: offset + base,
            },
            LabelType { offset, byte } => LabelType {
                offset: offset + base,
                byte,
            },
            BadRdata { offset, rtype, len } => BadRdata {
                offset: offset + base,
                rtype,
                len,
            },
            EmptyFrame { offset } => EmptyFrame {
                offset: offset + base,
            },
        }
    }
}

/// A record type number, displayed by its mnemonic (`A`, `TXT`, `ANY`) or `TYPEnnn` (RFC 3597).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordType(pub u16);

impl RecordType {
    pub const A: RecordType = RecordType(1);
    pub const NS: RecordType = RecordType(2);
    pub const CNAME: RecordType = RecordType(5);
    pub const SOA: RecordType = RecordType(6);
    pub const PTR: RecordType = RecordType(12);
    pub const MX: RecordType = RecordType(15);
    pub const TXT: RecordType = RecordType(16);
    pub const AAAA: RecordType = RecordType(28);
    pub const SRV: RecordType = RecordType(33);

    /// The IANA mnemonic, if the type has one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "A",
            2 => "NS",
            3 => "MD",
            4 => "MF",
            5 => "CNAME",
            6 => "SOA",
            7 => "MB",
            8 => "MG",
            9 => "MR",
            10 => "NULL",
            11 => "WKS",
            12 => "PTR",
            13 => "HINFO",
            14 => "MINFO",
            15 => "MX",
            16 => "TXT",
            17 => "RP",
            18 => "AFSDB",
            24 => "SIG",
            25 => "KEY",
            28 => "AAAA",
            29 => "LOC",
            33 => "SRV",
            35 => "NAPTR",
            36 => "KX",
            37 => "CERT",
            39 => "DNAME",
            41 => "OPT",
            42 => "APL",
            43 => "DS",
            44 => "SSHFP",
            45 => "IPSECKEY",
            46 => "RRSIG",
            47 => "NSEC",
            48 => "DNSKEY",
            49 => "DHCID",
            50 => "NSEC3",
            51 => "NSEC3PARAM",
            52 => "TLSA",
            53 => "SMIMEA",
            55 => "HIP",
            59 => "CDS",
            60 => "CDNSKEY",
            61 => "OPENPGPKEY",
            62 => "CSYNC",
            63 => "ZONEMD",
            64 => "SVCB",
            65 => "HTTPS",
            99 => "SPF",
            249 => "TKEY",
            250 => "TSIG",
            251 => "IXFR",
            252 => "AXFR",
            253 => "MAILB",
            254 => "MAILA",
            255 => "ANY",
            256 => "URI",
            257 => "CAA",
            32768 => "TA",
            32769 => "DLV",
            _ => return None,
        })
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// The name of a header response code (the 4-bit RCODE; extended codes from EDNS are not merged).
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode & 0x0f {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        12 => "RCODE12",
        13 => "RCODE13",
        14 => "RCODE14",
        _ => "RCODE15",
    }
}

/// The name of a header opcode.
pub fn opcode_name(opcode: u8) -> &'static str {
    match opcode & 0x0f {
        0 => "QUERY",
        1 => "IQUERY",
        2 => "STATUS",
        4 => "NOTIFY",
        5 => "UPDATE",
        6 => "DSO",
        _ => "UNASSIGNED",
    }
}

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    /// QR, opcode, AA, TC, RD, RA, Z, AD, CD and RCODE as on the wire; see the accessors.
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    /// QR: true for a response, false for a query.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }
    pub fn authoritative(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    pub fn truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    pub fn recursion_desired(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    pub fn recursion_available(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    pub fn authentic_data(&self) -> bool {
        self.flags & 0x0020 != 0
    }
    pub fn checking_disabled(&self) -> bool {
        self.flags & 0x0010 != 0
    }
    pub fn rcode(&self) -> u8 {
        (self.flags & 0x0f) as u8
    }
}

/// One entry of the question section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Presentation form: labels joined by dots, `.` for the root, odd bytes as `\DDD`.
    pub name: String,
    pub rtype: RecordType,
    /// As on the wire; in mDNS the top bit is the unicast-response flag.
    pub class: u16,
}

/// One resource record of the answer, authority or additional section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: RecordType,
    /// As on the wire; in mDNS the top bit is the cache-flush flag; for OPT, the UDP size.
    pub class: u16,
    pub ttl: u32,
    pub rdata: RData,
}

/// Record data, decoded for the common types. `Display` renders it as in a zone file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Ns(String),
    Ptr(String),
    Mx {
        preference: u16,
        exchange: String,
    },
    /// The character-strings concatenated, odd bytes as `\DDD`.
    Txt(String),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    /// Any other type, kept raw and rendered as lowercase hex.
    Other(Vec<u8>),
}

impl fmt::Display for RData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RData::A(a) => write!(f, "{a}"),
            RData::Aaaa(a) => write!(f, "{a}"),
            RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) | RData::Txt(n) => f.write_str(n),
            RData::Mx {
                preference,
                exchange,
            } => write!(f, "{preference} {exchange}"),
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => write!(
                f,
                "{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
            ),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => write!(f, "{priority} {weight} {port} {target}"),
            RData::Other(bytes) => {
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// A whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

fn be16(buf: &[u8], at: usize, what: &'static str) -> Result<u16, DnsError> {
    match buf.get(at..at + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(DnsError::Truncated {
            offset: buf.len(),
            what,
        }),
    }
}

fn be32(buf: &[u8], at: usize, what: &'static str) -> Result<u32, DnsError> {
    match buf.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(DnsError::Truncated {
            offset: buf.len(),
            what,
        }),
    }
}

/// Reads the 12-byte header.
pub fn parse_header(buf: &[u8]) -> Result<Header, DnsError> {
    if buf.len() < HEADER_LEN {
        return Err(DnsError::Truncated {
            offset: buf.len(),
            what: "header",
        });
    }
    Ok(Header {
        id: be16(buf, 0, "header")?,
        flags: be16(buf, 2, "header")?,
        qdcount: be16(buf, 4, "header")?,
        ancount: be16(buf, 6, "header")?,
        nscount: be16(buf, 8, "header")?,
        arcount: be16(buf, 10, "header")?,
    })
}

/// Parses one DNS message (the UDP payload, or one TCP frame without its length prefix).
pub fn parse_message(buf: &[u8]) -> Result<Message, DnsError> {
    let header = parse_header(buf)?;
    let (qd, an, ns, ar) = (
        usize::from(header.qdcount),
        usize::from(header.ancount),
        usize::from(header.nscount),
        usize::from(header.arcount),
    );
    // Counts come from the wire: check they can fit before reserving anything for them, so a
    // 12-byte message announcing 4 x 65535 records costs nothing.
    let body = buf.len() - HEADER_LEN;
    if qd * MIN_QUESTION_LEN + (an + ns + ar) * MIN_RECORD_LEN > body {
        return Err(DnsError::ImplausibleCounts {
            records: qd + an + ns + ar,
            len: buf.len(),
        });
    }
    let mut pos = HEADER_LEN;
    let mut questions = Vec::with_capacity(qd);
    for _ in 0..qd {
        let mut name = String::new();
        pos = read_name(buf, pos, &mut name)?;
        let rtype = RecordType(be16(buf, pos, "question")?);
        let class = be16(buf, pos + 2, "question")?;
        pos += 4;
        questions.push(Question { name, rtype, class });
    }
    let mut sections = [
        Vec::with_capacity(an),
        Vec::with_capacity(ns),
        Vec::with_capacity(ar),
    ];
    for (section, count) in sections.iter_mut().zip([an, ns, ar]) {
        for _ in 0..count {
            let (record, next) = read_record(buf, pos)?;
            section.push(record);
            pos = next;
        }
    }
    let [answers, authorities, additionals] = sections;
    Ok(Message {
        header,
        questions,
        answers,
        authorities,
        additionals,
    })
}

/// Parses the messages of a DNS-over-TCP segment: each is preceded by a 2-byte length. A last
/// message cut by the end of the segment is left out once at least one complete message was
/// read (its rest is in the next segment); a malformed message is an error.
pub fn parse_tcp(buf: &[u8]) -> Result<Vec<Message>, DnsError> {
    let mut messages = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let frame = be16(buf, pos, "TCP length prefix").and_then(|len| {
            if len == 0 {
                return Err(DnsError::EmptyFrame { offset: pos });
            }
            buf.get(pos + 2..pos + 2 + usize::from(len))
                .ok_or(DnsError::Truncated {
                    offset: buf.len(),
                    what: "TCP-framed message",
                })
        });
        let frame = match frame {
            Ok(frame) => frame,
            Err(DnsError::Truncated { .. }) if !messages.is_empty() => break,
            Err(e) => return Err(e),
        };
        messages.push(parse_message(frame).map_err(|e| e.shifted(pos + 2))?);
        pos += 2 + frame.len();
    }
    if messages.is_empty() {
        return Err(DnsError::Truncated {
            offset: buf.len(),
            what: "TCP length prefix",
        });
    }
    Ok(messages)
}

/// Reads one resource record at `pos`; returns it and the offset just past it.
fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), DnsError> {
    let mut name = String::new();
    let pos = read_name(msg, pos, &mut name)?;
    let rtype = RecordType(be16(msg, pos, "record header")?);
    let class = be16(msg, pos + 2, "record header")?;
    let ttl = be32(msg, pos + 4, "record header")?;
    let rdlen = usize::from(be16(msg, pos + 8, "record header")?);
    let start = pos + 10;
    let end = start + rdlen;
    if end > msg.len() {
        return Err(DnsError::Truncated {
            offset: msg.len(),
            what: "record data",
        });
    }
    let rdata = read_rdata(msg, rtype, start, end)?;
    Ok((
        Record {
            name,
            rtype,
            class,
            ttl,
            rdata,
        },
        end,
    ))
}

/// Decodes the record data in `msg[start..end]`; names in it may point anywhere before them.
fn read_rdata(msg: &[u8], rtype: RecordType, start: usize, end: usize) -> Result<RData, DnsError> {
    let bad = || DnsError::BadRdata {
        offset: start,
        rtype,
        len: end - start,
    };
    let data = msg.get(start..end).ok_or_else(bad)?;
    // A name inside the data must end inside it; names may still point before it.
    let name_at = |at: usize| -> Result<(String, usize), DnsError> {
        let mut name = String::new();
        let next = read_name(msg, at, &mut name)?;
        if next > end {
            return Err(bad());
        }
        Ok((name, next))
    };
    let rdata = match rtype {
        RecordType::A => match <[u8; 4]>::try_from(data) {
            Ok(a) => RData::A(Ipv4Addr::from(a)),
            Err(_) => return Err(bad()),
        },
        RecordType::AAAA => match <[u8; 16]>::try_from(data) {
            Ok(a) => RData::Aaaa(Ipv6Addr::from(a)),
            Err(_) => return Err(bad()),
        },
        RecordType::CNAME => RData::Cname(name_at(start)?.0),
        RecordType::NS => RData::Ns(name_at(start)?.0),
        RecordType::PTR => RData::Ptr(name_at(start)?.0),
        RecordType::MX => {
            let preference = be16(data, 0, "MX preference").map_err(|_| bad())?;
            RData::Mx {
                preference,
                exchange: name_at(start + 2)?.0,
            }
        }
        RecordType::TXT => {
            let mut text = String::with_capacity(data.len());
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                let s = tail.get(..usize::from(len)).ok_or_else(bad)?;
                push_escaped(&mut text, s, b' ');
                rest = tail.get(usize::from(len)..).unwrap_or_default();
            }
            RData::Txt(text)
        }
        RecordType::SOA => {
            let (mname, next) = name_at(start)?;
            let (rname, next) = name_at(next)?;
            let nums = msg.get(next..end).ok_or_else(bad)?;
            if nums.len() != 20 {
                return Err(bad());
            }
            let num = |i: usize| be32(nums, i * 4, "SOA").map_err(|_| bad());
            RData::Soa {
                mname,
                rname,
                serial: num(0)?,
                refresh: num(1)?,
                retry: num(2)?,
                expire: num(3)?,
                minimum: num(4)?,
            }
        }
        RecordType::SRV => {
            let num = |i: usize| be16(data, i * 2, "SRV").map_err(|_| bad());
            let (priority, weight, port) = (num(0)?, num(1)?, num(2)?);
            RData::Srv {
                priority,
                weight,
                port,
                target: name_at(start + 6)?.0,
            }
        }
        _ => RData::Other(data.to_vec()),
    };
    Ok(rdata)
}

/// Reads the (possibly compressed) name at `start` into `out`; returns the offset just past
/// the name where it started (after its first pointer, if any).
///
/// Each pointer must point before the start of the name part that contains it, and before
/// every earlier pointer's target: targets strictly decrease, so a chain ends in at most
/// `start` steps whatever the message holds. Real compressors only point back at suffixes
/// they already wrote, which satisfies this.
pub fn read_name(msg: &[u8], start: usize, out: &mut String) -> Result<usize, DnsError> {
    let mut pos = start;
    let mut limit = start;
    let mut after: Option<usize> = None;
    let mut wire_len = 0usize;
    let mut labels = 0usize;
    loop {
        let Some(&len_byte) = msg.get(pos) else {
            return Err(DnsError::Truncated {
                offset: msg.len(),
                what: "name",
            });
        };
        match len_byte & 0xc0 {
            0x00 if len_byte == 0 => {
                if labels == 0 {
                    out.push('.');
                }
                return Ok(after.unwrap_or(pos + 1));
            }
            0x00 => {
                let len = usize::from(len_byte);
                let Some(label) = msg.get(pos + 1..pos + 1 + len) else {
                    return Err(DnsError::Truncated {
                        offset: msg.len(),
                        what: "label",
                    });
                };
                wire_len += 1 + len;
                // The terminating root label takes one more byte.
                if wire_len + 1 > MAX_NAME_LEN {
                    return Err(DnsError::NameTooLong { offset: start });
                }
                if labels > 0 {
                    out.push('.');
                }
                push_escaped(out, label, b'!');
                labels += 1;
                pos += 1 + len;
            }
            0xc0 => {
                let Some(&lo) = msg.get(pos + 1) else {
                    return Err(DnsError::Truncated {
                        offset: msg.len(),
                        what: "compression pointer",
                    });
                };
                let target = usize::from(len_byte & 0x3f) << 8 | usize::from(lo);
                if target >= limit {
                    return Err(DnsError::BadPointer {
                        offset: pos,
                        target,
                    });
                }
                after.get_or_insert(pos + 2);
                limit = target;
                pos = target;
            }
            _ => {
                return Err(DnsError::LabelType {
                    offset: pos,
                    byte: len_byte,
                })
            }
        }
    }
}

/// Appends `bytes` to `out`, printable ASCII from `lowest` up as is and every other byte as
/// `\DDD` (RFC 1035 5.1), so binary labels of tunnels stay visible and unambiguous.
fn push_escaped(out: &mut String, bytes: &[u8], lowest: u8) {
    for &b in bytes {
        if (lowest..=b'~').contains(&b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\{b:03}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testutil::hex;

    // suricata-verify/dns/bug-1158/input.pcap, packet 1: an iodine TXT query.
    const TUNNEL_QUERY: &str = "c22f010000010000000000000a41414141414f316b5141053d61757468037372760674756e6e656c03636f6d0000100001";
    // Packet 2: its answer, two TXT records, NS authority, A additional.
    const TUNNEL_ANSWER: &str = "c22f818000010001000100010a41414141414f316b5141053d61757468037372760674756e6e656c03636f6d0000100001c00c00100001000000030022204168764d41414f316b4146453554453951546a46464e3039524e316c5953446b00c01d0002000100093a80000906696f64696e65c021c06b0001000100093a8000040a1e1c5f";
    // suricata-verify/ssh-hassh/input.pcap, packet 25: PTR answered NXDOMAIN with an SOA.
    const NXDOMAIN_SOA: &str = "d9f8858300010000000100000232370130033136380331393207696e2d61646472046172706100000c0001c0110006000100002a300028c011066e6f626f6479096c6f63616c686f7374000000002a000151800000a8c000093a8000002a30";

    /// Every DNS packet of suricata-verify/dns/bug-1158 (an iodine tunnel), compared with what
    /// Suricata's own test.yaml expects of its EVE output. Suricata lists each TXT
    /// character-string as an answer of its own; we join a record's strings, so the rdata are
    /// compared concatenated.
    #[test]
    fn agrees_with_suricata_on_a_real_capture() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/pcap/suricata-verify/dns/bug-1158"
        );
        let (Ok(pcap), Ok(yaml)) = (
            std::fs::read(format!("{dir}/input.pcap")),
            std::fs::read_to_string(format!("{dir}/test.yaml")),
        ) else {
            eprintln!("corpus not found at {dir}; skipped");
            return;
        };
        let capture = pcap_parser::PcapCapture::from_file(&pcap).expect("test input is valid");
        let spec: serde_json::Value = serde_yaml_ng::from_str(&yaml).expect("test input is valid");
        let mut compared = 0;
        for check in spec["checks"].as_array().expect("test input is valid") {
            let want = &check["filter"]["match"];
            if want["event_type"] != "dns" {
                continue;
            }
            let n = want["pcap_cnt"].as_u64().expect("test input is valid") as usize;
            let frame = capture.blocks[n - 1].data;
            // Ethernet, IPv4 with options possible, UDP.
            assert_eq!(&frame[12..14], &[0x08, 0x00], "packet {n}");
            let udp = 14 + usize::from(frame[14] & 0x0f) * 4;
            let m = parse_message(&frame[udp + 8..]).expect("test input is valid");
            let get = |k: &str| want.get(k).cloned();
            assert_eq!(get("dns.id"), Some(m.header.id.into()), "packet {n}");
            let kind = if m.header.is_response() {
                "response"
            } else {
                "request"
            };
            assert_eq!(get("dns.type"), Some(kind.into()), "packet {n}");
            assert_eq!(
                get("dns.queries[0].rrname"),
                Some(m.questions[0].name.clone().into())
            );
            assert_eq!(
                get("dns.queries[0].rrtype"),
                Some(m.questions[0].rtype.to_string().into())
            );
            if !m.header.is_response() {
                compared += 1;
                continue;
            }
            assert_eq!(get("dns.rcode"), Some(rcode_name(m.header.rcode()).into()));
            assert_eq!(
                get("dns.flags"),
                Some(format!("{:x}", m.header.flags).into())
            );
            assert_eq!(get("dns.rd"), Some(m.header.recursion_desired().into()));
            assert_eq!(get("dns.ra"), Some(m.header.recursion_available().into()));
            let mut suricata_rdata = String::new();
            for i in 0.. {
                let Some(rdata) = get(&format!("dns.answers[{i}].rdata")) else {
                    break;
                };
                suricata_rdata.push_str(rdata.as_str().expect("test input is valid"));
                let name = get(&format!("dns.answers[{i}].rrname")).expect("test input is valid");
                let ttl = get(&format!("dns.answers[{i}].ttl")).expect("test input is valid");
                let rtype = get(&format!("dns.answers[{i}].rrtype")).expect("test input is valid");
                assert!(
                    m.answers.iter().any(|a| name == a.name.as_str()
                        && ttl == a.ttl
                        && rtype == a.rtype.to_string().as_str()),
                    "packet {n}: answer {i}"
                );
            }
            let ours: String = m.answers.iter().map(|a| a.rdata.to_string()).collect();
            assert_eq!(ours, suricata_rdata, "packet {n}");
            for (i, a) in m.authorities.iter().enumerate() {
                let field = |f: &str| get(&format!("dns.authorities[{i}].{f}"));
                assert_eq!(field("rrname"), Some(a.name.clone().into()), "packet {n}");
                assert_eq!(field("rrtype"), Some(a.rtype.to_string().into()));
                assert_eq!(field("ttl"), Some(a.ttl.into()));
                assert_eq!(field("rdata"), Some(a.rdata.to_string().into()));
            }
            compared += 1;
        }
        assert_eq!(compared, 161);
    }

    #[test]
    fn parses_a_real_txt_query() {
        let m = parse_message(&hex(TUNNEL_QUERY)).expect("test input is valid");
        assert_eq!(m.header.id, 49711);
        assert!(!m.header.is_response());
        assert!(m.header.recursion_desired());
        assert_eq!(m.header.opcode(), 0);
        assert_eq!(m.questions.len(), 1);
        assert_eq!(m.questions[0].name, "AAAAAO1kQA.=auth.srv.tunnel.com");
        assert_eq!(m.questions[0].rtype.to_string(), "TXT");
        assert_eq!(m.questions[0].class, 1);
        assert!(m.answers.is_empty());
    }

    #[test]
    fn parses_a_real_txt_answer_with_authority_and_additional() {
        let m = parse_message(&hex(TUNNEL_ANSWER)).expect("test input is valid");
        assert!(m.header.is_response());
        assert_eq!(m.header.flags, 0x8180);
        assert_eq!(rcode_name(m.header.rcode()), "NOERROR");
        assert_eq!(m.answers.len(), 1);
        let a = &m.answers[0];
        assert_eq!(a.name, "AAAAAO1kQA.=auth.srv.tunnel.com");
        assert_eq!(a.rtype, RecordType::TXT);
        assert_eq!(a.ttl, 3);
        // Suricata's test.yaml renders the two character-strings as two answers; we join them.
        assert_eq!(a.rdata.to_string(), "AhvMAAO1kAFE5TE9QTjFFN09RN1lYSDk");
        assert_eq!(m.authorities[0].name, "srv.tunnel.com");
        assert_eq!(m.authorities[0].rtype.to_string(), "NS");
        assert_eq!(m.authorities[0].ttl, 604800);
        assert_eq!(m.authorities[0].rdata.to_string(), "iodine.tunnel.com");
        assert_eq!(m.additionals[0].name, "iodine.tunnel.com");
        assert_eq!(m.additionals[0].rdata.to_string(), "10.30.28.95");
    }

    #[test]
    fn parses_a_real_nxdomain_with_soa() {
        let m = parse_message(&hex(NXDOMAIN_SOA)).expect("test input is valid");
        assert_eq!(rcode_name(m.header.rcode()), "NXDOMAIN");
        assert_eq!(m.questions[0].name, "27.0.168.192.in-addr.arpa");
        assert_eq!(m.questions[0].rtype.to_string(), "PTR");
        assert_eq!(
            m.authorities[0].rdata.to_string(),
            "168.192.in-addr.arpa nobody.localhost 42 86400 43200 604800 10800"
        );
    }

    /// A response built by hand with one record of each remaining type, checked with tshark
    /// (text2pcap -u 53,1234 then tshark -V) before being pasted here.
    #[test]
    fn renders_every_decoded_type() {
        let mut m = hex("1234818000010006000000000378797a0000ff0001");
        let rr = |m: &mut Vec<u8>, t: u16, data: &[u8]| {
            m.extend_from_slice(&[0xc0, 0x0c]);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        };
        rr(&mut m, 1, &[192, 0, 2, 1]);
        rr(&mut m, 28, &hex("20010db8000000000000000000000001"));
        rr(&mut m, 5, &hex("03777777c00c"));
        rr(&mut m, 15, &hex("000a046d61696cc00c"));
        rr(&mut m, 33, &hex("000100020035036e7331c00c"));
        rr(&mut m, 16, &hex("0568656c6c6f00037e0a00"));
        let m = parse_message(&m).expect("test input is valid");
        assert_eq!(m.questions[0].rtype.to_string(), "ANY");
        let got: Vec<String> = m.answers.iter().map(|r| r.rdata.to_string()).collect();
        assert_eq!(
            got,
            [
                "192.0.2.1",
                "2001:db8::1",
                "www.xyz",
                "10 mail.xyz",
                "1 2 53 ns1.xyz",
                "hello~\\010\\000",
            ]
        );
        assert_eq!(RecordType(65280).to_string(), "TYPE65280");
    }

    #[test]
    fn tcp_frames_one_or_more_messages() {
        let q = hex(TUNNEL_QUERY);
        let a = hex(TUNNEL_ANSWER);
        let mut seg = Vec::new();
        for msg in [&q, &a] {
            seg.extend_from_slice(&(msg.len() as u16).to_be_bytes());
            seg.extend_from_slice(msg);
        }
        let ms = parse_tcp(&seg).expect("test input is valid");
        assert_eq!(ms.len(), 2);
        assert!(ms[1].header.is_response());
        // A trailing partial message waits for the next segment.
        let ms = parse_tcp(&seg[..seg.len() - 3]).expect("test input is valid");
        assert_eq!(ms.len(), 1);
        // Alone, a partial message is an error.
        assert!(matches!(
            parse_tcp(&seg[..10]),
            Err(DnsError::Truncated { .. })
        ));
        // An error in the second message names its byte in the segment.
        let mut bad = seg.clone();
        let second = 2 + q.len() + 2;
        bad[second + 12] = 0x80; // a reserved label type as the first question's name
        assert_eq!(
            parse_tcp(&bad),
            Err(DnsError::LabelType {
                offset: second + 12,
                byte: 0x80
            })
        );
    }

    #[test]
    fn truncation_at_every_offset_is_an_error_not_a_panic() {
        for msg in [TUNNEL_QUERY, TUNNEL_ANSWER, NXDOMAIN_SOA] {
            let msg = hex(msg);
            for cut in 0..msg.len() {
                assert!(parse_message(&msg[..cut]).is_err(), "cut at {cut}");
                let _ = parse_tcp(&msg[..cut]);
            }
        }
    }

    #[test]
    fn compression_loops_are_rejected() {
        // A pointer to itself.
        let mut m = hex("000001000001000000000000");
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        assert_eq!(
            parse_message(&m),
            Err(DnsError::BadPointer {
                offset: 12,
                target: 12
            })
        );
        // Two labels whose pointer goes back to their own start: a loop under a
        // "pointers go backwards" rule alone.
        let mut m = hex("000001000001000000000000");
        m.extend_from_slice(&[1, b'a', 0xc0, 0x0c, 0, 1, 0, 1]);
        assert!(matches!(
            parse_message(&m),
            Err(DnsError::BadPointer { .. })
        ));
        // A forward pointer.
        let mut m = hex("000001000001000000000000");
        m.extend_from_slice(&[0xc0, 0x20, 0, 1, 0, 1]);
        assert!(matches!(
            parse_message(&m),
            Err(DnsError::BadPointer { .. })
        ));
        // A long chain of strictly backward pointers terminates.
        let mut m = hex("000001000001000000000000");
        m.push(0);
        for i in 0..200u16 {
            let target = 12 + if i == 0 { 0 } else { 1 + (i - 1) * 2 };
            m.extend_from_slice(&(0xc000 | target).to_be_bytes());
        }
        let name_at = m.len() - 2;
        let mut name = String::new();
        assert_eq!(read_name(&m, name_at, &mut name), Ok(name_at + 2));
        assert_eq!(name, ".");
    }

    #[test]
    fn huge_counts_and_long_names_are_rejected() {
        let m = hex("0000010000ffffffffffff00");
        assert!(matches!(
            parse_message(&m),
            Err(DnsError::ImplausibleCounts { .. })
        ));
        let mut m = hex("000001000001000000000000");
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse_message(&m), Err(DnsError::NameTooLong { offset: 12 }));
    }

    #[test]
    fn odd_bytes_in_names_are_escaped() {
        let mut m = hex("000001000001000000000000");
        m.extend_from_slice(&[3, b'a', b' ', 0xff, 0, 0, 1, 0, 1]);
        let m = parse_message(&m).expect("test input is valid");
        assert_eq!(m.questions[0].name, "a\\032\\255");
    }
}
