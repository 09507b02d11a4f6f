//! SSH identification string (RFC 4253 4.2) as a pure function over `&[u8]`:
//! `SSH-protoversion-softwareversion SP comments CR LF`, also accepted with a bare LF as
//! OpenSSH and others do. Only the line is read; what follows it (KEXINIT) is ignored.

use thiserror::Error;

/// The line is at most 255 bytes including CR LF.
const MAX_LINE: usize = 255;

/// Why a payload is not an identification string. Offsets count from the start of the payload.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SshError {
    #[error("payload does not start with `SSH-`")]
    NoPrefix,
    #[error("no line end within the first {MAX_LINE} bytes")]
    TooLong,
    #[error("payload ends at byte {0} before the line end")]
    Truncated(usize),
    #[error("byte 0x{byte:02x} at byte {offset} is not printable ASCII")]
    BadByte { offset: usize, byte: u8 },
    #[error("no `-` after the protocol version that starts at byte 4")]
    NoSoftware,
    #[error("empty {what} at byte {offset}")]
    Empty { offset: usize, what: &'static str },
}

/// A parsed identification string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banner {
    /// The whole line without its line end, e.g. `SSH-2.0-OpenSSH_7.4 Debian-10`.
    pub line: String,
    /// `2.0`, or `1.99` for servers that also speak version 1.
    pub proto_version: String,
    /// `OpenSSH_7.4`.
    pub software: String,
    /// What follows the first space, e.g. `Debian-10`.
    pub comments: Option<String>,
}

/// Parses the identification string at the start of a TCP payload.
pub fn parse_banner(buf: &[u8]) -> Result<Banner, SshError> {
    if !buf.starts_with(b"SSH-") {
        return Err(SshError::NoPrefix);
    }
    let window = buf.get(..MAX_LINE).unwrap_or(buf);
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return Err(if buf.len() > MAX_LINE {
            SshError::TooLong
        } else {
            SshError::Truncated(buf.len())
        });
    };
    let line = window.get(..lf).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(i) = line.iter().position(|b| !(b' '..=b'~').contains(b)) {
        return Err(SshError::BadByte {
            offset: i,
            byte: line.get(i).copied().unwrap_or_default(),
        });
    }
    // Every byte is printable ASCII now, so the conversions below are lossless.
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let after_prefix = line.get(4..).unwrap_or_default();
    let dash = after_prefix
        .iter()
        .position(|&b| b == b'-')
        .ok_or(SshError::NoSoftware)?;
    let proto = after_prefix.get(..dash).unwrap_or_default();
    if proto.is_empty() {
        return Err(SshError::Empty {
            offset: 4,
            what: "protocol version",
        });
    }
    let rest = after_prefix.get(dash + 1..).unwrap_or_default();
    let (software, comments) = match rest.iter().position(|&b| b == b' ') {
        Some(sp) => (
            rest.get(..sp).unwrap_or_default(),
            rest.get(sp + 1..).filter(|c| !c.is_empty()),
        ),
        None => (rest, None),
    };
    if software.is_empty() {
        return Err(SshError::Empty {
            offset: 4 + dash + 1,
            what: "software version",
        });
    }
    Ok(Banner {
        line: text(line),
        proto_version: text(proto),
        software: text(software),
        comments: comments.map(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testutil::hex;

    /// suricata-verify/ssh-hassh/input.pcap, packets 11 (client) and 13 (server).
    const WINDOWS_CLIENT: &str =
        "5353482d322e302d4f70656e5353485f666f725f57696e646f77735f372e370d0a";
    const SERVER: &str = "5353482d322e302d4f70656e5353485f372e340d0a";

    #[test]
    fn parses_real_banners() {
        let b = parse_banner(&hex(WINDOWS_CLIENT)).expect("test input is valid");
        assert_eq!(b.line, "SSH-2.0-OpenSSH_for_Windows_7.7");
        assert_eq!(b.proto_version, "2.0");
        assert_eq!(b.software, "OpenSSH_for_Windows_7.7");
        assert_eq!(b.comments, None);
        let b = parse_banner(&hex(SERVER)).expect("test input is valid");
        assert_eq!(b.software, "OpenSSH_7.4");
    }

    /// tcpdump/geneve.pcap, frames 6 and 8 (inside GENEVE); the first again with a bare LF
    /// and the start of a binary packet after it.
    #[test]
    fn parses_comments_and_bare_lf() {
        let real =
            hex("5353482d322e302d4f70656e5353485f352e3970312044656269616e2d357562756e7475310d0a");
        let b = parse_banner(&real).expect("test input is valid");
        assert_eq!(b.software, "OpenSSH_5.9p1");
        assert_eq!(b.comments.as_deref(), Some("Debian-5ubuntu1"));
        let b = parse_banner(b"SSH-2.0-OpenSSH_5.9p1 Debian-5ubuntu1\n\0\0\x01")
            .expect("test input is valid");
        assert_eq!(b.line, "SSH-2.0-OpenSSH_5.9p1 Debian-5ubuntu1");
        let b = parse_banner(&hex("5353482d322e302d4f70656e5353485f352e330d0a"))
            .expect("test input is valid");
        assert_eq!(b.software, "OpenSSH_5.3");
        let b = parse_banner(b"SSH-1.99-Cisco-1.25\r\n").expect("test input is valid");
        assert_eq!(
            (b.proto_version.as_str(), b.software.as_str()),
            ("1.99", "Cisco-1.25")
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(parse_banner(b"SSH-2.0-x"), Err(SshError::Truncated(9)));
        assert_eq!(parse_banner(b"SSH-2.0\r\n"), Err(SshError::NoSoftware));
        assert_eq!(
            parse_banner(b"SSH--x\r\n"),
            Err(SshError::Empty {
                offset: 4,
                what: "protocol version"
            })
        );
        assert_eq!(
            parse_banner(b"SSH-2.0- x\r\n"),
            Err(SshError::Empty {
                offset: 8,
                what: "software version"
            })
        );
        assert_eq!(
            parse_banner(b"SSH-2.0-a\x01\n"),
            Err(SshError::BadByte { offset: 9, byte: 1 })
        );
        let mut long = b"SSH-2.0-".to_vec();
        long.resize(400, b'a');
        assert_eq!(parse_banner(&long), Err(SshError::TooLong));
        assert_eq!(parse_banner(b"HTTP/1.1"), Err(SshError::NoPrefix));
        let buf = hex(WINDOWS_CLIENT);
        for cut in 0..buf.len() {
            assert!(parse_banner(&buf[..cut]).is_err());
        }
    }
}
