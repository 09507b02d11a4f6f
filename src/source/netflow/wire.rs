//! Big-endian reads over a datagram with the offset of every read kept, so that a parser can
//! say where a malformed export went wrong. Shared by the NetFlow, IPFIX and sFlow parsers.

use super::ExportError;

/// A cursor over `buf`; `base` is the offset of `buf[0]` within the datagram.
#[derive(Clone, Copy, Debug)]
pub struct Wire<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    pub base: usize,
    pub format: &'static str,
}

impl<'a> Wire<'a> {
    pub fn new(format: &'static str, buf: &'a [u8], base: usize) -> Wire<'a> {
        Wire {
            buf,
            pos: 0,
            base,
            format,
        }
    }

    /// Offset of the cursor within the datagram.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn err(&self, reason: &'static str) -> ExportError {
        ExportError {
            format: self.format,
            offset: self.offset(),
            reason,
        }
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ExportError> {
        match self.buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(b) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(b)
            }
            _ => Err(self.err(what)),
        }
    }

    /// A sub-cursor over the next `n` bytes (a set, a sample, a record).
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Wire<'a>, ExportError> {
        let base = self.offset();
        let b = self.bytes(n, what)?;
        Ok(Wire::new(self.format, b, base))
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, ExportError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, ExportError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, ExportError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), ExportError> {
        self.bytes(n, what).map(|_| ())
    }
}

/// An unsigned big-endian integer of 1 to 8 bytes (IPFIX reduced-size encoding); longer
/// fields keep their last 8 bytes.
#[inline]
pub fn uint(b: &[u8]) -> u64 {
    let b = if b.len() > 8 { &b[b.len() - 8..] } else { b };
    let mut v = 0u64;
    for &x in b {
        v = (v << 8) | x as u64;
    }
    v
}
