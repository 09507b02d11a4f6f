//! NetFlow v5: a 24-byte header and fixed 48-byte IPv4 records. Stateless, so records come
//! out complete: first/last switched (exporter uptime) become absolute times through the
//! header's uptime and clock, and counts are scaled by the header's sampling interval.

use std::net::{IpAddr, Ipv4Addr};

use super::record::{from_millis, FlowRecord};
use super::wire::Wire;
use super::ExportError;

const HEADER: usize = 24;
const RECORD: usize = 48;
const FORMAT: &str = "netflow v5";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub count: u16,
    pub sys_uptime_ms: u32,
    pub unix_secs: u32,
    pub unix_nsecs: u32,
    pub sequence: u32,
    pub engine_type: u8,
    pub engine_id: u8,
    /// 1 in `sampling` packets; 1 when the exporter does not sample.
    pub sampling: u16,
}

/// Parses a v5 datagram; each record goes to `f`.
pub fn parse(buf: &[u8], f: &mut dyn FnMut(FlowRecord)) -> Result<Header, ExportError> {
    let mut w = Wire::new(FORMAT, buf, 0);
    if w.u16("version")? != 5 {
        return Err(Wire::new(FORMAT, buf, 0).err("not NetFlow v5"));
    }
    let count = w.u16("count")?;
    let h = Header {
        count,
        sys_uptime_ms: w.u32("sysUptime")?,
        unix_secs: w.u32("unix_secs")?,
        unix_nsecs: w.u32("unix_nsecs")?,
        sequence: w.u32("flow_sequence")?,
        engine_type: w.u8("engine_type")?,
        engine_id: w.u8("engine_id")?,
        sampling: (w.u16("sampling_interval")? & 0x3fff).max(1),
    };
    debug_assert_eq!(w.pos, HEADER);
    if count == 0 || count > 30 {
        return Err(Wire::new(FORMAT, buf, 2).err("record count outside 1..=30"));
    }
    // Boot time in ms since the epoch: the header's clock minus the uptime.
    let now_ms = h.unix_secs as i64 * 1000 + (h.unix_nsecs / 1_000_000) as i64;
    let boot_ms = now_ms - h.sys_uptime_ms as i64;
    let scale = h.sampling as u64;
    for _ in 0..count {
        let mut r = w.sub(RECORD, "datagram shorter than its record count")?;
        let b = r.bytes(RECORD, "record")?;
        let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]));
        let u32_at = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u16_at = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
        let proto = b[38];
        let dport = u16_at(34);
        let icmp = matches!(proto, 1 | 58).then_some(((dport >> 8) as u8, dport as u8));
        f(FlowRecord {
            src: Some(ip(0)),
            dst: Some(ip(4)),
            sport: u16_at(32),
            dport,
            proto,
            packets: u32_at(16) as u64 * scale,
            bytes: u32_at(20) as u64 * scale,
            tcp_flags: b[37],
            icmp,
            vlan: None,
            start: Some(from_millis(boot_ms + u32_at(24) as i64)),
            end: Some(from_millis(boot_ms + u32_at(28) as i64)),
            end_reason: None,
        });
    }
    Ok(h)
}
