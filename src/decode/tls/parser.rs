//! TLS ClientHello (RFC 5246 7.4.1.2, RFC 8446 4.1.2) as a pure function over `&[u8]`: the
//! record and handshake headers, version, random, session id, cipher suites, compression and
//! extensions, with SNI, supported groups, point formats and supported versions decoded, and
//! the JA3 fingerprint. A hello cut by the end of the segment still yields what was read if its
//! SNI was among it.

use std::fmt::Write as _;

use md5::{Digest, Md5};
use thiserror::Error;

const CONTENT_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// A record carries at most 2^14 bytes of plaintext (RFC 8446 5.1); allow the ciphertext slack.
const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Why a payload is not a readable ClientHello. Offsets count from the start of the payload.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TlsError {
    #[error("content type 0x{0:02x} at byte 0 is not a handshake (0x16)")]
    NotHandshake(u8),
    #[error("record version 0x{0:04x} at byte 1 is not SSL 3.0 or TLS 1.x")]
    RecordVersion(u16),
    #[error("record length {0} at byte 3 is larger than TLS allows")]
    RecordTooLong(usize),
    #[error("handshake type {0} at byte 5 is not a ClientHello (1)")]
    NotClientHello(u8),
    #[error("data ends at byte {offset}, inside the {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("{what} at byte {offset} has an invalid length {len}")]
    BadLength {
        offset: usize,
        what: &'static str,
        len: usize,
    },
}

/// A parsed ClientHello. Lists keep GREASE values as sent; JA3 drops them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// The record layer's version (often 0x0301 whatever the client supports).
    pub record_version: u16,
    /// `legacy_version` of the hello: 0x0303 for TLS 1.2 and 1.3 clients.
    pub version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    /// The first host_name of the server_name extension.
    pub sni: Option<String>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    pub supported_versions: Vec<u16>,
    /// True when the segment ended before the hello did: the lists above are then incomplete
    /// and [`ClientHello::ja3`] is `None`.
    pub truncated: bool,
}

/// A JA3 fingerprint: the string and its MD5 in lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ja3 {
    pub string: String,
    pub hash: String,
}

/// GREASE values (RFC 8701) are 0x?a?a with both bytes equal: 0x0a0a, 0x1a1a, ... 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Suricata's names for protocol versions (`TLS 1.2`, `TLS 1.3`, ...).
pub fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0200 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return None,
    })
}

impl ClientHello {
    /// The highest version the client offers: from supported_versions when present (TLS 1.3
    /// clients), else the hello's legacy version.
    pub fn max_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.version)
    }

    /// `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`, GREASE
    /// removed, and its MD5; `None` for a truncated hello, whose fingerprint would be wrong.
    pub fn ja3(&self) -> Option<Ja3> {
        if self.truncated {
            return None;
        }
        let mut s = String::with_capacity(256);
        let _ = write!(s, "{},", self.version);
        join_u16(&mut s, &self.cipher_suites);
        s.push(',');
        join_u16(&mut s, &self.extensions);
        s.push(',');
        join_u16(&mut s, &self.supported_groups);
        s.push(',');
        for (i, f) in self.ec_point_formats.iter().enumerate() {
            let _ = write!(s, "{}{f}", if i == 0 { "" } else { "-" });
        }
        let hash = crate::hex::encode(&Md5::digest(s.as_bytes()));
        Some(Ja3 { string: s, hash })
    }
}

/// Appends the non-GREASE values as decimals joined by `-` (writing to a String cannot fail).
fn join_u16(s: &mut String, values: &[u16]) {
    let mut first = true;
    for v in values.iter().filter(|v| !is_grease(**v)) {
        let _ = write!(s, "{}{v}", if first { "" } else { "-" });
        first = false;
    }
}

/// A bounds-checked cursor over part of the payload; `base` is where that part starts in it.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> usize {
        self.base + self.pos
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TlsError> {
        let out = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or(TlsError::Truncated {
                offset: self.base + self.buf.len(),
                what,
            })?;
        self.pos += n;
        Ok(out)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, TlsError> {
        Ok(self.bytes(1, what)?.first().copied().unwrap_or_default())
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, TlsError> {
        match self.bytes(2, what)? {
            &[a, b] => Ok(u16::from_be_bytes([a, b])),
            _ => Ok(0),
        }
    }
    /// A sub-reader over the next `n` bytes.
    fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, TlsError> {
        let base = self.offset();
        Ok(Reader {
            buf: self.bytes(n, what)?,
            pos: 0,
            base,
        })
    }
    /// A list of big-endian u16 whose byte length `len` must be even.
    fn u16_list(&mut self, len: usize, what: &'static str) -> Result<Vec<u16>, TlsError> {
        if len % 2 != 0 {
            return Err(TlsError::BadLength {
                offset: self.offset(),
                what,
                len,
            });
        }
        Ok(self
            .bytes(len, what)?
            .chunks_exact(2)
            .map(|c| match c {
                &[a, b] => u16::from_be_bytes([a, b]),
                _ => 0,
            })
            .collect())
    }
}

/// Parses the ClientHello at the start of a TCP payload.
pub fn parse_client_hello(buf: &[u8]) -> Result<ClientHello, TlsError> {
    let mut rec = Reader {
        buf,
        pos: 0,
        base: 0,
    };
    let content_type = rec.u8("record header")?;
    if content_type != CONTENT_HANDSHAKE {
        return Err(TlsError::NotHandshake(content_type));
    }
    let record_version = rec.u16("record header")?;
    if record_version >> 8 != 3 {
        return Err(TlsError::RecordVersion(record_version));
    }
    let record_len = usize::from(rec.u16("record header")?);
    if record_len > MAX_RECORD_LEN {
        return Err(TlsError::RecordTooLong(record_len));
    }
    // The record may continue in the next segment: read what is here.
    let record_avail = record_len.min(rec.remaining());
    let mut hs = rec.sub(record_avail, "record")?;
    let hs_type = hs.u8("handshake header")?;
    if hs_type != HANDSHAKE_CLIENT_HELLO {
        return Err(TlsError::NotClientHello(hs_type));
    }
    let len = hs.bytes(3, "handshake header")?;
    let hello_len = len.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b));
    let truncated = hello_len > hs.remaining();
    let mut body = hs.sub(hello_len.min(hs.remaining()), "handshake")?;
    parse_hello_body(&mut body, record_version, truncated)
}

fn parse_hello_body(
    r: &mut Reader<'_>,
    record_version: u16,
    truncated: bool,
) -> Result<ClientHello, TlsError> {
    let version = r.u16("client version")?;
    let mut random = [0u8; 32];
    random.copy_from_slice(r.bytes(32, "random")?);
    let sid_len = usize::from(r.u8("session id length")?);
    if sid_len > 32 {
        return Err(TlsError::BadLength {
            offset: r.offset() - 1,
            what: "session id",
            len: sid_len,
        });
    }
    let session_id = r.bytes(sid_len, "session id")?.to_vec();
    let cs_len = usize::from(r.u16("cipher suites length")?);
    let cipher_suites = r.u16_list(cs_len, "cipher suites")?;
    let comp_len = usize::from(r.u8("compression methods length")?);
    let compression_methods = r.bytes(comp_len, "compression methods")?.to_vec();
    let mut hello = ClientHello {
        record_version,
        version,
        random,
        session_id,
        cipher_suites,
        compression_methods,
        extensions: Vec::new(),
        sni: None,
        supported_groups: Vec::new(),
        ec_point_formats: Vec::new(),
        supported_versions: Vec::new(),
        truncated,
    };
    // A hello without extensions (SSL 3.0 style) ends here.
    if r.remaining() == 0 && !truncated {
        return Ok(hello);
    }
    match parse_extensions(r, &mut hello, truncated) {
        Ok(()) => Ok(hello),
        // Cut inside the extensions: what was read is still worth reporting if it named the
        // server (that is what the event is for).
        Err(TlsError::Truncated { .. }) if truncated && hello.sni.is_some() => Ok(hello),
        Err(e) => Err(e),
    }
}

fn parse_extensions(
    r: &mut Reader<'_>,
    hello: &mut ClientHello,
    truncated: bool,
) -> Result<(), TlsError> {
    let ext_len = usize::from(r.u16("extensions length")?);
    let avail = if truncated {
        ext_len.min(r.remaining())
    } else {
        ext_len
    };
    let mut exts = r.sub(avail, "extensions")?;
    while exts.remaining() > 0 {
        let ext_type = exts.u16("extension header")?;
        let len = usize::from(exts.u16("extension header")?);
        let mut data = exts.sub(len, "extension data")?;
        hello.extensions.push(ext_type);
        match ext_type {
            EXT_SERVER_NAME => hello.sni = server_name(&mut data)?,
            EXT_SUPPORTED_GROUPS => {
                let n = usize::from(data.u16("supported groups length")?);
                hello.supported_groups = data.u16_list(n, "supported groups")?;
            }
            EXT_EC_POINT_FORMATS => {
                let n = usize::from(data.u8("ec point formats length")?);
                hello.ec_point_formats = data.bytes(n, "ec point formats")?.to_vec();
            }
            EXT_SUPPORTED_VERSIONS => {
                let n = usize::from(data.u8("supported versions length")?);
                hello.supported_versions = data.u16_list(n, "supported versions")?;
            }
            _ => {}
        }
    }
    if truncated && avail < ext_len {
        return Err(TlsError::Truncated {
            offset: exts.offset(),
            what: "extensions",
        });
    }
    Ok(())
}

/// The first host_name of a server_name extension (RFC 6066 3).
fn server_name(r: &mut Reader<'_>) -> Result<Option<String>, TlsError> {
    let list_len = usize::from(r.u16("server name list length")?);
    let mut list = r.sub(list_len, "server name list")?;
    while list.remaining() > 0 {
        let name_type = list.u8("server name type")?;
        let len = usize::from(list.u16("server name length")?);
        let name = list.bytes(len, "server name")?;
        if name_type == 0 && !name.is_empty() {
            return Ok(Some(String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testutil::hex;

    /// suricata-verify/community-id-ipv4/input.pcap, packet 4: a TLS 1.3 ClientHello for
    /// ipv4.google.com (the padding extension's zeros are shortened, its length kept right by
    /// `hello()` below).
    const GOOGLE_HEAD: &str = "1603010200010001fc03032a9008a494c5216b165f4a3ce9d9a18714d00b4866a9ff51528af98b59657881206f0ea66abbb2f8ac25d72ab49f82d0f00a9cc58a1c75d443f26176907c30775d00481302130313011304c02cc030cca9cca8c0adc02bc02fc0acc023c027c00ac014c009c013009dc09d009cc09c003d003c0035002f009fccaac09f009ec09e006b00670039003300ff0100016b00000014001200000f697076342e676f6f676c652e636f6d000b000403000102000a000c000a001d0017001e00190018337400000010000e000c02683208687474702f312e31001600000017000000310000000d002600240403050306030807080808090804080a0805080b08060401050106010303030102030201002b00050403040303002d00020101003300260024001d002063375f136b1d8a371c27dac916258577a89e2e521dd99f421dc4c79a574e7937001500b2";
    /// The padding extension is 0xb2 zero bytes.
    fn hello() -> Vec<u8> {
        let mut v = hex(GOOGLE_HEAD);
        v.resize(v.len() + 0xb2, 0);
        v
    }

    #[test]
    fn parses_a_real_tls13_client_hello() {
        let buf = hello();
        assert_eq!(buf.len(), 5 + 0x200);
        let h = parse_client_hello(&buf).expect("test input is valid");
        assert!(!h.truncated);
        assert_eq!(h.sni.as_deref(), Some("ipv4.google.com"));
        assert_eq!(h.record_version, 0x0301);
        assert_eq!(h.version, 0x0303);
        assert_eq!(h.session_id.len(), 32);
        assert_eq!(h.cipher_suites.len(), 36);
        assert_eq!(h.compression_methods, [0]);
        assert_eq!(h.supported_versions, [0x0304, 0x0303]);
        assert_eq!(h.max_version(), 0x0304);
        assert_eq!(version_name(h.max_version()), Some("TLS 1.3"));
    }

    /// Expected values from `tshark -Y tls.handshake.type==1 -T fields -e tls.handshake.ja3
    /// -e tls.handshake.ja3_full` on the same packet.
    #[test]
    fn ja3_matches_tshark() {
        let ja3 = parse_client_hello(&hello())
            .expect("test input is valid")
            .ja3()
            .expect("test input is valid");
        assert_eq!(ja3.string, "771,4866-4867-4865-4868-49196-49200-52393-52392-49325-49195-49199-49324-49187-49191-49162-49172-49161-49171-157-49309-156-49308-61-60-53-47-159-52394-49311-158-49310-107-103-57-51-255,0-11-10-13172-16-22-23-49-13-43-45-51-21,29-23-30-25-24,0-1-2");
        assert_eq!(ja3.hash, "e690df036922288311144cc96acf6515");
    }

    /// OpenSSL 3.0.19 `s_client -servername vigil.example.internal`, captured on loopback with
    /// tshark, whose JA3 fields give the expected values.
    #[test]
    fn ja3_of_an_openssl_hello_matches_tshark() {
        let buf = hex(concat!(
            "16030101430100013f03039e385878cb49eeb00b6814d3822cc4b5a04df96acfbf68c60c56f9143e",
            "59e95320fb47ea20c3d10f60d503e4e14aa674b236fc23d66877322d532da5cab1dbf9dc003e1302",
            "13031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039",
            "c009c0130033009d009c003d003c0035002f00ff010000b80000001b0019000016766967696c2e65",
            "78616d706c652e696e7465726e616c000b000403000102000a00160014001d0017001e0019001801",
            "000101010201030104002300000016000000170000000d002a002804030503060308070808080908",
            "0a080b080408050806040105010601030303010302040205020602002b0009080304030303020301",
            "002d00020101003300260024001d0020d3e7e617ae3f7df19aa8c042135610472e482064c96ad140",
            "0db1500c0a4ddf70",
        ));
        let h = parse_client_hello(&buf).expect("test input is valid");
        assert_eq!(h.sni.as_deref(), Some("vigil.example.internal"));
        let ja3 = h.ja3().expect("test input is valid");
        assert_eq!(ja3.string, "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-35-22-23-13-43-45-51,29-23-30-25-24-256-257-258-259-260,0-1-2");
        assert_eq!(ja3.hash, "a3afc2c46ba4a7d7fbe1cfb7a3031c2f");
    }

    #[test]
    fn grease_is_recognised_and_left_out_of_ja3() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x3a3a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301) && !is_grease(0x0a0b));
        let h = ClientHello {
            record_version: 0x0301,
            version: 0x0303,
            random: [0; 32],
            session_id: vec![],
            cipher_suites: vec![0x2a2a, 0x1301],
            compression_methods: vec![0],
            extensions: vec![0xdada, 0, 0x1a1a],
            sni: None,
            supported_groups: vec![0x8a8a, 29],
            ec_point_formats: vec![],
            supported_versions: vec![0x7a7a, 0x0304],
            truncated: false,
        };
        assert_eq!(
            h.ja3().expect("test input is valid").string,
            "771,4865,0,29,"
        );
        assert_eq!(h.max_version(), 0x0304);
    }

    #[test]
    fn a_hello_cut_after_its_sni_is_kept() {
        let buf = hello();
        // Cut just after the server_name extension (it ends with "google.com").
        let sni_end = buf
            .windows(10)
            .position(|w| w == b"google.com")
            .expect("test input is valid")
            + 10;
        for cut in sni_end..buf.len() {
            let h = parse_client_hello(&buf[..cut]).expect("test input is valid");
            assert_eq!(h.sni.as_deref(), Some("ipv4.google.com"), "cut at {cut}");
            assert!(h.truncated && h.ja3().is_none());
        }
        for cut in 0..sni_end {
            assert!(parse_client_hello(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_client_hello() {
        assert_eq!(
            parse_client_hello(b"\x17\x03\x03\x00\x10"),
            Err(TlsError::NotHandshake(0x17))
        );
        assert_eq!(
            parse_client_hello(b"\x16\x03\x03\x00\x04\x02\x00\x00\x00"),
            Err(TlsError::NotClientHello(2))
        );
        assert_eq!(
            parse_client_hello(b"\x16\x03\x03\xff\xff\x01"),
            Err(TlsError::RecordTooLong(0xffff))
        );
        // Odd cipher suite length in a complete hello.
        let mut buf = hello();
        buf[5 + 4 + 2 + 32 + 1 + 32 + 1] = 0x47;
        assert!(matches!(
            parse_client_hello(&buf),
            Err(TlsError::BadLength { .. })
        ));
    }

    #[test]
    fn lengths_overrunning_their_container_are_errors() {
        let buf = hello();
        for i in 5..buf.len() {
            for v in [0x00, 0x7f, 0xff] {
                let mut b = buf.clone();
                b[i] = v;
                let _ = parse_client_hello(&b);
            }
        }
    }
}
