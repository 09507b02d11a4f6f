//! sFlow v5 datagrams (sflow.org/sflow_version_5.txt): the agent header and its samples.
//! Flow samples hand their raw packet header records on (the caller decodes them as
//! captured frames); counter samples are only counted. Pure: bytes in, items out, a typed
//! error with the byte offset on malformed input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netflow::wire::Wire;
use super::netflow::ExportError;

const FORMAT: &str = "sflow v5";
/// More samples or records than this in one datagram is hostile, not an agent.
const MAX_ITEMS: u32 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub agent: IpAddr,
    pub sub_agent: u32,
    pub sequence: u32,
    pub uptime_ms: u32,
    pub samples: u32,
}

/// What a datagram carries, item by item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A sampled packet's header: 1 in `rate` packets was sampled; `frame_length` is the
    /// original frame's length; `protocol` 1 is Ethernet.
    PacketHeader {
        rate: u32,
        protocol: u32,
        frame_length: u32,
        header: &'a [u8],
        input: u32,
        output: u32,
    },
    /// A flow sample's record of another kind (extended switch, router, ...), skipped.
    OtherFlowRecord { format: u32 },
    /// One counter sample (generic, Ethernet, ... records inside it).
    CounterSample { source: u32, records: u32 },
    /// A sample of an unknown kind, skipped by length.
    Unknown { format: u32 },
}

/// Parses one datagram; each item goes to `f`.
pub fn parse<'a>(buf: &'a [u8], f: &mut dyn FnMut(Item<'a>)) -> Result<Header, ExportError> {
    let mut w = Wire::new(FORMAT, buf, 0);
    if w.u32("version")? != 5 {
        return Err(Wire::new(FORMAT, buf, 0).err("not sFlow v5"));
    }
    let agent = match w.u32("agent address type")? {
        1 => {
            let b = w.bytes(4, "agent address")?;
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        2 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(w.bytes(16, "agent address")?);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return Err(w.err("unknown agent address type")),
    };
    let h = Header {
        agent,
        sub_agent: w.u32("sub agent id")?,
        sequence: w.u32("sequence number")?,
        uptime_ms: w.u32("uptime")?,
        samples: w.u32("sample count")?,
    };
    if h.samples > MAX_ITEMS {
        return Err(w.err("sample count too large"));
    }
    for _ in 0..h.samples {
        let format = w.u32("sample format")?;
        let len = w.u32("sample length")? as usize;
        let body = w.sub(len, "sample runs past the datagram")?;
        match format {
            1 | 3 => flow_sample(body, format == 3, f)?,
            2 | 4 => counter_sample(body, format == 4, f)?,
            _ => f(Item::Unknown { format }),
        }
    }
    Ok(h)
}

fn flow_sample<'a>(
    mut w: Wire<'a>,
    expanded: bool,
    f: &mut dyn FnMut(Item<'a>),
) -> Result<(), ExportError> {
    w.u32("sample sequence")?;
    w.skip(if expanded { 8 } else { 4 }, "source id")?;
    let rate = w.u32("sampling rate")?;
    w.u32("sample pool")?;
    w.u32("drops")?;
    let (input, output) = if expanded {
        w.u32("input format")?;
        let i = w.u32("input")?;
        w.u32("output format")?;
        (i, w.u32("output")?)
    } else {
        (w.u32("input")?, w.u32("output")?)
    };
    let n = w.u32("flow record count")?;
    if n > MAX_ITEMS {
        return Err(w.err("flow record count too large"));
    }
    for _ in 0..n {
        let format = w.u32("flow record format")?;
        let len = w.u32("flow record length")? as usize;
        let mut r = w.sub(len, "flow record runs past its sample")?;
        if format != 1 {
            f(Item::OtherFlowRecord { format });
            continue;
        }
        let protocol = r.u32("header protocol")?;
        let frame_length = r.u32("frame length")?;
        r.u32("stripped")?;
        let hlen = r.u32("header length")? as usize;
        let header = r.bytes(hlen, "header runs past its record")?;
        f(Item::PacketHeader {
            rate,
            protocol,
            frame_length,
            header,
            input,
            output,
        });
    }
    Ok(())
}

fn counter_sample<'a>(
    mut w: Wire<'a>,
    expanded: bool,
    f: &mut dyn FnMut(Item<'a>),
) -> Result<(), ExportError> {
    w.u32("sample sequence")?;
    let source = if expanded {
        w.u32("source id type")?;
        w.u32("source id index")?
    } else {
        w.u32("source id")? & 0x00ff_ffff
    };
    let records = w.u32("counter record count")?;
    if records > MAX_ITEMS {
        return Err(w.err("counter record count too large"));
    }
    for _ in 0..records {
        w.u32("counter record format")?;
        let len = w.u32("counter record length")? as usize;
        w.skip(len, "counter record runs past its sample")?;
    }
    f(Item::CounterSample { source, records });
    Ok(())
}
