//! NetFlow v9 (RFC 3954): the 20-byte header and the flowset framing, which IPFIX shares.
//! Templates and data records are read by `template`; the decoder keeps the state.

use super::wire::Wire;
use super::ExportError;

const FORMAT: &str = "netflow v9";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub count: u16,
    pub sys_uptime_ms: u32,
    pub unix_secs: u32,
    pub sequence: u32,
    pub source_id: u32,
}

impl Header {
    /// The exporter's boot time in ms since the epoch, the base of FIRST/LAST_SWITCHED.
    pub fn boot_ms(&self) -> i64 {
        self.unix_secs as i64 * 1000 - self.sys_uptime_ms as i64
    }
}

/// Parses the header; returns it and a cursor over the flowsets.
pub fn parse_header(buf: &[u8]) -> Result<(Header, Wire<'_>), ExportError> {
    let mut w = Wire::new(FORMAT, buf, 0);
    if w.u16("version")? != 9 {
        return Err(Wire::new(FORMAT, buf, 0).err("not NetFlow v9"));
    }
    let h = Header {
        count: w.u16("count")?,
        sys_uptime_ms: w.u32("sysUptime")?,
        unix_secs: w.u32("unix_secs")?,
        sequence: w.u32("sequence")?,
        source_id: w.u32("source id")?,
    };
    let rest = w.sub(w.remaining(), "flowsets")?;
    Ok((h, rest))
}

/// One flowset (v9) or set (IPFIX): its id and a cursor over its body.
#[derive(Clone, Copy, Debug)]
pub struct Set<'a> {
    pub id: u16,
    pub body: Wire<'a>,
}

/// Walks the sets after the header. A set that runs past the datagram is an error; sets
/// before it have been handed to `f` already. Fewer than 4 trailing bytes are padding.
pub fn sets<'a>(
    mut w: Wire<'a>,
    f: &mut dyn FnMut(Set<'a>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    while w.remaining() >= 4 {
        let at = w.offset();
        let id = w.u16("set id")?;
        let len = w.u16("set length")? as usize;
        if len < 4 {
            return Err(ExportError {
                format: w.format,
                offset: at + 2,
                reason: "set length below 4",
            });
        }
        let body = w.sub(len - 4, "set runs past the end of the datagram")?;
        f(Set { id, body })?;
    }
    Ok(())
}
