//! The sled-backed [`Store`]: alerts a few to a value by sequence number ([`super::pages`]),
//! incidents by id, a per-batch alert index ([`super::postings`]) and incident indexes for
//! newest-first lists, every record linked into the integrity chain (see [`super::chain`]),
//! one chain entry per write. Retention prunes the chain below the oldest live alert.
//!
//! Writes are serialized by one lock and land in per-tree batches in a fixed order (chain,
//! records, indexes, signed head), then one flush; notices go out only after the flush. A crash
//! between those steps leaves a chain entry past the signed head, which `open` reconciles.
//! Lists are newest first in the order alerts were stored (sequence number).
//!
//! An incident that a batch only added alerts to is not rewritten: the batch writes its
//! counters into a small chained record, reads apply them, and every few batches such
//! incidents are written in full and the records removed (see `Counts`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hashbrown::{HashMap, HashSet};
use sled::{Batch, Tree};
use tokio::sync::broadcast;

use super::chain::{self, BatchEntry, ChainKey, Link, CHAIN_TREE, HEAD_KEY, OP_DEL, OP_PUT};
use super::grouping::{self, Grouper};
use super::pages::{self, AlertPage, PAGE_ALERTS, PAGE_BYTES};
use super::postings::{self, BatchIndex, Kind, Summary};
use super::{
    Action, AlertJson, AlertRecord, Filter, Incident, Level, Notice, Page, Scope, Status, Store,
    StoreError, StoreStats,
};
use crate::rules::Alert;

/// Capacity of the notice channel; a subscriber that falls further behind gets `Lagged`.
pub const NOTICE_CAPACITY: usize = 4096;

/// How the store groups and caches.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Alerts about one tenant and entity this close in event time share an incident.
    pub window: Duration,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            window: grouping::DEFAULT_WINDOW,
            cache_bytes: 128 << 20,
        }
    }
}

/// What one `apply_retention` removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetentionReport {
    pub alerts_removed: u64,
    pub incidents_removed: u64,
    /// Every alert with a sequence number up to this one is gone.
    pub through_seq: Option<u64>,
    /// Chain entries pruned after it (entries older than every alert left).
    pub chain_entries_pruned: u64,
    /// Why the chain was not pruned, when it could not be (the retention itself stands).
    pub prune_error: Option<String>,
}

// Record trees (chained), in the order of `chain::CHAINED_TREES`.
const ALERTS: usize = 0;
const INCIDENTS: usize = 1;
const META: usize = 2;
// Index trees.
const IX_ALERT: usize = 0;
const IX_INC_TENANT: usize = 1;
const IX_INC_STATUS: usize = 2;
const INDEXES: [&str; 3] = [
    "ix_alert_batches",
    "ix_incident_tenant",
    "ix_incident_status",
];
/// Per-alert index trees of stores written before the per-batch index; dropped on open.
const OLD_INDEXES: [&str; 4] = [
    "ix_alert_time",
    "ix_alert_tenant",
    "ix_alert_rule",
    "ix_alert_tag",
];
/// Alerts indexed per summary when `open` catches the index up.
const INDEX_CHUNK: usize = 1024;
/// Links per chain entry when pruning chains records again.
const RELINK_CHUNK: usize = 4096;
/// Pruning waits until it can drop at least this many chain entries.
const PRUNE_MIN: u64 = 64;

const META_ALERT_SEQ: &[u8] = b"alert_seq";
const META_INCIDENT_SEQ: &[u8] = b"incident_seq";
const META_ALERT_COUNT: &[u8] = b"alert_count";
const META_ALERT_BYTES: &[u8] = b"alert_bytes";
const META_RETENTION: &[u8] = b"retention";
/// Prefix of the counters records: `counts\0` + the chain entry number, big-endian.
const META_COUNTS: &[u8] = b"counts\0";
/// Every this many write batches, incidents with unwritten counters are written in full and
/// the counters records go.
const FULL_EVERY: u64 = 16;

/// The counters of an incident whose newest version is not written in full: a batch that only
/// added alerts to it writes these (32 bytes and the id) instead of the whole incident. They
/// only ever grow, so merging any records in any order gives the newest values.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Counts {
    alert_count: u64,
    first_ms: i64,
    last_ms: i64,
}

impl Counts {
    fn of(inc: &Incident) -> Counts {
        Counts {
            alert_count: inc.alert_count,
            first_ms: inc.first_ms,
            last_ms: inc.last_ms,
        }
    }

    fn apply(self, inc: &mut Incident) {
        inc.alert_count = inc.alert_count.max(self.alert_count);
        inc.first_ms = inc.first_ms.min(self.first_ms);
        inc.last_ms = inc.last_ms.max(self.last_ms);
    }

    fn merge(self, other: Counts) -> Counts {
        Counts {
            alert_count: self.alert_count.max(other.alert_count),
            first_ms: self.first_ms.min(other.first_ms),
            last_ms: self.last_ms.max(other.last_ms),
        }
    }
}

/// A counters record: per incident, the id's length (u16), the id, then the counts (u64,
/// i64, i64), all big-endian.
fn encode_counts(items: &[(String, Counts)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(items.len() * 44);
    for (id, c) in items {
        let id = &id.as_bytes()[..id.len().min(u16::MAX as usize)];
        v.extend_from_slice(&(id.len() as u16).to_be_bytes());
        v.extend_from_slice(id);
        v.extend_from_slice(&c.alert_count.to_be_bytes());
        v.extend_from_slice(&c.first_ms.to_be_bytes());
        v.extend_from_slice(&c.last_ms.to_be_bytes());
    }
    v
}

fn decode_counts(mut b: &[u8]) -> Option<Vec<(String, Counts)>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (b.get(..n)?, b.get(n..)?);
        *b = rest;
        Some(head)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = u16::from_be_bytes(take(&mut b, 2)?.try_into().ok()?) as usize;
        let id = std::str::from_utf8(take(&mut b, len)?).ok()?.to_string();
        let mut n = || Some(u64::from_be_bytes(take(&mut b, 8)?.try_into().ok()?));
        let (count, first, last) = (n()?, n()? as i64, n()? as i64);
        out.push((
            id,
            Counts {
                alert_count: count,
                first_ms: first,
                last_ms: last,
            },
        ));
    }
    Some(out)
}

struct Writer {
    grouper: Grouper,
    /// The next alert's sequence number.
    alert_seq: u64,
    chain_n: u64,
    chain_mac: [u8; 32],
    alert_count: u64,
    alert_bytes: u64,
    batches: u64,
    /// `max_ts_so_far` of the newest index summary.
    ix_so_far: Option<i64>,
    /// Keys of the counters records written since incidents were last written in full.
    counts_keys: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Counters {
    alerts: u64,
    incidents: u64,
    open: BTreeMap<(String, Level), u64>,
}

impl Counters {
    fn count(&mut self, tenant: &Option<String>, status: Status, sev: Level, delta: i64) {
        if status == Status::Resolved {
            return;
        }
        let k = (tenant.clone().unwrap_or_default(), sev);
        let slot = self.open.entry(k.clone()).or_insert(0);
        *slot = slot.saturating_add_signed(delta);
        if *slot == 0 {
            self.open.remove(&k);
        }
    }
}

/// The store on `DATA/store/`.
pub struct SledStore {
    db: sled::Db,
    records: [Tree; 3],
    chain: Tree,
    ix: [Tree; 3],
    key: ChainKey,
    writer: Mutex<Writer>,
    counters: Mutex<Counters>,
    /// Incidents whose stored version is behind on its counters, with the newest counters;
    /// reads apply them.
    unsaved: Mutex<HashMap<String, Counts>>,
    notices: broadcast::Sender<Notice>,
    size: Mutex<(Option<Instant>, u64)>,
    dir: PathBuf,
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(format!(
        "{e}; check the disk, then run `vigil store verify --data DIR`"
    ))
}

fn corrupt(what: &str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!(
        "corrupt {what} record {key}: {e}; run `vigil store verify --data DIR` to see what changed"
    ))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn u64_of(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

fn prefixed(name: &str, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 1 + rest.len());
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.extend_from_slice(rest);
    k
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Open => "open",
        Status::Acknowledged => "acknowledged",
        Status::Resolved => "resolved",
    }
}

/// The tenant a read may see, or `Err(())` when scope and filter exclude each other.
fn tenant_of(scope: &Scope, filter: &Filter) -> Result<Option<String>, ()> {
    match scope {
        Scope::All => Ok(filter.tenant.clone()),
        Scope::Tenant(t) => match &filter.tenant {
            Some(f) if f != t => Err(()),
            _ => Ok(Some(t.clone())),
        },
    }
}

/// `tenant` is the one [`tenant_of`] resolved from scope and filter.
fn alert_matches(r: &AlertRecord, tenant: &Option<String>, filter: &Filter) -> bool {
    tenant.as_ref().is_none_or(|t| r.tenant.as_ref() == Some(t)) && filter.matches_alert(r)
}

fn incident_matches(i: &Incident, tenant: &Option<String>, filter: &Filter) -> bool {
    tenant.as_ref().is_none_or(|t| i.tenant.as_ref() == Some(t)) && filter.matches_incident(i)
}

/// Writes gathered for one commit: one chain entry, then records, then indexes.
struct Pending {
    links: Vec<Link>,
    records: [Batch; 3],
    ix: [Batch; 3],
}

impl Pending {
    fn new() -> Pending {
        Pending {
            links: Vec::new(),
            records: Default::default(),
            ix: Default::default(),
        }
    }

    /// Chains a record again as it stands (its value unchanged, so nothing is written).
    fn relink(&mut self, tree: usize, k: &[u8], digest: [u8; 32]) {
        self.links.push(Link {
            op: OP_PUT,
            tree: tree as u8,
            key: k.to_vec(),
            digest,
        });
    }

    fn link(&mut self, op: u8, tree: usize, k: &[u8], v: &[u8]) {
        let digest = if op == OP_PUT {
            chain::value_digest(v)
        } else {
            [0u8; 32]
        };
        self.links.push(Link {
            op,
            tree: tree as u8,
            key: k.to_vec(),
            digest,
        });
    }

    fn put(&mut self, tree: usize, k: &[u8], v: Vec<u8>) {
        self.link(OP_PUT, tree, k, &v);
        self.records[tree].insert(k, v);
    }

    fn del(&mut self, tree: usize, k: &[u8]) {
        self.link(OP_DEL, tree, k, &[]);
        self.records[tree].remove(k);
    }

    fn meta_u64(&mut self, k: &[u8], v: u64) {
        self.put(META, k, v.to_be_bytes().to_vec());
    }
}

/// Decodes a stored alert record (the `alerts` tree's values).
pub fn decode_alert(b: &[u8]) -> Result<AlertRecord, serde_json::Error> {
    serde_json::from_slice(b)
}

/// Decodes a stored incident (the `incidents` tree's values).
pub fn decode_incident(b: &[u8]) -> Result<Incident, serde_json::Error> {
    serde_json::from_slice(b)
}

impl SledStore {
    /// Opens (creating if needed) the store under `data_dir` with default options.
    pub fn open(data_dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with(data_dir, StoreOptions::default())
    }

    pub fn open_with(data_dir: &Path, opts: StoreOptions) -> Result<SledStore, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: data_dir.join("store").display().to_string(),
            message,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| open_err(format!("cannot create the data folder: {e}")))?;
        let key = ChainKey::load(data_dir, true)?;
        let dir = data_dir.join("store");
        let db = chain::open_sled(
            sled::Config::new()
                .path(&dir)
                .cache_capacity(opts.cache_bytes)
                .mode(sled::Mode::HighThroughput),
        )
        .map_err(|e| {
            open_err(format!(
                "{e}; is another vigil using this data folder? stop it or use another `--data`"
            ))
        })?;
        let tree = |n: &str| db.open_tree(n).map_err(io);
        let records = [
            tree(chain::CHAINED_TREES[0])?,
            tree(chain::CHAINED_TREES[1])?,
            tree(chain::CHAINED_TREES[2])?,
        ];
        let chain_tree = tree(CHAIN_TREE)?;
        let ix = [tree(INDEXES[0])?, tree(INDEXES[1])?, tree(INDEXES[2])?];
        let (notices, _) = broadcast::channel(NOTICE_CAPACITY);
        let meta_u64 = |k: &[u8]| -> Result<u64, StoreError> {
            Ok(records[META]
                .get(k)
                .map_err(io)?
                .and_then(|v| u64_of(&v))
                .unwrap_or(0))
        };
        let mut alert_seq = meta_u64(META_ALERT_SEQ)?.max(1);
        if let Some((k, v)) = records[ALERTS].last().map_err(io)? {
            let key = u64_of(&k).unwrap_or(0);
            let last = AlertPage::decode(key, &v).map_or(key, |p| p.range().1);
            alert_seq = alert_seq.max(last.saturating_add(1));
        }
        let mut incident_seq = meta_u64(META_INCIDENT_SEQ)?.max(1);
        let (chain_n, chain_mac) = match chain_tree.last().map_err(io)? {
            None => (0, [0u8; 32]),
            Some((k, v)) => {
                let n = u64_of(&k).ok_or_else(|| corrupt("chain", "last", "bad key"))?;
                let e = BatchEntry::decode(&v).map_err(|e| corrupt("chain", &n.to_string(), e))?;
                (n, e.mac)
            }
        };
        let writer = Writer {
            grouper: Grouper::new(opts.window, 1),
            alert_seq,
            chain_n,
            chain_mac,
            alert_count: meta_u64(META_ALERT_COUNT)?,
            alert_bytes: meta_u64(META_ALERT_BYTES)?,
            batches: 0,
            ix_so_far: None,
            counts_keys: Vec::new(),
        };
        let store = SledStore {
            db,
            records,
            chain: chain_tree,
            ix,
            key,
            writer: Mutex::new(writer),
            counters: Mutex::new(Counters::default()),
            unsaved: Mutex::new(HashMap::new()),
            notices,
            size: Mutex::new((None, 0)),
            dir,
        };
        store.reconcile_tail()?;
        store.catch_up_index()?;
        for old in OLD_INDEXES {
            store.db.drop_tree(old).map_err(io)?;
        }
        // Counters written since incidents were last written in full.
        let mut unsaved: HashMap<String, Counts> = HashMap::new();
        let mut counts_keys = Vec::new();
        for item in store.records[META].scan_prefix(META_COUNTS) {
            let (k, v) = item.map_err(io)?;
            let items = decode_counts(&v).ok_or_else(|| corrupt("counters", "meta", "bad"))?;
            for (id, c) in items {
                let slot = unsaved.entry(id).or_insert(c);
                *slot = slot.merge(c);
            }
            counts_keys.push(k.to_vec());
        }
        // Incidents: counters, the next id, and the grouping state.
        let mut incidents = Vec::new();
        let mut newest = i64::MIN;
        {
            let mut c = lock(&store.counters);
            for item in store.records[INCIDENTS].iter() {
                let (k, v) = item.map_err(io)?;
                let mut inc: Incident = serde_json::from_slice(&v)
                    .map_err(|e| corrupt("incident", &String::from_utf8_lossy(&k), e))?;
                if let Some(c) = unsaved.get(&inc.id) {
                    c.apply(&mut inc);
                }
                if let Some(n) = inc
                    .id
                    .strip_prefix("i-")
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                {
                    incident_seq = incident_seq.max(n + 1);
                }
                c.incidents += 1;
                c.count(&inc.tenant, inc.status, inc.severity, 1);
                newest = newest.max(inc.last_ms);
                incidents.push(inc);
            }
        }
        {
            let mut w = lock(&store.writer);
            w.grouper = Grouper::new(opts.window, incident_seq);
            for inc in incidents {
                w.grouper.restore(inc, newest);
            }
            lock(&store.counters).alerts = w.alert_count;
            w.counts_keys = counts_keys;
        }
        *lock(&store.unsaved) = unsaved;
        Ok(store)
    }

    /// The folder sled keeps its files in.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Chain entries past the signed head belong to a batch a crash cut short. Each record it
    /// touched is chained again in the state it was left in (written, not written, or still
    /// the version before), and alerts that made it get their index entries back. A record
    /// that fits neither the tail nor the version before it was tampered with: refuse to open.
    fn reconcile_tail(&self) -> Result<(), StoreError> {
        let head = self.records[META].get(HEAD_KEY).map_err(io)?;
        let head_n = match head {
            Some(b) => match chain::decode_head(&self.key, &b) {
                Some((n, _)) => n,
                None => {
                    return Err(StoreError::Open {
                        path: self.dir.display().to_string(),
                        message: "the signed chain head does not check (tampering, or another \
                                  store.key); run `vigil store verify --data DIR`"
                            .into(),
                    })
                }
            },
            None => 0,
        };
        let mut w = lock(&self.writer);
        if w.chain_n <= head_n {
            return Ok(());
        }
        // The tail's last entry for each record.
        let mut tail: HashMap<(usize, Vec<u8>), Link> = HashMap::new();
        for item in self.chain.range((head_n + 1).to_be_bytes()..) {
            let (k, v) = item.map_err(io)?;
            let n = u64_of(&k).unwrap_or(0);
            let e = BatchEntry::decode(&v).map_err(|e| corrupt("chain", &n.to_string(), e))?;
            for l in e.links {
                tail.insert((l.tree as usize, l.key.clone()), l);
            }
        }
        let fits = |op: u8, digest: &[u8; 32], live: &Option<sled::IVec>| match live {
            Some(v) => op == OP_PUT && *digest == chain::value_digest(v),
            None => op == OP_DEL,
        };
        let mut live = HashMap::new();
        let mut unsure = HashSet::new();
        for ((t, k), e) in &tail {
            let v = self.records[*t].get(k).map_err(io)?;
            if !fits(e.op, &e.digest, &v) {
                unsure.insert((*t, k.clone()));
            }
            live.insert((*t, k.clone()), v);
        }
        // For records the tail did not finish: the version chained before it.
        let mut before: HashMap<(usize, Vec<u8>), Link> = HashMap::new();
        if !unsure.is_empty() {
            'walk: for item in self.chain.range(..=head_n.to_be_bytes()).rev() {
                let (_, v) = item.map_err(io)?;
                let Ok(e) = BatchEntry::decode(&v) else {
                    continue;
                };
                for l in e.links.into_iter().rev() {
                    let slot = (l.tree as usize, l.key.clone());
                    if unsure.contains(&slot) && !before.contains_key(&slot) {
                        before.insert(slot, l);
                        if before.len() == unsure.len() {
                            break 'walk;
                        }
                    }
                }
            }
        }
        let mut p = Pending::new();
        let mut slots: Vec<_> = live.into_iter().collect();
        slots.sort_by(|a, b| a.0.cmp(&b.0));
        for ((t, k), v) in slots {
            let ok = match before.get(&(t, k.clone())) {
                _ if !unsure.contains(&(t, k.clone())) => true,
                Some(e) => fits(e.op, &e.digest, &v),
                None => v.is_none(),
            };
            if !ok {
                return Err(StoreError::Open {
                    path: self.dir.display().to_string(),
                    message: format!(
                        "record {} in {} does not match the integrity chain; run \
                         `vigil store verify --data DIR`",
                        chain::show_key(chain::CHAINED_TREES[t], &k),
                        chain::CHAINED_TREES[t]
                    ),
                });
            }
            match v {
                None => p.link(OP_DEL, t, &k, &[]),
                Some(v) => {
                    p.link(OP_PUT, t, &k, &v);
                    // Alerts that made it are indexed by `catch_up_index`.
                    if t == INCIDENTS {
                        if let Ok(i) = decode_incident(&v) {
                            index_incident(&mut p.ix, &i, Some(i.status));
                        }
                    }
                }
            }
        }
        self.commit(&mut w, p)
    }

    /// Indexes alerts stored after the newest index summary: the batch a crash cut short, or
    /// every alert of a store written before the per-batch index.
    fn catch_up_index(&self) -> Result<(), StoreError> {
        let mut w = lock(&self.writer);
        let newest = self.summaries(u64::MAX)?.next().transpose()?;
        w.ix_so_far = newest.map(|s| s.max_ts_so_far);
        let from = newest.map_or(0, |s| s.last_seq.saturating_add(1));
        let mut records = Vec::with_capacity(INDEX_CHUNK + PAGE_ALERTS);
        let mut iter = self.records[ALERTS].range(self.page_key(from)?.to_be_bytes()..);
        loop {
            records.clear();
            for item in iter.by_ref() {
                let (k, v) = item.map_err(io)?;
                // An undecodable record is left out of the lists; reading it still fails.
                if let Ok(page) = AlertPage::decode(u64_of(&k).unwrap_or(0), &v) {
                    for (_, r) in page.iter().filter(|(seq, _)| *seq >= from) {
                        if let Ok(r) = decode_alert(r) {
                            records.push(r);
                        }
                    }
                }
                if records.len() >= INDEX_CHUNK {
                    break;
                }
            }
            if records.is_empty() {
                break;
            }
            let mut ix = BatchIndex::default();
            for r in &records {
                ix.add(r);
            }
            let mut b = Batch::default();
            if let Some(s) = ix.finish(w.ix_so_far, &mut b) {
                w.ix_so_far = Some(s.max_ts_so_far);
            }
            self.ix[IX_ALERT].apply_batch(b).map_err(io)?;
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// Index summaries of batches starting before `before_seq`, newest first.
    fn summaries(
        &self,
        before_seq: u64,
    ) -> Result<impl Iterator<Item = Result<Summary, StoreError>>, StoreError> {
        let lower = postings::summary_key(0);
        let upper = postings::summary_key(before_seq);
        Ok(self.ix[IX_ALERT].range(lower..upper).rev().map(|item| {
            let (k, v) = item.map_err(io)?;
            Summary::decode(&k, &v).map_err(|e| corrupt("index", "summary", e))
        }))
    }

    fn commit(&self, w: &mut Writer, p: Pending) -> Result<(), StoreError> {
        let n = w.chain_n + 1;
        let mac = self.key.link_batch(&w.chain_mac, n, &p.links);
        let entry = BatchEntry {
            mac,
            legacy: false,
            links: p.links,
        };
        self.chain
            .insert(n.to_be_bytes(), entry.encode())
            .map_err(io)?;
        for (t, b) in self.records.iter().zip(p.records) {
            t.apply_batch(b).map_err(io)?;
        }
        for (t, b) in self.ix.iter().zip(p.ix) {
            t.apply_batch(b).map_err(io)?;
        }
        self.records[META]
            .insert(HEAD_KEY, chain::encode_head(&self.key, n, &mac))
            .map_err(io)?;
        self.db.flush().map_err(io)?;
        w.chain_n = n;
        w.chain_mac = mac;
        Ok(())
    }

    /// Writes in full every incident with unwritten counters that this batch did not touch
    /// (touched ones are written by the caller), and removes the counters records.
    fn write_unsaved(
        &self,
        w: &Writer,
        touched: &[(String, Option<(Status, Level)>)],
        p: &mut Pending,
    ) -> Result<(), StoreError> {
        let ids: Vec<String> = {
            let u = lock(&self.unsaved);
            let done: HashSet<&str> = touched.iter().map(|(id, _)| id.as_str()).collect();
            u.keys()
                .filter(|id| !done.contains(id.as_str()))
                .cloned()
                .collect()
        };
        for id in ids {
            let inc = match w.grouper.get(&id) {
                Some(inc) => inc.clone(),
                // Its entity started a new incident: the stored version plus its counters.
                None => match self.get_incident(&id)? {
                    Some(inc) => inc,
                    None => continue,
                },
            };
            let v = serde_json::to_vec(&inc)
                .map_err(|e| StoreError::Io(format!("cannot encode incident: {e}")))?;
            p.put(INCIDENTS, inc.id.as_bytes(), v);
        }
        for k in &w.counts_keys {
            p.del(META, k);
        }
        Ok(())
    }

    fn publish(&self, n: Notice) {
        // No subscriber is fine: nobody is listening yet.
        let _ = self.notices.send(n);
    }

    /// The stored page that would hold alert `seq`: the last one keyed at or before it.
    fn page_at(&self, seq: u64) -> Result<Option<(u64, sled::IVec)>, StoreError> {
        match self.records[ALERTS]
            .range(..=seq.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(io)?
        {
            None => Ok(None),
            Some((k, v)) => Ok(Some((u64_of(&k).unwrap_or(0), v))),
        }
    }

    /// Where a walk over alerts from `seq` on starts: the key of the page holding it.
    fn page_key(&self, seq: u64) -> Result<u64, StoreError> {
        Ok(self.page_at(seq)?.map_or(seq, |(k, _)| k))
    }

    /// Alert `seq`, reading through `last`, the page read before (lists read neighbours).
    fn get_alert(
        &self,
        seq: u64,
        last: &mut Option<(u64, sled::IVec)>,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let cached = last.as_ref().is_some_and(|(k, v)| {
            *k <= seq && AlertPage::decode(*k, v).is_ok_and(|p| p.range().1 >= seq)
        });
        if !cached {
            *last = self.page_at(seq)?;
        }
        let Some((k, v)) = last.as_ref() else {
            return Ok(None);
        };
        let page =
            AlertPage::decode(*k, v).map_err(|e| corrupt("alert", &format!("a-{k:016x}"), e))?;
        match page.get(seq) {
            None => Ok(None),
            Some(r) => decode_alert(r)
                .map(Some)
                .map_err(|e| corrupt("alert", &format!("a-{seq:016x}"), e)),
        }
    }

    /// The incident as stored, with counters the store has not written in full yet.
    fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        match self.records[INCIDENTS].get(id.as_bytes()).map_err(io)? {
            None => Ok(None),
            Some(v) => {
                let mut inc = decode_incident(&v).map_err(|e| corrupt("incident", id, e))?;
                if let Some(c) = lock(&self.unsaved).get(id) {
                    c.apply(&mut inc);
                }
                Ok(Some(inc))
            }
        }
    }

    /// Removes the oldest alerts (older than `max_age` before the newest event time, or until
    /// alert records take at most `max_bytes`), then resolved incidents older than every
    /// remaining alert. Removals are chained as deletions and a checkpoint records how far
    /// retention went, so `verify` still passes.
    pub fn apply_retention(
        &self,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<RetentionReport, StoreError> {
        let mut w = lock(&self.writer);
        let mut report = RetentionReport::default();
        let cutoff = match max_age {
            Some(age) if w.grouper.now_ms() != i64::MIN => w
                .grouper
                .now_ms()
                .saturating_sub(age.as_millis().min(i64::MAX as u128) as i64),
            _ => i64::MIN,
        };
        let mut oldest_left = i64::MAX;
        loop {
            let mut p = Pending::new();
            let mut removed = 0u64;
            let mut done = true;
            let mut bytes = w.alert_bytes;
            // Oldest first, alert by alert; a page cut into is written again with the rest.
            'pages: for item in self.records[ALERTS].iter() {
                if removed >= 10_000 {
                    done = false;
                    break;
                }
                let (k, v) = item.map_err(io)?;
                let key = u64_of(&k).unwrap_or(0);
                let page = AlertPage::decode(key, &v)
                    .map_err(|e| corrupt("alert", &format!("a-{key:016x}"), e))?;
                let mut gone = 0;
                let mut left = bytes;
                let mut stop = false;
                for (seq, r) in page.iter() {
                    let a = decode_alert(r)
                        .map_err(|e| corrupt("alert", &format!("a-{seq:016x}"), e))?;
                    let over = max_bytes.is_some_and(|m| left > m);
                    if a.ts_ms >= cutoff && !over {
                        oldest_left = a.ts_ms;
                        stop = true;
                        break;
                    }
                    left = left.saturating_sub(r.len() as u64 + pages::ENTRY as u64);
                    gone += 1;
                    report.through_seq = Some(seq);
                }
                if gone > 0 {
                    p.del(ALERTS, &k);
                    bytes = bytes.saturating_sub(v.len() as u64);
                    removed += gone as u64;
                    if gone < page.len() {
                        let rest: Vec<(u64, &[u8])> = page.iter().skip(gone).collect();
                        let first = rest.first().map_or(key, |r| r.0);
                        let nv = pages::encode(rest.into_iter());
                        bytes += nv.len() as u64;
                        p.put(ALERTS, &first.to_be_bytes(), nv);
                    }
                }
                if stop {
                    break 'pages;
                }
            }
            if removed == 0 {
                break;
            }
            // Index batches all of whose alerts are gone; a batch retention cut into stays,
            // and lists skip its missing alerts.
            if let Some(through) = report.through_seq {
                for s in self.summaries(through.saturating_add(1))? {
                    let s = s?;
                    if s.last_seq > through {
                        continue;
                    }
                    p.ix[IX_ALERT].remove(&s.key());
                    for item in self.ix[IX_ALERT].scan_prefix(postings::posting_prefix(s.first_seq))
                    {
                        let (k, _) = item.map_err(io)?;
                        p.ix[IX_ALERT].remove(k);
                    }
                }
            }
            w.alert_bytes = bytes;
            w.alert_count = w.alert_count.saturating_sub(removed);
            p.meta_u64(META_ALERT_COUNT, w.alert_count);
            p.meta_u64(META_ALERT_BYTES, w.alert_bytes);
            self.commit(&mut w, p)?;
            report.alerts_removed += removed;
            lock(&self.counters).alerts = w.alert_count;
            if done {
                break;
            }
        }
        // Resolved incidents whose alerts are all gone.
        let mut p = Pending::new();
        let mut gone = Vec::new();
        for item in self.records[INCIDENTS].iter() {
            let (k, v) = item.map_err(io)?;
            let inc = decode_incident(&v)
                .map_err(|e| corrupt("incident", &String::from_utf8_lossy(&k), e))?;
            let aged = max_age.is_none() || inc.last_ms < cutoff;
            if inc.status == Status::Resolved && inc.last_ms < oldest_left && aged {
                p.del(INCIDENTS, &k);
                index_incident(&mut p.ix, &inc, None);
                gone.push(inc.id);
            }
        }
        report.incidents_removed = gone.len() as u64;
        if report.alerts_removed > 0 || !gone.is_empty() {
            let checkpoint = serde_json::json!({
                "through_seq": report.through_seq,
                "alerts_removed": report.alerts_removed,
                "incidents_removed": report.incidents_removed,
                "at_ms": grouping::wall_ms(),
            });
            p.put(META, META_RETENTION, checkpoint.to_string().into_bytes());
            self.commit(&mut w, p)?;
            let mut u = lock(&self.unsaved);
            for id in &gone {
                w.grouper.forget(id);
                u.remove(id);
            }
            drop(u);
            let mut c = lock(&self.counters);
            c.incidents = c.incidents.saturating_sub(gone.len() as u64);
        }
        if report.alerts_removed > 0 || report.incidents_removed > 0 {
            match self.prune_chain(&mut w) {
                Ok(n) => report.chain_entries_pruned = n,
                Err(e) => report.prune_error = Some(e.to_string()),
            }
        }
        Ok(report)
    }

    /// Drops the chain entries older than every live alert, once retention made them describe
    /// only removed records and records chained again since. Live incidents and meta records
    /// whose newest link is among them are first chained again as they stand (after checking
    /// them against it: a record changed behind the store's back stops the prune), then a
    /// signed base records where the chain now starts, then the old entries go. A crash in
    /// between leaves extra entries (ignored below the base) or an unused base, never a chain
    /// that fails to verify. Returns how many entries went.
    fn prune_chain(&self, w: &mut Writer) -> Result<u64, StoreError> {
        let base = match self.records[META].get(chain::BASE_KEY).map_err(io)? {
            None => 0,
            Some(b) => {
                chain::decode_base(&self.key, &b)
                    .ok_or_else(|| corrupt("chain", "base", "signature does not check"))?
                    .0
            }
        };
        // The newest link of every record, from the base on.
        let mut newest: HashMap<(u8, Vec<u8>), Newest> = HashMap::new();
        for item in self.chain.range((base + 1).to_be_bytes()..) {
            let (k, v) = item.map_err(io)?;
            let n = u64_of(&k).unwrap_or(0);
            let e = BatchEntry::decode(&v).map_err(|e| corrupt("chain", &n.to_string(), e))?;
            for l in e.links {
                newest.insert((l.tree, l.key), (n, l.op, l.digest));
            }
        }
        // Every live alert keeps its entry: the base goes just below the oldest.
        let oldest_alert = newest
            .iter()
            .filter(|((t, _), (_, op, _))| *t as usize == ALERTS && *op == OP_PUT)
            .map(|(_, (n, _, _))| *n)
            .min()
            .unwrap_or(w.chain_n + 1);
        let new_base = oldest_alert.saturating_sub(1).min(w.chain_n);
        if new_base < base + PRUNE_MIN {
            return Ok(0);
        }
        let mut relink: Vec<(u8, Vec<u8>, [u8; 32])> = newest
            .into_iter()
            .filter(|(_, (n, op, _))| *n <= new_base && *op == OP_PUT)
            .map(|((t, k), (_, _, d))| (t, k, d))
            .collect();
        relink.sort();
        for (t, k, d) in &relink {
            let live = self.records[*t as usize].get(k).map_err(io)?;
            if live.as_deref().map(chain::value_digest) != Some(*d) {
                return Err(StoreError::Io(format!(
                    "record {} in {} does not match the integrity chain, so the chain is not \
                     pruned; run `vigil store verify --data DIR`",
                    chain::show_key(chain::CHAINED_TREES[*t as usize], k),
                    chain::CHAINED_TREES[*t as usize]
                )));
            }
        }
        let base_mac = match self.chain.get(new_base.to_be_bytes()).map_err(io)? {
            Some(v) => {
                BatchEntry::decode(&v)
                    .map_err(|e| corrupt("chain", &new_base.to_string(), e))?
                    .mac
            }
            None => return Ok(0),
        };
        for chunk in relink.chunks(RELINK_CHUNK) {
            let mut p = Pending::new();
            for (t, k, d) in chunk {
                p.relink(*t as usize, k, *d);
            }
            self.commit(w, p)?;
        }
        self.records[META]
            .insert(
                chain::BASE_KEY,
                chain::encode_base(&self.key, new_base, &base_mac),
            )
            .map_err(io)?;
        self.db.flush().map_err(io)?;
        let mut dropped = 0;
        let mut b = Batch::default();
        for item in self.chain.range(..=new_base.to_be_bytes()) {
            let (k, _) = item.map_err(io)?;
            b.remove(k);
            dropped += 1;
        }
        self.chain.apply_batch(b).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(dropped)
    }
}

/// A record's newest link: chain entry number, operation and digest.
type Newest = (u64, u8, [u8; 32]);

fn prefixed_counts(n: u64) -> Vec<u8> {
    let mut k = META_COUNTS.to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// Points an incident's index entries at status `to` (moving them from `inc.status`), or with
/// `None` removes them.
fn index_incident(ix: &mut [Batch; 3], inc: &Incident, new_status: Option<Status>) {
    let tenant = prefixed(inc.tenant.as_deref().unwrap_or(""), inc.id.as_bytes());
    let status = prefixed(status_str(inc.status), inc.id.as_bytes());
    match new_status {
        // Removal.
        None => {
            ix[IX_INC_TENANT].remove(tenant);
            ix[IX_INC_STATUS].remove(status);
        }
        Some(s) => {
            ix[IX_INC_TENANT].insert(tenant, &[] as &[u8]);
            if s != inc.status {
                ix[IX_INC_STATUS].remove(status);
            }
            ix[IX_INC_STATUS].insert(prefixed(status_str(s), inc.id.as_bytes()), &[] as &[u8]);
        }
    }
}

/// A cursor names the last item of a page; the next page starts after it.
fn encode_cursor(kind: char, pos: &[u8]) -> String {
    format!("{kind}{}", crate::hex::encode(pos))
}

fn decode_cursor(kind: char, c: &str) -> Result<Vec<u8>, StoreError> {
    c.strip_prefix(kind)
        .and_then(crate::hex::decode)
        .ok_or(StoreError::BadCursor)
}

impl Store for SledStore {
    fn append_alerts(&self, alerts: &mut [Alert]) -> Result<Vec<AlertRecord>, StoreError> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = lock(&self.writer);
        let at = grouping::wall_ms();
        // First-seen state of each touched incident, in order of first touch.
        let mut touched: Vec<(String, Option<(Status, Level)>)> = Vec::new();
        let mut seen: HashMap<String, ()> = HashMap::new();
        for a in alerts.iter_mut() {
            let (id, before) = w.grouper.assign(a, at);
            if seen.insert(id.clone(), ()).is_none() {
                touched.push((id.clone(), before));
            }
            a.incident_id = Some(id);
        }
        let shown = w.grouper.take_shown();
        // Every FULL_EVERY batches, before the grouper evicts, everything is written in full.
        let full = (w.batches + 1) % FULL_EVERY == 0;
        let mut p = Pending::new();
        let mut out = Vec::with_capacity(alerts.len());
        let mut bytes = 0u64;
        // Every alert record back to back, and where each ends.
        let mut buf = Vec::with_capacity(alerts.len() * 1280);
        let mut ends = Vec::with_capacity(alerts.len());
        for a in alerts.iter() {
            let seq = w.alert_seq;
            w.alert_seq += 1;
            let id = format!("a-{seq:016x}");
            let json = AlertJson::of_alert(&id, a)
                .map_err(|e| StoreError::Io(format!("cannot encode alert: {e}")))?;
            let rec = AlertRecord {
                seq,
                id,
                ts_ms: grouping::alert_ms(a),
                tenant: a.tenant.clone(),
                rule_id: a.rule.id.clone(),
                level: grouping::alert_level(a),
                tags: a.rule.tags.clone(),
                incident_id: a.incident_id.clone().unwrap_or_default(),
                json,
            };
            serde_json::to_writer(&mut buf, &rec)
                .map_err(|e| StoreError::Io(format!("cannot encode alert: {e}")))?;
            ends.push(buf.len());
            out.push(rec);
        }
        // Pages of a few alerts (see `pages`), each under its first alert's sequence number.
        let mut first = 0;
        while first < out.len() {
            let start = if first == 0 { 0 } else { ends[first - 1] };
            let mut last = first + 1;
            while last < out.len()
                && last - first < PAGE_ALERTS
                && ends[last - 1] - start < PAGE_BYTES
            {
                last += 1;
            }
            let page = pages::encode((first..last).map(|i| {
                let from = if i == 0 { 0 } else { ends[i - 1] };
                (out[i].seq, &buf[from..ends[i]])
            }));
            bytes += page.len() as u64;
            p.put(ALERTS, &out[first].seq.to_be_bytes(), page);
            first = last;
        }
        let mut ix = BatchIndex::default();
        for r in &out {
            ix.add(r);
        }
        let summary = ix.finish(w.ix_so_far, &mut p.ix[IX_ALERT]);
        let mut incs = Vec::with_capacity(touched.len());
        let mut new_incidents = 0u64;
        let mut deltas = Vec::new();
        let mut counts: Vec<(String, Counts)> = Vec::new();
        for (id, before) in &touched {
            let Some(inc) = w.grouper.get(id) else {
                continue;
            };
            if full || shown.contains(id) {
                let v = serde_json::to_vec(inc)
                    .map_err(|e| StoreError::Io(format!("cannot encode incident: {e}")))?;
                p.put(INCIDENTS, inc.id.as_bytes(), v);
            } else {
                counts.push((inc.id.clone(), Counts::of(inc)));
            }
            match before {
                None => {
                    new_incidents += 1;
                    index_incident(&mut p.ix, inc, Some(inc.status));
                }
                Some((s, sev)) => {
                    if *s != inc.status {
                        let mut old = inc.clone();
                        old.status = *s;
                        index_incident(&mut p.ix, &old, Some(inc.status));
                    }
                    deltas.push((inc.tenant.clone(), *s, *sev, -1));
                }
            }
            deltas.push((inc.tenant.clone(), inc.status, inc.severity, 1));
        }
        w.alert_count += alerts.len() as u64;
        w.alert_bytes += bytes;
        p.meta_u64(META_ALERT_SEQ, w.alert_seq);
        p.meta_u64(META_INCIDENT_SEQ, w.grouper.next_seq());
        p.meta_u64(META_ALERT_COUNT, w.alert_count);
        p.meta_u64(META_ALERT_BYTES, w.alert_bytes);
        let counts_key = prefixed_counts(w.chain_n + 1);
        if full {
            self.write_unsaved(&w, &touched, &mut p)?;
        } else if !counts.is_empty() {
            p.put(META, &counts_key, encode_counts(&counts));
        }
        self.commit(&mut w, p)?;
        {
            let mut u = lock(&self.unsaved);
            if full {
                u.clear();
                w.counts_keys.clear();
            } else {
                for (id, _) in &touched {
                    u.remove(id);
                }
                if !counts.is_empty() {
                    u.extend(counts);
                    w.counts_keys.push(counts_key);
                }
            }
        }
        if let Some(s) = summary {
            w.ix_so_far = Some(s.max_ts_so_far);
        }
        // Notices copy every record: only worth it when someone listens.
        let listening = self.notices.receiver_count() > 0;
        if listening {
            incs.extend(
                touched
                    .iter()
                    .filter_map(|(id, _)| w.grouper.get(id).cloned()),
            );
        }
        w.batches += 1;
        if w.batches % 16 == 0 {
            w.grouper.evict();
        }
        {
            let mut c = lock(&self.counters);
            c.alerts = w.alert_count;
            c.incidents += new_incidents;
            for (t, s, sev, d) in deltas {
                c.count(&t, s, sev, d);
            }
        }
        drop(w);
        if listening {
            for r in &out {
                self.publish(Notice::Alert(Arc::new(r.clone())));
            }
        }
        for inc in incs {
            self.publish(Notice::Incident(Arc::new(inc)));
        }
        Ok(out)
    }

    fn alerts(
        &self,
        scope: &Scope,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<AlertRecord>, StoreError> {
        let empty = Page {
            items: Vec::new(),
            next: None,
        };
        let after = match cursor {
            None => None,
            Some(c) => Some(
                decode_cursor('a', c)
                    .ok()
                    .and_then(|b| u64_of(&b))
                    .ok_or(StoreError::BadCursor)?,
            ),
        };
        let Ok(tenant) = tenant_of(scope, filter) else {
            return Ok(empty);
        };
        if limit == 0 {
            return Ok(empty);
        }
        // The narrowest posting list the filter names; none means every alert of a batch.
        let list = if let Some(r) = &filter.rule {
            Some((Kind::Rule, r.as_str()))
        } else if let Some(t) = &filter.tag {
            Some((Kind::Tag, t.as_str()))
        } else {
            tenant.as_deref().map(|t| (Kind::Tenant, t))
        };
        let before = after.unwrap_or(u64::MAX);
        let mut items = Vec::new();
        let mut next = None;
        let mut page = None;
        'batches: for s in self.summaries(before)? {
            let s = s?;
            if let Some(since) = filter.since_ms {
                if s.max_ts_so_far < since {
                    break;
                }
                if s.max_ts < since {
                    continue;
                }
            }
            let seqs = match list {
                None => (s.first_seq..=s.last_seq.min(before.saturating_sub(1)))
                    .rev()
                    .collect::<Vec<_>>(),
                Some((kind, name)) => {
                    let key = postings::posting_key(s.first_seq, kind, name);
                    match self.ix[IX_ALERT].get(key).map_err(io)? {
                        None => continue,
                        Some(b) => {
                            let mut seqs = postings::decode_posting(s.first_seq, &b)
                                .map_err(|e| corrupt("index", &s.first_seq.to_string(), e))?;
                            seqs.retain(|q| *q < before);
                            seqs.reverse();
                            seqs
                        }
                    }
                }
            };
            for seq in seqs {
                // Retention may have removed part of the batch.
                let Some(r) = self.get_alert(seq, &mut page)? else {
                    continue;
                };
                if !alert_matches(&r, &tenant, filter) {
                    continue;
                }
                items.push(r);
                if items.len() == limit {
                    next = Some(encode_cursor('a', &seq.to_be_bytes()));
                    break 'batches;
                }
            }
        }
        Ok(Page { items, next })
    }

    fn alerts_after(
        &self,
        scope: &Scope,
        filter: &Filter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let Ok(tenant) = tenant_of(scope, filter) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let start = after.saturating_add(1);
        'pages: for item in self.records[ALERTS].range(self.page_key(start)?.to_be_bytes()..) {
            let (k, v) = item.map_err(io)?;
            let key = u64_of(&k).unwrap_or(0);
            let page = AlertPage::decode(key, &v)
                .map_err(|e| corrupt("alert", &chain::show_key("alerts", &k), e))?;
            for (seq, r) in page.iter() {
                if seq < start {
                    continue;
                }
                let r =
                    decode_alert(r).map_err(|e| corrupt("alert", &format!("a-{seq:016x}"), e))?;
                if alert_matches(&r, &tenant, filter) {
                    out.push(r);
                    if out.len() == limit {
                        break 'pages;
                    }
                }
            }
        }
        Ok(out)
    }

    fn incidents(
        &self,
        scope: &Scope,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Incident>, StoreError> {
        let empty = Page {
            items: Vec::new(),
            next: None,
        };
        let after = cursor.map(|c| decode_cursor('i', c)).transpose()?;
        let Ok(tenant) = tenant_of(scope, filter) else {
            return Ok(empty);
        };
        if limit == 0 {
            return Ok(empty);
        }
        let (tree, prefix) = if let Some(s) = filter.status {
            (&self.ix[IX_INC_STATUS], prefixed(status_str(s), &[]))
        } else if let Some(t) = &tenant {
            (&self.ix[IX_INC_TENANT], prefixed(t, &[]))
        } else {
            (&self.records[INCIDENTS], Vec::new())
        };
        let mut upper = prefix.clone();
        match &after {
            Some(c) => upper.extend_from_slice(c),
            None => upper.extend_from_slice(&[0xff; 20]),
        }
        let mut items = Vec::new();
        let mut next = None;
        for item in tree.range(prefix.clone()..upper).rev() {
            let (k, _) = item.map_err(io)?;
            let Some(id) = k
                .get(prefix.len()..)
                .and_then(|b| std::str::from_utf8(b).ok())
            else {
                continue;
            };
            let Some(inc) = self.get_incident(id)? else {
                continue;
            };
            if !incident_matches(&inc, &tenant, filter) {
                continue;
            }
            let pos = inc.id.clone();
            items.push(inc);
            if items.len() == limit {
                next = Some(encode_cursor('i', pos.as_bytes()));
                break;
            }
        }
        Ok(Page { items, next })
    }

    fn incident(&self, scope: &Scope, id: &str) -> Result<Option<Incident>, StoreError> {
        Ok(self.get_incident(id)?.filter(|i| scope.sees(&i.tenant)))
    }

    fn update_incident(
        &self,
        scope: &Scope,
        id: &str,
        action: Action,
        actor: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let mut w = lock(&self.writer);
        let Some(mut inc) = self.get_incident(id)?.filter(|i| scope.sees(&i.tenant)) else {
            return Ok(None);
        };
        let before = inc.clone();
        let changed = grouping::apply(&mut inc, &action, actor, grouping::wall_ms())
            .map_err(|why| StoreError::Conflict(id.to_string(), why))?;
        if !changed {
            return Ok(Some(inc));
        }
        let mut p = Pending::new();
        let v = serde_json::to_vec(&inc)
            .map_err(|e| StoreError::Io(format!("cannot encode incident: {e}")))?;
        p.put(INCIDENTS, inc.id.as_bytes(), v);
        if before.status != inc.status {
            index_incident(&mut p.ix, &before, Some(inc.status));
        }
        self.commit(&mut w, p)?;
        w.grouper.replace(&inc);
        lock(&self.unsaved).remove(&inc.id);
        drop(w);
        {
            let mut c = lock(&self.counters);
            c.count(&before.tenant, before.status, before.severity, -1);
            c.count(&inc.tenant, inc.status, inc.severity, 1);
        }
        self.publish(Notice::Incident(Arc::new(inc.clone())));
        Ok(Some(inc))
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    fn stats(&self) -> StoreStats {
        let (alerts, incidents, open) = {
            let c = lock(&self.counters);
            let open = c
                .open
                .iter()
                .map(|((t, l), n)| (t.clone(), *l, *n))
                .collect();
            (c.alerts, c.incidents, open)
        };
        // sled walks its files for the size; at most once every few seconds.
        let size_bytes = {
            let mut s = lock(&self.size);
            if s.0.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                *s = (Some(Instant::now()), self.db.size_on_disk().unwrap_or(s.1));
            }
            s.1
        };
        StoreStats {
            alerts,
            incidents,
            open,
            size_bytes,
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{f, Event, Kind, LogSource, Timestamp};
    use crate::rules::{RuleInfo, RuleKind, RuleLogSource};
    use std::sync::atomic::{AtomicU32, Ordering};

    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "vigil-store-unit-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rule(id: &str, level: &str, tag: &str) -> Arc<RuleInfo> {
        Arc::new(RuleInfo {
            id: id.into(),
            name: None,
            title: format!("Rule {id}"),
            level: level.into(),
            status: None,
            tags: vec![tag.into()],
            file: "r.yml".into(),
            line: 1,
            logsource: RuleLogSource::default(),
            kind: RuleKind::Detection,
        })
    }

    /// An alert at `sec` seconds of event time.
    fn alert(tenant: &str, src: &str, rule_id: &str, level: &str, sec: i64) -> Alert {
        let mut ev = Event::new(
            Timestamp(sec * 1_000_000_000),
            Kind::Flow,
            LogSource::category("flow"),
        );
        ev.fields.set(f::SRC_IP, src.to_string());
        Alert {
            ts: ev.ts,
            rule: rule(rule_id, level, "attack.t1611"),
            tenant: Some(tenant.into()),
            src_ip: Some(src.into()),
            dst_ip: None,
            summary: format!("{rule_id}: {src}"),
            event: Some(ev),
            incident_id: None,
            correlation: None,
            count: 1,
        }
    }

    /// A store under `dir` whose incidents group alerts `secs` apart at most.
    fn windowed(dir: &Path, secs: u64) -> SledStore {
        SledStore::open_with(
            dir,
            StoreOptions {
                window: Duration::from_secs(secs),
                ..StoreOptions::default()
            },
        )
        .expect("open")
    }

    /// Sequence numbers of the newest 100 alerts `scope` sees.
    fn listed(s: &SledStore, scope: &Scope) -> Vec<u64> {
        s.alerts(scope, &Filter::default(), 100, None)
            .expect("list")
            .items
            .iter()
            .map(|r| r.seq)
            .collect()
    }

    fn acme() -> Scope {
        Scope::Tenant("acme".into())
    }

    #[test]
    fn append_groups_and_fills_incident_ids() {
        let d = TempDir::new();
        let s = SledStore::open(&d.0).expect("open");
        let mut rx = s.subscribe();
        let mut batch = vec![
            alert("acme", "10.1.0.1", "r1", "low", 0),
            alert("acme", "10.1.0.1", "r2", "high", 60),
            alert("acme", "10.1.0.2", "r1", "low", 60),
        ];
        let recs = s.append_alerts(&mut batch).expect("append");
        assert_eq!(recs.len(), 3);
        assert_eq!(batch[0].incident_id, batch[1].incident_id);
        assert_ne!(batch[0].incident_id, batch[2].incident_id);
        assert_eq!(recs[0].id, "a-0000000000000001");
        let json = recs[0].json.value();
        assert_eq!(json["id"], "a-0000000000000001");
        assert_eq!(json["incident_id"], "i-0000000000000001");
        // What the API shows is what it showed when records carried a `Value`.
        let mut before = serde_json::to_value(&batch[0]).expect("value");
        if let Some(m) = before.as_object_mut() {
            m.insert("id".into(), "a-0000000000000001".into());
        }
        assert_eq!(
            serde_json::to_string(&json).expect("encode"),
            serde_json::to_string(&before).expect("encode")
        );
        let inc = s
            .incident(&Scope::All, "i-0000000000000001")
            .expect("read")
            .expect("exists");
        assert_eq!(inc.severity, Level::High);
        assert_eq!(inc.alert_count, 2);
        assert_eq!(inc.entity, "10.1.0.1");
        // Notices: three alerts, then two incidents, all after the flush.
        let mut kinds = Vec::new();
        while let Ok(n) = rx.try_recv() {
            kinds.push(matches!(n, Notice::Alert(_)));
        }
        assert_eq!(kinds, vec![true, true, true, false, false]);
        let st = s.stats();
        assert_eq!((st.alerts, st.incidents), (3, 2));
        assert_eq!(
            st.open,
            vec![
                ("acme".to_string(), Level::Low, 1),
                ("acme".to_string(), Level::High, 1)
            ]
        );
        assert!(st.size_bytes > 0);
    }

    #[test]
    fn scope_is_enforced_inside_the_store() {
        let d = TempDir::new();
        let s = SledStore::open(&d.0).expect("open");
        let mut batch = vec![
            alert("acme", "10.1.0.1", "r1", "low", 0),
            alert("globex", "10.2.0.1", "r1", "low", 0),
        ];
        s.append_alerts(&mut batch).expect("append");
        let globex_inc = batch[1].incident_id.clone().expect("id");
        let page = s
            .alerts(&acme(), &Filter::default(), 100, None)
            .expect("list");
        assert_eq!(page.items.len(), 1);
        assert!(page
            .items
            .iter()
            .all(|r| r.tenant.as_deref() == Some("acme")));
        // Asking for another tenant's data through the filter gives nothing.
        let f = Filter {
            tenant: Some("globex".into()),
            ..Filter::default()
        };
        assert!(s
            .alerts(&acme(), &f, 100, None)
            .expect("list")
            .items
            .is_empty());
        assert!(s
            .incidents(&acme(), &f, 100, None)
            .expect("list")
            .items
            .is_empty());
        assert!(s
            .alerts_after(&acme(), &f, 0, 100)
            .expect("after")
            .is_empty());
        let after = s
            .alerts_after(&acme(), &Filter::default(), 0, 100)
            .expect("after");
        assert_eq!(after.len(), 1);
        assert_eq!(s.incident(&acme(), &globex_inc).expect("read"), None);
        assert_eq!(
            s.update_incident(&acme(), &globex_inc, Action::Acknowledge, "eve")
                .expect("update"),
            None
        );
        let incs = s
            .incidents(&acme(), &Filter::default(), 100, None)
            .expect("list");
        assert_eq!(incs.items.len(), 1);
        assert_eq!(
            s.incidents(&Scope::All, &Filter::default(), 100, None)
                .expect("list")
                .items
                .len(),
            2
        );
    }

    #[test]
    fn pages_newest_first_with_cursor_and_filters() {
        let d = TempDir::new();
        let s = SledStore::open(&d.0).expect("open");
        let mut batch: Vec<Alert> = (0..250)
            .map(|i| {
                let level = if i % 10 == 0 { "critical" } else { "low" };
                alert(
                    if i % 2 == 0 { "acme" } else { "globex" },
                    "10.1.0.1",
                    &format!("r{}", i % 3),
                    level,
                    i,
                )
            })
            .collect();
        s.append_alerts(&mut batch).expect("append");
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .alerts(&Scope::All, &Filter::default(), 100, cursor.as_deref())
                .expect("page");
            seen.extend(page.items.iter().map(|r| r.ts_ms));
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 250);
        assert!(
            seen.windows(2).all(|w| w[0] > w[1]),
            "newest first, no repeats"
        );
        let acme_page = s
            .alerts(&acme(), &Filter::default(), 10, None)
            .expect("page");
        assert_eq!(acme_page.items[0].ts_ms, 248_000);
        let crit = Filter {
            level: Some(Level::Critical),
            ..Filter::default()
        };
        assert_eq!(
            s.alerts(&Scope::All, &crit, 1000, None)
                .expect("page")
                .items
                .len(),
            25
        );
        let r1 = Filter {
            rule: Some("r1".into()),
            since_ms: Some(200_000),
            ..Filter::default()
        };
        let got = s.alerts(&Scope::All, &r1, 1000, None).expect("page").items;
        assert!(!got.is_empty() && got.iter().all(|r| r.rule_id == "r1" && r.ts_ms >= 200_000));
        let tag = Filter {
            tag: Some("attack.t1611".into()),
            ..Filter::default()
        };
        assert_eq!(
            s.alerts(&acme(), &tag, 1000, None)
                .expect("page")
                .items
                .len(),
            125
        );
        assert!(matches!(
            s.alerts(&Scope::All, &Filter::default(), 10, Some("zz")),
            Err(StoreError::BadCursor)
        ));
        assert!(matches!(
            s.incidents(&Scope::All, &Filter::default(), 10, Some("a00")),
            Err(StoreError::BadCursor)
        ));
        let after = s
            .alerts_after(&Scope::All, &Filter::default(), 240, 100)
            .expect("after");
        assert_eq!(
            after.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (241..=250).collect::<Vec<_>>()
        );
    }

    #[test]
    fn incident_lifecycle_is_durable_and_counted() {
        let d = TempDir::new();
        let s = SledStore::open(&d.0).expect("open");
        let mut rx = s.subscribe();
        let mut batch: Vec<Alert> = (0..30)
            .map(|i| alert("acme", &format!("10.1.0.{i}"), "r1", "medium", i))
            .collect();
        s.append_alerts(&mut batch).expect("append");
        while rx.try_recv().is_ok() {}
        let id = batch[0].incident_id.clone().expect("id");
        let inc = s
            .update_incident(&acme(), &id, Action::Acknowledge, "ana")
            .expect("ack")
            .expect("exists");
        assert_eq!(inc.status, Status::Acknowledged);
        assert!(matches!(rx.try_recv(), Ok(Notice::Incident(_))));
        s.update_incident(&acme(), &id, Action::Assign("bob".into()), "ana")
            .expect("assign");
        s.update_incident(&acme(), &id, Action::Resolve, "bob")
            .expect("resolve");
        assert!(matches!(
            s.update_incident(&acme(), &id, Action::Acknowledge, "bob"),
            Err(StoreError::Conflict(..))
        ));
        let resolved = Filter {
            status: Some(Status::Resolved),
            ..Filter::default()
        };
        let page = s.incidents(&acme(), &resolved, 10, None).expect("list");
        assert_eq!(
            page.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            vec![id.as_str()]
        );
        let open = Filter {
            status: Some(Status::Open),
            ..Filter::default()
        };
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let p = s
                .incidents(&Scope::All, &open, 7, cursor.as_deref())
                .expect("list");
            all.extend(p.items.into_iter().map(|i| i.id));
            match p.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(all.len(), 29);
        assert!(all.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(
            s.stats().open,
            vec![("acme".to_string(), Level::Medium, 29)]
        );
        // A new alert for the resolved incident within the window reopens it.
        let mut again = vec![alert("acme", "10.1.0.0", "r1", "medium", 100)];
        s.append_alerts(&mut again).expect("append");
        assert_eq!(again[0].incident_id.as_deref(), Some(id.as_str()));
        let inc = s.incident(&acme(), &id).expect("read").expect("exists");
        assert_eq!(inc.status, Status::Open);
        assert_eq!(inc.assignee.as_deref(), Some("bob"));
        let actions: Vec<&str> = inc.history.iter().map(|c| c.action.as_str()).collect();
        assert_eq!(
            actions,
            vec!["opened", "acknowledged", "assigned", "resolved", "reopened"]
        );
        assert_eq!(
            s.stats().open,
            vec![("acme".to_string(), Level::Medium, 30)]
        );
        assert!(s
            .incidents(&acme(), &resolved, 10, None)
            .expect("list")
            .items
            .is_empty());
    }

    #[test]
    fn reopen_continues_sequence_and_grouping() {
        let d = TempDir::new();
        let first = {
            let s = SledStore::open(&d.0).expect("open");
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 0)];
            s.append_alerts(&mut b).expect("append");
            b[0].incident_id.clone().expect("id")
        };
        let s = SledStore::open(&d.0).expect("reopen");
        let mut b = vec![
            alert("acme", "10.1.0.1", "r1", "low", 60),
            alert("acme", "10.1.0.9", "r1", "low", 60),
        ];
        let recs = s.append_alerts(&mut b).expect("append");
        assert_eq!(recs[0].seq, 2);
        assert_eq!(b[0].incident_id.as_deref(), Some(first.as_str()));
        assert_eq!(b[1].incident_id.as_deref(), Some("i-0000000000000002"));
        assert_eq!(s.stats().alerts, 3);
        drop(s);
        let r = chain::verify(&d.0).expect("verify");
        assert_eq!(r.problem, None);
    }

    #[test]
    fn retention_by_age_and_size_keeps_the_chain_verifiable() {
        let d = TempDir::new();
        let s = windowed(&d.0, 60);
        // One alert a minute for 100 minutes, each its own incident (the window is a minute).
        let mut b: Vec<Alert> = (0..100)
            .map(|i| alert("acme", &format!("10.1.0.{i}"), "r1", "low", i * 60))
            .collect();
        s.append_alerts(&mut b).expect("append");
        for a in &b[..10] {
            let id = a.incident_id.as_deref().expect("id");
            s.update_incident(&Scope::All, id, Action::Resolve, "ana")
                .expect("resolve");
        }
        // Keep the last 90 minutes: alerts 0..=8 go (minute 9 is exactly at the cutoff).
        let r = s
            .apply_retention(Some(Duration::from_secs(90 * 60)), None)
            .expect("retention");
        assert_eq!(r.alerts_removed, 9);
        assert_eq!(r.through_seq, Some(9));
        assert_eq!(r.incidents_removed, 9);
        assert_eq!(s.stats().alerts, 91);
        assert_eq!(s.stats().incidents, 91);
        let page = s
            .alerts(&Scope::All, &Filter::default(), 1000, None)
            .expect("list");
        assert_eq!(page.items.len(), 91);
        // By size: about half the bytes.
        let per = page.items.len() as u64;
        let bytes = lock(&s.writer).alert_bytes;
        let r = s.apply_retention(None, Some(bytes / 2)).expect("retention");
        assert!(
            r.alerts_removed >= per / 2 - 1 && r.alerts_removed <= per / 2 + 1,
            "{r:?}"
        );
        assert!(lock(&s.writer).alert_bytes <= bytes / 2);
        drop(s);
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!(v.problem, None);
    }

    fn raw(d: &Path) -> sled::Db {
        chain::open_sled(sled::Config::new().path(d.join("store"))).expect("raw open")
    }

    #[test]
    fn verify_detects_a_modified_value() {
        let d = TempDir::new();
        {
            let s = SledStore::open(&d.0).expect("open");
            let mut b: Vec<Alert> = (0..5)
                .map(|i| alert("acme", "10.1.0.1", "r1", "low", i))
                .collect();
            s.append_alerts(&mut b).expect("append");
        }
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!(v.problem, None);
        // One page of five alerts, one incident, four meta records.
        assert_eq!((v.records, v.alerts), (1 + 1 + 4, 5));
        {
            let db = raw(&d.0);
            let t = db.open_tree("alerts").expect("tree");
            let old = t.get(1u64.to_be_bytes()).expect("get").expect("present");
            // Same length, so the page still decodes.
            let mut changed = old.to_vec();
            let at = changed
                .windows(4)
                .position(|w| w == b"acme")
                .expect("tenant in the page");
            changed[at + 3] = b'f';
            t.insert(1u64.to_be_bytes(), changed).expect("insert");
            db.flush().expect("flush");
        }
        let p = chain::verify(&d.0)
            .expect("verify")
            .problem
            .expect("problem");
        assert_eq!(p.kind, chain::ProblemKind::Modified);
        assert_eq!(
            (p.tree.as_str(), p.key.as_str()),
            ("alerts", "a-0000000000000001")
        );
        // And the store still opens and reads (it does not panic on its own data).
        let s = SledStore::open(&d.0).expect("open");
        assert_eq!(
            s.alerts(&Scope::All, &Filter::default(), 10, None)
                .expect("list")
                .items
                .len(),
            5
        );
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let d = TempDir::new();
        {
            let s = SledStore::open(&d.0).expect("open");
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 0)];
            s.append_alerts(&mut b).expect("append");
        }
        {
            let db = raw(&d.0);
            db.open_tree("alerts")
                .expect("tree")
                .insert(1u64.to_be_bytes(), &b"\xff not json"[..])
                .expect("insert");
            db.flush().expect("flush");
        }
        let s = SledStore::open(&d.0).expect("open");
        assert!(matches!(
            s.alerts(&Scope::All, &Filter::default(), 10, None),
            Err(StoreError::Io(_))
        ));
    }

    #[test]
    fn a_batch_cut_short_by_a_crash_is_tolerated_then_reconciled() {
        let d = TempDir::new();
        let head_after_first;
        {
            let s = SledStore::open(&d.0).expect("open");
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 0)];
            s.append_alerts(&mut b).expect("append");
            head_after_first = s.records[META].get(HEAD_KEY).expect("get").expect("head");
            let mut b = vec![
                alert("acme", "10.1.0.1", "r1", "low", 1),
                alert("acme", "10.1.0.1", "r1", "low", 2),
            ];
            s.append_alerts(&mut b).expect("append");
        }
        {
            // As if the process died after the chain batch, before the second batch's alert
            // page (alerts 2 and 3) landed.
            let db = raw(&d.0);
            let meta = db.open_tree("meta").expect("tree");
            meta.insert(HEAD_KEY, head_after_first).expect("head");
            db.open_tree("alerts")
                .expect("tree")
                .remove(2u64.to_be_bytes())
                .expect("remove");
            db.flush().expect("flush");
        }
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!(v.problem, None);
        assert!(v.unconfirmed > 0);
        let s = SledStore::open(&d.0).expect("open");
        let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 3)];
        let recs = s.append_alerts(&mut b).expect("append");
        assert_eq!(recs[0].seq, 4, "seq never goes back");
        drop(s);
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!((v.problem, v.unconfirmed), (None, 0));
    }

    #[test]
    fn an_incident_version_a_crash_did_not_write_is_tolerated_but_tampering_is_not() {
        for tampered in [false, true] {
            let d = TempDir::new();
            let (head, old) = {
                let s = SledStore::open(&d.0).expect("open");
                let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 0)];
                s.append_alerts(&mut b).expect("append");
                let head = s.records[META].get(HEAD_KEY).expect("get").expect("head");
                let id = b[0].incident_id.clone().expect("id");
                let old = s.records[INCIDENTS]
                    .get(&id)
                    .expect("get")
                    .expect("incident");
                let mut b = vec![alert("acme", "10.1.0.1", "r2", "high", 1)];
                s.append_alerts(&mut b).expect("append");
                (head, (id, old))
            };
            {
                // As if the process died after the chain and alert batches of the second write.
                let db = raw(&d.0);
                db.open_tree("meta")
                    .expect("tree")
                    .insert(HEAD_KEY, head)
                    .expect("head");
                let value = if tampered {
                    sled::IVec::from(&b"{}"[..])
                } else {
                    old.1
                };
                let t = db.open_tree("incidents").expect("tree");
                t.insert(old.0.as_bytes(), value).expect("insert");
                db.flush().expect("flush");
            }
            let v = chain::verify(&d.0).expect("verify");
            if tampered {
                let p = v.problem.expect("problem");
                assert_eq!(p.kind, chain::ProblemKind::Modified);
                assert!(SledStore::open(&d.0).is_err());
                continue;
            }
            assert_eq!(v.problem, None);
            let s = SledStore::open(&d.0).expect("open");
            let inc = s
                .incident(&Scope::All, &old.0)
                .expect("read")
                .expect("exists");
            assert_eq!(inc.severity, Level::Low, "the version before the cut batch");
            drop(s);
            let v = chain::verify(&d.0).expect("verify");
            assert_eq!((v.problem, v.unconfirmed), (None, 0));
        }
    }

    #[test]
    fn open_indexes_alerts_the_index_is_missing() {
        let d = TempDir::new();
        {
            let s = SledStore::open(&d.0).expect("open");
            for i in 0..3 {
                let mut b: Vec<Alert> = (0..4)
                    .map(|j| alert("acme", "10.1.0.1", "r1", "low", i * 4 + j))
                    .collect();
                s.append_alerts(&mut b).expect("append");
            }
        }
        {
            // As if the index batch of the last write never landed (or, with every summary
            // gone, a store written before the per-batch index).
            let db = raw(&d.0);
            let ix = db.open_tree(INDEXES[IX_ALERT]).expect("tree");
            ix.remove(postings::summary_key(9)).expect("remove");
            db.flush().expect("flush");
        }
        let s = SledStore::open(&d.0).expect("open");
        assert_eq!(listed(&s, &acme()), (1..=12).rev().collect::<Vec<_>>());
        drop(s);
        {
            let db = raw(&d.0);
            db.open_tree(INDEXES[IX_ALERT])
                .expect("tree")
                .clear()
                .expect("clear");
            db.flush().expect("flush");
        }
        let s = SledStore::open(&d.0).expect("open");
        assert_eq!(listed(&s, &acme()), (1..=12).rev().collect::<Vec<_>>());
        let page = s
            .alerts(&Scope::All, &Filter::default(), 5, None)
            .expect("list");
        let next = s
            .alerts(&Scope::All, &Filter::default(), 100, page.next.as_deref())
            .expect("list");
        assert_eq!(next.items.first().map(|r| r.seq), Some(7));
        assert_eq!(next.items.len(), 7);
    }

    #[test]
    fn counters_only_growth_is_read_back_reopened_and_written_in_full_later() {
        let d = TempDir::new();
        let counts_records = |s: &SledStore| s.records[META].scan_prefix(META_COUNTS).count();
        let id;
        {
            let s = SledStore::open(&d.0).expect("open");
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 0)];
            s.append_alerts(&mut b).expect("append");
            id = b[0].incident_id.clone().expect("id");
            for i in 1..5 {
                let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", i)];
                s.append_alerts(&mut b).expect("append");
            }
            let stored = s.records[INCIDENTS].get(&id).expect("get").expect("stored");
            assert_eq!(decode_incident(&stored).expect("decode").alert_count, 1);
            assert_eq!(counts_records(&s), 4);
            let inc = s.incident(&acme(), &id).expect("read").expect("exists");
            assert_eq!((inc.alert_count, inc.last_ms), (5, 4000));
            // An operator's change writes the incident with its newest counters.
            let inc = s
                .update_incident(&acme(), &id, Action::Assign("ana".into()), "ana")
                .expect("assign")
                .expect("exists");
            assert_eq!(inc.alert_count, 5);
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 5)];
            s.append_alerts(&mut b).expect("append");
        }
        // As after a crash: nothing but what each batch committed.
        let s = SledStore::open(&d.0).expect("reopen");
        let inc = s.incident(&acme(), &id).expect("read").expect("exists");
        assert_eq!((inc.alert_count, inc.last_ms), (6, 5000));
        assert_eq!(inc.assignee.as_deref(), Some("ana"));
        let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 6)];
        s.append_alerts(&mut b).expect("append");
        assert_eq!(b[0].incident_id.as_deref(), Some(id.as_str()));
        // Every FULL_EVERY batches, incidents are written in full and the records go.
        for i in 7..7 + FULL_EVERY as i64 {
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", i)];
            s.append_alerts(&mut b).expect("append");
            if counts_records(&s) == 0 {
                break;
            }
        }
        assert_eq!(counts_records(&s), 0);
        let stored = s.records[INCIDENTS].get(&id).expect("get").expect("stored");
        let inc = decode_incident(&stored).expect("decode");
        assert_eq!(
            inc,
            s.incident(&acme(), &id).expect("read").expect("exists")
        );
        drop(s);
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!(v.problem, None);
    }

    #[test]
    fn alerts_stored_one_per_value_before_pages_still_read() {
        let d = TempDir::new();
        {
            let s = SledStore::open(&d.0).expect("open");
            let mut b: Vec<Alert> = (0..3)
                .map(|i| alert("acme", "10.1.0.1", "r1", "low", i))
                .collect();
            let recs = s.append_alerts(&mut b).expect("append");
            // Rewritten as vigil stored alerts before pages: one record per key.
            let mut w = lock(&s.writer);
            let mut p = Pending::new();
            p.del(ALERTS, &1u64.to_be_bytes());
            for r in &recs {
                p.put(
                    ALERTS,
                    &r.seq.to_be_bytes(),
                    serde_json::to_vec(r).expect("encode"),
                );
            }
            s.commit(&mut w, p).expect("commit");
            assert_eq!(s.records[ALERTS].len(), 3);
        }
        let s = SledStore::open(&d.0).expect("reopen");
        assert_eq!(listed(&s, &acme()), vec![3, 2, 1]);
        let after: Vec<u64> = s
            .alerts_after(&acme(), &Filter::default(), 1, 10)
            .expect("after")
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(after, vec![2, 3]);
        let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 3)];
        assert_eq!(s.append_alerts(&mut b).expect("append")[0].seq, 4);
        assert_eq!(listed(&s, &acme()), vec![4, 3, 2, 1]);
        // Retention cuts through old records and pages alike.
        let r = s
            .apply_retention(Some(Duration::from_millis(1500)), None)
            .expect("retention");
        assert_eq!((r.alerts_removed, r.through_seq), (2, Some(2)));
        assert_eq!(listed(&s, &acme()), vec![4, 3]);
        drop(s);
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!((v.problem, v.alerts), (None, 2));
    }

    #[test]
    fn retention_cuts_into_a_page_and_keeps_the_rest() {
        let d = TempDir::new();
        let s = SledStore::open(&d.0).expect("open");
        let mut b: Vec<Alert> = (0..10)
            .map(|i| alert("acme", "10.1.0.1", "r1", "low", i))
            .collect();
        s.append_alerts(&mut b).expect("append");
        let pages_before = s.records[ALERTS].len();
        // Keep the last 7.5 s of event time: alerts at 0 and 1 s (seq 1 and 2) go.
        let r = s
            .apply_retention(Some(Duration::from_millis(7500)), None)
            .expect("retention");
        assert_eq!((r.alerts_removed, r.through_seq), (2, Some(2)));
        assert_eq!(listed(&s, &Scope::All), (3..=10).rev().collect::<Vec<_>>());
        // The first page lost two alerts and is stored again under the third.
        assert_eq!(s.records[ALERTS].len(), pages_before);
        assert!(s.records[ALERTS]
            .get(1u64.to_be_bytes())
            .expect("get")
            .is_none());
        assert!(s.records[ALERTS]
            .get(3u64.to_be_bytes())
            .expect("get")
            .is_some());
        assert!(s.get_alert(2, &mut None).expect("read").is_none());
        assert_eq!(
            s.get_alert(3, &mut None).expect("read").map(|r| r.seq),
            Some(3)
        );
        drop(s);
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!((v.problem, v.alerts), (None, 8));
    }

    #[test]
    fn retention_prunes_the_chain_and_what_is_left_verifies() {
        let d = TempDir::new();
        let opts = StoreOptions {
            window: Duration::from_secs(120),
            ..StoreOptions::default()
        };
        let mut first_incident = String::new();
        {
            let s = SledStore::open_with(&d.0, opts.clone()).expect("open");
            // 200 writes, one alert a minute; one source keeps its incident open throughout.
            for i in 0..200i64 {
                let src = if i % 2 == 0 {
                    "10.1.0.1".to_string()
                } else {
                    format!("10.1.1.{i}")
                };
                let mut b = vec![alert("acme", &src, "r1", "low", i * 30)];
                s.append_alerts(&mut b).expect("append");
                if i == 0 {
                    first_incident = b[0].incident_id.clone().expect("id");
                }
            }
            let before = chain::verify_db(&s.db, &s.key).expect("verify").entries;
            // Keep the last 30 minutes: the oldest 140 alerts go.
            let r = s
                .apply_retention(Some(Duration::from_secs(30 * 60)), None)
                .expect("retention");
            assert_eq!(r.alerts_removed, 139);
            assert!(r.chain_entries_pruned >= 100, "{r:?}");
            let after = chain::verify_db(&s.db, &s.key).expect("verify");
            assert_eq!(after.problem, None);
            assert!(
                after.entries < before - 100,
                "{} of {before}",
                after.entries
            );
            // Nothing more to prune right after.
            assert_eq!(s.prune_chain(&mut lock(&s.writer)).expect("prune"), 0);
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 200 * 30)];
            s.append_alerts(&mut b).expect("append");
        }
        // Reopened, written to, and verified by the CLI's path.
        let s = SledStore::open_with(&d.0, opts).expect("reopen");
        let inc = s
            .incident(&acme(), &first_incident)
            .expect("read")
            .expect("the open incident outlived its first alerts");
        assert!(inc.alert_count > 100);
        let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", 201 * 30)];
        s.append_alerts(&mut b).expect("append");
        drop(s);
        let v = chain::verify(&d.0).expect("verify");
        assert_eq!((v.problem, v.alerts), (None, 63));
        // The base is signed: edited or removed, verify says so.
        let base = {
            let db = raw(&d.0);
            let meta = db.open_tree("meta").expect("tree");
            let base = meta.get(chain::BASE_KEY).expect("get").expect("base");
            let mut edited = base.to_vec();
            edited[7] ^= 1;
            meta.insert(chain::BASE_KEY, edited).expect("insert");
            db.flush().expect("flush");
            base
        };
        let p = chain::verify(&d.0)
            .expect("verify")
            .problem
            .expect("problem");
        assert!(p.to_string().contains("base is forged"), "{p}");
        {
            let db = raw(&d.0);
            let meta = db.open_tree("meta").expect("tree");
            meta.remove(chain::BASE_KEY).expect("remove");
            db.flush().expect("flush");
        }
        let p = chain::verify(&d.0)
            .expect("verify")
            .problem
            .expect("problem");
        assert!(
            matches!(p.kind, chain::ProblemKind::Gap { expected: 1 }),
            "{p}"
        );
        {
            let db = raw(&d.0);
            let meta = db.open_tree("meta").expect("tree");
            meta.insert(chain::BASE_KEY, base).expect("insert");
            db.flush().expect("flush");
        }
        assert_eq!(chain::verify(&d.0).expect("verify").problem, None);
    }

    #[test]
    fn a_record_changed_behind_the_store_stops_the_prune() {
        let d = TempDir::new();
        let s = windowed(&d.0, 60);
        // An incident written once, at the start, and then a hundred writes about another.
        let mut b = vec![alert("acme", "10.9.9.9", "r1", "low", 0)];
        s.append_alerts(&mut b).expect("append");
        let id = b[0].incident_id.clone().expect("id");
        for i in 1..100i64 {
            let mut b = vec![alert("acme", "10.1.0.1", "r1", "low", i * 30)];
            s.append_alerts(&mut b).expect("append");
        }
        // The prune would chain it again as it stands: edit it first.
        let v = s.records[INCIDENTS].get(&id).expect("get").expect("stored");
        let edited = String::from_utf8_lossy(&v).replace("\"low\"", "\"critical\"");
        s.records[INCIDENTS]
            .insert(id.as_bytes(), edited.as_bytes())
            .expect("insert");
        let r = s
            .apply_retention(Some(Duration::from_secs(10 * 60)), None)
            .expect("retention");
        assert!(r.alerts_removed > 0);
        assert_eq!(r.chain_entries_pruned, 0);
        let err = r.prune_error.expect("prune refused");
        assert!(err.contains("does not match the integrity chain"), "{err}");
        assert!(s.records[META].get(chain::BASE_KEY).expect("get").is_none());
    }

    #[test]
    fn counters_records_round_trip_and_reject_garbage() {
        let c = Counts {
            alert_count: 7,
            first_ms: -3,
            last_ms: 9,
        };
        let items = vec![("i-1".to_string(), c), ("i-2".to_string(), c)];
        assert_eq!(decode_counts(&encode_counts(&items)), Some(items.clone()));
        let b = encode_counts(&items);
        for n in 0..b.len() {
            if n != 0 && n != b.len() / 2 {
                assert_eq!(decode_counts(&b[..n]), None, "{n}");
            }
        }
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let d = TempDir::new();
        drop(SledStore::open(&d.0).expect("open"));
        let key = d.0.join("store.key");
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = SledStore::open(&d.0).err().expect("refused").to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(chain::verify(&d.0).is_err());
    }
}
