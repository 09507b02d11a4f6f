//! The integrity chain: every record the store writes is linked into an HMAC-SHA256 chain so
//! that modified, removed, inserted or reordered records are detectable (`vigil store verify`).
//!
//! Entry `n` (key `n` big-endian in the `chain` tree) covers one write batch:
//! `mac_n = HMAC(key, mac_{n-1} || n || count || for each record: op || tree || key ||
//! SHA-256(value))`. The value's digest stands in for the value so that superseded versions
//! need not be kept; the digest binds it just as well. Stores written before batching have one
//! record per entry ([`Entry`]); both forms verify. The key is 32 random bytes in
//! `DATA/store.key` (mode 0600).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::{digest, hmac, rand::SecureRandom};

use super::pages::AlertPage;
use super::StoreError;

/// Trees whose records are chained (every other tree is an index, derived from these).
pub const CHAINED_TREES: &[&str] = &["alerts", "incidents", "meta"];
/// The chain's own tree.
pub const CHAIN_TREE: &str = "chain";
/// Meta key of the signed chain head (not itself chained: it signs the chain's end).
pub const HEAD_KEY: &[u8] = b"head";
/// Meta key of the signed chain base (not chained either): the entry number and MAC the chain
/// starts after once older entries were pruned (see `SledStore::prune_chain`).
pub const BASE_KEY: &[u8] = b"chain_base";

/// Whether a `meta` key is one of the two signed markers rather than a chained record.
pub fn is_marker(key: &[u8]) -> bool {
    key == HEAD_KEY || key == BASE_KEY
}

pub const OP_PUT: u8 = 0;
pub const OP_DEL: u8 = 1;

/// The chain key, from `DATA/store.key`.
pub struct ChainKey(hmac::Key);

fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("store.key")
}

impl ChainKey {
    /// Reads `DATA/store.key`, creating it (32 random bytes, mode 0600) when `create` and absent.
    /// Refuses a key file that group or others may read.
    pub fn load(data_dir: &Path, create: bool) -> Result<ChainKey, StoreError> {
        let path = key_path(data_dir);
        let open_err = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        if !path.exists() {
            if !create {
                return Err(open_err(
                    "no store key; is this a vigil data folder (`--data DIR`)?".into(),
                ));
            }
            let mut bytes = [0u8; 32];
            ring::rand::SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| open_err("cannot get random bytes for a new store key".into()))?;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| open_err(format!("cannot create the store key: {e}")))?;
            f.write_all(&bytes)
                .and_then(|_| f.sync_all())
                .map_err(|e| open_err(format!("cannot write the store key: {e}")))?;
        }
        let meta = fs::metadata(&path).map_err(|e| open_err(format!("cannot read: {e}")))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(open_err(format!(
                "the store key is readable by group or others (mode {mode:o}); \
                 run `chmod 600 {}` and start again",
                path.display()
            )));
        }
        let bytes = fs::read(&path).map_err(|e| open_err(format!("cannot read: {e}")))?;
        if bytes.len() != 32 {
            return Err(open_err(format!(
                "the store key has {} bytes, expected 32; restore it from a backup",
                bytes.len()
            )));
        }
        Ok(ChainKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// A key from raw bytes (tests and fuzzing; the store reads `DATA/store.key`).
    #[doc(hidden)]
    pub fn from_bytes(bytes: &[u8; 32]) -> ChainKey {
        ChainKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The MAC of entry `n` (one-record format).
    pub fn link(
        &self,
        prev: &[u8; 32],
        n: u64,
        op: u8,
        tree: &str,
        key: &[u8],
        dig: &[u8],
    ) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(prev);
        ctx.update(&n.to_be_bytes());
        ctx.update(&[op, tree.len() as u8]);
        ctx.update(tree.as_bytes());
        ctx.update(&(key.len() as u32).to_be_bytes());
        ctx.update(key);
        ctx.update(dig);
        to32(ctx.sign().as_ref())
    }

    /// The MAC of batch entry `n`.
    pub fn link_batch(&self, prev: &[u8; 32], n: u64, links: &[Link]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(prev);
        ctx.update(&n.to_be_bytes());
        ctx.update(&[BATCH_FORMAT]);
        ctx.update(&(links.len() as u32).to_be_bytes());
        for l in links {
            let tree = l.tree_name();
            ctx.update(&[l.op, tree.len() as u8]);
            ctx.update(tree.as_bytes());
            ctx.update(&(l.key.len() as u32).to_be_bytes());
            ctx.update(&l.key);
            ctx.update(&l.digest);
        }
        to32(ctx.sign().as_ref())
    }

    /// A signature over `parts`, for records that vouch for the chain (the head).
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        to32(ctx.sign().as_ref())
    }
}

fn to32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = b.len().min(32);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// SHA-256 of a record value.
pub fn value_digest(value: &[u8]) -> [u8; 32] {
    to32(digest::digest(&digest::SHA256, value).as_ref())
}

/// One decoded chain entry in the one-record format of stores written before batching.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub mac: [u8; 32],
    pub op: u8,
    pub tree: String,
    pub key: Vec<u8>,
    pub digest: [u8; 32],
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + 2 + self.tree.len() + 4 + self.key.len() + 32);
        v.extend_from_slice(&self.mac);
        v.push(self.op);
        v.push(self.tree.len() as u8);
        v.extend_from_slice(self.tree.as_bytes());
        v.extend_from_slice(&(self.key.len() as u32).to_be_bytes());
        v.extend_from_slice(&self.key);
        v.extend_from_slice(&self.digest);
        v
    }

    /// `None` when the bytes are not an entry.
    pub fn decode(b: &[u8]) -> Option<Entry> {
        let mac = to32(b.get(..32)?);
        let op = *b.get(32)?;
        let tl = *b.get(33)? as usize;
        let tree = std::str::from_utf8(b.get(34..34 + tl)?).ok()?.to_string();
        let at = 34 + tl;
        let kl = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let key = b.get(at + 4..at + 4 + kl)?.to_vec();
        let dig = b.get(at + 4 + kl..)?;
        if dig.len() != 32 || op > OP_DEL {
            return None;
        }
        Some(Entry {
            mac,
            op,
            tree,
            key,
            digest: to32(dig),
        })
    }
}

/// Marks a batch entry: the byte after the MAC, where a one-record [`Entry`] has its op (0 or 1).
pub const BATCH_FORMAT: u8 = 0xb1;

/// One record named by a batch entry: what was done to which key, and the value's digest
/// (zeros for a deletion).
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub op: u8,
    /// Position in [`CHAINED_TREES`].
    pub tree: u8,
    pub key: Vec<u8>,
    pub digest: [u8; 32],
}

impl Link {
    pub fn tree_name(&self) -> &'static str {
        CHAINED_TREES
            .get(self.tree as usize)
            .copied()
            .unwrap_or("?")
    }
}

/// A decoded chain entry: a batch of records, or (`legacy`) one record in the old format.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchEntry {
    pub mac: [u8; 32],
    pub legacy: bool,
    pub links: Vec<Link>,
}

/// Why bytes are not a chain entry.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EntryError {
    #[error("chain entry truncated at byte {0}")]
    Truncated(usize),
    #[error("chain entry names unknown tree {0:?} at byte {1}")]
    Tree(String, usize),
    #[error("chain entry has op {0} at byte {1}")]
    Op(u8, usize),
    #[error("chain entry has {0} bytes after its last record")]
    Trailing(usize),
}

impl BatchEntry {
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.links.iter().map(|l| 36 + l.key.len()).sum();
        let mut v = Vec::with_capacity(37 + size);
        v.extend_from_slice(&self.mac);
        v.push(BATCH_FORMAT);
        v.extend_from_slice(&(self.links.len() as u32).to_be_bytes());
        for l in &self.links {
            v.push(l.op);
            v.push(l.tree);
            v.extend_from_slice(&(l.key.len() as u16).to_be_bytes());
            v.extend_from_slice(&l.key);
            v.extend_from_slice(&l.digest);
        }
        v
    }

    /// Decodes either form; never panics on arbitrary bytes.
    pub fn decode(b: &[u8]) -> Result<BatchEntry, EntryError> {
        let mac = to32(b.get(..32).ok_or(EntryError::Truncated(b.len()))?);
        match b.get(32) {
            None => return Err(EntryError::Truncated(32)),
            Some(&BATCH_FORMAT) => {}
            Some(_) => {
                let e = Entry::decode(b).ok_or(EntryError::Truncated(b.len()))?;
                let tree = CHAINED_TREES
                    .iter()
                    .position(|t| *t == e.tree)
                    .ok_or_else(|| EntryError::Tree(e.tree.clone(), 34))?;
                return Ok(BatchEntry {
                    mac,
                    legacy: true,
                    links: vec![Link {
                        op: e.op,
                        tree: tree as u8,
                        key: e.key,
                        digest: e.digest,
                    }],
                });
            }
        }
        let count = u32::from_be_bytes(take::<4>(b, 33)?) as usize;
        // Each record takes at least 36 bytes: a count beyond that is a lie, not an allocation.
        let mut links = Vec::with_capacity(count.min(b.len() / 36));
        let mut at = 37;
        for _ in 0..count {
            let [op, tree] = take::<2>(b, at)?;
            if op > OP_DEL {
                return Err(EntryError::Op(op, at));
            }
            if tree as usize >= CHAINED_TREES.len() {
                return Err(EntryError::Tree(tree.to_string(), at + 1));
            }
            let kl = u16::from_be_bytes(take::<2>(b, at + 2)?) as usize;
            at += 4;
            let key = b
                .get(at..at + kl)
                .ok_or(EntryError::Truncated(at))?
                .to_vec();
            at += kl;
            let digest = take::<32>(b, at)?;
            at += 32;
            links.push(Link {
                op,
                tree,
                key,
                digest,
            });
        }
        if at != b.len() {
            return Err(EntryError::Trailing(b.len() - at));
        }
        Ok(BatchEntry {
            mac,
            legacy: false,
            links,
        })
    }

    /// The MAC this entry must carry as entry `n` after `prev`.
    pub fn expected_mac(&self, key: &ChainKey, prev: &[u8; 32], n: u64) -> [u8; 32] {
        match (self.legacy, self.links.first()) {
            (true, Some(l)) => key.link(prev, n, l.op, l.tree_name(), &l.key, &l.digest),
            _ => key.link_batch(prev, n, &self.links),
        }
    }
}

fn take<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], EntryError> {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(EntryError::Truncated(at))
}

/// The signed head: the chain's last entry number and MAC when the last write completed.
pub fn encode_head(key: &ChainKey, n: u64, mac: &[u8; 32]) -> Vec<u8> {
    encode_signed(key, b"head", n, mac)
}

/// `(n, mac)` of a head whose signature checks, else `None`.
pub fn decode_head(key: &ChainKey, b: &[u8]) -> Option<(u64, [u8; 32])> {
    decode_signed(key, b"head", b)
}

/// The signed base: entries up to `n` were pruned, and entry `n + 1` links from `mac`.
pub fn encode_base(key: &ChainKey, n: u64, mac: &[u8; 32]) -> Vec<u8> {
    encode_signed(key, b"base", n, mac)
}

/// `(n, mac)` of a base whose signature checks, else `None`.
pub fn decode_base(key: &ChainKey, b: &[u8]) -> Option<(u64, [u8; 32])> {
    decode_signed(key, b"base", b)
}

/// `n`, `mac` and an HMAC over `label`, `n` and `mac` (the label keeps a head from passing
/// as a base).
fn encode_signed(key: &ChainKey, label: &[u8], n: u64, mac: &[u8; 32]) -> Vec<u8> {
    let sig = key.sign(&[label, &n.to_be_bytes(), mac]);
    let mut v = Vec::with_capacity(72);
    v.extend_from_slice(&n.to_be_bytes());
    v.extend_from_slice(mac);
    v.extend_from_slice(&sig);
    v
}

fn decode_signed(key: &ChainKey, label: &[u8], b: &[u8]) -> Option<(u64, [u8; 32])> {
    if b.len() != 72 {
        return None;
    }
    let n = u64::from_be_bytes(b[..8].try_into().ok()?);
    let mac = to32(&b[8..40]);
    let mut msg = Vec::with_capacity(label.len() + 40);
    msg.extend_from_slice(label);
    msg.extend_from_slice(&n.to_be_bytes());
    msg.extend_from_slice(&mac);
    hmac::verify(&key.0, &msg, &b[40..72])
        .is_ok()
        .then_some((n, mac))
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyReport {
    /// Live chained records checked.
    pub records: u64,
    /// Alerts in the alert pages among them.
    pub alerts: u64,
    /// Chain entries walked.
    pub entries: u64,
    /// Chain entries past the signed head: a batch a crash cut short (tolerated).
    pub unconfirmed: u64,
    /// The first problem, by chain position; `None` when the store is intact.
    pub problem: Option<Problem>,
}

/// A sign of tampering (or of damage), with where it was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The chain entry involved, when there is one.
    pub n: Option<u64>,
    pub tree: String,
    /// The record's key, readable (`a-…`/`i-…` ids, or text).
    pub key: String,
    pub kind: ProblemKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProblemKind {
    /// A chain entry's MAC does not check: the entry was changed, moved or forged.
    BadLink,
    /// A chain entry is missing (entries must be numbered without gaps).
    Gap { expected: u64 },
    /// The chain entry cannot be decoded.
    Garbled,
    /// The signed head is missing, forged, or names entries the chain no longer has.
    Head(String),
    /// A record's value differs from the last value chained for its key.
    Modified,
    /// A record the chain says exists is gone.
    Removed,
    /// A record the chain never saw (or saw deleted) is present.
    Inserted,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.n {
            Some(n) => format!("chain entry {n}"),
            None => "chain".to_string(),
        };
        let what = match &self.kind {
            ProblemKind::BadLink => {
                "MAC does not match (entry modified, reordered or forged)".to_string()
            }
            ProblemKind::Gap { expected } => format!("entry {expected} is missing (removed)"),
            ProblemKind::Garbled => "entry cannot be decoded".to_string(),
            ProblemKind::Head(m) => m.clone(),
            ProblemKind::Modified => {
                "record modified: its value is not the one chained".to_string()
            }
            ProblemKind::Removed => "record removed: chained but no longer present".to_string(),
            ProblemKind::Inserted => "record inserted: present but not in the chain".to_string(),
        };
        write!(f, "{at}: tree {} key {}: {what}", self.tree, self.key)
    }
}

/// Why `verify` could not run at all (exit code 2 at the CLI).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{path}: no store here; give the daemon's data folder with `--data DIR`")]
    Missing { path: String },
    #[error("{0}")]
    Open(#[from] StoreError),
}

/// A record key as a person reads it.
pub fn show_key(tree: &str, key: &[u8]) -> String {
    if tree == "alerts" && key.len() == 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(key);
        return format!("a-{:016x}", u64::from_be_bytes(b));
    }
    if tree == CHAIN_TREE && key.len() == 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(key);
        return u64::from_be_bytes(b).to_string();
    }
    String::from_utf8_lossy(key).into_owned()
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(format!(
        "{e}; the store may be damaged, run `vigil store verify`"
    ))
}

/// Walks the chain of the store under `data_dir` and checks every live record against it.
pub fn verify(data_dir: &Path) -> Result<VerifyReport, VerifyError> {
    let dir = data_dir.join("store");
    if !dir.join("conf").exists() && !dir.join("db").exists() {
        return Err(VerifyError::Missing {
            path: dir.display().to_string(),
        });
    }
    let key = ChainKey::load(data_dir, false)?;
    let db = open_sled(sled::Config::new().path(&dir)).map_err(|e| StoreError::Open {
        path: dir.display().to_string(),
        message: format!("{e} (is the daemon running? stop it first)"),
    })?;
    verify_db(&db, &key).map_err(VerifyError::Open)
}

/// Opens sled, waiting up to two seconds for the file lock: a store dropped a moment ago (in
/// this process or one that just exited) releases it only when sled's flusher thread ends.
pub fn open_sled(config: sled::Config) -> sled::Result<sled::Db> {
    let mut tries = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if tries < 40 && e.to_string().contains("acquire lock") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

/// Last chain entry for one record.
struct Last {
    n: u64,
    op: u8,
    digest: [u8; 32],
    /// The last entry at or before the signed head, when this one is past it.
    confirmed: Option<(u8, [u8; 32])>,
}

impl Last {
    /// What is wrong with a record whose last chain entry is `self` and whose live value is
    /// `live`. Past the head a crash may have cut the batch short, so the value chained before
    /// it (or nothing, for a new record) is also accepted.
    fn judge(&self, live: Option<&[u8]>, head_n: u64) -> Option<ProblemKind> {
        let fits = |op: u8, digest: &[u8; 32]| match live {
            Some(v) => op == OP_PUT && *digest == value_digest(v),
            None => op == OP_DEL,
        };
        if fits(self.op, &self.digest) {
            return None;
        }
        if self.n > head_n {
            match (&self.confirmed, live) {
                (Some((op, d)), _) if fits(*op, d) => return None,
                (None, None) => return None,
                _ => {}
            }
        }
        Some(match live {
            None => ProblemKind::Removed,
            Some(_) if self.op == OP_DEL => ProblemKind::Inserted,
            Some(_) => ProblemKind::Modified,
        })
    }
}

/// The walk itself, on an open database.
pub fn verify_db(db: &sled::Db, key: &ChainKey) -> Result<VerifyReport, StoreError> {
    let chain = db.open_tree(CHAIN_TREE).map_err(io)?;
    let meta = db.open_tree("meta").map_err(io)?;
    let mut report = VerifyReport {
        records: 0,
        alerts: 0,
        entries: 0,
        unconfirmed: 0,
        problem: None,
    };
    let problem = |n: Option<u64>, tree: &str, k: &[u8], kind| Problem {
        n,
        tree: tree.to_string(),
        key: show_key(tree, k),
        kind,
    };
    let head = match meta.get(HEAD_KEY).map_err(io)? {
        None => None,
        Some(b) => match decode_head(key, &b) {
            Some(h) => Some(h),
            None => {
                report.problem = Some(problem(
                    None,
                    "meta",
                    HEAD_KEY,
                    ProblemKind::Head("the signed head is forged or damaged".into()),
                ));
                return Ok(report);
            }
        },
    };
    // Entries up to a signed base were pruned; the chain goes on from its MAC.
    let (base_n, base_mac) = match meta.get(BASE_KEY).map_err(io)? {
        None => (0, [0u8; 32]),
        Some(b) => match decode_base(key, &b) {
            Some(b) => b,
            None => {
                report.problem = Some(problem(
                    None,
                    "meta",
                    BASE_KEY,
                    ProblemKind::Head("the signed chain base is forged or damaged".into()),
                ));
                return Ok(report);
            }
        },
    };
    let mut last: HashMap<(u8, Vec<u8>), Last> = HashMap::new();
    let mut prev = base_mac;
    let mut expected = base_n + 1;
    let mut head_mac_seen = false;
    // Entries at or below the base are left over from a prune a crash cut short.
    for item in chain.range(expected.to_be_bytes()..) {
        let (k, v) = item.map_err(io)?;
        let n = match <[u8; 8]>::try_from(k.as_ref()) {
            Ok(b) => u64::from_be_bytes(b),
            Err(_) => {
                report.problem = Some(problem(None, CHAIN_TREE, &k, ProblemKind::Inserted));
                return Ok(report);
            }
        };
        if n != expected {
            let kind = if n > expected {
                ProblemKind::Gap { expected }
            } else {
                ProblemKind::Inserted
            };
            report.problem = Some(problem(Some(n), CHAIN_TREE, &k, kind));
            return Ok(report);
        }
        let e = match BatchEntry::decode(&v) {
            Ok(e) => e,
            Err(EntryError::Tree(name, _)) => {
                report.problem = Some(problem(Some(n), &name, &k, ProblemKind::Garbled));
                return Ok(report);
            }
            Err(_) => {
                report.problem = Some(problem(Some(n), CHAIN_TREE, &k, ProblemKind::Garbled));
                return Ok(report);
            }
        };
        let mac = e.expected_mac(key, &prev, n);
        // Not secret: a verifier compares stored data, so plain equality is fine.
        if mac != e.mac {
            let (tree, rk) = match (e.legacy, e.links.first()) {
                (true, Some(l)) => (l.tree_name(), l.key.clone()),
                _ => (CHAIN_TREE, k.to_vec()),
            };
            report.problem = Some(problem(Some(n), tree, &rk, ProblemKind::BadLink));
            return Ok(report);
        }
        if let Some((hn, hmac)) = head {
            if n == hn {
                head_mac_seen = hmac == mac;
            }
            if n > hn {
                report.unconfirmed += 1;
            }
        }
        let head_n = head.map(|h| h.0).unwrap_or(0);
        for l in e.links {
            let slot = (l.tree, l.key);
            let confirmed = match last.get(&slot) {
                _ if n <= head_n => None,
                Some(p) if p.n <= head_n => Some((p.op, p.digest)),
                Some(p) => p.confirmed,
                None => None,
            };
            last.insert(
                slot,
                Last {
                    n,
                    op: l.op,
                    digest: l.digest,
                    confirmed,
                },
            );
        }
        prev = mac;
        expected += 1;
        report.entries += 1;
    }
    match head {
        Some((hn, _)) if !head_mac_seen => {
            report.problem = Some(problem(
                Some(hn),
                CHAIN_TREE,
                &hn.to_be_bytes(),
                ProblemKind::Head(format!(
                    "the signed head names entry {hn} but the chain ends at {} or differs there \
                     (entries removed from the end)",
                    expected - 1
                )),
            ));
            return Ok(report);
        }
        None if report.entries > 0 => {
            report.problem = Some(problem(
                None,
                "meta",
                HEAD_KEY,
                ProblemKind::Head("the signed head is missing".into()),
            ));
            return Ok(report);
        }
        _ => {}
    }
    let head_n = head.map(|h| h.0).unwrap_or(0);
    let mut found: Vec<Problem> = Vec::new();
    for (t, tree_name) in CHAINED_TREES.iter().enumerate() {
        let tree = db.open_tree(tree_name).map_err(io)?;
        for item in tree.iter() {
            let (k, v) = item.map_err(io)?;
            if *tree_name == "meta" && is_marker(&k) {
                continue;
            }
            report.records += 1;
            if *tree_name == "alerts" {
                let seq = <[u8; 8]>::try_from(k.as_ref()).map_or(0, u64::from_be_bytes);
                report.alerts += AlertPage::decode(seq, &v).map_or(0, |p| p.len() as u64);
            }
            let id = (t as u8, k.to_vec());
            match last.remove(&id) {
                None => found.push(problem(None, tree_name, &k, ProblemKind::Inserted)),
                Some(l) => {
                    if let Some(kind) = l.judge(Some(&v), head_n) {
                        found.push(problem(Some(l.n), tree_name, &k, kind));
                    }
                }
            }
        }
    }
    for ((t, k), l) in last {
        if let Some(kind) = l.judge(None, head_n) {
            let tree = CHAINED_TREES.get(t as usize).copied().unwrap_or("?");
            found.push(problem(Some(l.n), tree, &k, kind));
        }
    }
    found.sort_by_key(|p| p.n.unwrap_or(u64::MAX));
    report.problem = found.into_iter().next();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> BatchEntry {
        BatchEntry {
            mac: [9u8; 32],
            legacy: false,
            links: vec![
                Link {
                    op: OP_PUT,
                    tree: 0,
                    key: 7u64.to_be_bytes().to_vec(),
                    digest: value_digest(b"{}"),
                },
                Link {
                    op: OP_DEL,
                    tree: 1,
                    key: b"i-0000000000000001".to_vec(),
                    digest: [0u8; 32],
                },
            ],
        }
    }

    #[test]
    fn batch_entries_round_trip_and_hostile_bytes_are_errors() {
        let e = entry();
        let b = e.encode();
        assert_eq!(BatchEntry::decode(&b), Ok(e.clone()));
        // Every truncation, and every single-byte change of the header, fails cleanly.
        for n in 0..b.len() {
            assert!(BatchEntry::decode(&b[..n]).is_err(), "prefix {n}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(BatchEntry::decode(&longer), Err(EntryError::Trailing(1)));
        let mut lying = b.clone();
        lying[33..37].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(BatchEntry::decode(&lying).is_err());
        let mut bad_tree = b.clone();
        bad_tree[38] = 9;
        assert!(matches!(
            BatchEntry::decode(&bad_tree),
            Err(EntryError::Tree(..))
        ));
        // A one-record entry of the old format still decodes, and its MAC is the old one.
        let key = ChainKey::from_bytes(&[1u8; 32]);
        let dig = value_digest(b"x");
        let mac = key.link(&[0u8; 32], 1, OP_PUT, "incidents", b"i-1", &dig);
        let old = Entry {
            mac,
            op: OP_PUT,
            tree: "incidents".into(),
            key: b"i-1".to_vec(),
            digest: dig,
        };
        let d = BatchEntry::decode(&old.encode()).expect("legacy entry");
        assert!(d.legacy);
        assert_eq!(d.expected_mac(&key, &[0u8; 32], 1), mac);
        // The batch MAC binds every record and the order they are listed in.
        let m = e.expected_mac(&key, &[0u8; 32], 2);
        let mut swapped = e.clone();
        swapped.links.swap(0, 1);
        assert_ne!(swapped.expected_mac(&key, &[0u8; 32], 2), m);
        assert_ne!(e.expected_mac(&key, &[0u8; 32], 3), m);
    }
}
