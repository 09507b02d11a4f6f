//! Packets for scenarios, built with hand-rolled headers: Ethernet/IPv4 with TCP or UDP,
//! VXLAN encapsulation, whole TCP sessions (handshake, data, teardown, or a refusal), DNS
//! messages, an HTTP request, a TLS ClientHello with SNI, and the classic pcap file that holds
//! them. Everything is deterministic: the same calls give the same bytes.

use std::net::Ipv4Addr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

const TCP: u8 = 6;
const UDP: u8 = 17;
/// Largest TCP payload per segment; longer payloads are split.
const MSS: usize = 1400;

/// Frames with their capture time (microseconds since the epoch), written in time order.
#[derive(Default)]
pub struct Pcap {
    frames: Vec<(i64, Vec<u8>)>,
}

impl Pcap {
    pub fn new() -> Pcap {
        Pcap::default()
    }

    pub fn push(&mut self, t_us: i64, frame: Vec<u8>) {
        self.frames.push((t_us, frame));
    }

    /// The classic pcap file (microsecond stamps, Ethernet), frames sorted by time (stable, so
    /// frames pushed for the same instant keep their order).
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.frames.sort_by_key(|(t, _)| *t);
        let mut b =
            Vec::with_capacity(24 + self.frames.iter().map(|f| f.1.len() + 16).sum::<usize>());
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&0i32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&65_535u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for (t, data) in &self.frames {
            let secs = t.div_euclid(1_000_000) as u32;
            let usecs = t.rem_euclid(1_000_000) as u32;
            let len = data.len() as u32;
            b.extend_from_slice(&secs.to_le_bytes());
            b.extend_from_slice(&usecs.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(data);
        }
        b
    }
}

/// The Internet checksum of `data` added to `sum`.
fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    u32::from(u16::from_be_bytes([s[0], s[1]]))
        + u32::from(u16::from_be_bytes([s[2], s[3]]))
        + u32::from(u16::from_be_bytes([d[0], d[1]]))
        + u32::from(u16::from_be_bytes([d[2], d[3]]))
        + u32::from(proto)
        + len as u32
}

/// Ethernet + IPv4 around an L4 segment; MAC addresses are derived from the IPs so that each
/// host keeps one.
fn frame(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(34 + l4.len());
    let mac = |ip: Ipv4Addr| {
        let o = ip.octets();
        [0x52, 0x54, o[0], o[1], o[2], o[3]]
    };
    f.extend_from_slice(&mac(dst));
    f.extend_from_slice(&mac(src));
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(0, &ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

/// One TCP segment in an Ethernet frame.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut seg = Vec::with_capacity(20 + payload.len());
    seg.extend_from_slice(&sport.to_be_bytes());
    seg.extend_from_slice(&dport.to_be_bytes());
    seg.extend_from_slice(&seq.to_be_bytes());
    seg.extend_from_slice(&ack.to_be_bytes());
    seg.extend_from_slice(&[0x50, flags]);
    seg.extend_from_slice(&64_240u16.to_be_bytes());
    seg.extend_from_slice(&[0, 0, 0, 0]);
    seg.extend_from_slice(payload);
    let sum = checksum(pseudo_header_sum(src, dst, TCP, seg.len()), &seg);
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    frame(src, dst, TCP, &seg)
}

/// One UDP datagram in an Ethernet frame.
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut seg = Vec::with_capacity(len);
    seg.extend_from_slice(&sport.to_be_bytes());
    seg.extend_from_slice(&dport.to_be_bytes());
    seg.extend_from_slice(&(len as u16).to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(payload);
    let sum = checksum(pseudo_header_sum(src, dst, UDP, len), &seg);
    seg[6..8].copy_from_slice(&sum.to_be_bytes());
    frame(src, dst, UDP, &seg)
}

/// An overlay: the VTEPs' addresses and the VNI a tenant frame travels in.
#[derive(Clone, Copy, Debug)]
pub struct Overlay {
    pub outer_src: Ipv4Addr,
    pub outer_dst: Ipv4Addr,
    pub vni: u32,
}

/// Wraps an Ethernet frame in VXLAN (UDP 4789) between two VTEPs.
pub fn vxlan(o: Overlay, inner: &[u8]) -> Vec<u8> {
    let mut vx = Vec::with_capacity(8 + inner.len());
    vx.extend_from_slice(&[0x08, 0, 0, 0]);
    vx.extend_from_slice(&(o.vni << 8).to_be_bytes());
    vx.extend_from_slice(inner);
    // Source port from the inner frame, as VTEPs do for ECMP entropy.
    let sport = 49_152 + (inner.iter().take(34).map(|&b| u16::from(b)).sum::<u16>() % 16_000);
    udp(o.outer_src, o.outer_dst, sport, 4789, &vx)
}

/// A TCP connection between a client and a server, optionally inside an overlay.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub client: Ipv4Addr,
    pub sport: u16,
    pub server: Ipv4Addr,
    pub dport: u16,
    pub overlay: Option<Overlay>,
}

impl Conn {
    pub fn new(client: Ipv4Addr, sport: u16, server: Ipv4Addr, dport: u16) -> Conn {
        Conn {
            client,
            sport,
            server,
            dport,
            overlay: None,
        }
    }

    pub fn in_overlay(mut self, o: Overlay) -> Conn {
        self.overlay = Some(o);
        self
    }

    fn wrap(&self, frame: Vec<u8>, from_client: bool) -> Vec<u8> {
        match self.overlay {
            None => frame,
            Some(o) if from_client => vxlan(o, &frame),
            Some(o) => vxlan(
                Overlay {
                    outer_src: o.outer_dst,
                    outer_dst: o.outer_src,
                    vni: o.vni,
                },
                &frame,
            ),
        }
    }

    fn client_segment(&self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let f = tcp(
            self.client,
            self.server,
            self.sport,
            self.dport,
            seq,
            ack,
            flags,
            payload,
        );
        self.wrap(f, true)
    }

    fn server_segment(&self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let f = tcp(
            self.server,
            self.client,
            self.dport,
            self.sport,
            seq,
            ack,
            flags,
            payload,
        );
        self.wrap(f, false)
    }

    /// A SYN nobody answers.
    pub fn unanswered(&self, p: &mut Pcap, t_us: i64) {
        p.push(t_us, self.client_segment(1000, 0, SYN, b""));
    }

    /// A SYN refused with RST-ACK.
    pub fn refused(&self, p: &mut Pcap, t_us: i64) {
        p.push(t_us, self.client_segment(1000, 0, SYN, b""));
        p.push(t_us + 150, self.server_segment(0, 1001, RST | ACK, b""));
    }

    /// Handshake, then each (request, response) exchange `gap_us` apart, then both FINs.
    /// Returns the time of the last packet.
    pub fn session(
        &self,
        p: &mut Pcap,
        t_us: i64,
        exchanges: &[(&[u8], &[u8])],
        gap_us: i64,
    ) -> i64 {
        let (mut cseq, mut sseq) = (1_000u32, 50_000u32);
        p.push(t_us, self.client_segment(cseq, 0, SYN, b""));
        p.push(
            t_us + 200,
            self.server_segment(sseq, cseq + 1, SYN | ACK, b""),
        );
        cseq += 1;
        sseq += 1;
        p.push(t_us + 400, self.client_segment(cseq, sseq, ACK, b""));
        let mut t = t_us + 1_000;
        for (i, (req, resp)) in exchanges.iter().enumerate() {
            t = t_us + 1_000 + i as i64 * gap_us;
            for chunk in req.chunks(MSS) {
                p.push(t, self.client_segment(cseq, sseq, PSH | ACK, chunk));
                cseq = cseq.wrapping_add(chunk.len() as u32);
                t += 50;
            }
            t += 250;
            for chunk in resp.chunks(MSS) {
                p.push(t, self.server_segment(sseq, cseq, PSH | ACK, chunk));
                sseq = sseq.wrapping_add(chunk.len() as u32);
                t += 50;
            }
            if !resp.is_empty() {
                p.push(t + 100, self.client_segment(cseq, sseq, ACK, b""));
            }
        }
        t += 2_000;
        p.push(t, self.client_segment(cseq, sseq, FIN | ACK, b""));
        p.push(t + 200, self.server_segment(sseq, cseq + 1, FIN | ACK, b""));
        p.push(t + 400, self.client_segment(cseq + 1, sseq + 1, ACK, b""));
        t + 400
    }
}

/// A UDP request and (optionally) its answer.
pub fn udp_exchange(p: &mut Pcap, t_us: i64, c: &Conn, request: &[u8], response: Option<&[u8]>) {
    p.push(
        t_us,
        c.wrap(udp(c.client, c.server, c.sport, c.dport, request), true),
    );
    if let Some(r) = response {
        p.push(
            t_us + 900,
            c.wrap(udp(c.server, c.client, c.dport, c.sport, r), false),
        );
    }
}

fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

pub const DNS_A: u16 = 1;
pub const DNS_TXT: u16 = 16;

/// A recursive query for `name`.
pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(18 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    dns_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

/// The answer to [`dns_query`]: one A record (`addr`) or one TXT record (`txt`).
pub fn dns_answer(id: u16, name: &str, qtype: u16, addr: Ipv4Addr, txt: &str) -> Vec<u8> {
    let mut m = dns_query(id, name, qtype);
    m[2] = 0x81;
    m[3] = 0x80;
    m[7] = 1; // one answer
    m.extend_from_slice(&[0xc0, 0x0c]);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0x01, 0x2c]);
    if qtype == DNS_TXT {
        let t = &txt.as_bytes()[..txt.len().min(255)];
        m.extend_from_slice(&((t.len() + 1) as u16).to_be_bytes());
        m.push(t.len() as u8);
        m.extend_from_slice(t);
    } else {
        m.extend_from_slice(&4u16.to_be_bytes());
        m.extend_from_slice(&addr.octets());
    }
    m
}

/// An HTTP/1.1 request head (no body).
pub fn http_request(
    method: &str,
    target: &str,
    host: &str,
    ua: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut s = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n"
    );
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// An HTTP/1.1 200 response with a body.
pub fn http_ok(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nServer: EC2ws\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A TLS 1.3 ClientHello naming `sni`, with the usual groups and versions extensions.
pub fn tls_client_hello(sni: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    // server_name
    let name = sni.as_bytes();
    ext.extend_from_slice(&0u16.to_be_bytes());
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    // supported_groups: x25519, secp256r1
    ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // supported_versions: TLS 1.3, 1.2
    ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03]);
    let mut body = Vec::new();
    body.extend_from_slice(&[0x03, 0x03]);
    body.extend((0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    body.push(0);
    body.extend_from_slice(&[0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// An SSH binary packet of `total` bytes (RFC 4253 framing: length, padding length, message
/// `code`, zero payload and padding), as KEXINIT and the encrypted packets after it look on the
/// wire.
pub fn ssh_packet(code: u8, total: usize) -> Vec<u8> {
    let total = total.max(16);
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&((total - 4) as u32).to_be_bytes());
    p.push(4);
    p.push(code);
    p.resize(total, 0);
    p
}

/// A TLS application-data record of `total` bytes.
pub fn tls_app_data(total: usize) -> Vec<u8> {
    let total = total.clamp(6, 16_384);
    let mut r = vec![0x17, 0x03, 0x03];
    r.extend_from_slice(&((total - 5) as u16).to_be_bytes());
    r.resize(total, 0);
    r
}

/// A small deterministic generator (xorshift64*) for payload bytes and names.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `n` characters of base32 (RFC 4648 lower case), as DNS tunnels encode data.
    pub fn base32(&mut self, n: usize) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        (0..n)
            .map(|_| char::from(ALPHABET[(self.next_u64() % 32) as usize]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{dns, http, tls};

    #[test]
    fn built_messages_parse() {
        let q = dns_query(7, "a.example.com", DNS_TXT);
        let m = dns::parse_message(&q).expect("query parses");
        assert_eq!(m.questions[0].name, "a.example.com");
        let a = dns_answer(7, "a.example.com", DNS_TXT, Ipv4Addr::LOCALHOST, "hello");
        assert_eq!(
            dns::parse_message(&a).expect("answer parses").answers.len(),
            1
        );
        let h =
            tls::parse_client_hello(&tls_client_hello("pool.example.net")).expect("hello parses");
        assert_eq!(h.sni.as_deref(), Some("pool.example.net"));
        let r = http::parse_request(&http_request("GET", "/x", "h", "ua", &[]))
            .expect("request parses");
        assert_eq!(r.uri, "/x");
    }

    #[test]
    fn checksums_verify() {
        let f = udp(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1,
            2,
            b"abc",
        );
        assert_eq!(checksum(0, &f[14..34]), 0);
    }
}
