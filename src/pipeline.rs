//! The wiring: sources -> decode -> (flow tracking, enrichment, detection) on worker threads
//! -> outputs. Packets cross to the workers in batches over bounded channels, sharded by the
//! address pair so that a flow (and every fragment of it) is owned by one worker and needs no
//! lock. File and replay sources wait when a queue is full; network sources drop and count.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::decode::app;
use crate::decode::Decoded;
use crate::event::{Event, Kind, Timestamp};
use crate::flow::{Emit, FlowConfig, FlowTable, Packet};
use crate::metrics;
use crate::rules::{Alert, Engine, RuleSet, RuleStore};
use crate::source::netflow::{DecoderConfig, FlowExportDecoder};

const SEC: i64 = 1_000_000_000;

/// How the pipeline runs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub workers: usize,
    /// Events or packets per batch.
    pub batch: usize,
    /// Batches each bounded queue holds.
    pub queue: usize,
    pub flow: FlowConfig,
    /// Detection sees the workers' output in an order that does not depend on thread
    /// timing: merged step by step (ticks of packet time and barriers every worker hears),
    /// sorted by event time within a step. Replays set it, so that alerts are the same on
    /// every run and at any count of two or more workers. One worker needs no merge (its
    /// queue is already in order) and does not pay for it; live input does not need it.
    pub ordered: bool,
}

impl Default for PipelineConfig {
    fn default() -> PipelineConfig {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        PipelineConfig {
            workers: cores.saturating_sub(1).max(1),
            batch: 1024,
            queue: 64,
            flow: FlowConfig::default(),
            ordered: false,
        }
    }
}

/// Adds context to an event on the worker thread (tenants, zones, policy); shared by all
/// workers and called once per event.
pub type Enricher = Arc<dyn Fn(&mut Event) + Send + Sync>;

/// Where processed events and alerts go. Called on one thread, in batches.
pub trait Sink: Send {
    fn events(&mut self, events: &mut Vec<Event>) -> std::io::Result<()>;
    fn alerts(&mut self, _alerts: &mut Vec<Alert>) -> std::io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rules a pipeline evaluates: a fixed set (replay, the bundled pack) or a store that
/// hot reload swaps (the daemon).
#[derive(Clone)]
pub enum Rules {
    Fixed(Arc<RuleSet>),
    Reloadable(Arc<RuleStore>),
}

impl Rules {
    pub fn current(&self) -> Arc<RuleSet> {
        match self {
            Rules::Fixed(r) => r.clone(),
            Rules::Reloadable(s) => s.current(),
        }
    }
    fn generation(&self) -> u64 {
        match self {
            Rules::Fixed(_) => 0,
            Rules::Reloadable(s) => s.generation(),
        }
    }
}

/// Detection runs on the output thread, which sees every event: correlation and suppression
/// state has one owner, whatever the number of workers. A new rule set from the store is
/// picked up between batches.
struct Detector {
    rules: Rules,
    generation: u64,
    engine: Engine,
    lag: EventLag,
}

impl Detector {
    fn new(rules: Rules) -> Detector {
        metrics::RULES_LOADED.set(rules.current().len() as i64);
        Detector {
            generation: rules.generation(),
            engine: Engine::new(rules.current()),
            rules,
            lag: EventLag::default(),
        }
    }

    fn batch(&mut self, events: &[Event], alerts: &mut Vec<Alert>) {
        self.lag.observe(events);
        let generation = self.rules.generation();
        if generation != self.generation {
            self.generation = generation;
            self.engine.set_rules(self.rules.current(), alerts);
        }
        let before = alerts.len();
        self.engine.process_batch(events, alerts);
        count_alerts(&alerts[before..]);
    }

    /// End of input: closes every correlation and suppression window.
    fn finish(&mut self, alerts: &mut Vec<Alert>) {
        let before = alerts.len();
        self.engine.flush(Timestamp(i64::MAX), alerts);
        count_alerts(&alerts[before..]);
    }
}

fn count_alerts(alerts: &[Alert]) {
    for a in alerts {
        let level = a.rule.level.as_str();
        metrics::ALERTS.with_label_values(&[level]).inc();
        let tenant = metrics::tenant_label(a.tenant.as_deref());
        metrics::ALERTS_BY_TENANT
            .with_label_values(&[tenant, level])
            .inc();
        let mut tactics = 0;
        for tactic in metrics::tactics(&a.rule.tags) {
            metrics::ALERTS_BY_TACTIC.with_label_values(&[tactic]).inc();
            tactics += 1;
        }
        if tactics == 0 {
            metrics::ALERTS_BY_TACTIC.with_label_values(&["none"]).inc();
        }
    }
}

/// `vigil_event_lag_seconds`, observed without atomics per event: each batch goes into
/// thread-local histograms (one per event kind) published once per batch.
struct EventLag {
    by_kind: Vec<(Kind, prometheus::local::LocalHistogram)>,
}

impl Default for EventLag {
    fn default() -> EventLag {
        EventLag {
            by_kind: Vec::with_capacity(8),
        }
    }
}

impl EventLag {
    fn observe(&mut self, events: &[Event]) {
        let now = Timestamp::now();
        for ev in events {
            // An event stamped ahead of this clock (skew) has no lag rather than a negative one.
            let lag = now.0.saturating_sub(ev.ts.0).max(0) as f64 / SEC as f64;
            let i = match self.by_kind.iter().position(|(k, _)| *k == ev.kind) {
                Some(i) => i,
                None => {
                    let h = metrics::EVENT_LAG_SECONDS
                        .with_label_values(&[ev.kind.as_str()])
                        .local();
                    self.by_kind.push((ev.kind, h));
                    self.by_kind.len() - 1
                }
            };
            self.by_kind[i].1.observe(lag);
        }
        for (_, h) in &self.by_kind {
            h.flush();
        }
    }
}

/// Packets per merge step of an ordered pipeline between ticks.
const STEP_PACKETS: usize = 16 * 1024;

/// What a worker hands to the output thread.
enum Out {
    /// Events the worker made from packets (flows and their L7 records).
    Events(Vec<Event>),
    /// Events pushed as they are (logs, flow-export records), in their input order.
    Pushed(Vec<Event>),
    /// Everything up to the worker's latest tick has been sent (ordered pipelines only).
    Mark,
}

enum Msg {
    Packets(Vec<Packet>),
    Events(Vec<Event>),
    Tick(Timestamp),
    /// Ends a merge step without moving time (ordered pipelines, after pushed events).
    Barrier,
    Finish,
}

/// The output thread's view of the workers: one shared queue taken as it comes, or (ordered)
/// one queue per worker merged step by step. A step ends at a tick of packet time (every
/// worker hears each one) or a barrier after pushed events; the output thread reads every
/// worker that has not yet marked the step (never only one, so a worker blocked on its full
/// queue cannot stall the reader that the others wait on). A step's events are handed on in
/// an order that does not depend on the number of workers: the events made from packets
/// sorted by time (stable), merged by time with the pushed events (logs, flow-export
/// records), which keep their input order.
struct Merge {
    rxs: Vec<Receiver<Out>>,
    ordered: bool,
    batch: usize,
    /// Per worker: the step's batches (pushed or not), whether it marked the step, whether
    /// it has ended.
    pending: Vec<Vec<(bool, Vec<Event>)>>,
    marked: Vec<bool>,
    ended: Vec<bool>,
    /// A merged step being handed on in batches.
    ready: std::collections::VecDeque<Vec<Event>>,
}

impl Merge {
    fn new(rxs: Vec<Receiver<Out>>, batch: usize, ordered: bool) -> Merge {
        let n = rxs.len();
        Merge {
            ordered,
            rxs,
            batch: batch.max(1),
            pending: (0..n).map(|_| Vec::new()).collect(),
            marked: vec![false; n],
            ended: vec![false; n],
            ready: std::collections::VecDeque::new(),
        }
    }

    fn depth(&self) -> usize {
        self.rxs.iter().map(Receiver::len).sum::<usize>() + self.ready.len()
    }

    /// The next batch for detection; `None` once every worker has ended.
    fn next(&mut self) -> Option<Vec<Event>> {
        if !self.ordered {
            // One shared queue: taken as it comes.
            loop {
                match self.rxs[0].recv() {
                    Ok(Out::Events(b) | Out::Pushed(b)) => return Some(b),
                    Ok(Out::Mark) => continue,
                    Err(_) => return None,
                }
            }
        }
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Some(b);
            }
            if self.ended.iter().all(|e| *e) && self.pending.iter().all(Vec::is_empty) {
                return None;
            }
            self.collect_step();
        }
    }

    /// Reads until every live worker has marked the current step (or ended), then merges it.
    fn collect_step(&mut self) {
        let mut waiting: Vec<usize> = Vec::with_capacity(self.rxs.len());
        loop {
            waiting.clear();
            waiting.extend((0..self.rxs.len()).filter(|&i| !self.marked[i] && !self.ended[i]));
            if waiting.is_empty() {
                break;
            }
            let mut sel = crossbeam_channel::Select::new();
            for &i in &waiting {
                sel.recv(&self.rxs[i]);
            }
            let op = sel.select();
            let i = waiting[op.index()];
            match op.recv(&self.rxs[i]) {
                Ok(Out::Events(b)) => self.pending[i].push((false, b)),
                Ok(Out::Pushed(b)) => self.pending[i].push((true, b)),
                Ok(Out::Mark) => self.marked[i] = true,
                Err(_) => self.ended[i] = true,
            }
        }
        self.marked.iter_mut().for_each(|m| *m = false);
        let (mut made, mut pushed): (Vec<Event>, Vec<Event>) = (Vec::new(), Vec::new());
        for batches in &mut self.pending {
            for (is_pushed, b) in batches.drain(..) {
                let into = if is_pushed { &mut pushed } else { &mut made };
                if into.is_empty() {
                    *into = b;
                } else {
                    into.extend(b);
                }
            }
        }
        made.sort_by_key(|e| e.ts);
        let step = merge_by_time(pushed, made);
        let mut chunk = Vec::with_capacity(self.batch.min(step.len()));
        for ev in step {
            chunk.push(ev);
            if chunk.len() == self.batch {
                self.ready.push_back(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(self.batch),
                ));
            }
        }
        if !chunk.is_empty() {
            self.ready.push_back(chunk);
        }
    }
}

/// Merges `made` (sorted by time) into `pushed` (in input order) by time; on equal times the
/// pushed event comes first. Either alone is returned as it is.
fn merge_by_time(pushed: Vec<Event>, made: Vec<Event>) -> Vec<Event> {
    if made.is_empty() {
        return pushed;
    }
    if pushed.is_empty() {
        return made;
    }
    let mut out = Vec::with_capacity(pushed.len() + made.len());
    let mut made = made.into_iter().peekable();
    for ev in pushed {
        while made.peek().is_some_and(|m| m.ts < ev.ts) {
            out.extend(made.next());
        }
        out.push(ev);
    }
    out.extend(made);
    out
}

/// A running pipeline.
pub struct Pipeline {
    cfg: PipelineConfig,
    shards: Vec<Sender<Msg>>,
    workers: Vec<JoinHandle<()>>,
    sink: JoinHandle<std::io::Result<()>>,
}

impl Pipeline {
    pub fn start(cfg: PipelineConfig, enricher: Enricher, sink: Box<dyn Sink>) -> Pipeline {
        Pipeline::start_with_rules(cfg, enricher, None, sink)
    }

    /// Starts the pipeline with detection: every event is matched against `rules`.
    pub fn start_with_rules(
        cfg: PipelineConfig,
        enricher: Enricher,
        rules: Option<Rules>,
        mut sink: Box<dyn Sink>,
    ) -> Pipeline {
        metrics::init();
        // Events are far larger than packets; a short output queue bounds the memory in flight
        // when a million flows expire at once. Ordered pipelines give each worker its own.
        let n_workers = cfg.workers.max(1);
        // A single worker's queue is already deterministic: no merge, no buffering.
        let ordered = cfg.ordered && n_workers > 1;
        let out_cap = (cfg.queue / 8).max(2);
        let (out_txs, out_rxs): (Vec<Sender<Out>>, Vec<Receiver<Out>>) = if ordered {
            (0..n_workers).map(|_| bounded::<Out>(out_cap)).unzip()
        } else {
            let (tx, rx) = bounded::<Out>(out_cap);
            (vec![tx; n_workers], vec![rx])
        };
        let mut shards = Vec::new();
        let mut workers = Vec::new();
        let batch = cfg.batch;
        for (n, out) in out_txs.into_iter().enumerate() {
            let (tx, rx) = bounded::<Msg>(cfg.queue);
            shards.push(tx);
            let worker = Worker {
                name: format!("worker-{n}"),
                flows: FlowTable::new(FlowConfig {
                    max_flows: (cfg.flow.max_flows / n_workers).max(1),
                    ..cfg.flow.clone()
                }),
                enricher: enricher.clone(),
                out,
                marks: ordered,
                active: 0,
            };
            workers.push(
                std::thread::Builder::new()
                    .name(worker.name.clone())
                    .spawn(move || worker.run(rx, batch))
                    .unwrap_or_else(|e| panic!("cannot start a worker thread: {e}")),
            );
        }
        let sink = std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                let mut detector = rules.map(Detector::new);
                let mut alerts = Vec::new();
                let mut result = Ok(());
                let mut merge = Merge::new(out_rxs, batch, ordered);
                while let Some(mut batch) = merge.next() {
                    metrics::QUEUE_DEPTH
                        .with_label_values(&["output"])
                        .set(merge.depth() as i64);
                    if let Some(d) = detector.as_mut() {
                        d.batch(&batch, &mut alerts);
                    }
                    if result.is_ok() {
                        result = sink.events(&mut batch);
                    }
                    if result.is_ok() && !alerts.is_empty() {
                        result = sink.alerts(&mut alerts);
                    }
                    alerts.clear();
                }
                // End of input closes every correlation and suppression window.
                if let Some(d) = detector.as_mut() {
                    d.finish(&mut alerts);
                    if result.is_ok() && !alerts.is_empty() {
                        result = sink.alerts(&mut alerts);
                    }
                }
                result.and_then(|_| sink.finish())
            })
            .unwrap_or_else(|e| panic!("cannot start the output thread: {e}"));
        Pipeline {
            cfg,
            shards,
            workers,
            sink,
        }
    }

    /// A handle through which one source feeds packets. `wait` says whether the source waits
    /// for room (files, replay) or drops and counts (live network input).
    pub fn packet_input(&self, source: &'static str, wait: bool) -> PacketInput {
        PacketInput {
            source,
            wait,
            ordered: self.cfg.ordered && self.shards.len() > 1,
            since_barrier: 0,
            batch: self.cfg.batch,
            shards: self.shards.clone(),
            pending: (0..self.shards.len())
                .map(|_| Vec::with_capacity(self.cfg.batch))
                .collect(),
            last_tick: i64::MIN,
            max_ts: Timestamp(i64::MIN),
            packets: 0,
            bytes: 0,
            decode_errors: Vec::new(),
            exports: FlowExportDecoder::new(DecoderConfig {
                community_id_seed: self.cfg.flow.community_id_seed,
                ..DecoderConfig::default()
            }),
        }
    }

    /// Stops the pipeline after everything sent so far is processed; flows still open are
    /// emitted. Returns the output's result.
    pub fn finish(self) -> std::io::Result<()> {
        for s in &self.shards {
            let _ = s.send(Msg::Finish);
        }
        drop(self.shards);
        for w in self.workers {
            let _ = w.join();
        }
        self.sink
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the output thread panicked")))
    }
}

/// Batches one source's packets per shard.
pub struct PacketInput {
    source: &'static str,
    wait: bool,
    batch: usize,
    shards: Vec<Sender<Msg>>,
    pending: Vec<Vec<Packet>>,
    last_tick: i64,
    max_ts: Timestamp,
    packets: u64,
    bytes: u64,
    decode_errors: Vec<(&'static str, u64)>,
    /// Flow exports (NetFlow, IPFIX, sFlow) found in the packets; see `push_decoded`.
    exports: FlowExportDecoder,
    /// Send merge barriers after pushed events (see [`PipelineConfig::ordered`]).
    ordered: bool,
    /// Packets since the last tick or barrier.
    since_barrier: usize,
}

/// Shard of a packet: a mix of its two addresses (in either order) and VNI, so both
/// directions and every fragment of a flow meet on one worker. Fixed, not seeded, so that a
/// replay assigns flows to workers the same way every time.
fn shard_hash(p: &Packet) -> u64 {
    fn fold(ip: std::net::IpAddr) -> u64 {
        match ip {
            std::net::IpAddr::V4(a) => u32::from(a) as u64,
            std::net::IpAddr::V6(a) => {
                let v = u128::from(a);
                (v as u64) ^ ((v >> 64) as u64)
            }
        }
    }
    let (a, b) = (fold(p.tuple.src), fold(p.tuple.dst));
    let x = a.min(b).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ a.max(b) ^ p.vni.unwrap_or(0) as u64;
    (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 32
}

impl PacketInput {
    /// Turns a decoded frame into the records the flow layer needs: the packet, and for a
    /// tunnelled packet also the outer packet of the tunnel's own flow.
    pub fn push_decoded(&mut self, ts: Timestamp, d: &Decoded<'_>) {
        // A flow export to a NetFlow/IPFIX/sFlow port also yields the flows it reports (events
        // sent as they are); the export datagram itself is still tracked as a UDP flow below.
        if let Some(Ok(evs)) = self.exports.captured(ts, d) {
            self.push_events(evs);
        }
        let app = if d.payload.is_empty() {
            None
        } else {
            app::inspect(d.tuple.proto, d.tuple.sport, d.tuple.dport, d.payload).map(Box::new)
        };
        if let Some(t) = d.tunnel {
            self.push(Packet {
                ts,
                tuple: t.outer,
                len: t.outer_len,
                vlan: None,
                vni: None,
                tunnel: None,
                carrier: Some(t.kind),
                tcp_flags: 0,
                icmp: None,
                fragment: crate::decode::Fragment::Whole,
                app: None,
            });
        }
        self.push(Packet {
            ts,
            tuple: d.tuple,
            len: d.len,
            vlan: d.vlan,
            vni: d.vni,
            tunnel: d.tunnel.map(|t| (t.kind, t.outer)),
            carrier: d.carrier,
            tcp_flags: d.tcp_flags,
            icmp: d.icmp,
            fragment: d.fragment,
            app,
        });
    }

    /// What every source of frames does with one: counts it, decodes it and hands the
    /// packet on. `Ok(false)`: not IP (counted, nothing to track); `Err`: malformed, counted
    /// in `vigil_decode_errors_total` by layer, for the caller to report.
    pub fn push_frame(
        &mut self,
        ts: Timestamp,
        link: crate::decode::LinkType,
        data: &[u8],
        wire_len: u32,
    ) -> Result<bool, crate::decode::DecodeError> {
        self.count_frame(wire_len);
        match crate::decode::decode(link, data, wire_len) {
            Ok(Some(d)) => {
                self.push_decoded(ts, &d);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                self.count_decode_error(e.layer);
                Err(e)
            }
        }
    }

    /// Counts a frame read (decoded or not) for the per-source metrics.
    pub fn count_frame(&mut self, wire_len: u32) {
        self.packets += 1;
        self.bytes += wire_len as u64;
    }

    pub fn count_decode_error(&mut self, layer: &'static str) {
        match self.decode_errors.iter_mut().find(|(l, _)| *l == layer) {
            Some((_, n)) => *n += 1,
            None => self.decode_errors.push((layer, 1)),
        }
    }

    pub fn push(&mut self, p: Packet) {
        if p.ts > self.max_ts {
            self.max_ts = p.ts;
        }
        let shard = (shard_hash(&p) % self.shards.len() as u64) as usize;
        self.pending[shard].push(p);
        if self.pending[shard].len() >= self.batch {
            self.send_shard(shard);
        }
        // Once per second of packet time every worker hears the time, so flows on a quiet
        // worker still expire.
        if self.max_ts.0 >= self.last_tick.saturating_add(SEC) {
            self.last_tick = self.max_ts.0;
            self.tick();
        } else if self.ordered {
            // Merge steps of a fixed number of packets (the same whatever the worker count),
            // so that detection keeps pace with the workers within a busy second.
            self.since_barrier += 1;
            if self.since_barrier >= STEP_PACKETS {
                self.barrier();
            }
        }
    }

    /// Ends a merge step on every worker: what each was sent before it comes first.
    fn barrier(&mut self) {
        self.since_barrier = 0;
        for shard in 0..self.shards.len() {
            if !self.pending[shard].is_empty() {
                self.send_shard(shard);
            }
            self.send(shard, Msg::Barrier);
        }
    }

    fn tick(&mut self) {
        self.since_barrier = 0;
        for shard in 0..self.shards.len() {
            if !self.pending[shard].is_empty() {
                self.send_shard(shard);
            }
            self.send(shard, Msg::Tick(self.max_ts));
        }
    }

    fn send_shard(&mut self, shard: usize) {
        let batch = std::mem::replace(&mut self.pending[shard], Vec::with_capacity(self.batch));
        self.send(shard, Msg::Packets(batch));
    }

    fn send(&mut self, shard: usize, msg: Msg) {
        let tx = &self.shards[shard];
        if self.wait {
            let _ = tx.send(msg);
        } else if let Err(TrySendError::Full(Msg::Packets(b))) = tx.try_send(msg) {
            metrics::DROPPED
                .with_label_values(&[self.source, "queue_full"])
                .inc_by(b.len() as u64);
        }
    }

    /// For live sources, called a few times a second: hands over partial batches and, once
    /// a second, tells every worker the time, so flows expire on a quiet link too.
    pub fn heartbeat(&mut self, now: Timestamp) {
        if now > self.max_ts {
            self.max_ts = now;
        }
        self.flush();
        if self.max_ts.0 >= self.last_tick.saturating_add(SEC) {
            self.last_tick = self.max_ts.0;
            self.tick();
        }
    }

    /// Sends everything pending and publishes the counters.
    pub fn flush(&mut self) {
        for shard in 0..self.shards.len() {
            if !self.pending[shard].is_empty() {
                self.send_shard(shard);
            }
        }
        metrics::PACKETS
            .with_label_values(&[self.source])
            .inc_by(std::mem::take(&mut self.packets));
        metrics::BYTES
            .with_label_values(&[self.source])
            .inc_by(std::mem::take(&mut self.bytes));
        self.exports.publish(self.source);
        for (layer, n) in self.decode_errors.drain(..) {
            metrics::DECODE_ERRORS
                .with_label_values(&[self.source, layer])
                .inc_by(n);
        }
    }

    /// Sends already-built events (from log sources) to a worker, in order.
    pub fn push_events(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.send(0, Msg::Events(events));
        // An ordered pipeline closes a merge step after each batch of events, so that a long
        // log replay is merged as it goes rather than at its end. (Not a tick: flow records
        // and logs carry their own clocks, which must not expire the packet flows.)
        if self.ordered {
            self.barrier();
        }
    }
}

impl Drop for PacketInput {
    fn drop(&mut self) {
        self.flush();
    }
}

struct Worker {
    name: String,
    flows: FlowTable,
    enricher: Enricher,
    out: Sender<Out>,
    /// Send a mark after each tick (ordered pipelines).
    marks: bool,
    active: i64,
}

/// Collects a worker's output and sends it on in batches of `batch` events, enriching each
/// batch first.
struct Outbox<'a> {
    pending: Vec<Event>,
    batch: usize,
    enricher: &'a Enricher,
    tx: &'a Sender<Out>,
    closed: bool,
    /// The events being collected were pushed as they are (logs), not made from packets.
    pushed: bool,
}

impl Outbox<'_> {
    fn send(&mut self) {
        if self.pending.is_empty() || self.closed {
            self.pending.clear();
            return;
        }
        for ev in self.pending.iter_mut() {
            (self.enricher)(ev);
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch));
        // The output thread only goes away when the sink failed; then there is nobody to wait for.
        let out = if self.pushed {
            Out::Pushed(batch)
        } else {
            Out::Events(batch)
        };
        self.closed = self.tx.send(out).is_err();
    }

    fn mark(&mut self) {
        if !self.closed {
            self.closed = self.tx.send(Out::Mark).is_err();
        }
    }
}

impl Emit for Outbox<'_> {
    fn emit(&mut self, ev: Event) {
        self.pending.push(ev);
        if self.pending.len() >= self.batch {
            self.send();
        }
    }
}

impl Worker {
    fn run(mut self, rx: Receiver<Msg>, batch: usize) {
        let depth = metrics::QUEUE_DEPTH.with_label_values(&[&self.name]);
        let out_tx = self.out.clone();
        let enricher = self.enricher.clone();
        let mut out = Outbox {
            pending: Vec::with_capacity(batch),
            batch,
            enricher: &enricher,
            tx: &out_tx,
            closed: false,
            pushed: false,
        };
        for msg in rx.iter() {
            depth.set(rx.len() as i64);
            let finish = matches!(msg, Msg::Finish);
            let tick = matches!(msg, Msg::Tick(_) | Msg::Barrier);
            out.pushed = matches!(msg, Msg::Events(_));
            match msg {
                Msg::Packets(batch) => {
                    for p in &batch {
                        self.flows.update(p, &mut out);
                    }
                }
                // A batch of events from a log source goes on as it came (enriched in place
                // by `out.send` below) unless it has to join or split a batch.
                Msg::Events(evs) if out.pending.is_empty() && evs.len() <= out.batch => {
                    out.pending = evs;
                }
                Msg::Events(evs) => {
                    for ev in evs {
                        out.emit(ev);
                    }
                }
                Msg::Tick(ts) => self.flows.advance(ts, &mut out),
                Msg::Barrier => {}
                Msg::Finish => self.flows.drain(&mut out),
            }
            self.publish();
            out.send();
            if tick && self.marks {
                out.mark();
            }
            if finish || out.closed {
                break;
            }
        }
    }

    fn publish(&mut self) {
        let s = std::mem::take(&mut self.flows.stats);
        if s.created > 0 {
            metrics::FLOWS.inc_by(s.created);
        }
        if s.evicted > 0 {
            metrics::FLOWS_EVICTED.inc_by(s.evicted);
        }
        if s.fragments > 0 {
            metrics::FRAGMENTS
                .with_label_values(&["true"])
                .inc_by(s.fragments - s.fragments_unattributed);
            metrics::FRAGMENTS
                .with_label_values(&["false"])
                .inc_by(s.fragments_unattributed);
        }
        let active = self.flows.active() as i64;
        metrics::FLOWS_ACTIVE.add(active - self.active);
        self.active = active;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        metrics::FLOWS_ACTIVE.sub(self.active);
    }
}
