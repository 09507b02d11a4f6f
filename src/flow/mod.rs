//! The flow table: bidirectional flows keyed by 5-tuple and VNI, updated by packets and
//! expired by packet time (never wall time), so a capture replayed at any speed yields the same
//! flows. Flows live in a dense slab indexed by a hash table of slot numbers: about 110 bytes
//! per tracked flow, and timeouts are a linear sweep over the slab.

pub mod community_id;

use std::net::IpAddr;

use compact_str::CompactString;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;

use crate::decode::app::AppData;
use crate::decode::packet::{icmp_is_reply, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::decode::{Fragment, TunnelKind, Tuple};
use crate::event::{f, Event, Fields, Kind, LogSource, Timestamp, Value};

const SEC: i64 = 1_000_000_000;
const VNI_NONE: u32 = u32::MAX;
const VLAN_NONE: u16 = u16::MAX;
/// Fragment ids are remembered this long (packet time) to attribute later fragments.
const FRAG_TIMEOUT: i64 = 30 * SEC;
const FRAG_MAX: usize = 1 << 16;

/// Flow timeouts and limits. All durations are in event time.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// TCP flows that saw a SYN and no answer, and one-way flows of other protocols.
    pub new_timeout: i64,
    pub tcp_established_timeout: i64,
    /// TCP flows closed by FIN or RST linger this long to count the last packets.
    pub tcp_closed_timeout: i64,
    pub udp_timeout: i64,
    pub icmp_timeout: i64,
    pub other_timeout: i64,
    /// A flow older than this is reported and its counters restart, as NetFlow exporters do.
    pub active_timeout: i64,
    /// Memory cap: flows beyond this are evicted (oldest first among a sample) and counted.
    pub max_flows: usize,
    pub community_id_seed: u16,
}

impl Default for FlowConfig {
    fn default() -> FlowConfig {
        FlowConfig {
            new_timeout: 30 * SEC,
            tcp_established_timeout: 600 * SEC,
            tcp_closed_timeout: 5 * SEC,
            udp_timeout: 120 * SEC,
            icmp_timeout: 60 * SEC,
            other_timeout: 120 * SEC,
            active_timeout: 1800 * SEC,
            max_flows: 1_000_000,
            community_id_seed: 0,
        }
    }
}

/// A decoded packet as the flow layer needs it (owned, sent from the reader to a worker).
#[derive(Clone, Debug)]
pub struct Packet {
    pub ts: Timestamp,
    pub tuple: Tuple,
    pub len: u32,
    pub vlan: Option<u16>,
    pub vni: Option<u32>,
    /// The overlay this packet travelled in: its kind and the outer tuple.
    pub tunnel: Option<(TunnelKind, Tuple)>,
    /// Set on the record of a tunnel's own (outer) flow.
    pub carrier: Option<TunnelKind>,
    pub tcp_flags: u8,
    pub icmp: Option<(u8, u8)>,
    pub fragment: Fragment,
    pub app: Option<Box<AppData>>,
}

/// Why a flow record was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Closed by FIN or RST (or rejected), after the closed linger.
    Closed,
    /// Idle past its timeout.
    Timeout,
    /// Long-lived flow reported periodically.
    ActiveTimeout,
    /// End of input.
    Eof,
    /// Pushed out by the memory cap.
    Evicted,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Closed => "closed",
            Reason::Timeout => "timeout",
            Reason::ActiveTimeout => "active_timeout",
            Reason::Eof => "eof",
            Reason::Evicted => "evicted",
        }
    }
}

/// A direction-free flow key: the endpoint that sorts lower comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey {
    lo: [u8; 16],
    hi: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    vni: u32,
    proto: u8,
    v6: bool,
}

fn ip_octets(ip: IpAddr) -> ([u8; 16], bool) {
    match ip {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            (b, false)
        }
        IpAddr::V6(a) => (a.octets(), true),
    }
}

fn ip_from(b: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::from(*b)
    } else {
        IpAddr::from([b[0], b[1], b[2], b[3]])
    }
}

impl FlowKey {
    /// The key and whether the packet's source is the key's `lo` side.
    fn new(t: &Tuple, sport: u16, dport: u16, vni: Option<u32>) -> (FlowKey, bool) {
        let (s, v6) = ip_octets(t.src);
        let (d, _) = ip_octets(t.dst);
        let src_lo = (s, sport) <= (d, dport);
        let (lo, hi, lo_port, hi_port) = if src_lo {
            (s, d, sport, dport)
        } else {
            (d, s, dport, sport)
        };
        (
            FlowKey {
                lo,
                hi,
                lo_port,
                hi_port,
                vni: vni.unwrap_or(VNI_NONE),
                proto: t.proto,
                v6,
            },
            src_lo,
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum App {
    None,
    Dns,
    Http,
    Tls,
    Ssh,
    Ftp,
    Vxlan,
    Geneve,
    Gre,
}

impl App {
    fn as_str(self) -> Option<&'static str> {
        Some(match self {
            App::None => return None,
            App::Dns => "dns",
            App::Http => "http",
            App::Tls => "tls",
            App::Ssh => "ssh",
            App::Ftp => "ftp",
            App::Vxlan => "vxlan",
            App::Geneve => "geneve",
            App::Gre => "gre",
        })
    }
    fn of(name: &str) -> App {
        match name {
            "dns" => App::Dns,
            "http" => App::Http,
            "tls" => App::Tls,
            "ssh" => App::Ssh,
            "ftp" => App::Ftp,
            _ => App::None,
        }
    }
    fn carrier(k: TunnelKind) -> App {
        match k {
            TunnelKind::Vxlan => App::Vxlan,
            TunnelKind::Geneve => App::Geneve,
            TunnelKind::Gre => App::Gre,
        }
    }
}

// TCP state bits.
const SYN_C: u8 = 0x01;
const SYNACK_S: u8 = 0x02;
const FIN_C: u8 = 0x04;
const FIN_S: u8 = 0x08;
const RST_C: u8 = 0x10;
const RST_S: u8 = 0x20;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// What only some flows carry, kept out of line so that the common flow stays small.
#[derive(Clone, Debug, Default)]
struct Extra {
    tunnel: Option<(TunnelKind, IpAddr, IpAddr)>,
    ssh_client: Option<CompactString>,
    ssh_server: Option<CompactString>,
}

#[derive(Clone, Debug)]
struct Flow {
    key: FlowKey,
    first: i64,
    last: i64,
    bytes: [u64; 2],
    pkts: [u32; 2],
    flags: [u8; 2],
    /// The client (initiator) is the key's `lo` side.
    client_is_lo: bool,
    tcp: u8,
    app: App,
    vlan: u16,
    frags: u16,
    /// ICMP type and code of the first packet, for the record.
    icmp: [u8; 2],
    extra: Option<Box<Extra>>,
}

impl Flow {
    fn established(&self) -> bool {
        self.pkts[0] > 0 && self.pkts[1] > 0
    }

    fn closing(&self) -> bool {
        self.tcp & (RST_C | RST_S) != 0 || self.tcp & (FIN_C | FIN_S) == FIN_C | FIN_S
    }

    fn timeout(&self, c: &FlowConfig) -> i64 {
        match self.key.proto {
            PROTO_TCP if self.closing() => c.tcp_closed_timeout,
            PROTO_TCP if self.established() => c.tcp_established_timeout,
            PROTO_TCP => c.new_timeout,
            _ if !self.established() => c.new_timeout,
            17 => c.udp_timeout,
            PROTO_ICMP | PROTO_ICMPV6 => c.icmp_timeout,
            _ => c.other_timeout,
        }
    }

    fn state(&self, reason: Reason) -> &'static str {
        if self.key.proto == PROTO_TCP {
            let t = self.tcp;
            if t & SYN_C != 0 && t & SYNACK_S == 0 && t & RST_S != 0 {
                return "rejected";
            }
            if t & SYN_C != 0 && self.pkts[1] == 0 {
                return "syn_only";
            }
            if self.closing() {
                return "closed";
            }
        }
        match (self.established(), reason) {
            (true, Reason::Timeout) => "timeout",
            (true, _) => "established",
            (false, _) => "new",
        }
    }
}

fn proto_name(p: u8, v6: bool) -> Value {
    match p {
        6 => Value::static_str("tcp"),
        17 => Value::static_str("udp"),
        1 => Value::static_str("icmp"),
        58 => Value::static_str("icmpv6"),
        47 => Value::static_str("gre"),
        50 => Value::static_str("esp"),
        132 => Value::static_str("sctp"),
        _ if v6 && p == 0 => Value::static_str("ipv6"),
        n => Value::Str(CompactString::from(n.to_string())),
    }
}

fn flag_letters(flags: u8) -> Value {
    const L: [(u8, char); 8] = [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, 'A'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'C'),
    ];
    let mut s = CompactString::default();
    for (bit, c) in L {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    Value::Str(s)
}

/// Where the flow table puts the events it produces. The pipeline's worker forwards them in
/// batches as they come, so that expiring a million flows at once never holds a million events.
pub trait Emit {
    fn emit(&mut self, ev: Event);
}

impl Emit for Vec<Event> {
    fn emit(&mut self, ev: Event) {
        self.push(ev)
    }
}

/// Counters the table keeps; the owner publishes them to metrics per batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowStats {
    pub created: u64,
    pub emitted: u64,
    pub evicted: u64,
    pub fragments: u64,
    pub fragments_unattributed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    vni: u32,
    proto: u8,
}

/// The flow table of one worker.
pub struct FlowTable {
    cfg: FlowConfig,
    slab: Vec<Option<Flow>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    frags: HashMap<FragKey, (u16, u16, i64)>,
    now: i64,
    last_sweep: i64,
    evict_cursor: usize,
    pub stats: FlowStats,
}

impl FlowTable {
    pub fn new(cfg: FlowConfig) -> FlowTable {
        FlowTable {
            cfg,
            slab: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            frags: HashMap::new(),
            now: i64::MIN,
            last_sweep: i64::MIN,
            evict_cursor: 0,
            stats: FlowStats::default(),
        }
    }

    /// Flows currently tracked.
    pub fn active(&self) -> usize {
        self.index.len()
    }

    /// Accounts one packet; flows it pushes out (memory cap) and the application events it
    /// carries go to `out`.
    pub fn update(&mut self, p: &Packet, out: &mut dyn Emit) {
        self.advance(p.ts, out);
        let (sport, dport) = self.ports_of(p);
        let (key, src_lo) = FlowKey::new(&p.tuple, sport, dport, p.vni);
        let hash = self.hasher.hash_one(key);
        let slab = &self.slab;
        let slot = match self.index.find(hash, |&i| {
            slab[i as usize].as_ref().is_some_and(|fl| fl.key == key)
        }) {
            Some(&i) => i as usize,
            None => self.insert(key, hash, src_lo, p, out),
        };
        let Some(fl) = self.slab[slot].as_mut() else {
            return;
        };
        let dir = usize::from(src_lo != fl.client_is_lo);
        let ts = p.ts.0;
        fl.last = fl.last.max(ts);
        fl.first = fl.first.min(ts);
        fl.pkts[dir] = fl.pkts[dir].saturating_add(1);
        fl.bytes[dir] += p.len as u64;
        if !matches!(p.fragment, Fragment::Whole) {
            fl.frags = fl.frags.saturating_add(1);
        }
        if key.proto == PROTO_TCP {
            let fl_bits = p.tcp_flags;
            fl.flags[dir] |= fl_bits;
            let (syn, fin, rst) = if dir == 0 {
                (SYN_C, FIN_C, RST_C)
            } else {
                (SYNACK_S, FIN_S, RST_S)
            };
            if fl_bits & TCP_SYN != 0 && (dir == 1) == (fl_bits & TCP_ACK != 0) {
                fl.tcp |= syn;
            }
            if fl_bits & TCP_FIN != 0 {
                fl.tcp |= fin;
            }
            if fl_bits & TCP_RST != 0 {
                fl.tcp |= rst;
            }
        }
        if let Some(app) = &p.app {
            self.app_event(slot, dir, app, p, out);
        }
    }

    /// The ports a packet counts under: a later fragment borrows those of its first fragment.
    fn ports_of(&mut self, p: &Packet) -> (u16, u16) {
        let t = &p.tuple;
        let fkey = |id: u32| FragKey {
            src: ip_octets(t.src).0,
            dst: ip_octets(t.dst).0,
            id,
            vni: p.vni.unwrap_or(VNI_NONE),
            proto: t.proto,
        };
        match p.fragment {
            Fragment::Whole => (t.sport, t.dport),
            Fragment::First { id } => {
                self.stats.fragments += 1;
                if self.frags.len() < FRAG_MAX {
                    self.frags.insert(fkey(id), (t.sport, t.dport, p.ts.0));
                }
                (t.sport, t.dport)
            }
            Fragment::Later { id } => {
                self.stats.fragments += 1;
                match self.frags.get(&fkey(id)) {
                    Some(&(s, d, _)) => (s, d),
                    None => {
                        self.stats.fragments_unattributed += 1;
                        (0, 0)
                    }
                }
            }
        }
    }

    fn insert(
        &mut self,
        key: FlowKey,
        hash: u64,
        src_lo: bool,
        p: &Packet,
        out: &mut dyn Emit,
    ) -> usize {
        if self.index.len() >= self.cfg.max_flows {
            self.make_room(out);
        }
        // The initiator is the first packet's sender, unless that packet is plainly an answer
        // (a SYN-ACK, an ICMP reply) to something the capture missed.
        let answer = match p.tuple.proto {
            PROTO_TCP => p.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK,
            PROTO_ICMP => p.icmp.is_some_and(|(t, _)| icmp_is_reply(false, t)),
            PROTO_ICMPV6 => p.icmp.is_some_and(|(t, _)| icmp_is_reply(true, t)),
            _ => false,
        };
        let client_is_lo = src_lo != answer;
        let extra = p.tunnel.map(|(k, outer)| {
            Box::new(Extra {
                tunnel: Some((k, outer.src, outer.dst)),
                ..Extra::default()
            })
        });
        let fl = Flow {
            key,
            first: p.ts.0,
            last: p.ts.0,
            bytes: [0; 2],
            pkts: [0; 2],
            flags: [0; 2],
            client_is_lo,
            tcp: 0,
            app: p.carrier.map(App::carrier).unwrap_or(App::None),
            vlan: p.vlan.unwrap_or(VLAN_NONE),
            frags: 0,
            icmp: p.icmp.map(|(t, c)| [t, c]).unwrap_or([0, 0]),
            extra,
        };
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(fl);
                i as usize
            }
            None => {
                self.slab.push(Some(fl));
                self.slab.len() - 1
            }
        };
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index
            .insert_unique(hash, slot as u32, |&i| match &slab[i as usize] {
                Some(fl) => hasher.hash_one(fl.key),
                None => 0,
            });
        self.stats.created += 1;
        slot
    }

    /// At the memory cap: expire what is due now, and if that frees nothing, evict the
    /// least recently seen flow of a small sample.
    fn make_room(&mut self, out: &mut dyn Emit) {
        if self.last_sweep != self.now {
            self.sweep(self.now, out);
        }
        if self.index.len() < self.cfg.max_flows || self.slab.is_empty() {
            return;
        }
        let n = self.slab.len();
        let mut victim = None;
        let mut oldest = i64::MAX;
        for k in 0..64.min(n) {
            let i = (self.evict_cursor + k) % n;
            if let Some(fl) = &self.slab[i] {
                if fl.last < oldest {
                    oldest = fl.last;
                    victim = Some(i);
                }
            }
        }
        self.evict_cursor = (self.evict_cursor + 64) % n;
        if let Some(i) = victim {
            self.stats.evicted += 1;
            self.remove(i, Reason::Evicted, out);
        }
    }

    /// Moves packet time forward; runs the timeout sweep once per second of packet time.
    pub fn advance(&mut self, ts: Timestamp, out: &mut dyn Emit) {
        if ts.0 <= self.now {
            return;
        }
        self.now = ts.0;
        if self.last_sweep == i64::MIN {
            self.last_sweep = ts.0;
        } else if ts.0 - self.last_sweep >= SEC {
            self.sweep(ts.0, out);
        }
    }

    fn sweep(&mut self, now: i64, out: &mut dyn Emit) {
        self.last_sweep = now;
        for i in 0..self.slab.len() {
            let Some(fl) = &self.slab[i] else { continue };
            if now - fl.last > fl.timeout(&self.cfg) {
                let reason = if fl.key.proto == PROTO_TCP && fl.closing() {
                    Reason::Closed
                } else {
                    Reason::Timeout
                };
                self.remove(i, reason, out);
            } else if now - fl.first >= self.cfg.active_timeout {
                self.emit(i, Reason::ActiveTimeout, out);
                if let Some(fl) = self.slab[i].as_mut() {
                    fl.first = now;
                    fl.bytes = [0; 2];
                    fl.pkts = [0; 2];
                    fl.frags = 0;
                }
            }
        }
        self.frags.retain(|_, (_, _, t)| now - *t <= FRAG_TIMEOUT);
    }

    /// Emits every flow (end of input).
    pub fn drain(&mut self, out: &mut dyn Emit) {
        for i in 0..self.slab.len() {
            if self.slab[i].is_some() {
                self.remove(i, Reason::Eof, out);
            }
        }
        self.slab.clear();
        self.free.clear();
        self.frags.clear();
    }

    fn remove(&mut self, slot: usize, reason: Reason, out: &mut dyn Emit) {
        self.emit(slot, reason, out);
        let Some(fl) = self.slab[slot].take() else {
            return;
        };
        let hash = self.hasher.hash_one(fl.key);
        if let Ok(e) = self.index.find_entry(hash, |&i| i as usize == slot) {
            e.remove();
        }
        self.free.push(slot as u32);
    }

    fn emit(&mut self, slot: usize, reason: Reason, out: &mut dyn Emit) {
        let Some(fl) = &self.slab[slot] else { return };
        if fl.pkts == [0, 0] {
            return; // reset by an active timeout and quiet since
        }
        self.stats.emitted += 1;
        out.emit(self.flow_event(fl, reason));
    }

    fn endpoints(&self, fl: &Flow) -> (IpAddr, u16, IpAddr, u16) {
        let k = &fl.key;
        let lo = ip_from(&k.lo, k.v6);
        let hi = ip_from(&k.hi, k.v6);
        if fl.client_is_lo {
            (lo, k.lo_port, hi, k.hi_port)
        } else {
            (hi, k.hi_port, lo, k.lo_port)
        }
    }

    /// Fields every event about this flow carries: addresses, ports, protocol, overlay.
    fn base_fields(&self, fl: &Flow, ev: &mut Event) {
        let k = &fl.key;
        let (src, sport, dst, dport) = self.endpoints(fl);
        let icmp = k.proto == PROTO_ICMP || k.proto == PROTO_ICMPV6;
        let fs = &mut ev.fields;
        fs.push(f::SRC_IP, src);
        if k.proto == PROTO_TCP || k.proto == 17 || icmp {
            fs.push(f::SRC_PORT, sport);
        }
        fs.push(f::DST_IP, dst);
        if k.proto == PROTO_TCP || k.proto == 17 || icmp {
            fs.push(f::DST_PORT, dport);
        }
        fs.push(f::PROTO, proto_name(k.proto, k.v6));
        if fl.vlan != VLAN_NONE {
            fs.push(f::VLAN, fl.vlan);
        }
        if k.vni != VNI_NONE {
            fs.push(f::VNI, k.vni);
        }
        if let Some((kind, osrc, odst)) = fl.extra.as_ref().and_then(|e| e.tunnel) {
            fs.push(f::TUNNEL, kind.as_str());
            fs.push(f::OUTER_SRC_IP, osrc);
            fs.push(f::OUTER_DST_IP, odst);
        }
        let (cs, cd) = if icmp {
            (fl.icmp[0] as u16, fl.icmp[1] as u16)
        } else {
            (sport, dport)
        };
        // For ICMP the id is computed from the first packet's type and code, oriented as that
        // packet was: from the server when it was a reply.
        let (a, b) = if icmp && icmp_is_reply(k.v6, fl.icmp[0]) {
            (dst, src)
        } else {
            (src, dst)
        };
        let id = community_id::community_id(self.cfg.community_id_seed, a, b, cs, cd, k.proto);
        fs.push(f::COMMUNITY_ID, Value::Str(id.into()));
    }

    fn flow_event(&self, fl: &Flow, reason: Reason) -> Event {
        let mut ev = Event::new(Timestamp(fl.last), Kind::Flow, LogSource::category("flow"));
        self.base_fields(fl, &mut ev);
        let fs = &mut ev.fields;
        fs.push(f::BYTES_TOSERVER, fl.bytes[0]);
        fs.push(f::BYTES_TOCLIENT, fl.bytes[1]);
        fs.push(f::PKTS_TOSERVER, fl.pkts[0]);
        fs.push(f::PKTS_TOCLIENT, fl.pkts[1]);
        if fl.key.proto == PROTO_TCP {
            fs.push(f::TCP_FLAGS, flag_letters(fl.flags[0] | fl.flags[1]));
            fs.push(f::TCP_FLAGS_TS, flag_letters(fl.flags[0]));
            fs.push(f::TCP_FLAGS_TC, flag_letters(fl.flags[1]));
        }
        if fl.key.proto == PROTO_ICMP || fl.key.proto == PROTO_ICMPV6 {
            fs.push(f::ICMP_TYPE, fl.icmp[0]);
            fs.push(f::ICMP_CODE, fl.icmp[1]);
        }
        fs.push(f::STATE, fl.state(reason));
        fs.push(f::REASON, reason.as_str());
        fs.push(f::START, Timestamp(fl.first));
        fs.push(f::END, Timestamp(fl.last));
        fs.push(f::DURATION, (fl.last - fl.first) as f64 / SEC as f64);
        if let Some(app) = fl.app.as_str() {
            fs.push(f::APP_PROTO, app);
        }
        if fl.frags > 0 {
            fs.push(f::FRAGMENTS, fl.frags);
        }
        if let Some(e) = &fl.extra {
            if let Some(s) = &e.ssh_client {
                fs.push(f::SSH_CLIENT, Value::Str(s.clone()));
            }
            if let Some(s) = &e.ssh_server {
                fs.push(f::SSH_SERVER, Value::Str(s.clone()));
            }
        }
        ev
    }

    /// Application data seen in a packet: annotates the flow and, for protocols that have
    /// events, emits one oriented client to server.
    fn app_event(
        &mut self,
        slot: usize,
        dir: usize,
        app: &AppData,
        p: &Packet,
        out: &mut dyn Emit,
    ) {
        let Some(fl) = self.slab[slot].as_mut() else {
            return;
        };
        let name = app.app_proto();
        let proto = App::of(name);
        // Requests come from the client; a TLS ClientHello once per flow.
        let accept = match proto {
            App::Http => dir == 0,
            App::Tls => dir == 0 && fl.app != App::Tls,
            App::Ssh => {
                let e = fl.extra.get_or_insert_with(Box::default);
                let mut banner = Fields::new();
                app.fill(&mut banner);
                let text = banner
                    .get(f::SSH_BANNER)
                    .and_then(Value::as_str)
                    .map(CompactString::from);
                if dir == 0 {
                    e.ssh_client = e.ssh_client.take().or(text);
                } else {
                    e.ssh_server = e.ssh_server.take().or(text);
                }
                true
            }
            _ => true,
        };
        if !accept {
            return;
        }
        if matches!(fl.app, App::None) {
            fl.app = proto;
        }
        let (Some(kind), Some(cat)) = (app.kind(), app.category()) else {
            return;
        };
        let mut ev = Event::new(p.ts, kind, LogSource::category(cat));
        let fl = &self.slab[slot];
        if let Some(fl) = fl {
            self.base_fields(fl, &mut ev);
        }
        app.fill(&mut ev.fields);
        ev.fields.push(f::APP_PROTO, name);
        out.emit(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FieldId;

    fn tcp(ts_ms: i64, src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Packet {
        Packet {
            ts: Timestamp(ts_ms * 1_000_000),
            tuple: Tuple {
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                sport,
                dport,
                proto: PROTO_TCP,
            },
            len: 60,
            vlan: None,
            vni: None,
            tunnel: None,
            carrier: None,
            tcp_flags: flags,
            icmp: None,
            fragment: Fragment::Whole,
            app: None,
        }
    }

    fn field(ev: &Event, id: FieldId) -> &Value {
        ev.get(id).unwrap_or(&Value::Null)
    }

    const C: &str = "10.0.0.1";
    const S: &str = "10.0.0.2";

    #[test]
    fn syn_without_answer_times_out_as_syn_only() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut out = Vec::new();
        t.update(&tcp(0, C, 40000, S, 22, TCP_SYN), &mut out);
        t.update(&tcp(1000, C, 40000, S, 22, TCP_SYN), &mut out);
        assert!(out.is_empty());
        // Packet time, not wall time, expires it: another flow's packet 31 s later.
        t.update(&tcp(32_000, C, 40001, S, 80, TCP_SYN), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(field(&out[0], f::STATE), &Value::from("syn_only"));
        assert_eq!(field(&out[0], f::REASON), &Value::from("timeout"));
        assert_eq!(field(&out[0], f::PKTS_TOSERVER), &Value::Int(2));
        assert_eq!(t.active(), 1);
    }

    #[test]
    fn rst_answer_is_rejected_and_closed_flows_linger() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut out = Vec::new();
        t.update(&tcp(0, C, 40000, S, 23, TCP_SYN), &mut out);
        t.update(&tcp(1, S, 23, C, 40000, TCP_RST | TCP_ACK), &mut out);
        t.update(&tcp(10, C, 40002, S, 80, TCP_SYN), &mut out);
        t.update(&tcp(11, S, 80, C, 40002, TCP_SYN | TCP_ACK), &mut out);
        t.update(&tcp(12, C, 40002, S, 80, TCP_ACK), &mut out);
        t.update(&tcp(20, C, 40002, S, 80, TCP_FIN | TCP_ACK), &mut out);
        t.update(&tcp(21, S, 80, C, 40002, TCP_FIN | TCP_ACK), &mut out);
        t.update(&tcp(22, C, 40002, S, 80, TCP_ACK), &mut out);
        t.advance(Timestamp(7_000_000_000), &mut out);
        assert_eq!(out.len(), 2);
        let by_port = |p: i64| {
            out.iter()
                .find(|e| field(e, f::DST_PORT) == &Value::Int(p))
                .unwrap()
        };
        assert_eq!(field(by_port(23), f::STATE), &Value::from("rejected"));
        let web = by_port(80);
        assert_eq!(field(web, f::STATE), &Value::from("closed"));
        assert_eq!(field(web, f::REASON), &Value::from("closed"));
        assert_eq!(field(web, f::PKTS_TOSERVER), &Value::Int(4));
        assert_eq!(field(web, f::PKTS_TOCLIENT), &Value::Int(2));
        assert_eq!(field(web, f::TCP_FLAGS), &Value::from("FSA"));
    }

    #[test]
    fn syn_ack_seen_first_makes_its_receiver_the_client() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut out = Vec::new();
        t.update(&tcp(0, S, 443, C, 50000, TCP_SYN | TCP_ACK), &mut out);
        t.drain(&mut out);
        assert_eq!(field(&out[0], f::SRC_IP), &Value::Ip(C.parse().unwrap()));
        assert_eq!(field(&out[0], f::DST_PORT), &Value::Int(443));
        assert_eq!(field(&out[0], f::PKTS_TOCLIENT), &Value::Int(1));
    }

    #[test]
    fn memory_cap_evicts_and_counts() {
        let mut t = FlowTable::new(FlowConfig {
            max_flows: 3,
            ..FlowConfig::default()
        });
        let mut out = Vec::new();
        for i in 0..5u16 {
            t.update(&tcp(i as i64, C, 1000 + i, S, 80, TCP_SYN), &mut out);
        }
        assert_eq!(t.active(), 3);
        assert_eq!(t.stats.evicted, 2);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|e| field(e, f::REASON) == &Value::from("evicted")));
        // The oldest went first.
        assert_eq!(field(&out[0], f::SRC_PORT), &Value::Int(1000));
    }

    #[test]
    fn later_fragments_join_their_flow() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut out = Vec::new();
        let mut first = tcp(0, C, 5000, S, 53, 0);
        first.tuple.proto = 17;
        first.fragment = Fragment::First { id: 7 };
        let mut later = first.clone();
        later.tuple.sport = 0;
        later.tuple.dport = 0;
        later.fragment = Fragment::Later { id: 7 };
        t.update(&first, &mut out);
        t.update(&later, &mut out);
        t.drain(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(field(&out[0], f::PKTS_TOSERVER), &Value::Int(2));
        assert_eq!(field(&out[0], f::FRAGMENTS), &Value::Int(2));
        assert_eq!(t.stats.fragments_unattributed, 0);
    }

    #[test]
    fn active_timeout_reports_long_flows_and_restarts_counters() {
        let cfg = FlowConfig {
            active_timeout: 10 * SEC,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(cfg);
        let mut out = Vec::new();
        for s in 0..25 {
            t.update(&tcp(s * 1000, C, 40000, S, 22, TCP_ACK), &mut out);
        }
        t.drain(&mut out);
        let reasons: Vec<_> = out.iter().map(|e| field(e, f::REASON).clone()).collect();
        assert_eq!(
            reasons,
            [
                Value::from("active_timeout"),
                Value::from("active_timeout"),
                Value::from("eof")
            ]
        );
        let total: i64 = out
            .iter()
            .map(|e| field(e, f::PKTS_TOSERVER).as_int().unwrap_or(0))
            .sum();
        assert_eq!(total, 25);
    }
}
