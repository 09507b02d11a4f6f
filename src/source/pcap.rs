//! Capture files: pcap (micro- and nanosecond, either byte order) and pcapng (any number of
//! interfaces, each with its link type and timestamp resolution), read with `pcap-parser` in
//! a streaming fashion so that files of any size use a fixed buffer.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use crate::decode::LinkType;
use crate::event::Timestamp;

const BUFFER: usize = 1 << 20;
/// Frames larger than this are refused rather than growing the buffer without bound.
const MAX_BLOCK: usize = 64 << 20;

/// Why a capture could not be read: the file, the packet number (1-based) and byte offset of
/// the record that failed, and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{file}: {reason}")]
    Open { file: PathBuf, reason: String },
    #[error("{file}: packet {packet} (offset {offset}): {reason}")]
    Record {
        file: PathBuf,
        packet: u64,
        offset: u64,
        reason: String,
    },
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub link: Option<LinkType>,
    /// The pcap link type number, kept for messages about unsupported link types.
    pub link_raw: i32,
    pub data: &'a [u8],
    pub wire_len: u32,
    /// 1-based index of this packet in the file.
    pub number: u64,
    /// Byte offset of the record in the file.
    pub offset: u64,
}

struct Interface {
    link_raw: i32,
    link: Option<LinkType>,
    resolution: u64,
    offset_secs: i64,
}

/// Reads the frames of one capture file in order.
pub struct CaptureReader {
    reader: Box<dyn PcapReaderIterator + Send>,
    st: State,
    size: u64,
}

/// What the reader knows about the file so far; kept apart from the buffer that frames
/// borrow from.
struct State {
    path: PathBuf,
    interfaces: Vec<Interface>,
    legacy_nanos: bool,
    packets: u64,
    last_ts: Timestamp,
}

/// Whether `head` starts like a pcap or pcapng file.
pub fn is_capture(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some([0xd4, 0xc3, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0xc3, 0xd4])
            | Some([0x4d, 0x3c, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0x3c, 0x4d])
            | Some([0x0a, 0x0d, 0x0d, 0x0a])
    )
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let open_err = |reason: String| CaptureError::Open {
            file: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(|e| open_err(e.to_string()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        CaptureReader::from_reader(path, file, size)
    }

    /// Reads a capture from any byte stream (`size` only feeds progress reports).
    pub fn from_reader<R: Read + Send + 'static>(
        path: &Path,
        r: R,
        size: u64,
    ) -> Result<CaptureReader, CaptureError> {
        let open_err = |reason: String| CaptureError::Open {
            file: path.to_owned(),
            reason,
        };
        let reader = create_reader(BUFFER, r).map_err(|e| match e {
            PcapError::Eof => open_err("empty file: no pcap or pcapng header".into()),
            PcapError::HeaderNotRecognized => {
                open_err("not a pcap or pcapng file (unknown magic number)".into())
            }
            other => open_err(format!("cannot read the file header: {other:?}")),
        })?;
        let st = State {
            path: path.to_owned(),
            interfaces: Vec::new(),
            legacy_nanos: false,
            packets: 0,
            last_ts: Timestamp::default(),
        };
        Ok(CaptureReader { reader, st, size })
    }

    pub fn path(&self) -> &Path {
        &self.st.path
    }
    /// Bytes consumed so far and the file's size, for progress reports.
    pub fn progress(&self) -> (u64, u64) {
        (self.reader.consumed() as u64, self.size)
    }
    pub fn packets(&self) -> u64 {
        self.st.packets
    }

    /// Calls `each` for every frame until the end of the file. `each` may stop early by
    /// returning `false`.
    pub fn for_each(
        &mut self,
        mut each: impl FnMut(&Frame<'_>) -> bool,
    ) -> Result<(), CaptureError> {
        loop {
            let offset = self.reader.consumed() as u64;
            let st = &mut self.st;
            let (len, frame) = match self.reader.next() {
                Ok((len, block)) => (len, st.frame_of(block, offset)?),
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => {
                    if let Err(e) = self.reader.refill() {
                        return Err(self.st.record_err(offset, format!("read error: {e:?}")));
                    }
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    let cap = self.reader.data().len().max(BUFFER) * 2;
                    if cap > MAX_BLOCK || !self.reader.grow(cap) {
                        return Err(
                            st.record_err(offset, format!("record larger than {MAX_BLOCK} bytes"))
                        );
                    }
                    if let Err(e) = self.reader.refill() {
                        return Err(self.st.record_err(offset, format!("read error: {e:?}")));
                    }
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Err(st.record_err(
                        offset,
                        "file ends in the middle of a record (truncated capture)".into(),
                    ))
                }
                Err(PcapError::ReadError) => return Err(st.record_err(offset, "read error".into())),
                Err(e) => {
                    return Err(st.record_err(offset, format!("malformed record: {}", describe(&e))))
                }
            };
            let go_on = match frame {
                Some(f) => {
                    st.packets += 1;
                    let frame = Frame {
                        number: st.packets,
                        ..f
                    };
                    // The frame borrows the reader's buffer; it is dropped before `consume`.
                    each(&frame)
                }
                None => true,
            };
            self.reader.consume(len);
            if !go_on {
                return Ok(());
            }
        }
    }
}

impl State {
    fn record_err(&self, offset: u64, reason: String) -> CaptureError {
        CaptureError::Record {
            file: self.path.clone(),
            packet: self.packets + 1,
            offset,
            reason,
        }
    }

    /// Turns a block into a frame (or `None` for blocks without a packet), updating the
    /// interface table as pcapng describes interfaces.
    fn frame_of<'b>(
        &mut self,
        block: PcapBlockOwned<'b>,
        offset: u64,
    ) -> Result<Option<Frame<'b>>, CaptureError> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.legacy_nanos = h.is_nanosecond_precision();
                let link_raw = h.network.0;
                self.interfaces = vec![Interface {
                    link_raw,
                    link: LinkType::from_pcap(link_raw),
                    resolution: if self.legacy_nanos {
                        1_000_000_000
                    } else {
                        1_000_000
                    },
                    offset_secs: 0,
                }];
                Ok(None)
            }
            PcapBlockOwned::Legacy(b) => {
                let Some(iface) = self.interfaces.first() else {
                    return Err(self.record_err(offset, "packet before the file header".into()));
                };
                let frac = if self.legacy_nanos {
                    b.ts_usec as u64
                } else {
                    b.ts_usec as u64 * 1000
                };
                let ts = Timestamp(b.ts_sec as i64 * 1_000_000_000 + frac.min(999_999_999) as i64);
                self.last_ts = ts;
                Ok(Some(Frame {
                    ts,
                    link: iface.link,
                    link_raw: iface.link_raw,
                    data: b.data,
                    wire_len: b.origlen.max(b.data.len() as u32),
                    number: 0,
                    offset,
                }))
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                // Interface ids are scoped to their section.
                self.interfaces.clear();
                Ok(None)
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let link_raw = idb.linktype.0;
                self.interfaces.push(Interface {
                    link_raw,
                    link: LinkType::from_pcap(link_raw),
                    resolution: idb.ts_resolution().unwrap_or(1_000_000),
                    offset_secs: idb.if_tsoffset,
                });
                Ok(None)
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = self.interfaces.get(epb.if_id as usize) else {
                    return Err(self.record_err(
                        offset,
                        format!(
                            "packet names interface {} but the section describes {}",
                            epb.if_id,
                            self.interfaces.len()
                        ),
                    ));
                };
                let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let res = iface.resolution.max(1);
                let secs = (raw / res) as i64;
                let nanos = ((raw % res) as u128 * 1_000_000_000 / res as u128) as i64;
                let ts = Timestamp(
                    secs.saturating_add(iface.offset_secs)
                        .saturating_mul(1_000_000_000)
                        .saturating_add(nanos),
                );
                self.last_ts = ts;
                let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                Ok(Some(Frame {
                    ts,
                    link: iface.link,
                    link_raw: iface.link_raw,
                    data,
                    wire_len: epb.origlen.max(data.len() as u32),
                    number: 0,
                    offset,
                }))
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let Some(iface) = self.interfaces.first() else {
                    return Err(self.record_err(
                        offset,
                        "simple packet block before any interface description".into(),
                    ));
                };
                // Simple packet blocks carry no timestamp: they inherit the last one seen.
                Ok(Some(Frame {
                    ts: self.last_ts,
                    link: iface.link,
                    link_raw: iface.link_raw,
                    data: spb.data,
                    wire_len: spb.origlen.max(spb.data.len() as u32),
                    number: 0,
                    offset,
                }))
            }
            PcapBlockOwned::NG(_) => Ok(None),
        }
    }
}

fn describe<I>(e: &PcapError<I>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("parse error ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("parse error ({kind:?})"),
        PcapError::HeaderNotRecognized => "unknown block or header".into(),
        _ => "unreadable record".into(),
    }
}
