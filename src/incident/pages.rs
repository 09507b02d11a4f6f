//! Alert pages: the `alerts` tree keeps a few consecutive alerts of one write batch (up to
//! [`PAGE_ALERTS`] and about [`PAGE_BYTES`]) in one value, keyed by the first one's sequence
//! number.
//!
//! sled's cost is per key far more than per byte (`cargo bench --bench store` shows bare sled
//! with one alert per key and with four), so a page instead of a key per alert is what lets
//! the store keep up. The chain links a page like any
//! record; `verify` names a changed page by its first alert.
//!
//! A page is `MAGIC`, a `u16` count, then per alert its `u64` sequence number and `u32`
//! length, then the alert records back to back (all big-endian). The header comes first so a
//! lookup finds one alert without touching the others. A value that starts with `{` is one
//! alert record on its own, as stores written before pages keep them; its key is its
//! sequence number. Decoding never panics (see the `store_records` fuzz target).

/// Alerts per page at most.
pub const PAGE_ALERTS: usize = 16;

/// A page takes no more alerts once its records reach this many bytes. sled writes a leaf
/// (up to 17 values) whole now and then, and a leaf over 128 KB goes to a file of its own
/// (a file created and synced per leaf: bare sled with 16 alerts of 1.1 KB per value opened
/// 4,089 files for 300,000 alerts, at a third of the rate of 6 per value). Pages of 4 KB plus
/// one alert keep leaves well under that.
pub const PAGE_BYTES: usize = 4096;

const MAGIC: u8 = 0xA1;
const HEAD: usize = 3;
/// Header bytes per alert.
pub const ENTRY: usize = 12;

/// Why a page does not decode.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PageError {
    #[error("alert page is empty")]
    Empty,
    #[error("alert page starts with byte {0:#04x}, neither a page nor a record")]
    Magic(u8),
    #[error("alert page header is cut short ({have} of {need} bytes)")]
    Header { have: usize, need: usize },
    #[error("alert page lists {listed} bytes of records but holds {have}")]
    Body { listed: u64, have: usize },
    #[error("alert page lists sequence numbers out of order ({prev} then {next})")]
    Order { prev: u64, next: u64 },
    #[error("alert page holds no alerts")]
    NoAlerts,
}

/// Encodes one page of `(seq, record)` pairs; sequence numbers ascend.
pub fn encode<'a>(records: impl ExactSizeIterator<Item = (u64, &'a [u8])> + Clone) -> Vec<u8> {
    let n = records.len().min(u16::MAX as usize);
    let body: usize = records.clone().take(n).map(|(_, r)| r.len()).sum();
    let mut v = Vec::with_capacity(HEAD + n * ENTRY + body);
    v.push(MAGIC);
    v.extend_from_slice(&(n as u16).to_be_bytes());
    for (seq, r) in records.clone().take(n) {
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&(r.len() as u32).to_be_bytes());
    }
    for (_, r) in records.take(n) {
        v.extend_from_slice(r);
    }
    v
}

/// A decoded view of one stored value: the alerts it holds, in order.
#[derive(Clone, Copy, Debug)]
pub struct AlertPage<'a> {
    /// `Some(seq)` for a lone legacy record (its key).
    lone: Option<u64>,
    count: usize,
    bytes: &'a [u8],
}

impl<'a> AlertPage<'a> {
    /// Reads the value stored under `key_seq`, checking the header against the body.
    pub fn decode(key_seq: u64, bytes: &'a [u8]) -> Result<AlertPage<'a>, PageError> {
        match bytes.first() {
            None => Err(PageError::Empty),
            Some(b'{') => Ok(AlertPage {
                lone: Some(key_seq),
                count: 1,
                bytes,
            }),
            Some(&MAGIC) => {
                let need = HEAD;
                let Some(c) = bytes.get(1..HEAD) else {
                    return Err(PageError::Header {
                        have: bytes.len(),
                        need,
                    });
                };
                let count = u16::from_be_bytes([c[0], c[1]]) as usize;
                if count == 0 {
                    return Err(PageError::NoAlerts);
                }
                let need = HEAD + count * ENTRY;
                if bytes.len() < need {
                    return Err(PageError::Header {
                        have: bytes.len(),
                        need,
                    });
                }
                let page = AlertPage {
                    lone: None,
                    count,
                    bytes,
                };
                let mut listed = 0u64;
                let mut prev: Option<u64> = None;
                for i in 0..count {
                    let (seq, len) = page.entry(i);
                    if let Some(p) = prev.filter(|p| *p >= seq) {
                        return Err(PageError::Order { prev: p, next: seq });
                    }
                    prev = Some(seq);
                    listed += len as u64;
                }
                let have = bytes.len() - need;
                if listed != have as u64 {
                    return Err(PageError::Body { listed, have });
                }
                Ok(page)
            }
            Some(&b) => Err(PageError::Magic(b)),
        }
    }

    /// How many alerts the page holds.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`th header entry: sequence number and record length. `decode` checked that the
    /// header is there.
    fn entry(&self, i: usize) -> (u64, usize) {
        let at = HEAD + i * ENTRY;
        let mut seq = [0u8; 8];
        let mut len = [0u8; 4];
        if let Some(e) = self.bytes.get(at..at + ENTRY) {
            seq.copy_from_slice(&e[..8]);
            len.copy_from_slice(&e[8..]);
        }
        (u64::from_be_bytes(seq), u32::from_be_bytes(len) as usize)
    }

    /// The first and last sequence numbers.
    pub fn range(&self) -> (u64, u64) {
        match self.lone {
            Some(s) => (s, s),
            None => (self.entry(0).0, self.entry(self.count - 1).0),
        }
    }

    /// Every `(seq, record)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &'a [u8])> + '_ {
        let mut at = HEAD + self.count * ENTRY;
        (0..self.count).map(move |i| match self.lone {
            Some(s) => (s, self.bytes),
            None => {
                let (seq, len) = self.entry(i);
                let r = self.bytes.get(at..at + len).unwrap_or_default();
                at += len;
                (seq, r)
            }
        })
    }

    /// The record of alert `seq`, if the page holds it.
    pub fn get(&self, seq: u64) -> Option<&'a [u8]> {
        if let Some(s) = self.lone {
            return (s == seq).then_some(self.bytes);
        }
        let mut at = HEAD + self.count * ENTRY;
        for i in 0..self.count {
            let (s, len) = self.entry(i);
            if s == seq {
                return self.bytes.get(at..at + len);
            }
            if s > seq {
                return None;
            }
            at += len;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(items: &[(u64, &str)]) -> Vec<u8> {
        encode(items.iter().map(|(s, r)| (*s, r.as_bytes())))
    }

    #[test]
    fn round_trips_and_finds_each_alert() {
        let items = [(7u64, "{\"a\":1}"), (8, "{}"), (10, "{\"long\":\"xxxx\"}")];
        let b = page(&items);
        let p = AlertPage::decode(7, &b).expect("decode");
        assert_eq!(p.len(), 3);
        assert_eq!(p.range(), (7, 10));
        let back: Vec<(u64, &[u8])> = p.iter().collect();
        let want: Vec<(u64, &[u8])> = items.iter().map(|(s, r)| (*s, r.as_bytes())).collect();
        assert_eq!(back, want);
        assert_eq!(p.get(8), Some(&b"{}"[..]));
        assert_eq!(p.get(9), None);
        assert_eq!(p.get(11), None);
    }

    #[test]
    fn a_lone_record_is_a_page_of_one() {
        let p = AlertPage::decode(42, b"{\"seq\":42}").expect("decode");
        assert_eq!((p.len(), p.range()), (1, (42, 42)));
        assert_eq!(p.get(42), Some(&b"{\"seq\":42}"[..]));
        assert_eq!(p.get(41), None);
    }

    #[test]
    fn garbage_is_an_error_at_every_cut() {
        let b = page(&[(1, "{\"a\":1}"), (2, "{\"b\":2}")]);
        for n in 0..b.len() {
            assert!(AlertPage::decode(1, &b[..n]).is_err(), "cut at {n}");
        }
        let mut longer = b.clone();
        longer.push(b'x');
        assert!(AlertPage::decode(1, &longer).is_err());
        let backwards = page(&[(2, "{}"), (1, "{}")]);
        assert!(matches!(
            AlertPage::decode(2, &backwards),
            Err(PageError::Order { .. })
        ));
        assert!(matches!(
            AlertPage::decode(1, b"x"),
            Err(PageError::Magic(b'x'))
        ));
    }
}
