//! Community ID v1: the flow hash that Suricata, Zeek and most flow tools emit, so that a
//! vigil flow can be joined with their records (<https://github.com/corelight/community-id-spec>).

use std::net::IpAddr;

use base64::Engine as _;
use ring::digest;

use crate::decode::packet::{icmp_counterpart, PROTO_ICMP, PROTO_ICMPV6};

/// Community ID v1 of a flow, `1:` followed by the base64 of a SHA-1. For ICMP, `sport` and
/// `dport` are the type and code as they appeared in the packet; the counterpart mapping of
/// the spec is applied here.
pub fn community_id(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
) -> String {
    let (mut sport, mut dport, mut one_way) = (sport, dport, false);
    if proto == PROTO_ICMP || proto == PROTO_ICMPV6 {
        let (p, q, o) = icmp_equivalents(proto == PROTO_ICMPV6, sport as u8, dport as u8);
        sport = p;
        dport = q;
        one_way = o;
    }
    let (a, b, pa, pb) = if one_way || (octets(src), sport) <= (octets(dst), dport) {
        (src, dst, sport, dport)
    } else {
        (dst, src, dport, sport)
    };
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&seed.to_be_bytes());
    ctx.update(octets(a).as_slice());
    ctx.update(octets(b).as_slice());
    ctx.update(&[proto, 0]);
    // Protocols without ports hash only the addresses and protocol.
    if has_ports(proto) {
        ctx.update(&pa.to_be_bytes());
        ctx.update(&pb.to_be_bytes());
    }
    let d = ctx.finish();
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    )
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, 1 | 6 | 17 | 58 | 132)
}

struct Octets {
    buf: [u8; 16],
    len: usize,
}

impl Octets {
    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl PartialEq for Octets {
    fn eq(&self, o: &Self) -> bool {
        self.as_slice() == o.as_slice()
    }
}
impl PartialOrd for Octets {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        self.as_slice().partial_cmp(o.as_slice())
    }
}

fn octets(ip: IpAddr) -> Octets {
    let mut buf = [0u8; 16];
    match ip {
        IpAddr::V4(a) => {
            buf[..4].copy_from_slice(&a.octets());
            Octets { buf, len: 4 }
        }
        IpAddr::V6(a) => Octets {
            buf: a.octets(),
            len: 16,
        },
    }
}

/// The spec's port equivalents for ICMP: (type, counterpart or code, one-way).
fn icmp_equivalents(v6: bool, ty: u8, code: u8) -> (u16, u16, bool) {
    match icmp_counterpart(v6, ty) {
        Some(p) => (ty as u16, p as u16, false),
        None => (ty as u16, code as u16, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// suricata-verify `community-id-ipv4` (seed 7) expects this id for its TLS flow.
    #[test]
    fn matches_suricata_verify() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let want = "1:IwiTNfuO7aCaamMijl+7/X9uLx0=";
        assert_eq!(
            community_id(7, ip("172.26.0.39"), ip("172.217.14.206"), 35958, 443, 6),
            want
        );
        assert_eq!(
            community_id(7, ip("172.217.14.206"), ip("172.26.0.39"), 443, 35958, 6),
            want
        );
        assert_ne!(
            community_id(0, ip("172.26.0.39"), ip("172.217.14.206"), 35958, 443, 6),
            want
        );
        // An echo request and its reply share an id; an unpaired type does not reorder.
        let req = community_id(0, ip("10.0.0.1"), ip("10.0.0.2"), 8, 0, 1);
        assert_eq!(
            req,
            community_id(0, ip("10.0.0.2"), ip("10.0.0.1"), 0, 0, 1)
        );
    }
}
