//! Packet layers, from the link type down to the transport header: Ethernet, 802.1Q/QinQ,
//! Linux cooked capture, raw IP, IPv4 (with fragments), IPv6 (with extension headers), TCP,
//! UDP, ICMP, ICMPv6, and the overlays VXLAN, GENEVE and GRE. Pure functions over a frame's
//! bytes; every length is checked before it is used, so hostile frames yield an error, never a
//! panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pnet_packet::ethernet::EthernetPacket;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::sll::SLLPacket;
use pnet_packet::sll2::SLL2Packet;
use pnet_packet::tcp::TcpPacket;
use pnet_packet::udp::UdpPacket;
use pnet_packet::vlan::VlanPacket;

use super::DecodeError;

/// Link types as pcap's LINKTYPE_* numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    Null,
    Ethernet,
    Raw,
    Loop,
    LinuxSll,
    LinuxSll2,
    Ipv4,
    Ipv6,
}

impl LinkType {
    /// Maps a pcap link type number; `None` for link types vigil does not decode.
    pub fn from_pcap(n: i32) -> Option<LinkType> {
        Some(match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            // 12 and 14 are the raw-IP values some BSDs used before LINKTYPE_RAW (101).
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            _ => return None,
        })
    }
}

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_GRE: u8 = 47;
pub const PROTO_ICMPV6: u8 = 58;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_TEB: u16 = 0x6558;
const ETH_ERSPAN2: u16 = 0x88be;
const ETH_ERSPAN3: u16 = 0x22eb;

pub const PORT_VXLAN: u16 = 4789;
pub const PORT_VXLAN_LINUX: u16 = 8472;
pub const PORT_GENEVE: u16 = 6081;

/// Tunnels nested deeper than this are not followed; the packet is tracked at that depth.
const MAX_TUNNEL_DEPTH: usize = 4;
/// VLAN tags beyond this many are treated as malformed.
const MAX_VLAN_TAGS: usize = 4;

/// The addresses, ports and protocol of a packet, as seen on the wire (not ordered).
/// For ICMP, the ports carry the type and its counterpart (or the code), as Community ID does,
/// so that an echo request and its reply fall into one flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    Vxlan,
    Geneve,
    Gre,
}

impl TunnelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
        }
    }
}

/// The outermost overlay a packet travelled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// The outer packet's tuple (the tunnel's own flow: UDP 4789/6081 or GRE).
    pub outer: Tuple,
    /// The outer packet's length as counted for the tunnel's flow.
    pub outer_len: u32,
    pub outer_ttl: u8,
}

/// Where a packet stands among the fragments of its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented.
    Whole,
    /// The first fragment: it carries the transport header, so its tuple has ports.
    First { id: u32 },
    /// A later fragment: no transport header; its ports are those of the first fragment.
    Later { id: u32 },
}

/// A decoded packet: the innermost IP packet's tuple and metadata, and its L4 payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub tuple: Tuple,
    /// Bytes counted for the flow: the length of the (innermost) frame from its link header
    /// on, as Suricata counts them.
    pub len: u32,
    pub vlan: Option<u16>,
    pub vni: Option<u32>,
    pub tunnel: Option<Tunnel>,
    pub tcp_flags: u8,
    pub ttl: u8,
    /// ICMP or ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    pub fragment: Fragment,
    pub payload: &'a [u8],
    /// Set when this is a tunnel's outer packet whose inner frame carries no IP (ARP in
    /// VXLAN, say): the packet still counts for the tunnel's own flow.
    pub carrier: Option<TunnelKind>,
}

/// Decodes one frame. `wire_len` is the frame's original length (at least `frame.len()`
/// when the capture truncated it). `Ok(None)` means a well-formed frame without IP (ARP,
/// LLDP, ...).
pub fn decode(
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
) -> Result<Option<Decoded<'_>>, DecodeError> {
    let mut d = Decoder {
        frame,
        wire_len,
        vlan: None,
        vni: None,
        tunnel: None,
        depth: 0,
    };
    d.link(link, 0)
}

struct Decoder<'a> {
    frame: &'a [u8],
    wire_len: u32,
    vlan: Option<u16>,
    vni: Option<u32>,
    tunnel: Option<Tunnel>,
    depth: usize,
}

fn err(layer: &'static str, offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError {
        layer,
        offset,
        reason: reason.into(),
    }
}

impl<'a> Decoder<'a> {
    fn at(&self, off: usize, layer: &'static str) -> Result<&'a [u8], DecodeError> {
        self.frame
            .get(off..)
            .ok_or_else(|| err(layer, off, "header starts past the end of the frame"))
    }

    /// Length counted for a packet whose link header starts at `off`.
    fn len_from(&self, off: usize) -> u32 {
        self.wire_len
            .max(self.frame.len() as u32)
            .saturating_sub(off as u32)
    }

    fn link(&mut self, link: LinkType, off: usize) -> Result<Option<Decoded<'a>>, DecodeError> {
        let buf = self.at(off, "link")?;
        match link {
            LinkType::Ethernet => self.ethernet(off, off),
            LinkType::Raw => match buf.first().map(|b| b >> 4) {
                Some(4) => self.ipv4(off, off),
                Some(6) => self.ipv6(off, off),
                Some(v) => Err(err(
                    "raw",
                    off,
                    format!("IP version {v} is neither 4 nor 6"),
                )),
                None => Err(err("raw", off, "empty frame")),
            },
            LinkType::Ipv4 => self.ipv4(off, off),
            LinkType::Ipv6 => self.ipv6(off, off),
            LinkType::Null | LinkType::Loop => {
                let Some(fam) = buf.get(..4) else {
                    return Err(err(
                        "null",
                        off,
                        "frame shorter than the 4-byte family header",
                    ));
                };
                // The family is in host byte order of the capturing machine (NULL) or network
                // order (LOOP); either way the value tells which it is.
                let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
                let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
                match (le, be) {
                    (2, _) | (_, 2) => self.ipv4(off + 4, off),
                    (24 | 28 | 30, _) | (_, 24 | 28 | 30) => self.ipv6(off + 4, off),
                    _ => Ok(None),
                }
            }
            LinkType::LinuxSll => {
                // pnet's SLL view accepts buffers shorter than its header (its minimum size
                // ignores the 8-byte address field), so the length is checked here.
                let p = SLLPacket::new(buf)
                    .filter(|_| buf.len() >= 16)
                    .ok_or_else(|| {
                        err("sll", off, "frame shorter than the 16-byte cooked header")
                    })?;
                self.ethertype(p.get_protocol().0, off + 16, off)
            }
            LinkType::LinuxSll2 => {
                let p = SLL2Packet::new(buf)
                    .filter(|_| buf.len() >= 20)
                    .ok_or_else(|| {
                        err("sll2", off, "frame shorter than the 20-byte cooked header")
                    })?;
                self.ethertype(p.get_protocol_type().0, off + 20, off)
            }
        }
    }

    /// An Ethernet frame at `off`; `frame_start` is where the counted length begins.
    fn ethernet(
        &mut self,
        off: usize,
        frame_start: usize,
    ) -> Result<Option<Decoded<'a>>, DecodeError> {
        let buf = self.at(off, "ethernet")?;
        let eth = EthernetPacket::new(buf).ok_or_else(|| {
            err(
                "ethernet",
                off,
                "frame shorter than the 14-byte Ethernet header",
            )
        })?;
        self.ethertype(eth.get_ethertype().0, off + 14, frame_start)
    }

    fn ethertype(
        &mut self,
        mut ty: u16,
        mut off: usize,
        frame_start: usize,
    ) -> Result<Option<Decoded<'a>>, DecodeError> {
        let mut tags = 0;
        while matches!(ty, ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD) {
            tags += 1;
            if tags > MAX_VLAN_TAGS {
                return Err(err(
                    "vlan",
                    off,
                    format!("more than {MAX_VLAN_TAGS} stacked VLAN tags"),
                ));
            }
            let buf = self.at(off, "vlan")?;
            let tag =
                VlanPacket::new(buf).ok_or_else(|| err("vlan", off, "truncated 802.1Q tag"))?;
            // The outermost tag names the network segment; QinQ's inner tag is the customer's.
            if self.vlan.is_none() {
                self.vlan = Some(tag.get_vlan_identifier());
            }
            ty = tag.get_ethertype().0;
            off += 4;
        }
        match ty {
            ETH_IPV4 => self.ipv4(off, frame_start),
            ETH_IPV6 => self.ipv6(off, frame_start),
            _ => Ok(None),
        }
    }

    fn ipv4(&mut self, off: usize, frame_start: usize) -> Result<Option<Decoded<'a>>, DecodeError> {
        let buf = self.at(off, "ipv4")?;
        let ip = Ipv4Packet::new(buf).ok_or_else(|| {
            err(
                "ipv4",
                off,
                format!("{} bytes left, an IPv4 header needs 20", buf.len()),
            )
        })?;
        if ip.get_version() != 4 {
            return Err(err(
                "ipv4",
                off,
                format!("version field is {}, expected 4", ip.get_version()),
            ));
        }
        let hlen = ip.get_header_length() as usize * 4;
        if hlen < 20 {
            return Err(err(
                "ipv4",
                off,
                format!("header length {hlen} below the minimum of 20"),
            ));
        }
        let total = ip.get_total_length() as usize;
        if total < hlen {
            return Err(err(
                "ipv4",
                off,
                format!("total length {total} shorter than the header ({hlen})"),
            ));
        }
        if buf.len() < hlen {
            return Err(err(
                "ipv4",
                off,
                format!(
                    "header length {hlen} runs past the frame ({} bytes)",
                    buf.len()
                ),
            ));
        }
        // Trailing Ethernet padding is not payload; a truncated capture keeps what it has.
        let end = total.min(buf.len());
        let payload = &buf[hlen..end];
        let src = IpAddr::V4(ip.get_source());
        let dst = IpAddr::V4(ip.get_destination());
        let proto = ip.get_next_level_protocol().0;
        let flags = ip.get_flags();
        let frag_off = ip.get_fragment_offset();
        let more = flags & 0b001 != 0;
        let fragment = if frag_off != 0 {
            Fragment::Later {
                id: ip.get_identification() as u32,
            }
        } else if more {
            Fragment::First {
                id: ip.get_identification() as u32,
            }
        } else {
            Fragment::Whole
        };
        self.transport(
            src,
            dst,
            proto,
            ip.get_ttl(),
            fragment,
            payload,
            off + hlen,
            frame_start,
        )
    }

    fn ipv6(&mut self, off: usize, frame_start: usize) -> Result<Option<Decoded<'a>>, DecodeError> {
        let buf = self.at(off, "ipv6")?;
        let ip = Ipv6Packet::new(buf).ok_or_else(|| {
            err(
                "ipv6",
                off,
                format!("{} bytes left, an IPv6 header needs 40", buf.len()),
            )
        })?;
        if ip.get_version() != 6 {
            return Err(err(
                "ipv6",
                off,
                format!("version field is {}, expected 6", ip.get_version()),
            ));
        }
        let plen = ip.get_payload_length() as usize;
        let end = (40 + plen).min(buf.len());
        let src = IpAddr::V6(ip.get_source());
        let dst = IpAddr::V6(ip.get_destination());
        let mut next = ip.get_next_header().0;
        let mut pos = 40usize;
        let mut fragment = Fragment::Whole;
        // Walk the extension headers; each one names the next.
        for _ in 0..16 {
            match next {
                0 | 43 | 60 | 135 | 139 | 140 => {
                    let h = buf
                        .get(pos..pos + 2)
                        .filter(|_| pos + 2 <= end)
                        .ok_or_else(|| {
                            err(
                                "ipv6",
                                off + pos,
                                format!("extension header {next} truncated"),
                            )
                        })?;
                    let len = (h[1] as usize + 1) * 8;
                    next = h[0];
                    pos += len;
                }
                51 => {
                    let h = buf
                        .get(pos..pos + 2)
                        .filter(|_| pos + 2 <= end)
                        .ok_or_else(|| err("ipv6", off + pos, "authentication header truncated"))?;
                    let len = (h[1] as usize + 2) * 4;
                    next = h[0];
                    pos += len;
                }
                44 => {
                    let h = buf
                        .get(pos..pos + 8)
                        .filter(|_| pos + 8 <= end)
                        .ok_or_else(|| err("ipv6", off + pos, "fragment header truncated"))?;
                    let frag_off = u16::from_be_bytes([h[2], h[3]]) >> 3;
                    let more = h[3] & 1 != 0;
                    let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
                    fragment = if frag_off != 0 {
                        Fragment::Later { id }
                    } else if more {
                        Fragment::First { id }
                    } else {
                        Fragment::Whole
                    };
                    next = h[0];
                    pos += 8;
                }
                _ => break,
            }
            if pos > end {
                return Err(err(
                    "ipv6",
                    off + pos,
                    "extension headers run past the payload length",
                ));
            }
        }
        let payload = buf.get(pos..end).unwrap_or(&[]);
        self.transport(
            src,
            dst,
            next,
            ip.get_hop_limit(),
            fragment,
            payload,
            off + pos,
            frame_start,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn transport(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        ttl: u8,
        fragment: Fragment,
        l4: &'a [u8],
        l4_off: usize,
        frame_start: usize,
    ) -> Result<Option<Decoded<'a>>, DecodeError> {
        let mut out = Decoded {
            tuple: Tuple {
                src,
                dst,
                sport: 0,
                dport: 0,
                proto,
            },
            len: self.len_from(frame_start),
            vlan: self.vlan,
            vni: self.vni,
            tunnel: self.tunnel,
            tcp_flags: 0,
            ttl,
            icmp: None,
            fragment,
            payload: &[],
            carrier: None,
        };
        if matches!(fragment, Fragment::Later { .. }) {
            // No transport header here; the flow layer attributes it by fragment id.
            out.payload = l4;
            return Ok(Some(out));
        }
        match proto {
            PROTO_TCP => {
                let tcp = TcpPacket::new(l4).ok_or_else(|| {
                    err(
                        "tcp",
                        l4_off,
                        format!("{} bytes left, a TCP header needs 20", l4.len()),
                    )
                })?;
                let doff = tcp.get_data_offset() as usize * 4;
                if doff < 20 || doff > l4.len() {
                    return Err(err(
                        "tcp",
                        l4_off,
                        format!("data offset {doff} outside 20..={}", l4.len()),
                    ));
                }
                out.tuple.sport = tcp.get_source();
                out.tuple.dport = tcp.get_destination();
                out.tcp_flags = tcp.get_flags();
                out.payload = &l4[doff..];
            }
            PROTO_UDP => {
                let udp = UdpPacket::new(l4).ok_or_else(|| {
                    err(
                        "udp",
                        l4_off,
                        format!("{} bytes left, a UDP header needs 8", l4.len()),
                    )
                })?;
                out.tuple.sport = udp.get_source();
                out.tuple.dport = udp.get_destination();
                let ulen = (udp.get_length() as usize).clamp(8, l4.len());
                out.payload = &l4[8..ulen];
                if let Some(inner) = self.overlay(&out, l4_off + 8)? {
                    return Ok(Some(inner));
                }
            }
            PROTO_ICMP | PROTO_ICMPV6 => {
                let (Some(&ty), Some(&code)) = (l4.first(), l4.get(1)) else {
                    return Err(err("icmp", l4_off, "ICMP header truncated"));
                };
                let (sport, dport) = icmp_ports(proto == PROTO_ICMPV6, ty, code);
                out.tuple.sport = sport;
                out.tuple.dport = dport;
                out.icmp = Some((ty, code));
                out.payload = l4.get(8..).unwrap_or(&[]);
            }
            PROTO_GRE => {
                out.payload = l4;
                if let Some(inner) = self.gre(&out, l4_off)? {
                    return Ok(Some(inner));
                }
            }
            _ => out.payload = l4,
        }
        Ok(Some(out))
    }

    /// Follows VXLAN or GENEVE inside a UDP packet; `Ok(None)` when it is not an overlay.
    fn overlay(
        &mut self,
        outer: &Decoded<'a>,
        off: usize,
    ) -> Result<Option<Decoded<'a>>, DecodeError> {
        if self.depth >= MAX_TUNNEL_DEPTH {
            return Ok(None);
        }
        let p = outer.payload;
        let t = outer.tuple;
        if t.dport == PORT_VXLAN || t.dport == PORT_VXLAN_LINUX {
            // Flags byte: the I bit says the VNI is valid. Anything else on this port is left
            // as plain UDP rather than misread.
            if p.len() < 8 + 14 || p[0] & 0x08 == 0 {
                return Ok(None);
            }
            let vni = u32::from_be_bytes([0, p[4], p[5], p[6]]);
            self.enter(TunnelKind::Vxlan, outer, Some(vni));
            let inner = self.ethernet(off + 8, off + 8)?;
            return Ok(Some(inner.unwrap_or(Decoded {
                carrier: Some(TunnelKind::Vxlan),
                ..*outer
            })));
        }
        if t.dport == PORT_GENEVE {
            if p.len() < 8 || p[0] >> 6 != 0 {
                return Ok(None);
            }
            let opt_len = (p[0] & 0x3f) as usize * 4;
            let ptype = u16::from_be_bytes([p[2], p[3]]);
            let vni = u32::from_be_bytes([0, p[4], p[5], p[6]]);
            let inner = off + 8 + opt_len;
            if 8 + opt_len > p.len() {
                return Err(err(
                    "geneve",
                    off,
                    format!("options length {opt_len} runs past the packet"),
                ));
            }
            self.enter(TunnelKind::Geneve, outer, Some(vni));
            let inner = self.inner_by_ethertype(ptype, inner)?;
            return Ok(Some(inner.unwrap_or(Decoded {
                carrier: Some(TunnelKind::Geneve),
                ..*outer
            })));
        }
        Ok(None)
    }

    fn gre(&mut self, outer: &Decoded<'a>, off: usize) -> Result<Option<Decoded<'a>>, DecodeError> {
        if self.depth >= MAX_TUNNEL_DEPTH {
            return Ok(None);
        }
        let p = outer.payload;
        if p.len() < 4 {
            return Err(err("gre", off, "GRE header truncated"));
        }
        let flags = u16::from_be_bytes([p[0], p[1]]);
        if flags & 0x7 != 0 {
            // Version 1 is PPTP's enhanced GRE carrying PPP: tracked as the GRE flow only.
            return Ok(None);
        }
        let ptype = u16::from_be_bytes([p[2], p[3]]);
        let mut pos = 4;
        if flags & 0x8000 != 0 {
            pos += 4; // checksum + reserved
        }
        let mut key = None;
        if flags & 0x2000 != 0 {
            let k = p
                .get(pos..pos + 4)
                .ok_or_else(|| err("gre", off + pos, "GRE key truncated"))?;
            key = Some(u32::from_be_bytes([k[0], k[1], k[2], k[3]]));
            pos += 4;
        }
        if flags & 0x1000 != 0 {
            pos += 4; // sequence number
        }
        if pos > p.len() {
            return Err(err("gre", off, "GRE optional fields run past the packet"));
        }
        // NVGRE carries a 24-bit virtual subnet id in the key's top bits, like a VNI.
        let vni = match ptype {
            ETH_TEB => key.map(|k| k >> 8),
            _ => key,
        };
        let mut inner = off + pos;
        let mut ty = ptype;
        match ptype {
            ETH_ERSPAN2 => {
                inner += 8;
                ty = ETH_TEB;
            }
            ETH_ERSPAN3 => {
                let o = p.get(pos + 11).copied().unwrap_or(0);
                inner += if o & 1 != 0 { 20 } else { 12 };
                ty = ETH_TEB;
            }
            _ => {}
        }
        self.enter(TunnelKind::Gre, outer, vni);
        let inner = self.inner_by_ethertype(ty, inner)?;
        Ok(Some(inner.unwrap_or(Decoded {
            carrier: Some(TunnelKind::Gre),
            ..*outer
        })))
    }

    /// Steps into an overlay. The innermost tunnel id wins; an id-less inner tunnel (plain
    /// GRE) keeps the id of the one around it.
    fn enter(&mut self, kind: TunnelKind, outer: &Decoded<'a>, vni: Option<u32>) {
        self.depth += 1;
        if vni.is_some() {
            self.vni = vni;
        }
        if self.tunnel.is_none() {
            self.tunnel = Some(Tunnel {
                kind,
                outer: outer.tuple,
                outer_len: outer.len,
                outer_ttl: outer.ttl,
            });
        }
        // A tagged outer frame says nothing about the inner one.
        self.vlan = None;
    }

    /// The inner frame of an overlay; `Ok(None)` for payloads other than Ethernet or IP (MPLS,
    /// PPP, ...), which count for the tunnel's flow only.
    fn inner_by_ethertype(
        &mut self,
        ty: u16,
        off: usize,
    ) -> Result<Option<Decoded<'a>>, DecodeError> {
        match ty {
            ETH_TEB => self.ethernet(off, off),
            ETH_IPV4 => self.ipv4(off, off),
            ETH_IPV6 => self.ipv6(off, off),
            _ => Ok(None),
        }
    }
}

/// The request or reply type paired with ICMP (or ICMPv6) type `ty`, as Community ID v1
/// pairs them; `None` for one-way types.
pub fn icmp_counterpart(v6: bool, ty: u8) -> Option<u8> {
    if v6 {
        match ty {
            128 => Some(129),
            129 => Some(128),
            130 => Some(131),
            131 => Some(130),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match ty {
            8 => Some(0),
            0 => Some(8),
            9 => Some(10),
            10 => Some(9),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    }
}

/// Flow-key ports of an ICMP packet: its type and the paired type (or its code when the type
/// has no pair), so that a request and its reply fall into one flow.
fn icmp_ports(v6: bool, ty: u8, code: u8) -> (u16, u16) {
    (ty as u16, icmp_counterpart(v6, ty).unwrap_or(code) as u16)
}

/// Whether an ICMP type is the answering half of a request/response pair (a reply seen first
/// still belongs to the requester as client).
pub fn icmp_is_reply(v6: bool, ty: u8) -> bool {
    if v6 {
        matches!(ty, 129 | 134 | 136 | 131 | 145)
    } else {
        matches!(ty, 0 | 14 | 16 | 9 | 18)
    }
}

/// The unspecified address of the family of `ip`.
pub fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(payload);
        ip
    }

    fn eth(ethertype: u16, body: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn dec(frame: &[u8]) -> Decoded<'_> {
        decode(LinkType::Ethernet, frame, frame.len() as u32)
            .expect("decodes")
            .expect("has IP")
    }

    #[test]
    fn qinq_keeps_the_outer_tag() {
        let ip = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, b"x");
        let mut body = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00]; // S-tag 100, C-tag 200
        body.extend_from_slice(&ip);
        let f = eth(ETH_QINQ, &body);
        let d = dec(&f);
        assert_eq!(d.vlan, Some(100));
        assert_eq!(d.tuple.dport, 53);
        assert_eq!(d.payload, b"x");
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        // Hop-by-hop (8 bytes) then a first fragment header then UDP.
        let udp = [0x04, 0xd2, 0x00, 0x35, 0, 10, 0, 0, b'h', b'i'];
        let mut ext = vec![44, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop: next = fragment
        ext.extend_from_slice(&[17, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]); // offset 0, M=1, id
        ext.extend_from_slice(&udp);
        let mut ip = vec![0x60, 0, 0, 0, 0, ext.len() as u8, 0, 64];
        ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        ip.extend_from_slice(&ext);
        let f = eth(ETH_IPV6, &ip);
        let d = dec(&f);
        assert_eq!(d.tuple.proto, PROTO_UDP);
        assert_eq!((d.tuple.sport, d.tuple.dport), (1234, 53));
        assert_eq!(d.fragment, Fragment::First { id: 0xdeadbeef });
        assert_eq!(d.payload, b"hi");
    }

    #[test]
    fn ipv4_later_fragment_has_no_ports() {
        let mut ip = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"abcdefgh");
        ip[6] = 0x00;
        ip[7] = 0x02; // offset 16 bytes, MF clear
        let f = eth(ETH_IPV4, &ip);
        let d = dec(&f);
        assert_eq!(d.fragment, Fragment::Later { id: 1 });
        assert_eq!((d.tuple.sport, d.tuple.dport), (0, 0));
    }

    #[test]
    fn gre_transparent_ethernet_bridging_with_key() {
        let inner = eth(
            ETH_IPV4,
            &ipv4_udp([172, 16, 0, 1], [172, 16, 0, 2], 5, 6, b""),
        );
        let mut gre = vec![0x20, 0x00, 0x65, 0x58, 0x00, 0x03, 0xe9, 0x00]; // K bit, TEB, VSID 1001
        gre.extend_from_slice(&inner);
        let total = 20 + gre.len();
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            47,
            0,
            0,
            192,
            168,
            0,
            1,
            192,
            168,
            0,
            2,
        ];
        ip.extend_from_slice(&gre);
        let f = eth(ETH_IPV4, &ip);
        let d = dec(&f);
        assert_eq!(d.tuple.src, IpAddr::V4(Ipv4Addr::new(172, 16, 0, 1)));
        assert_eq!(d.vni, Some(1001));
        let t = d.tunnel.expect("tunnel");
        assert_eq!(t.kind, TunnelKind::Gre);
        assert_eq!(t.outer.proto, PROTO_GRE);
        assert_eq!(d.len as usize, inner.len());
    }

    #[test]
    fn vxlan_inner_frame_and_outer_tuple() {
        let inner = eth(
            ETH_IPV4,
            &ipv4_udp([10, 1, 0, 5], [10, 2, 0, 9], 40000, 443, b""),
        );
        let mut vx = vec![0x08, 0, 0, 0, 0, 0x03, 0xea, 0]; // VNI 1002
        vx.extend_from_slice(&inner);
        let f = eth(
            ETH_IPV4,
            &ipv4_udp(
                [192, 168, 100, 1],
                [192, 168, 100, 2],
                51000,
                PORT_VXLAN,
                &vx,
            ),
        );
        let d = dec(&f);
        assert_eq!(d.vni, Some(1002));
        assert_eq!(d.tuple.dport, 443);
        let t = d.tunnel.expect("tunnel");
        assert_eq!(t.outer.dport, PORT_VXLAN);
        assert_eq!(t.outer_len as usize, f.len());
    }

    /// Every prefix of every test frame decodes to a value or an error, never a panic.
    #[test]
    fn truncation_at_every_offset_never_panics() {
        let inner = eth(
            ETH_IPV4,
            &ipv4_udp([10, 1, 0, 5], [10, 2, 0, 9], 40000, 443, b"data"),
        );
        let mut vx = vec![0x08, 0, 0, 0, 0, 0x03, 0xea, 0];
        vx.extend_from_slice(&inner);
        let frames = [
            eth(
                ETH_IPV4,
                &ipv4_udp(
                    [192, 168, 100, 1],
                    [192, 168, 100, 2],
                    51000,
                    PORT_VXLAN,
                    &vx,
                ),
            ),
            eth(
                ETH_IPV4,
                &ipv4_udp(
                    [192, 168, 100, 1],
                    [192, 168, 100, 2],
                    51000,
                    PORT_GENEVE,
                    &[0, 0, 0x65, 0x58, 0, 0, 1, 0],
                ),
            ),
        ];
        for f in &frames {
            for n in 0..=f.len() {
                for link in [
                    LinkType::Ethernet,
                    LinkType::Raw,
                    LinkType::LinuxSll,
                    LinkType::LinuxSll2,
                    LinkType::Null,
                ] {
                    let _ = decode(link, &f[..n], n as u32);
                }
            }
        }
    }
}
