//! HTTP/1.x request head (RFC 9112) as a pure function over `&[u8]`: the request line and the
//! headers present in the segment, keeping Host, User-Agent, Referer, Content-Type and
//! Content-Length. [`Method::from_prefix`] rejects anything else in a few comparisons, since
//! the packet path asks it about every TCP payload.

use thiserror::Error;

/// Request methods: RFC 9110's, PATCH, and WebDAV's (RFC 4918, 3253, 3648, 4791, 5323, 5842).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Propfind,
    Proppatch,
    Mkcol,
    Copy,
    Move,
    Lock,
    Unlock,
    Search,
    Report,
    Checkout,
    Checkin,
    Uncheckout,
    Merge,
    Label,
    Update,
    VersionControl,
    Mkworkspace,
    Mkactivity,
    BaselineControl,
    Orderpatch,
    Mkcalendar,
    Acl,
    Bind,
    Unbind,
    Rebind,
}

use Method::*;

/// Candidates by first byte, so a payload is compared with at most six names.
fn candidates(first: u8) -> &'static [Method] {
    match first {
        b'G' => &[Get],
        b'H' => &[Head],
        b'P' => &[Post, Put, Patch, Propfind, Proppatch],
        b'D' => &[Delete],
        b'C' => &[Connect, Copy, Checkout, Checkin],
        b'O' => &[Options, Orderpatch],
        b'T' => &[Trace],
        b'M' => &[Move, Mkcol, Merge, Mkworkspace, Mkactivity, Mkcalendar],
        b'L' => &[Lock, Label],
        b'U' => &[Unlock, Uncheckout, Update, Unbind],
        b'S' => &[Search],
        b'R' => &[Report, Rebind],
        b'V' => &[VersionControl],
        b'A' => &[Acl],
        b'B' => &[Bind, BaselineControl],
        _ => &[],
    }
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Get => "GET",
            Head => "HEAD",
            Post => "POST",
            Put => "PUT",
            Delete => "DELETE",
            Connect => "CONNECT",
            Options => "OPTIONS",
            Trace => "TRACE",
            Patch => "PATCH",
            Propfind => "PROPFIND",
            Proppatch => "PROPPATCH",
            Mkcol => "MKCOL",
            Copy => "COPY",
            Move => "MOVE",
            Lock => "LOCK",
            Unlock => "UNLOCK",
            Search => "SEARCH",
            Report => "REPORT",
            Checkout => "CHECKOUT",
            Checkin => "CHECKIN",
            Uncheckout => "UNCHECKOUT",
            Merge => "MERGE",
            Label => "LABEL",
            Update => "UPDATE",
            VersionControl => "VERSION-CONTROL",
            Mkworkspace => "MKWORKSPACE",
            Mkactivity => "MKACTIVITY",
            BaselineControl => "BASELINE-CONTROL",
            Orderpatch => "ORDERPATCH",
            Mkcalendar => "MKCALENDAR",
            Acl => "ACL",
            Bind => "BIND",
            Unbind => "UNBIND",
            Rebind => "REBIND",
        }
    }

    /// The method that `buf` starts with, followed by a space; `None` otherwise. Allocates
    /// nothing and looks at no more than the method's bytes.
    pub fn from_prefix(buf: &[u8]) -> Option<Method> {
        candidates(*buf.first()?).iter().copied().find(|m| {
            let name = m.as_str().as_bytes();
            buf.starts_with(name) && buf.get(name.len()) == Some(&b' ')
        })
    }
}

/// Why a payload is not a readable request head. Offsets count from the start of the payload.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HttpError {
    #[error("payload does not start with a known HTTP method followed by a space")]
    NoMethod,
    #[error("request target at byte {offset} is empty")]
    EmptyUri { offset: usize },
    #[error("control byte 0x{byte:02x} at byte {offset} in the request line")]
    ControlByte { offset: usize, byte: u8 },
    #[error("version at byte {offset} is not HTTP/<digit>.<digit>")]
    BadVersion { offset: usize },
}

/// A request head, as far as the segment holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target as sent (origin form `/path?q`, absolute form for proxies, ...).
    pub uri: String,
    /// `HTTP/1.1`; `None` for an HTTP/0.9 request line or one cut by the end of the segment.
    pub version: Option<String>,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// True when the empty line ending the headers was seen.
    pub complete: bool,
}

/// Parses the request head at the start of a TCP payload.
pub fn parse_request(buf: &[u8]) -> Result<Request, HttpError> {
    let method = Method::from_prefix(buf).ok_or(HttpError::NoMethod)?;
    let uri_start = method.as_str().len() + 1;
    let (line, mut rest) = match buf.iter().position(|&b| b == b'\n') {
        Some(lf) => (buf.get(..lf).unwrap_or_default(), buf.get(lf + 1..)),
        None => (buf, None),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let target = line.get(uri_start..).unwrap_or_default();
    if let Some(i) = target.iter().position(|&b| b < 0x20 || b == 0x7f) {
        return Err(HttpError::ControlByte {
            offset: uri_start + i,
            byte: target.get(i).copied().unwrap_or_default(),
        });
    }
    let (uri, version) = match target.iter().position(|&b| b == b' ') {
        Some(sp) => (
            target.get(..sp).unwrap_or_default(),
            Some((target.get(sp + 1..).unwrap_or_default(), uri_start + sp + 1)),
        ),
        None => (target, None),
    };
    if uri.is_empty() {
        return Err(HttpError::EmptyUri { offset: uri_start });
    }
    let version = match version {
        Some((v, _)) if is_version(v) => Some(String::from_utf8_lossy(v).into_owned()),
        // Cut inside the version: no version, but the rest of the line is good.
        Some((v, _)) if rest.is_none() && b"HTTP/1.1".starts_with(v) => None,
        Some((_, offset)) => return Err(HttpError::BadVersion { offset }),
        None => None,
    };
    let mut req = Request {
        method,
        uri: String::from_utf8_lossy(uri).into_owned(),
        version,
        host: None,
        user_agent: None,
        referer: None,
        content_type: None,
        content_length: None,
        complete: false,
    };
    // Header lines; a last line without its LF may be cut mid-value, so it is left out.
    while let Some(text) = rest {
        let Some(lf) = text.iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = text.get(..lf).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            req.complete = true;
            break;
        }
        header(&mut req, line);
        rest = text.get(lf + 1..);
    }
    Ok(req)
}

/// `HTTP/` then a digit, a dot and a digit.
fn is_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// Keeps the first occurrence of the headers the event carries; lines without a colon (or
/// obsolete folded continuations) are skipped rather than failing the whole request.
fn header(req: &mut Request, line: &[u8]) {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return;
    };
    let name = line.get(..colon).unwrap_or_default();
    let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
    let text = || Some(String::from_utf8_lossy(value).into_owned());
    if name.eq_ignore_ascii_case(b"host") {
        req.host = req.host.take().or_else(text);
    } else if name.eq_ignore_ascii_case(b"user-agent") {
        req.user_agent = req.user_agent.take().or_else(text);
    } else if name.eq_ignore_ascii_case(b"referer") {
        req.referer = req.referer.take().or_else(text);
    } else if name.eq_ignore_ascii_case(b"content-type") {
        req.content_type = req.content_type.take().or_else(text);
    } else if name.eq_ignore_ascii_case(b"content-length") && req.content_length.is_none() {
        req.content_length = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testutil::hex;

    /// suricata-verify/eve-metadata/testmyids.pcap, packet 4: curl fetching testmyids.com.
    const CURL_GET: &str = "474554202f20485454502f312e310d0a486f73743a207777772e746573746d796964732e636f6d0d0a557365722d4167656e743a206375726c2f372e34332e300d0a4163636570743a202a2f2a0d0a0d0a";

    #[test]
    fn parses_a_real_curl_request() {
        let r = parse_request(&hex(CURL_GET)).expect("test input is valid");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.uri, "/");
        assert_eq!(r.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(r.host.as_deref(), Some("www.testmyids.com"));
        assert_eq!(r.user_agent.as_deref(), Some("curl/7.43.0"));
        assert!(r.complete);
    }

    #[test]
    fn recognises_methods_by_prefix_only_with_a_space() {
        assert_eq!(Method::from_prefix(b"GET / HTTP/1.0"), Some(Method::Get));
        assert_eq!(Method::from_prefix(b"PROPFIND /x"), Some(Method::Propfind));
        assert_eq!(
            Method::from_prefix(b"PROPPATCH /x"),
            Some(Method::Proppatch)
        );
        assert_eq!(Method::from_prefix(b"BIND /"), Some(Method::Bind));
        assert_eq!(
            Method::from_prefix(b"VERSION-CONTROL /"),
            Some(Method::VersionControl)
        );
        for no in [
            &b"GETX / HTTP/1.1"[..],
            b"GET",
            b"get / HTTP/1.1",
            b"HTTP/1.1 200 OK",
            b"SSH-2.0-x",
            b"\x16\x03\x01",
            b"",
            b"PRI * HTTP/2.0",
        ] {
            assert_eq!(Method::from_prefix(no), None, "{no:?}");
        }
    }

    #[test]
    fn keeps_what_a_cut_segment_holds() {
        let full = b"POST /upload?id=7 HTTP/1.1\r\nHost: a.example\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nUser-Agent: Mozilla/5.0 (X11)\r\n\r\nhello world!";
        let r = parse_request(full).expect("test input is valid");
        assert_eq!(r.content_type.as_deref(), Some("text/plain"));
        assert_eq!(r.content_length, Some(12));
        assert!(r.complete);
        for cut in 6..full.len() {
            let r = parse_request(&full[..cut]).expect("test input is valid");
            assert_eq!(r.method, Method::Post);
            assert!(
                "/upload?id=7".starts_with(&r.uri),
                "cut {cut}: uri {}",
                r.uri
            );
            if let Some(ua) = &r.user_agent {
                assert_eq!(ua, "Mozilla/5.0 (X11)");
            }
        }
        assert_eq!(
            parse_request(b"GET "),
            Err(HttpError::EmptyUri { offset: 4 })
        );
    }

    #[test]
    fn http09_lf_only_and_odd_headers() {
        let r = parse_request(b"GET /old\n").expect("test input is valid");
        assert_eq!((r.uri.as_str(), r.version), ("/old", None));
        let r = parse_request(
            b"GET / HTTP/1.0\nno colon here\n folded\nHOST:  h.example \nhost: second\n\n",
        )
        .expect("test input is valid");
        assert_eq!(r.host.as_deref(), Some("h.example"));
        assert!(r.complete);
    }

    #[test]
    fn rejects_binary_and_bad_versions() {
        assert_eq!(
            parse_request(b"GET /\x00x HTTP/1.1\r\n"),
            Err(HttpError::ControlByte { offset: 5, byte: 0 })
        );
        assert_eq!(
            parse_request(b"GET / FOO/1.1\r\n"),
            Err(HttpError::BadVersion { offset: 6 })
        );
        assert_eq!(parse_request(b"HELLO"), Err(HttpError::NoMethod));
    }

    #[test]
    fn truncation_at_every_offset_does_not_panic() {
        let buf = hex(CURL_GET);
        for cut in 0..buf.len() {
            let _ = parse_request(&buf[..cut]);
        }
    }
}
