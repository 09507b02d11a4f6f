//! Application-layer dispatch: the packet path hands every payload to [`inspect`], which picks
//! at most one protocol parser by ports and first bytes, and the result fills that protocol's
//! event fields. A payload no protocol claims is turned away in a few comparisons, without
//! allocating.

use crate::decode::{dns, ftp, http, ssh, tls};
use crate::event::{f, Fields, Kind, Value};

const TCP: u8 = 6;
const UDP: u8 = 17;

/// What the light L7 parsers found in one payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppData {
    /// A DNS message; over TCP, the first message of the segment.
    Dns(dns::Message),
    Http(http::Request),
    Tls(tls::ClientHello),
    Ssh(ssh::Banner),
    /// One FTP control line (a command from the client or a reply from the server).
    Ftp(ftp::Message),
}

impl AppData {
    /// The flow's `app_proto`.
    pub fn app_proto(&self) -> &'static str {
        match self {
            AppData::Dns(_) => "dns",
            AppData::Http(_) => "http",
            AppData::Tls(_) => "tls",
            AppData::Ssh(_) => "ssh",
            AppData::Ftp(_) => "ftp",
        }
    }

    /// The kind of the event this makes; `None` for SSH, which only annotates its flow.
    pub fn kind(&self) -> Option<Kind> {
        match self {
            AppData::Dns(_) => Some(Kind::Dns),
            AppData::Http(_) => Some(Kind::Http),
            AppData::Tls(_) => Some(Kind::Tls),
            AppData::Ssh(_) => None,
            AppData::Ftp(_) => Some(Kind::Ftp),
        }
    }

    /// Sigma logsource category for its event: `dns`, `proxy` (http), `tls`.
    pub fn category(&self) -> Option<&'static str> {
        match self {
            AppData::Dns(_) => Some("dns"),
            AppData::Http(_) => Some("proxy"),
            AppData::Tls(_) => Some("tls"),
            AppData::Ssh(_) => None,
            // Sigma has no FTP category; vigil names it `ftp` (rules/README.md).
            AppData::Ftp(_) => Some("ftp"),
        }
    }

    /// Appends this protocol's fields (DESIGN.md's canonical names) to `fields`; addresses and
    /// ports are the caller's.
    pub fn fill(&self, fields: &mut Fields) {
        match self {
            AppData::Dns(m) => fill_dns(m, fields),
            AppData::Http(r) => fill_http(r, fields),
            AppData::Tls(h) => fill_tls(h, fields),
            AppData::Ssh(b) => {
                fields.push(f::SSH_BANNER, b.line.clone());
                fields.push(f::SSH_SOFTWARE, b.software.clone());
            }
            AppData::Ftp(ftp::Message::Command { verb, arg }) => {
                fields.push(f::FTP_COMMAND, verb.clone());
                // Passwords never leave the packet path.
                let arg = if verb == "PASS" {
                    "********".to_string()
                } else {
                    arg.clone()
                };
                fields.push(f::FTP_ARG, arg);
            }
            AppData::Ftp(ftp::Message::Reply { code, text }) => {
                fields.push(f::FTP_REPLY_CODE, *code);
                fields.push(f::FTP_REPLY, text.clone());
            }
        }
    }
}

/// `query` is the first question's name, or the list of all names when there are several
/// (a rule on `query` then matches any of them); the computed name fields (`query_length`,
/// `registered_domain`, `query_entropy`, ... see `dns::names`) are the first name's;
/// `answer`, `rcode` only on responses.
fn fill_dns(m: &dns::Message, fields: &mut Fields) {
    match m.questions.as_slice() {
        [] => {}
        [q] => fields.push(f::QUERY, q.name.clone()),
        qs => fields.push(
            f::QUERY,
            Value::List(qs.iter().map(|q| Value::from(q.name.clone())).collect()),
        ),
    }
    if let Some(q) = m.questions.first() {
        let rtype = match q.rtype.name() {
            Some(name) => Value::static_str(name),
            None => Value::from(q.rtype.to_string()),
        };
        fields.push(f::RECORD_TYPE, rtype);
        dns::names::fill(&q.name, fields);
    }
    fields.push(f::DNS_ID, m.header.id);
    if m.header.is_response() {
        fields.push(f::DNS_TYPE, "answer");
        fields.push(f::RCODE, dns::rcode_name(m.header.rcode()));
        if !m.answers.is_empty() {
            let answers = m
                .answers
                .iter()
                .map(|r| Value::from(r.rdata.to_string()))
                .collect();
            fields.push(f::ANSWER, Value::List(answers));
        }
    } else {
        fields.push(f::DNS_TYPE, "query");
    }
}

/// Sigma's proxy names and the `http.*` aliases carry the same values.
fn fill_http(r: &http::Request, fields: &mut Fields) {
    let method = r.method.as_str();
    fields.push(f::CS_METHOD, method);
    fields.push(f::HTTP_METHOD, method);
    fields.push(f::C_URI, r.uri.clone());
    fields.push(f::HTTP_URI, r.uri.clone());
    if let Some(host) = &r.host {
        fields.push(f::CS_HOST, host.clone());
        fields.push(f::HTTP_HOST, host.clone());
    }
    if let Some(ua) = &r.user_agent {
        fields.push(f::C_USERAGENT, ua.clone());
        fields.push(f::HTTP_USER_AGENT, ua.clone());
    }
    if let Some(version) = &r.version {
        fields.push(f::HTTP_VERSION, version.clone());
    }
}

/// `tls_version` is the highest version offered (`TLS 1.3` from supported_versions); `ja3` is
/// left out of a truncated hello rather than given wrong.
fn fill_tls(h: &tls::ClientHello, fields: &mut Fields) {
    if let Some(sni) = &h.sni {
        fields.push(f::SNI, sni.clone());
    }
    if let Some(ja3) = h.ja3() {
        fields.push(f::JA3, ja3.hash);
        fields.push(f::JA3_STRING, ja3.string);
    }
    let version = h.max_version();
    let version = match tls::version_name(version) {
        Some(name) => Value::static_str(name),
        None => Value::from(format!("0x{version:04x}")),
    };
    fields.push(f::TLS_VERSION, version);
}

/// Twelve bytes of anything on port 53 with zero counts is a valid but empty message; it says
/// nothing, and is more likely another protocol, so it makes no event.
fn carries_something(m: &dns::Message) -> bool {
    !(m.questions.is_empty() && m.answers.is_empty())
}

const FTP_PORT: u16 = 21;

fn is_dns_port(port: u16) -> bool {
    port == 53 || port == 5353
}

/// Finds the application protocol of one L4 payload. `proto` is the IP protocol number (6 tcp,
/// 17 udp). DNS is recognised on port 53 or 5353 on either side, FTP control lines on TCP
/// port 21; TLS, HTTP and SSH on any TCP port by their first bytes. Returns `None`, without allocating, for anything else.
pub fn inspect(proto: u8, sport: u16, dport: u16, payload: &[u8]) -> Option<AppData> {
    if payload.is_empty() {
        return None;
    }
    let dns_port = is_dns_port(sport) || is_dns_port(dport);
    match proto {
        UDP if dns_port => dns::parse_message(payload)
            .ok()
            .filter(carries_something)
            .map(AppData::Dns),
        TCP => {
            if dns_port {
                // Some clients write the length prefix and the message separately, so the
                // message may come in a segment of its own, without its prefix.
                let m = dns::parse_tcp(payload)
                    .ok()
                    .and_then(|ms| ms.into_iter().next())
                    .or_else(|| dns::parse_message(payload).ok())
                    .filter(carries_something);
                if let Some(m) = m {
                    return Some(AppData::Dns(m));
                }
            }
            if sport == FTP_PORT || dport == FTP_PORT {
                if let Ok(m) = ftp::parse(payload, sport == FTP_PORT) {
                    return Some(AppData::Ftp(m));
                }
            }
            match payload {
                [0x16, 0x03, _, _, _, 0x01, ..] => {
                    tls::parse_client_hello(payload).ok().map(AppData::Tls)
                }
                [b'S', b'S', b'H', b'-', ..] => ssh::parse_banner(payload).ok().map(AppData::Ssh),
                _ if http::Method::from_prefix(payload).is_some() => {
                    http::parse_request(payload).ok().map(AppData::Http)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testutil::hex;
    use crate::event::field_name;

    fn filled(a: &AppData) -> Vec<(String, serde_json::Value)> {
        let mut fields = Fields::new();
        a.fill(&mut fields);
        fields
            .iter()
            .map(|(k, v)| {
                (
                    k.name().to_string(),
                    serde_json::to_value(v).expect("test input is valid"),
                )
            })
            .collect()
    }

    fn get<'a>(fs: &'a [(String, serde_json::Value)], name: &str) -> &'a serde_json::Value {
        &fs.iter()
            .find(|(k, _)| k == name)
            .expect("test input is valid")
            .1
    }

    // Payloads from the corpus; see each parser's tests for where they come from.
    const DNS_QUERY: &str = "c22f010000010000000000000a41414141414f316b5141053d61757468037372760674756e6e656c03636f6d0000100001";
    const DNS_ANSWER: &str = "c22f818000010001000100010a41414141414f316b5141053d61757468037372760674756e6e656c03636f6d0000100001c00c00100001000000030022204168764d41414f316b4146453554453951546a46464e3039524e316c5953446b00c01d0002000100093a80000906696f64696e65c021c06b0001000100093a8000040a1e1c5f";
    const HTTP_GET: &str = "474554202f20485454502f312e310d0a486f73743a207777772e746573746d796964732e636f6d0d0a557365722d4167656e743a206375726c2f372e34332e300d0a4163636570743a202a2f2a0d0a0d0a";

    #[test]
    fn dns_query_and_answer_fields() {
        let q = inspect(17, 43246, 53, &hex(DNS_QUERY)).expect("test input is valid");
        assert_eq!(
            (q.app_proto(), q.kind(), q.category()),
            ("dns", Some(Kind::Dns), Some("dns"))
        );
        let fs = filled(&q);
        assert_eq!(get(&fs, "query"), "AAAAAO1kQA.=auth.srv.tunnel.com");
        assert_eq!(get(&fs, "record_type"), "TXT");
        assert_eq!(get(&fs, "query_length"), 31);
        assert_eq!(get(&fs, "dns_id"), 49711);
        assert_eq!(get(&fs, "dns_type"), "query");
        assert!(fs.iter().all(|(k, _)| k != "rcode" && k != "answer"));

        let a = inspect(17, 53, 43246, &hex(DNS_ANSWER)).expect("test input is valid");
        let fs = filled(&a);
        assert_eq!(get(&fs, "dns_type"), "answer");
        assert_eq!(get(&fs, "rcode"), "NOERROR");
        assert_eq!(
            get(&fs, "answer"),
            &serde_json::json!(["AhvMAAO1kAFE5TE9QTjFFN09RN1lYSDk"])
        );
        // mDNS port, and DNS over TCP with its length prefix.
        assert!(inspect(17, 5353, 5353, &hex(DNS_QUERY)).is_some());
        let mut tcp = vec![0, 49];
        tcp.extend(hex(DNS_QUERY));
        assert!(matches!(inspect(6, 50000, 53, &tcp), Some(AppData::Dns(_))));
        // The message in a segment after its length prefix.
        assert_eq!(inspect(6, 50000, 53, &tcp[..2]), None);
        assert!(matches!(
            inspect(6, 50000, 53, &tcp[2..]),
            Some(AppData::Dns(_))
        ));
        // DNS is only looked for on its ports.
        assert_eq!(inspect(17, 1000, 2000, &hex(DNS_QUERY)), None);
    }

    #[test]
    fn several_questions_make_query_a_list() {
        let mut m = hex("000001000002000000000000");
        m.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01\x01b\x00\x00\x1c\x00\x01");
        let fs = filled(&inspect(17, 5353, 5353, &m).expect("test input is valid"));
        assert_eq!(get(&fs, "query"), &serde_json::json!(["a", "b"]));
        assert_eq!(get(&fs, "record_type"), "A");
    }

    #[test]
    fn http_fields_and_aliases() {
        let a = inspect(6, 46652, 80, &hex(HTTP_GET)).expect("test input is valid");
        assert_eq!(
            (a.app_proto(), a.kind(), a.category()),
            ("http", Some(Kind::Http), Some("proxy"))
        );
        let fs = filled(&a);
        for (name, want) in [
            ("c-uri", "/"),
            ("http.uri", "/"),
            ("cs-host", "www.testmyids.com"),
            ("http.host", "www.testmyids.com"),
            ("cs-method", "GET"),
            ("http.method", "GET"),
            ("c-useragent", "curl/7.43.0"),
            ("http.user_agent", "curl/7.43.0"),
            ("http.version", "HTTP/1.1"),
        ] {
            assert_eq!(get(&fs, name), want, "{name}");
        }
        // Any port.
        assert!(inspect(6, 40000, 8081, &hex(HTTP_GET)).is_some());
    }

    #[test]
    fn tls_and_ssh_fields() {
        let mut hello = hex("1603010200010001fc03032a9008a494c5216b165f4a3ce9d9a18714d00b4866a9ff51528af98b59657881206f0ea66abbb2f8ac25d72ab49f82d0f00a9cc58a1c75d443f26176907c30775d00481302130313011304c02cc030cca9cca8c0adc02bc02fc0acc023c027c00ac014c009c013009dc09d009cc09c003d003c0035002f009fccaac09f009ec09e006b00670039003300ff0100016b00000014001200000f697076342e676f6f676c652e636f6d000b000403000102000a000c000a001d0017001e00190018337400000010000e000c02683208687474702f312e31001600000017000000310000000d002600240403050306030807080808090804080a0805080b08060401050106010303030102030201002b00050403040303002d00020101003300260024001d002063375f136b1d8a371c27dac916258577a89e2e521dd99f421dc4c79a574e7937001500b2");
        hello.resize(hello.len() + 0xb2, 0);
        let a = inspect(6, 51234, 443, &hello).expect("test input is valid");
        assert_eq!(
            (a.app_proto(), a.kind(), a.category()),
            ("tls", Some(Kind::Tls), Some("tls"))
        );
        let fs = filled(&a);
        assert_eq!(get(&fs, "sni"), "ipv4.google.com");
        assert_eq!(get(&fs, "ja3"), "e690df036922288311144cc96acf6515");
        assert_eq!(get(&fs, "tls_version"), "TLS 1.3");
        assert!(get(&fs, "ja3_string")
            .as_str()
            .expect("test input is valid")
            .starts_with("771,4866-"));
        // Cut after the SNI: no JA3.
        let fs = filled(&inspect(6, 51234, 443, &hello[..200]).expect("test input is valid"));
        assert_eq!(get(&fs, "sni"), "ipv4.google.com");
        assert!(fs.iter().all(|(k, _)| k != "ja3"));

        let a = inspect(6, 22, 54634, b"SSH-2.0-OpenSSH_7.4\r\n").expect("test input is valid");
        assert_eq!((a.app_proto(), a.kind(), a.category()), ("ssh", None, None));
        let fs = filled(&a);
        assert_eq!(get(&fs, "ssh_banner"), "SSH-2.0-OpenSSH_7.4");
        assert_eq!(get(&fs, "ssh_software"), "OpenSSH_7.4");
        assert_eq!(field_name(f::SSH_SOFTWARE), "ssh_software");
    }

    /// Runs every TCP and UDP payload of a corpus capture (Ethernet, IPv4) through `inspect`
    /// and returns `app_proto: field=value` for each hit, in packet order.
    fn inspect_capture(path: &str, field: crate::event::FieldId) -> Option<Vec<String>> {
        let path = format!(
            "{}/../shared/corpus/pcap/{path}",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(pcap) = std::fs::read(&path) else {
            eprintln!("corpus not found at {path}; skipped");
            return None;
        };
        let capture = pcap_parser::PcapCapture::from_file(&pcap).expect("test input is valid");
        let mut hits = Vec::new();
        for block in &capture.blocks {
            let frame = block.data;
            if frame[12..14] != [0x08, 0x00] {
                continue;
            }
            let ip = &frame[14..];
            let ip = &ip[..usize::from(u16::from_be_bytes([ip[2], ip[3]]))];
            let l4 = &ip[usize::from(ip[0] & 0x0f) * 4..];
            let (sport, dport) = (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            );
            let payload = match ip[9] {
                6 => &l4[usize::from(l4[12] >> 4) * 4..],
                17 => &l4[8..],
                _ => continue,
            };
            if let Some(a) = inspect(ip[9], sport, dport, payload) {
                let mut fields = Fields::new();
                a.fill(&mut fields);
                let v = fields
                    .get(field)
                    .map(|v| serde_json::to_string(v).expect("test input is valid"));
                hits.push(format!("{}: {}", a.app_proto(), v.unwrap_or_default()));
            }
        }
        Some(hits)
    }

    #[test]
    fn finds_exactly_the_protocols_of_real_captures() {
        let cases = [
            (
                "suricata-verify/community-id-ipv4/input.pcap",
                f::SNI,
                &["tls: \"ipv4.google.com\""][..],
            ),
            (
                "suricata-verify/eve-metadata/testmyids.pcap",
                f::C_USERAGENT,
                &["http: \"curl/7.43.0\""],
            ),
            (
                "suricata-verify/ssh-hassh/input.pcap",
                f::SSH_SOFTWARE,
                &[
                    "ssh: \"OpenSSH_for_Windows_7.7\"",
                    "ssh: \"OpenSSH_7.4\"",
                    "dns: ",
                    "dns: ",
                ],
            ),
        ];
        for (path, field, want) in cases {
            if let Some(hits) = inspect_capture(path, field) {
                assert_eq!(hits, want, "{path}");
            }
        }
        let Some(dns) = inspect_capture("suricata-verify/dns/bug-1158/input.pcap", f::DNS_TYPE)
        else {
            return;
        };
        // Every one of Suricata's 161 DNS events; the NetBIOS packets on port 137 are not DNS.
        assert_eq!(dns.len(), 161);
    }

    #[test]
    fn other_payloads_are_turned_away() {
        for (proto, sport, dport, payload) in [
            (6, 1234, 80, &b"HTTP/1.1 200 OK\r\n"[..]),
            (6, 1234, 443, b"\x17\x03\x03\x00\x20"),
            (6, 1234, 443, b"\x16\x03\x03\x00\x20\x02"),
            (17, 1234, 443, b"GET / HTTP/1.1\r\n"),
            (1, 0, 0, b"SSH-2.0-x\r\n"),
            (6, 1234, 22, b""),
            (6, 1234, 53, b"\x00\x00"),
            (17, 53, 1234, b"\x00\x01\x02"),
            (17, 53, 1234, &[0u8; 40]),
            (6, 53, 1234, &[0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ] {
            assert_eq!(inspect(proto, sport, dport, payload), None, "{payload:?}");
        }
    }
}
