//! IPFIX (RFC 7011): the 16-byte message header. Sets are framed as in NetFlow v9
//! (`v9::sets`), with template set id 2, options template set id 3, and data sets from 256.

use super::wire::Wire;
use super::ExportError;

const FORMAT: &str = "ipfix";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub length: u16,
    pub export_time: u32,
    pub sequence: u32,
    pub domain: u32,
}

/// Parses the header; returns it and a cursor over the sets (bounded by the header's
/// message length, which may be shorter than the datagram).
pub fn parse_header(buf: &[u8]) -> Result<(Header, Wire<'_>), ExportError> {
    let mut w = Wire::new(FORMAT, buf, 0);
    if w.u16("version")? != 10 {
        return Err(Wire::new(FORMAT, buf, 0).err("not IPFIX"));
    }
    let h = Header {
        length: w.u16("message length")?,
        export_time: w.u32("export time")?,
        sequence: w.u32("sequence number")?,
        domain: w.u32("observation domain")?,
    };
    let len = h.length as usize;
    if len < 16 {
        return Err(Wire::new(FORMAT, buf, 2).err("message length below 16"));
    }
    let rest = w.sub(len - 16, "message length runs past the datagram")?;
    Ok((h, rest))
}
