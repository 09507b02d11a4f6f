//! Flow exports: NetFlow v5, NetFlow v9, IPFIX and sFlow v5 datagrams become flow events.
//! `FlowExportDecoder` owns the state (templates per exporter and domain, sampling rates,
//! data waiting for its template); the format files underneath are pure parsers.

pub mod ipfix;
pub mod listener;
pub mod record;
pub mod template;
pub mod v5;
pub mod v9;
pub mod wire;

use std::collections::VecDeque;
use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use crate::decode::{self, LinkType};
use crate::event::{Event, Timestamp};
use crate::metrics;
use crate::source::sflow;

pub use record::FlowRecord;
use template::{DomainKey, Learned, Raw, SetKind, Template, TemplateCache, TemplateItem};
use wire::Wire;

/// UDP ports on which captures carry NetFlow or IPFIX (2055 and 9995/9996 by custom, 4739 IANA).
pub const EXPORT_PORTS: [u16; 4] = [2055, 4739, 9995, 9996];
/// sFlow's IANA port.
pub const SFLOW_PORT: u16 = 6343;

/// Whether a UDP destination port is one that captures replay as flow exports.
pub fn is_export_port(port: u16) -> bool {
    EXPORT_PORTS.contains(&port) || port == SFLOW_PORT
}

/// Why a datagram (or the rest of it) could not be decoded: the format, the byte offset in
/// the datagram, and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format} at byte {offset}: {reason}")]
pub struct ExportError {
    pub format: &'static str,
    pub offset: usize,
    pub reason: &'static str,
}

/// The export formats, by the version number a datagram starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    NetflowV5,
    NetflowV9,
    Ipfix,
    Sflow,
}

impl Format {
    /// Recognizes a datagram by its version field.
    pub fn sniff(payload: &[u8]) -> Option<Format> {
        match payload {
            [0, 5, ..] => Some(Format::NetflowV5),
            [0, 9, ..] => Some(Format::NetflowV9),
            [0, 10, ..] => Some(Format::Ipfix),
            [0, 0, 0, 5, ..] => Some(Format::Sflow),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::NetflowV5 => "netflow_v5",
            Format::NetflowV9 => "netflow_v9",
            Format::Ipfix => "ipfix",
            Format::Sflow => "sflow",
        }
    }
}

/// Limits of the decoder's state.
#[derive(Clone, Debug)]
pub struct DecoderConfig {
    /// Templates kept over all exporters; new ones past it are refused and counted.
    pub max_templates: usize,
    /// Template spaces (exporter, version, source id / domain) kept.
    pub max_domains: usize,
    /// Data sets kept while their template is unknown, and their total bytes.
    pub pending_sets: usize,
    pub pending_bytes: usize,
    /// How long (event time, ns) a data set waits for its template before it is dropped.
    pub pending_age: i64,
    pub community_id_seed: u16,
}

impl Default for DecoderConfig {
    fn default() -> DecoderConfig {
        DecoderConfig {
            max_templates: 65_536,
            max_domains: 4096,
            pending_sets: 1024,
            pending_bytes: 4 << 20,
            pending_age: 60 * 1_000_000_000,
            community_id_seed: 0,
        }
    }
}

/// What one datagram (or, summed, a run of them) produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub datagrams: u64,
    /// Flow records turned into events, by format.
    pub v5_records: u64,
    pub v9_records: u64,
    pub ipfix_records: u64,
    /// sFlow flow samples with a packet header that decoded.
    pub sflow_samples: u64,
    pub sflow_counter_samples: u64,
    /// Sampled headers that did not decode as a frame, or were not Ethernet.
    pub sflow_bad_headers: u64,
    /// Options data records (sampling, exporter init time).
    pub options_records: u64,
    /// Records without both addresses (nothing to make a flow of).
    pub incomplete_records: u64,
    pub templates_learned: u64,
    pub templates_withdrawn: u64,
    pub templates_rejected: u64,
    /// Data sets that arrived before their template: kept, decoded later, or dropped.
    pub sets_buffered: u64,
    pub sets_decoded_late: u64,
    pub sets_dropped: u64,
    pub errors: u64,
}

impl Stats {
    pub fn records(&self) -> u64 {
        self.v5_records + self.v9_records + self.ipfix_records + self.sflow_samples
    }

    fn add(&mut self, o: &Stats) {
        self.datagrams += o.datagrams;
        self.v5_records += o.v5_records;
        self.v9_records += o.v9_records;
        self.ipfix_records += o.ipfix_records;
        self.sflow_samples += o.sflow_samples;
        self.sflow_counter_samples += o.sflow_counter_samples;
        self.sflow_bad_headers += o.sflow_bad_headers;
        self.options_records += o.options_records;
        self.incomplete_records += o.incomplete_records;
        self.templates_learned += o.templates_learned;
        self.templates_withdrawn += o.templates_withdrawn;
        self.templates_rejected += o.templates_rejected;
        self.sets_buffered += o.sets_buffered;
        self.sets_decoded_late += o.sets_decoded_late;
        self.sets_dropped += o.sets_dropped;
        self.errors += o.errors;
    }
}

/// How a data set's times resolve: the base of uptime-relative fields, in ms since the epoch.
#[derive(Clone, Copy, Debug)]
struct Clock {
    /// NetFlow v9: the header's clock minus its uptime. IPFIX: None (the domain's
    /// systemInitTimeMilliseconds is used when known).
    boot_ms: Option<i64>,
}

/// A data set waiting for its template.
struct Pending {
    key: DomainKey,
    template: u16,
    arrival: Timestamp,
    exporter: IpAddr,
    clock: Clock,
    offset: usize,
    body: Vec<u8>,
}

/// Decodes the flow exports of any number of exporters; one per source (a replay, a UDP
/// listener), never shared between threads.
pub struct FlowExportDecoder {
    cfg: DecoderConfig,
    cache: TemplateCache,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    /// Sums since the last [`FlowExportDecoder::publish`].
    unpublished: Stats,
    published_templates: i64,
}

/// Where decoded records go: the exporter (sFlow: the agent) and the record.
pub type RecordSink<'s> = dyn FnMut(IpAddr, &FlowRecord) + 's;

impl Default for FlowExportDecoder {
    fn default() -> FlowExportDecoder {
        FlowExportDecoder::new(DecoderConfig::default())
    }
}

impl FlowExportDecoder {
    pub fn new(cfg: DecoderConfig) -> FlowExportDecoder {
        FlowExportDecoder {
            cache: TemplateCache::new(cfg.max_templates, cfg.max_domains),
            cfg,
            pending: VecDeque::new(),
            pending_bytes: 0,
            unpublished: Stats::default(),
            published_templates: 0,
        }
    }

    /// Templates known, over all exporters.
    pub fn templates(&self) -> usize {
        self.cache.len()
    }

    /// Data sets waiting for their template.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Decodes one datagram from `exporter` that arrived at `ts`, appending one flow event per
    /// record to `out`. On a malformed datagram, the events of the records before the fault
    /// are kept and the error says where it was.
    pub fn datagram(
        &mut self,
        exporter: IpAddr,
        ts: Timestamp,
        payload: &[u8],
        out: &mut Vec<Event>,
    ) -> Result<Stats, ExportError> {
        let seed = self.cfg.community_id_seed;
        let mut incomplete = 0;
        let mut sink = |exp: IpAddr, r: &FlowRecord| match r.to_event(exp, ts, seed) {
            Some(ev) => out.push(ev),
            None => incomplete += 1,
        };
        let result = self.records(exporter, ts, payload, &mut sink);
        self.unpublished.incomplete_records += incomplete;
        result.map(|mut s| {
            s.incomplete_records += incomplete;
            s
        })
    }

    /// Like [`FlowExportDecoder::datagram`], but hands the typed records to `sink` instead of
    /// building events.
    pub fn records(
        &mut self,
        exporter: IpAddr,
        ts: Timestamp,
        payload: &[u8],
        sink: &mut RecordSink<'_>,
    ) -> Result<Stats, ExportError> {
        let mut st = Stats {
            datagrams: 1,
            ..Stats::default()
        };
        self.expire(ts, &mut st);
        let result = match Format::sniff(payload) {
            Some(Format::NetflowV5) => v5::parse(payload, &mut |r| {
                st.v5_records += 1;
                sink(exporter, &r)
            })
            .map(|_| ()),
            Some(Format::NetflowV9) => self.v9(exporter, ts, payload, sink, &mut st),
            Some(Format::Ipfix) => self.ipfix(exporter, ts, payload, sink, &mut st),
            Some(Format::Sflow) => sflow_datagram(ts, payload, sink, &mut st),
            None => Err(ExportError {
                format: "flow export",
                offset: 0,
                reason: "not NetFlow v5/v9, IPFIX or sFlow v5 (unknown version)",
            }),
        };
        if result.is_err() {
            st.errors += 1;
        }
        self.unpublished.add(&st);
        result.map(|_| st)
    }

    fn v9(
        &mut self,
        exporter: IpAddr,
        ts: Timestamp,
        payload: &[u8],
        sink: &mut RecordSink<'_>,
        st: &mut Stats,
    ) -> Result<(), ExportError> {
        let (h, sets) = v9::parse_header(payload)?;
        let key = DomainKey {
            exporter,
            version: 9,
            domain: h.source_id,
        };
        let clock = Clock {
            boot_ms: Some(h.boot_ms()),
        };
        v9::sets(sets, &mut |set| match set.id {
            0 => self.template_set(key, set.body, SetKind::V9Template, sink, st),
            1 => self.template_set(key, set.body, SetKind::V9Options, sink, st),
            2..=255 => Ok(()),
            id => self.data_set(key, id, set.body, clock, exporter, ts, sink, st),
        })
    }

    fn ipfix(
        &mut self,
        exporter: IpAddr,
        ts: Timestamp,
        payload: &[u8],
        sink: &mut RecordSink<'_>,
        st: &mut Stats,
    ) -> Result<(), ExportError> {
        let (h, sets) = ipfix::parse_header(payload)?;
        let key = DomainKey {
            exporter,
            version: 10,
            domain: h.domain,
        };
        let clock = Clock { boot_ms: None };
        v9::sets(sets, &mut |set| match set.id {
            2 => self.template_set(key, set.body, SetKind::IpfixTemplate, sink, st),
            3 => self.template_set(key, set.body, SetKind::IpfixOptions, sink, st),
            0..=255 => Ok(()),
            id => self.data_set(key, id, set.body, clock, exporter, ts, sink, st),
        })
    }

    fn template_set(
        &mut self,
        key: DomainKey,
        body: Wire<'_>,
        kind: SetKind,
        sink: &mut RecordSink<'_>,
        st: &mut Stats,
    ) -> Result<(), ExportError> {
        let mut items = Vec::new();
        let parsed = template::parse_templates(body, kind, &mut |t| items.push(t));
        for item in items {
            match item {
                TemplateItem::Define(t) => {
                    let id = t.id;
                    match self.cache.learn(key, t) {
                        Learned::New => st.templates_learned += 1,
                        Learned::Refreshed => {}
                        Learned::Rejected => st.templates_rejected += 1,
                    }
                    self.release(key, id, sink, st);
                }
                w => st.templates_withdrawn += self.cache.withdraw(&key, &w) as u64,
            }
        }
        parsed
    }

    #[allow(clippy::too_many_arguments)]
    fn data_set(
        &mut self,
        key: DomainKey,
        id: u16,
        body: Wire<'_>,
        clock: Clock,
        exporter: IpAddr,
        ts: Timestamp,
        sink: &mut RecordSink<'_>,
        st: &mut Stats,
    ) -> Result<(), ExportError> {
        let Some(t) = self.cache.template(&key, id) else {
            self.buffer(
                Pending {
                    key,
                    template: id,
                    arrival: ts,
                    exporter,
                    clock,
                    offset: body.base,
                    body: body.buf.to_vec(),
                },
                st,
            );
            return Ok(());
        };
        self.decode_set(&t, key, body, clock, exporter, sink, st)
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_set(
        &mut self,
        t: &Template,
        key: DomainKey,
        body: Wire<'_>,
        clock: Clock,
        exporter: IpAddr,
        sink: &mut RecordSink<'_>,
        st: &mut Stats,
    ) -> Result<(), ExportError> {
        if t.options {
            let Some(d) = self.cache.domain_mut(key) else {
                return Ok(());
            };
            let n = t.records(body, &mut |raw| {
                if let Some(rate) = raw.sampling_rate() {
                    d.sampling = rate.max(1);
                }
                if let Some(ms) = raw.sys_init_ms {
                    d.sys_init_ms = Some(ms);
                }
            })?;
            st.options_records += n as u64;
            return Ok(());
        }
        let (sampling, base) = match self.cache.domain(&key) {
            Some(d) => (d.sampling, clock.boot_ms.or(d.sys_init_ms)),
            None => (1, clock.boot_ms),
        };
        let n = t.records(body, &mut |raw| {
            let r = resolve(raw, base, sampling);
            sink(exporter, &r)
        })? as u64;
        if key.version == 9 {
            st.v9_records += n;
        } else {
            st.ipfix_records += n;
        }
        Ok(())
    }

    fn buffer(&mut self, p: Pending, st: &mut Stats) {
        st.sets_buffered += 1;
        while !self.pending.is_empty()
            && (self.pending.len() >= self.cfg.pending_sets
                || self.pending_bytes + p.body.len() > self.cfg.pending_bytes)
        {
            self.drop_oldest(st);
        }
        if p.body.len() > self.cfg.pending_bytes {
            st.sets_dropped += 1;
            return;
        }
        self.pending_bytes += p.body.len();
        self.pending.push_back(p);
    }

    fn drop_oldest(&mut self, st: &mut Stats) {
        if let Some(old) = self.pending.pop_front() {
            self.pending_bytes -= old.body.len();
            st.sets_dropped += 1;
        }
    }

    /// Drops data sets that waited longer than `pending_age` of event time.
    fn expire(&mut self, now: Timestamp, st: &mut Stats) {
        while let Some(p) = self.pending.front() {
            if now.0.saturating_sub(p.arrival.0) <= self.cfg.pending_age {
                break;
            }
            self.drop_oldest(st);
        }
    }

    /// A template arrived: decodes the data sets that were waiting for it.
    fn release(&mut self, key: DomainKey, id: u16, sink: &mut RecordSink<'_>, st: &mut Stats) {
        if self.pending.is_empty() {
            return;
        }
        let Some(t) = self.cache.template(&key, id) else {
            return;
        };
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.key == key && p.template == id);
        self.pending = waiting.into();
        for p in ready {
            self.pending_bytes -= p.body.len();
            st.sets_decoded_late += 1;
            let body = Wire::new(
                if key.version == 9 {
                    "netflow v9"
                } else {
                    "ipfix"
                },
                &p.body,
                p.offset,
            );
            // A late set that turns out malformed is counted, not fatal to this datagram.
            if self
                .decode_set(&t, key, body, p.clock, p.exporter, sink, st)
                .is_err()
            {
                st.errors += 1;
            }
        }
    }

    /// Adds what was decoded since the last call to the metrics, under `source`.
    pub fn publish(&mut self, source: &str) {
        let s = std::mem::take(&mut self.unpublished);
        for (format, n) in [
            ("netflow_v5", s.v5_records),
            ("netflow_v9", s.v9_records),
            ("ipfix", s.ipfix_records),
            ("sflow", s.sflow_samples),
        ] {
            if n > 0 {
                metrics::FLOW_EXPORT_RECORDS
                    .with_label_values(&[source, format])
                    .inc_by(n);
            }
        }
        for (outcome, n) in [
            ("buffered", s.sets_buffered),
            ("decoded_late", s.sets_decoded_late),
            ("dropped", s.sets_dropped),
        ] {
            if n > 0 {
                metrics::FLOW_EXPORT_SETS_WITHOUT_TEMPLATE
                    .with_label_values(&[outcome])
                    .inc_by(n);
            }
        }
        if s.sflow_counter_samples > 0 {
            metrics::SFLOW_COUNTER_SAMPLES.inc_by(s.sflow_counter_samples);
        }
        if s.errors > 0 {
            metrics::DECODE_ERRORS
                .with_label_values(&[source, "flow_export"])
                .inc_by(s.errors);
        }
        let known = self.cache.len() as i64;
        metrics::FLOW_EXPORT_TEMPLATES.add(known - self.published_templates);
        self.published_templates = known;
    }
}

impl Drop for FlowExportDecoder {
    fn drop(&mut self) {
        metrics::FLOW_EXPORT_TEMPLATES.sub(self.published_templates);
    }
}

/// Applies the exporter's clock and sampling to a data record.
fn resolve(raw: Raw, base_ms: Option<i64>, domain_sampling: u64) -> FlowRecord {
    let rate = raw.sampling_rate().unwrap_or(domain_sampling).max(1);
    let mut r = raw.rec;
    if let Some(b) = base_ms {
        if r.start.is_none() {
            r.start = raw
                .first_up
                .map(|v| record::from_millis(b.saturating_add(v as i64)));
        }
        if r.end.is_none() {
            r.end = raw
                .last_up
                .map(|v| record::from_millis(b.saturating_add(v as i64)));
        }
    }
    if rate > 1 {
        r.packets = r.packets.saturating_mul(rate);
        r.bytes = r.bytes.saturating_mul(rate);
    }
    r
}

/// sFlow: each sampled Ethernet header is decoded like a captured frame and becomes a
/// one-sample flow record standing for `rate` packets of `frame_length` bytes, at the
/// datagram's arrival time (sFlow carries no absolute time). The exporter is the agent.
fn sflow_datagram(
    ts: Timestamp,
    payload: &[u8],
    sink: &mut RecordSink<'_>,
    st: &mut Stats,
) -> Result<(), ExportError> {
    let mut items = Vec::new();
    let h = sflow::parse(payload, &mut |i| items.push(i))?;
    for item in items {
        match item {
            sflow::Item::PacketHeader {
                rate,
                protocol: 1,
                frame_length,
                header,
                ..
            } => match decode::decode(LinkType::Ethernet, header, frame_length.max(1)) {
                Ok(Some(d)) => {
                    let rate = rate.max(1) as u64;
                    let r = FlowRecord {
                        src: Some(d.tuple.src),
                        dst: Some(d.tuple.dst),
                        sport: d.tuple.sport,
                        dport: d.tuple.dport,
                        proto: d.tuple.proto,
                        packets: rate,
                        bytes: frame_length as u64 * rate,
                        tcp_flags: d.tcp_flags,
                        icmp: d.icmp,
                        vlan: d.vlan,
                        start: Some(ts),
                        end: Some(ts),
                        end_reason: None,
                    };
                    st.sflow_samples += 1;
                    sink(h.agent, &r);
                }
                Ok(None) => {}
                Err(_) => st.sflow_bad_headers += 1,
            },
            sflow::Item::PacketHeader { .. } => st.sflow_bad_headers += 1,
            sflow::Item::CounterSample { .. } => st.sflow_counter_samples += 1,
            _ => {}
        }
    }
    Ok(())
}

/// Receives datagrams on `socket` and decodes them until `stop` says so, handing each
/// datagram's events to `on_events`. Meant for the daemon's collector and for tests; the
/// socket should have a read timeout so that `stop` is polled.
pub fn serve_udp(
    socket: &UdpSocket,
    decoder: &mut FlowExportDecoder,
    stop: &dyn Fn() -> bool,
    on_events: &mut dyn FnMut(Vec<Event>),
) -> std::io::Result<Stats> {
    let mut buf = vec![0u8; 65_536];
    let mut total = Stats::default();
    let mut drops = KernelDrops::new(socket);
    if socket.read_timeout()?.is_none() {
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    }
    while !stop() {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                decoder.publish("netflow");
                drops.publish("netflow");
                continue;
            }
            Err(e) => return Err(e),
        };
        metrics::PACKETS.with_label_values(&["netflow"]).inc();
        metrics::BYTES
            .with_label_values(&["netflow"])
            .inc_by(n as u64);
        let mut out = Vec::new();
        if let Ok(s) = decoder.datagram(from.ip(), Timestamp::now(), &buf[..n], &mut out) {
            total.add(&s);
        }
        if !out.is_empty() {
            on_events(out);
        }
    }
    decoder.publish("netflow");
    drops.publish("netflow");
    Ok(total)
}

/// Datagrams the kernel dropped on a socket (its receive buffer was full), read from the
/// `drops` column of /proc/net/udp{,6} by the socket's inode; nothing where that is not
/// readable (other systems, restricted /proc).
pub(crate) struct KernelDrops {
    inode: Option<u64>,
    seen: u64,
}

impl KernelDrops {
    fn new(socket: &impl std::os::fd::AsRawFd) -> KernelDrops {
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        KernelDrops { inode, seen: 0 }
    }

    fn read(&self) -> Option<u64> {
        let inode = self.inode?.to_string();
        ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            text.lines().skip(1).find_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.get(9) == Some(&inode.as_str()))
                    .then(|| cols.last()?.parse::<u64>().ok())
                    .flatten()
            })
        })
    }

    fn publish(&mut self, source: &str) {
        if let Some(n) = self.read() {
            if n > self.seen {
                metrics::KERNEL_DROPS
                    .with_label_values(&[source])
                    .inc_by(n - self.seen);
            }
            self.seen = n;
        }
    }
}

impl FlowExportDecoder {
    /// For a packet of a capture: when it is a whole UDP datagram to a NetFlow/IPFIX or sFlow
    /// port, decodes its payload as an export from the packet's source address.
    pub fn captured(
        &mut self,
        ts: Timestamp,
        d: &decode::Decoded<'_>,
    ) -> Option<Result<Vec<Event>, ExportError>> {
        let t = &d.tuple;
        if t.proto != decode::packet::PROTO_UDP
            || d.fragment != decode::Fragment::Whole
            || !is_export_port(t.dport)
            || d.payload.is_empty()
        {
            return None;
        }
        let mut out = Vec::new();
        Some(self.datagram(t.src, ts, d.payload, &mut out).map(|_| out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{f, Value};

    const EXP: &str = "10.9.9.9";
    const SEC: i64 = 1_000_000_000;

    fn exporter() -> IpAddr {
        EXP.parse().expect("test input is valid")
    }

    fn set(id: u16, body: &[u8]) -> Vec<u8> {
        let mut s = id.to_be_bytes().to_vec();
        s.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    fn ipfix(domain: u32, export_time: u32, sets: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = sets.concat();
        let mut m = vec![0, 10];
        m.extend_from_slice(&((body.len() + 16) as u16).to_be_bytes());
        m.extend_from_slice(&export_time.to_be_bytes());
        m.extend_from_slice(&7u32.to_be_bytes());
        m.extend_from_slice(&domain.to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn v9(uptime: u32, secs: u32, source: u32, sets: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![0, 9, 0, sets.len() as u8];
        for x in [uptime, secs, 1, source] {
            m.extend_from_slice(&x.to_be_bytes());
        }
        m.extend_from_slice(&sets.concat());
        m
    }

    fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
        let mut t = id.to_be_bytes().to_vec();
        t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for (ty, len) in fields {
            t.extend_from_slice(&ty.to_be_bytes());
            t.extend_from_slice(&len.to_be_bytes());
        }
        t
    }

    /// src, dst, sport, dport, proto, packets (4), octets (4), tcp flags, then two times.
    const FLOW: [(u16, u16); 10] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (2, 4),
        (1, 4),
        (6, 1),
        (152, 8),
        (153, 8),
    ];

    fn flow(src: [u8; 4], sport: u16, pkts: u32, bytes: u32, t0: u64, t1: u64) -> Vec<u8> {
        let mut r = src.to_vec();
        r.extend_from_slice(&[10, 0, 0, 2]);
        r.extend_from_slice(&sport.to_be_bytes());
        r.extend_from_slice(&443u16.to_be_bytes());
        r.push(6);
        r.extend_from_slice(&pkts.to_be_bytes());
        r.extend_from_slice(&bytes.to_be_bytes());
        r.push(0x1b);
        r.extend_from_slice(&t0.to_be_bytes());
        r.extend_from_slice(&t1.to_be_bytes());
        r
    }

    fn run(d: &mut FlowExportDecoder, ts: i64, msg: &[u8]) -> (Vec<Event>, Stats) {
        let mut out = Vec::new();
        let st = d
            .datagram(exporter(), Timestamp(ts), msg, &mut out)
            .expect("test input is valid");
        (out, st)
    }

    #[test]
    fn ipfix_record_becomes_a_flow_event_with_packet_flow_fields() {
        let mut d = FlowExportDecoder::default();
        let t0 = 1_700_000_000_000u64;
        let msg = ipfix(
            1,
            1_700_000_010,
            &[
                set(2, &template(300, &FLOW)),
                set(300, &flow([10, 0, 0, 1], 40000, 12, 3400, t0, t0 + 2500)),
            ],
        );
        let (evs, st) = run(&mut d, 0, &msg);
        assert_eq!((st.ipfix_records, st.templates_learned), (1, 1));
        let e = &evs[0];
        assert_eq!(
            e.get(f::SRC_IP),
            Some(&Value::Ip("10.0.0.1".parse().expect("test input is valid")))
        );
        assert_eq!(e.get(f::DST_PORT), Some(&Value::Int(443)));
        assert_eq!(e.get(f::PROTO), Some(&Value::from("tcp")));
        assert_eq!(e.get(f::PKTS_TOSERVER), Some(&Value::Int(12)));
        assert_eq!(e.get(f::BYTES_TOSERVER), Some(&Value::Int(3400)));
        assert_eq!(e.get(f::PKTS_TOCLIENT), Some(&Value::Int(0)));
        assert_eq!(e.get(f::TCP_FLAGS), Some(&Value::from("FSPA")));
        assert_eq!(e.get(f::DURATION), Some(&Value::Float(2.5)));
        assert_eq!(e.get(f::EXPORTER), Some(&Value::Ip(exporter())));
        assert_eq!(e.ts, Timestamp((t0 as i64 + 2500) * 1_000_000));
        assert!(matches!(e.get(f::START), Some(Value::Time(_))));
        assert!(e
            .get_str(f::COMMUNITY_ID)
            .is_some_and(|c| c.starts_with("1:")));
    }

    #[test]
    fn data_before_its_template_waits_then_decodes() {
        let mut d = FlowExportDecoder::default();
        let data = ipfix(1, 0, &[set(300, &flow([10, 0, 0, 1], 1, 1, 60, 0, 0))]);
        let (evs, st) = run(&mut d, 0, &data);
        assert!(evs.is_empty());
        assert_eq!((st.sets_buffered, d.pending()), (1, 1));
        // Another domain's template does not release it; its own does.
        let (evs, _) = run(&mut d, SEC, &ipfix(2, 0, &[set(2, &template(300, &FLOW))]));
        assert!(evs.is_empty());
        let (evs, st) = run(
            &mut d,
            2 * SEC,
            &ipfix(1, 0, &[set(2, &template(300, &FLOW))]),
        );
        assert_eq!((evs.len(), st.sets_decoded_late, d.pending()), (1, 1, 0));
    }

    #[test]
    fn data_without_template_is_dropped_after_its_time() {
        let mut d = FlowExportDecoder::default();
        let data = ipfix(1, 0, &[set(300, &flow([10, 0, 0, 1], 1, 1, 60, 0, 0))]);
        run(&mut d, 0, &data);
        run(&mut d, 30 * SEC, &data);
        let (_, st) = run(&mut d, 61 * SEC, &ipfix(1, 0, &[]));
        assert_eq!((st.sets_dropped, d.pending()), (1, 1));
        // And the buffer is bounded in sets.
        let mut small = FlowExportDecoder::new(DecoderConfig {
            pending_sets: 2,
            ..DecoderConfig::default()
        });
        let dropped: u64 = (0..5)
            .map(|i| run(&mut small, i, &data).1.sets_dropped)
            .sum();
        assert_eq!((dropped, small.pending()), (3, 2));
    }

    #[test]
    fn withdrawn_template_is_forgotten() {
        let mut d = FlowExportDecoder::default();
        run(&mut d, 0, &ipfix(1, 0, &[set(2, &template(300, &FLOW))]));
        assert_eq!(d.templates(), 1);
        let (_, st) = run(&mut d, 0, &ipfix(1, 0, &[set(2, &[1, 44, 0, 0])]));
        assert_eq!((st.templates_withdrawn, d.templates()), (1, 0));
        let data = ipfix(1, 0, &[set(300, &flow([10, 0, 0, 1], 1, 1, 60, 0, 0))]);
        assert_eq!(run(&mut d, 0, &data).1.sets_buffered, 1);
    }

    #[test]
    fn options_sampling_interval_scales_counts() {
        let mut d = FlowExportDecoder::default();
        // Options template 400: scope observationDomainId (149), samplingInterval (34).
        let mut opt = vec![1, 144, 0, 2, 0, 1];
        opt.extend_from_slice(&[0, 149, 0, 4, 0, 34, 0, 4]);
        let mut opt_data = 1u32.to_be_bytes().to_vec();
        opt_data.extend_from_slice(&100u32.to_be_bytes());
        let msg = ipfix(
            1,
            0,
            &[
                set(3, &opt),
                set(400, &opt_data),
                set(2, &template(300, &FLOW)),
                set(300, &flow([10, 0, 0, 1], 1, 3, 180, 0, 0)),
            ],
        );
        let (evs, st) = run(&mut d, 0, &msg);
        assert_eq!(st.options_records, 1);
        assert_eq!(evs[0].get(f::PKTS_TOSERVER), Some(&Value::Int(300)));
        assert_eq!(evs[0].get(f::BYTES_TOSERVER), Some(&Value::Int(18_000)));
    }

    #[test]
    fn v9_switched_times_are_relative_to_the_exporters_boot() {
        let mut d = FlowExportDecoder::default();
        // FIRST/LAST_SWITCHED instead of absolute times.
        let mut fields = FLOW[..8].to_vec();
        fields.extend_from_slice(&[(22, 4), (21, 4)]);
        let mut rec = flow([10, 0, 0, 1], 1, 1, 60, 0, 0)[..22].to_vec();
        rec.extend_from_slice(&9_000u32.to_be_bytes());
        rec.extend_from_slice(&9_500u32.to_be_bytes());
        // Uptime 10 s at 1,700,000,000: booted at 1,699,999,990.
        let msg = v9(
            10_000,
            1_700_000_000,
            0,
            &[set(0, &template(256, &fields)), set(256, &rec)],
        );
        let (evs, st) = run(&mut d, 0, &msg);
        assert_eq!(st.v9_records, 1);
        assert_eq!(evs[0].ts, Timestamp(1_699_999_999_500 * 1_000_000));
        assert_eq!(
            evs[0].get(f::START),
            Some(&Value::Time(Timestamp(1_699_999_999_000 * 1_000_000)))
        );
    }

    #[test]
    fn hostile_datagrams_are_errors_with_offsets() {
        let mut d = FlowExportDecoder::default();
        let mut out = Vec::new();
        let good = ipfix(1, 0, &[set(2, &template(300, &FLOW))]);
        for cut in 0..good.len() {
            let _ = d.datagram(exporter(), Timestamp(0), &good[..cut], &mut out);
        }
        let mut bad = good.clone();
        bad[18] = 0; // set length 0..
        bad[19] = 2;
        let e = d
            .datagram(exporter(), Timestamp(0), &bad, &mut out)
            .unwrap_err();
        assert_eq!((e.format, e.offset), ("ipfix", 18));
        let e = d
            .datagram(exporter(), Timestamp(0), b"hello", &mut out)
            .unwrap_err();
        assert_eq!(e.offset, 0);
    }

    #[test]
    fn sflow_flow_sample_is_a_scaled_flow_and_counters_are_counted() {
        let be = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        // Ethernet + IPv4 + TCP SYN 10.0.0.1:40000 -> 10.0.0.2:80, padded to 56 bytes.
        let mut hdr = vec![0u8; 12];
        hdr.extend_from_slice(&[8, 0, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
        hdr.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        hdr.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 2]);
        hdr.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0, 0, 0]);
        let mut rec = be(&[1, 1514, 4, 54]);
        rec.extend_from_slice(&hdr);
        let mut sample = be(&[1, 3, 512, 10_000, 0, 1, 2, 1, 1, rec.len() as u32]);
        sample.extend_from_slice(&rec);
        let mut dgram = be(&[5, 1, 0x0a09_0909, 0, 1, 1000, 2, 1, sample.len() as u32]);
        dgram.extend_from_slice(&sample);
        dgram.extend_from_slice(&be(&[2, 24, 1, 3, 1, 1, 4, 0]));
        let mut d = FlowExportDecoder::default();
        let mut out = Vec::new();
        let st = d
            .datagram(
                "192.0.2.1".parse().expect("test input is valid"),
                Timestamp(5 * SEC),
                &dgram,
                &mut out,
            )
            .expect("test input is valid");
        assert_eq!((st.sflow_samples, st.sflow_counter_samples), (1, 1));
        let e = &out[0];
        assert_eq!(e.get(f::DST_PORT), Some(&Value::Int(80)));
        assert_eq!(e.get(f::PKTS_TOSERVER), Some(&Value::Int(512)));
        assert_eq!(e.get(f::BYTES_TOSERVER), Some(&Value::Int(1514 * 512)));
        assert_eq!(e.get(f::TCP_FLAGS), Some(&Value::from("S")));
        // The exporter is the agent named in the datagram.
        assert_eq!(e.get(f::EXPORTER), Some(&Value::Ip(exporter())));
        for cut in 0..dgram.len() {
            let _ = d.datagram(exporter(), Timestamp(0), &dgram[..cut], &mut out);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_drops_are_read_for_our_socket() {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("test input is valid");
        assert_eq!(KernelDrops::new(&sock).read(), Some(0));
    }
}
