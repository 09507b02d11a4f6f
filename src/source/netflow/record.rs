//! One exported flow record, typed and normalized whatever format carried it, and its
//! conversion into a flow event with the same fields and value types as the flows vigil
//! builds from packets (`flow::FlowTable`), plus `exporter`.

use std::net::IpAddr;

use crate::decode::packet::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use crate::event::{f, Event, Kind, LogSource, Timestamp, Value};
use crate::flow::community_id::community_id;
use crate::flow::{flag_letters, proto_name};

const MS: i64 = 1_000_000;

/// A flow as an exporter reported it. Counts are already scaled by the exporter's sampling
/// interval when one was announced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowRecord {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    pub tcp_flags: u8,
    /// ICMP type and code.
    pub icmp: Option<(u8, u8)>,
    pub vlan: Option<u16>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// IPFIX flowEndReason (1 idle, 2 active, 3 end of flow, 4 forced end, 5 lack of resources).
    pub end_reason: Option<u8>,
}

impl FlowRecord {
    /// The flow event. A NetFlow/IPFIX record is unidirectional: its counts go to
    /// `*_toserver` and `*_toclient` is 0; the record's source is the event's `src_ip`.
    /// The event's time is the flow's end, or `arrival` when the record carries no time.
    pub fn to_event(&self, exporter: IpAddr, arrival: Timestamp, seed: u16) -> Option<Event> {
        let (src, dst) = (self.src?, self.dst?);
        let end = self.end.or(self.start).unwrap_or(arrival);
        let start = self.start.unwrap_or(end).min(end);
        let mut ev = Event::new(end, Kind::Flow, LogSource::category("flow"));
        let fs = &mut ev.fields;
        let p = self.proto;
        let icmp = p == PROTO_ICMP || p == PROTO_ICMPV6;
        let ported = p == PROTO_TCP || p == PROTO_UDP || p == 132 || icmp;
        // ICMP flows carry type and code in the port fields, as packet flows do.
        let (sport, dport) = match (icmp, self.icmp) {
            (true, Some((t, c))) => (t as u16, c as u16),
            _ => (self.sport, self.dport),
        };
        fs.push(f::SRC_IP, src);
        if ported {
            fs.push(f::SRC_PORT, sport);
        }
        fs.push(f::DST_IP, dst);
        if ported {
            fs.push(f::DST_PORT, dport);
        }
        fs.push(f::PROTO, proto_name(p, src.is_ipv6()));
        if let Some(v) = self.vlan {
            fs.push(f::VLAN, v);
        }
        let id = community_id(seed, src, dst, sport, dport, p);
        fs.push(f::COMMUNITY_ID, Value::Str(id.into()));
        fs.push(f::BYTES_TOSERVER, Value::Int(clamp(self.bytes)));
        fs.push(f::BYTES_TOCLIENT, 0);
        fs.push(f::PKTS_TOSERVER, Value::Int(clamp(self.packets)));
        fs.push(f::PKTS_TOCLIENT, 0);
        if p == PROTO_TCP {
            fs.push(f::TCP_FLAGS, flag_letters(self.tcp_flags));
        }
        if icmp {
            fs.push(f::ICMP_TYPE, sport);
            fs.push(f::ICMP_CODE, dport);
        }
        if let Some(r) = self.end_reason.and_then(reason) {
            fs.push(f::REASON, r);
        }
        fs.push(f::START, start);
        fs.push(f::END, end);
        fs.push(f::DURATION, end.0.saturating_sub(start.0) as f64 / 1e9);
        fs.push(f::EXPORTER, exporter);
        Some(ev)
    }
}

fn clamp(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

/// flowEndReason in the words packet flows use for `reason`.
fn reason(r: u8) -> Option<&'static str> {
    Some(match r {
        1 => "timeout",
        2 => "active_timeout",
        3 => "closed",
        4 => "eof",
        5 => "evicted",
        _ => return None,
    })
}

/// Milliseconds since the epoch as a timestamp (saturating on hostile values).
pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp(ms.saturating_mul(MS))
}
