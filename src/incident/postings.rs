//! The alert index: per stored batch, one summary (its sequence range and event-time bounds)
//! and one posting list per tenant, rule and tag in it, instead of index entries per alert.
//!
//! Keys start with the batch's first sequence number, so every write appends at the end of
//! the tree (sled's cheap case) and a newest-first list walks batches backwards. The functions
//! here are pure encoders and decoders over bytes; decoding never panics (see the
//! `store_records` fuzz target).

use std::collections::BTreeMap;

use super::AlertRecord;

/// Key prefix of batch summaries.
pub const SUMMARY: u8 = 0;
/// Key prefix of posting lists.
pub const POSTING: u8 = 1;

/// What a posting list is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Tenant = b't' as isize,
    Rule = b'r' as isize,
    Tag = b'g' as isize,
}

/// Why index bytes do not decode.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PostingError {
    #[error("index key has {0} bytes, expected 9 for a summary")]
    SummaryKey(usize),
    #[error("index summary has {0} bytes, expected 32")]
    SummaryValue(usize),
    #[error("index summary ends ({last}) before it starts ({first})")]
    SummaryRange { first: u64, last: u64 },
    #[error("posting list has {0} bytes, not a multiple of 4")]
    PostingLength(usize),
}

/// One stored batch: alerts `first_seq..=last_seq` with event times `min_ts..=max_ts`.
/// `max_ts_so_far` is the newest event time of this batch and every older one, so a list
/// filtered by `since` can stop once it drops below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub first_seq: u64,
    pub last_seq: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub max_ts_so_far: i64,
}

impl Summary {
    pub fn key(&self) -> [u8; 9] {
        summary_key(self.first_seq)
    }

    pub fn encode(&self) -> [u8; 32] {
        let mut v = [0u8; 32];
        v[..8].copy_from_slice(&self.last_seq.to_be_bytes());
        v[8..16].copy_from_slice(&self.min_ts.to_be_bytes());
        v[16..24].copy_from_slice(&self.max_ts.to_be_bytes());
        v[24..].copy_from_slice(&self.max_ts_so_far.to_be_bytes());
        v
    }

    pub fn decode(key: &[u8], value: &[u8]) -> Result<Summary, PostingError> {
        let k: [u8; 9] = key
            .try_into()
            .map_err(|_| PostingError::SummaryKey(key.len()))?;
        if k[0] != SUMMARY {
            return Err(PostingError::SummaryKey(key.len()));
        }
        let v: [u8; 32] = value
            .try_into()
            .map_err(|_| PostingError::SummaryValue(value.len()))?;
        let u = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[i..i + 8]);
            b
        };
        let mut first = [0u8; 8];
        first.copy_from_slice(&k[1..]);
        let s = Summary {
            first_seq: u64::from_be_bytes(first),
            last_seq: u64::from_be_bytes(u(0)),
            min_ts: i64::from_be_bytes(u(8)),
            max_ts: i64::from_be_bytes(u(16)),
            max_ts_so_far: i64::from_be_bytes(u(24)),
        };
        if s.last_seq < s.first_seq {
            return Err(PostingError::SummaryRange {
                first: s.first_seq,
                last: s.last_seq,
            });
        }
        Ok(s)
    }
}

pub fn summary_key(first_seq: u64) -> [u8; 9] {
    let mut k = [SUMMARY; 9];
    k[1..].copy_from_slice(&first_seq.to_be_bytes());
    k
}

/// The prefix of every posting list of the batch starting at `first_seq`.
pub fn posting_prefix(first_seq: u64) -> [u8; 9] {
    let mut k = [POSTING; 9];
    k[1..].copy_from_slice(&first_seq.to_be_bytes());
    k
}

pub fn posting_key(first_seq: u64, kind: Kind, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + name.len());
    k.extend_from_slice(&posting_prefix(first_seq));
    k.push(kind as u8);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Sequence numbers as 4-byte offsets from the batch's first, ascending.
pub fn encode_posting(first_seq: u64, seqs: &[u64]) -> Vec<u8> {
    let mut v = Vec::with_capacity(seqs.len() * 4);
    for s in seqs {
        v.extend_from_slice(&(s.saturating_sub(first_seq) as u32).to_be_bytes());
    }
    v
}

pub fn decode_posting(first_seq: u64, b: &[u8]) -> Result<Vec<u64>, PostingError> {
    if b.len() % 4 != 0 {
        return Err(PostingError::PostingLength(b.len()));
    }
    Ok(b.chunks_exact(4)
        .map(|c| first_seq.saturating_add(u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))))
        .collect())
}

/// The index entries of one batch of records (contiguous sequence numbers, ascending).
#[derive(Default)]
pub struct BatchIndex<'a> {
    lists: BTreeMap<(Kind, &'a str), Vec<u64>>,
    first_seq: Option<u64>,
    last_seq: u64,
    min_ts: i64,
    max_ts: i64,
}

impl<'a> BatchIndex<'a> {
    pub fn add(&mut self, r: &'a AlertRecord) {
        if self.first_seq.is_none() {
            self.first_seq = Some(r.seq);
            self.min_ts = r.ts_ms;
            self.max_ts = r.ts_ms;
        }
        self.last_seq = self.last_seq.max(r.seq);
        self.min_ts = self.min_ts.min(r.ts_ms);
        self.max_ts = self.max_ts.max(r.ts_ms);
        let mut push =
            |kind, name: &'a str| self.lists.entry((kind, name)).or_default().push(r.seq);
        push(Kind::Tenant, r.tenant.as_deref().unwrap_or(""));
        push(Kind::Rule, &r.rule_id);
        for t in &r.tags {
            push(Kind::Tag, t);
        }
    }

    /// The summary and posting lists to insert, given the previous batch's `max_ts_so_far`;
    /// `None` when no record was added.
    pub fn finish(self, so_far: Option<i64>, into: &mut sled::Batch) -> Option<Summary> {
        let first_seq = self.first_seq?;
        let s = Summary {
            first_seq,
            last_seq: self.last_seq,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            max_ts_so_far: so_far.map_or(self.max_ts, |m| m.max(self.max_ts)),
        };
        into.insert(&s.key(), &s.encode());
        for ((kind, name), mut seqs) in self.lists {
            // A tag listed twice on one rule must not list the alert twice.
            seqs.dedup();
            into.insert(
                posting_key(first_seq, kind, name),
                encode_posting(first_seq, &seqs),
            );
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_postings_round_trip_and_reject_garbage() {
        let s = Summary {
            first_seq: 1025,
            last_seq: 2048,
            min_ts: -5,
            max_ts: 1_764_000_000_000,
            max_ts_so_far: 1_764_000_000_001,
        };
        assert_eq!(Summary::decode(&s.key(), &s.encode()), Ok(s));
        assert!(Summary::decode(&s.key()[..8], &s.encode()).is_err());
        assert!(Summary::decode(&s.key(), &s.encode()[..31]).is_err());
        let mut backwards = s;
        backwards.last_seq = 3;
        assert!(Summary::decode(&backwards.key(), &backwards.encode()).is_err());
        let seqs = vec![1025, 1030, 2048];
        assert_eq!(decode_posting(1025, &encode_posting(1025, &seqs)), Ok(seqs));
        assert!(decode_posting(1025, &[1, 2, 3]).is_err());
        assert!(posting_key(7, Kind::Tenant, "acme").starts_with(&posting_prefix(7)));
    }
}
