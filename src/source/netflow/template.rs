//! NetFlow v9 and IPFIX templates: parsing template and options-template sets, compiling a
//! template into the information elements vigil reads (everything else, enterprise fields
//! included, is skipped by length), decoding data records with it, and the bounded cache of
//! templates per (exporter, version, source id / observation domain).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::record::{from_millis, FlowRecord};
use super::wire::{uint, Wire};
use super::ExportError;
use crate::event::Timestamp;

/// Length value that marks an IPFIX variable-length field.
pub const VARIABLE: u16 = 0xffff;

/// The information elements vigil reads; `Skip` for all others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ie {
    Skip,
    Bytes,
    Packets,
    Proto,
    TcpFlags,
    SrcPort,
    DstPort,
    Src4,
    Dst4,
    Src6,
    Dst6,
    /// v9 FIRST_SWITCHED / IPFIX flowStartSysUpTime: milliseconds of exporter uptime.
    FirstUp,
    LastUp,
    /// type * 256 + code (v9 ICMP_TYPE, IPFIX icmpTypeCodeIPv4/IPv6).
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    Vlan,
    EndReason,
    StartSec,
    EndSec,
    StartMs,
    EndMs,
    /// dateTimeMicroseconds / dateTimeNanoseconds: NTP format.
    StartNtp,
    EndNtp,
    SamplingInterval,
    PacketInterval,
    PacketSpace,
    SysInitMs,
}

/// Maps an element id (IANA IPFIX numbering, which NetFlow v9 shares for these) to what vigil
/// reads from it. Enterprise-specific elements are never interpreted.
pub fn element(id: u16, enterprise: bool) -> Ie {
    if enterprise {
        return Ie::Skip;
    }
    match id {
        1 | 85 => Ie::Bytes,
        2 | 86 => Ie::Packets,
        4 => Ie::Proto,
        6 => Ie::TcpFlags,
        7 => Ie::SrcPort,
        8 => Ie::Src4,
        11 => Ie::DstPort,
        12 => Ie::Dst4,
        21 => Ie::LastUp,
        22 => Ie::FirstUp,
        27 => Ie::Src6,
        28 => Ie::Dst6,
        32 | 139 => Ie::IcmpTypeCode,
        34 | 50 => Ie::SamplingInterval,
        58 => Ie::Vlan,
        136 => Ie::EndReason,
        150 => Ie::StartSec,
        151 => Ie::EndSec,
        152 => Ie::StartMs,
        153 => Ie::EndMs,
        154 | 156 => Ie::StartNtp,
        155 | 157 => Ie::EndNtp,
        160 => Ie::SysInitMs,
        176 | 178 => Ie::IcmpType,
        177 | 179 => Ie::IcmpCode,
        305 => Ie::PacketInterval,
        306 => Ie::PacketSpace,
        _ => Ie::Skip,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub ie: Ie,
    /// Bytes, or [`VARIABLE`].
    pub len: u16,
}

/// A compiled template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub id: u16,
    pub fields: Vec<Field>,
    /// Options templates describe exporter properties (sampling, init time), not flows.
    pub options: bool,
    /// Record length when no field is variable-length.
    pub fixed_len: Option<usize>,
    /// Smallest possible record (variable fields counted as one byte).
    pub min_len: usize,
}

impl Template {
    pub fn new(id: u16, fields: Vec<Field>, options: bool) -> Template {
        let variable = fields.iter().any(|f| f.len == VARIABLE);
        let min_len = fields
            .iter()
            .map(|f| if f.len == VARIABLE { 1 } else { f.len as usize })
            .sum();
        Template {
            id,
            fields,
            options,
            fixed_len: (!variable).then_some(min_len),
            min_len,
        }
    }

    /// Decodes every record of a data set's body; trailing bytes shorter than a record are
    /// padding.
    pub fn records(&self, mut w: Wire<'_>, f: &mut dyn FnMut(Raw)) -> Result<usize, ExportError> {
        let mut n = 0;
        if self.min_len == 0 {
            return Ok(0);
        }
        if let Some(len) = self.fixed_len {
            for rec in w.buf.chunks_exact(len) {
                let mut raw = Raw::default();
                let mut at = 0;
                for fl in &self.fields {
                    let l = fl.len as usize;
                    if fl.ie != Ie::Skip {
                        raw.apply(fl.ie, &rec[at..at + l]);
                    }
                    at += l;
                }
                f(raw);
                n += 1;
            }
            return Ok(n);
        }
        while w.remaining() >= self.min_len {
            let mut raw = Raw::default();
            for fl in &self.fields {
                let l = if fl.len == VARIABLE {
                    match w.u8("variable-length field's length")? {
                        255 => w.u16("variable-length field's long length")? as usize,
                        l => l as usize,
                    }
                } else {
                    fl.len as usize
                };
                let b = w.bytes(l, "record shorter than its template")?;
                if fl.ie != Ie::Skip {
                    raw.apply(fl.ie, b);
                }
            }
            f(raw);
            n += 1;
        }
        Ok(n)
    }
}

/// The values of one data record before they are resolved against the exporter's clock and
/// sampling.
#[derive(Clone, Debug, Default)]
pub struct Raw {
    pub rec: FlowRecord,
    pub first_up: Option<u64>,
    pub last_up: Option<u64>,
    pub sampling: Option<u64>,
    pub packet_interval: Option<u64>,
    pub packet_space: Option<u64>,
    pub sys_init_ms: Option<i64>,
}

fn ntp(b: &[u8]) -> Option<Timestamp> {
    if b.len() != 8 {
        return None;
    }
    let v = uint(b);
    let secs = (v >> 32) as i64 - 2_208_988_800;
    let nanos = ((v & 0xffff_ffff) * 1_000_000_000) >> 32;
    Some(Timestamp(
        secs.saturating_mul(1_000_000_000)
            .saturating_add(nanos as i64),
    ))
}

fn ip(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => None,
    }
}

impl Raw {
    #[inline]
    fn apply(&mut self, ie: Ie, b: &[u8]) {
        let r = &mut self.rec;
        match ie {
            Ie::Skip => {}
            Ie::Bytes => r.bytes = uint(b),
            Ie::Packets => r.packets = uint(b),
            Ie::Proto => r.proto = uint(b) as u8,
            Ie::TcpFlags => r.tcp_flags = uint(b) as u8,
            Ie::SrcPort => r.sport = uint(b) as u16,
            Ie::DstPort => r.dport = uint(b) as u16,
            Ie::Src4 | Ie::Src6 => r.src = ip(b).or(r.src),
            Ie::Dst4 | Ie::Dst6 => r.dst = ip(b).or(r.dst),
            Ie::FirstUp => self.first_up = Some(uint(b)),
            Ie::LastUp => self.last_up = Some(uint(b)),
            Ie::IcmpTypeCode => {
                let v = uint(b) as u16;
                r.icmp = Some(((v >> 8) as u8, v as u8));
            }
            Ie::IcmpType => r.icmp = Some((uint(b) as u8, r.icmp.map_or(0, |i| i.1))),
            Ie::IcmpCode => r.icmp = Some((r.icmp.map_or(0, |i| i.0), uint(b) as u8)),
            Ie::Vlan => r.vlan = Some(uint(b) as u16 & 0x0fff),
            Ie::EndReason => r.end_reason = Some(uint(b) as u8),
            Ie::StartSec => r.start = Some(from_millis((uint(b) as i64).saturating_mul(1000))),
            Ie::EndSec => r.end = Some(from_millis((uint(b) as i64).saturating_mul(1000))),
            Ie::StartMs => r.start = Some(from_millis(uint(b) as i64)),
            Ie::EndMs => r.end = Some(from_millis(uint(b) as i64)),
            Ie::StartNtp => r.start = ntp(b).or(r.start),
            Ie::EndNtp => r.end = ntp(b).or(r.end),
            Ie::SamplingInterval => self.sampling = Some(uint(b)),
            Ie::PacketInterval => self.packet_interval = Some(uint(b)),
            Ie::PacketSpace => self.packet_space = Some(uint(b)),
            Ie::SysInitMs => self.sys_init_ms = Some(uint(b) as i64),
        }
    }

    /// The sampling rate an options record announces (1 in N packets), if any.
    pub fn sampling_rate(&self) -> Option<u64> {
        if let Some(n) = self.sampling.filter(|&n| n > 0) {
            return Some(n);
        }
        // PSAMP: `interval` packets selected, then `space` skipped.
        let i = self.packet_interval.filter(|&i| i > 0)?;
        Some(i.saturating_add(self.packet_space.unwrap_or(0)) / i)
    }
}

/// What a template set says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateItem {
    Define(Template),
    /// IPFIX withdrawal of one template id.
    Withdraw(u16),
    /// IPFIX withdrawal of every template (`options: false`) or options template.
    WithdrawAll {
        options: bool,
    },
}

/// Which dialect a template set is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    V9Template,
    V9Options,
    IpfixTemplate,
    IpfixOptions,
}

/// Parses a template or options-template set's body (after the 4-byte set header).
pub fn parse_templates(
    mut w: Wire<'_>,
    kind: SetKind,
    f: &mut dyn FnMut(TemplateItem),
) -> Result<(), ExportError> {
    let ipfix = matches!(kind, SetKind::IpfixTemplate | SetKind::IpfixOptions);
    let options = matches!(kind, SetKind::V9Options | SetKind::IpfixOptions);
    while w.remaining() >= 4 {
        if w.buf[w.pos..].iter().all(|&b| b == 0) {
            return Ok(()); // padding
        }
        let id = w.u16("template id")?;
        let count = w.u16("template field count")?;
        if ipfix && count == 0 {
            f(match id {
                2 => TemplateItem::WithdrawAll { options: false },
                3 => TemplateItem::WithdrawAll { options: true },
                _ => TemplateItem::Withdraw(id),
            });
            continue;
        }
        if id < 256 {
            return Err(w.err("template id below 256"));
        }
        let n_fields = match kind {
            // v9 options: the counts are byte lengths of the scope and option parts.
            SetKind::V9Options => {
                let opt_len = w.u16("options length")?;
                (count / 4) as usize + (opt_len / 4) as usize
            }
            SetKind::IpfixOptions => {
                let scope = w.u16("scope field count")?;
                if scope == 0 || scope > count {
                    return Err(w.err("bad scope field count"));
                }
                count as usize
            }
            _ => count as usize,
        };
        let mut fields = Vec::with_capacity(n_fields.min(512));
        for _ in 0..n_fields {
            let ty = w.u16("field type")?;
            let len = w.u16("field length")?;
            let enterprise = ipfix && ty & 0x8000 != 0;
            if enterprise {
                w.skip(4, "enterprise number")?;
            }
            if len == VARIABLE && !ipfix {
                return Err(w.err("variable-length field in a NetFlow v9 template"));
            }
            // Scope fields of v9 options (system, interface, ...) share numbers with flow
            // elements; they are never read.
            let scope = kind == SetKind::V9Options && fields.len() < (count / 4) as usize;
            let ie = if scope {
                Ie::Skip
            } else {
                element(ty & 0x7fff, enterprise)
            };
            fields.push(Field { ie, len });
        }
        let t = Template::new(id, fields, options);
        if t.min_len == 0 {
            return Err(w.err("template describes empty records"));
        }
        f(TemplateItem::Define(t));
    }
    Ok(())
}

/// Identifies a template space: one exporter's source id (v9) or observation domain (IPFIX).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DomainKey {
    pub exporter: IpAddr,
    pub version: u8,
    pub domain: u32,
}

/// What vigil knows about one template space.
#[derive(Clone, Debug, Default)]
pub struct Domain {
    pub templates: HashMap<u16, Arc<Template>>,
    /// 1 in `sampling` packets was counted; records are scaled by it.
    pub sampling: u64,
    /// IPFIX systemInitTimeMilliseconds, the base of flowStart/EndSysUpTime.
    pub sys_init_ms: Option<i64>,
}

/// Templates per template space, bounded in total templates and in spaces.
#[derive(Debug)]
pub struct TemplateCache {
    domains: HashMap<DomainKey, Domain>,
    templates: usize,
    max_templates: usize,
    max_domains: usize,
}

/// Whether a template was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    New,
    Refreshed,
    Rejected,
}

impl TemplateCache {
    pub fn new(max_templates: usize, max_domains: usize) -> TemplateCache {
        TemplateCache {
            domains: HashMap::new(),
            templates: 0,
            max_templates,
            max_domains,
        }
    }

    /// Templates known, over all exporters.
    pub fn len(&self) -> usize {
        self.templates
    }

    pub fn is_empty(&self) -> bool {
        self.templates == 0
    }

    pub fn domain(&self, k: &DomainKey) -> Option<&Domain> {
        self.domains.get(k)
    }

    /// The space's state, created if there is room for another exporter.
    pub fn domain_mut(&mut self, k: DomainKey) -> Option<&mut Domain> {
        if !self.domains.contains_key(&k) && self.domains.len() >= self.max_domains {
            return None;
        }
        Some(self.domains.entry(k).or_insert_with(|| Domain {
            sampling: 1,
            ..Domain::default()
        }))
    }

    pub fn template(&self, k: &DomainKey, id: u16) -> Option<Arc<Template>> {
        self.domains.get(k)?.templates.get(&id).cloned()
    }

    /// Stores (or refreshes) a template; at the cap, new templates are refused.
    pub fn learn(&mut self, k: DomainKey, t: Template) -> Learned {
        let full = self.templates >= self.max_templates;
        let Some(d) = self.domain_mut(k) else {
            return Learned::Rejected;
        };
        match d.templates.get_mut(&t.id) {
            Some(old) => {
                if **old != t {
                    *old = Arc::new(t);
                }
                Learned::Refreshed
            }
            None if full => Learned::Rejected,
            None => {
                d.templates.insert(t.id, Arc::new(t));
                self.templates += 1;
                Learned::New
            }
        }
    }

    /// Applies an IPFIX withdrawal; returns how many templates went.
    pub fn withdraw(&mut self, k: &DomainKey, item: &TemplateItem) -> usize {
        let Some(d) = self.domains.get_mut(k) else {
            return 0;
        };
        let before = d.templates.len();
        match item {
            TemplateItem::Withdraw(id) => {
                d.templates.remove(id);
            }
            TemplateItem::WithdrawAll { options } => {
                d.templates.retain(|_, t| t.options != *options)
            }
            TemplateItem::Define(_) => {}
        }
        let gone = before - d.templates.len();
        self.templates -= gone;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(b: &[u8]) -> Wire<'_> {
        Wire::new("test", b, 0)
    }

    #[test]
    fn ipfix_template_with_enterprise_and_variable_fields() {
        // id 300, 4 fields: srcIPv4 (4), enterprise 1234/7 (2), variable string, packets (8).
        let mut b = vec![1, 44, 0, 4, 0, 8, 0, 4];
        b.extend_from_slice(&[0x80, 7, 0, 2, 0, 0, 4, 210]);
        b.extend_from_slice(&[0, 82, 0xff, 0xff, 0, 2, 0, 8]);
        let mut got = Vec::new();
        parse_templates(wire(&b), SetKind::IpfixTemplate, &mut |t| got.push(t))
            .expect("test input is valid");
        let TemplateItem::Define(t) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(t.fixed_len, None);
        assert_eq!(t.fields[1].ie, Ie::Skip);
        // Two records: the variable field once short form, once long form.
        let mut data = vec![
            10, 0, 0, 1, 9, 9, 3, b'a', b'b', b'c', 0, 0, 0, 0, 0, 0, 0, 5,
        ];
        data.extend_from_slice(&[10, 0, 0, 2, 9, 9, 255, 0, 1, b'x', 0, 0, 0, 0, 0, 0, 0, 6]);
        let mut recs = Vec::new();
        t.records(wire(&data), &mut |r| recs.push(r.rec))
            .expect("test input is valid");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].packets, 6);
        assert_eq!(
            recs[1].src,
            Some("10.0.0.2".parse().expect("test input is valid"))
        );
        // A truncated record is an error with its offset, not a panic.
        let e = t.records(wire(&data[..34]), &mut |_| {}).unwrap_err();
        assert!(e.offset >= 18 && e.offset < 34, "{e}");
    }

    #[test]
    fn withdrawal_and_cap() {
        let k = DomainKey {
            exporter: "10.0.0.9".parse().expect("test input is valid"),
            version: 10,
            domain: 1,
        };
        let mut c = TemplateCache::new(2, 8);
        let t = |id| {
            Template::new(
                id,
                vec![Field {
                    ie: Ie::Bytes,
                    len: 4,
                }],
                false,
            )
        };
        assert_eq!(c.learn(k, t(256)), Learned::New);
        assert_eq!(c.learn(k, t(256)), Learned::Refreshed);
        assert_eq!(c.learn(k, t(257)), Learned::New);
        assert_eq!(c.learn(k, t(258)), Learned::Rejected);
        assert_eq!(c.withdraw(&k, &TemplateItem::Withdraw(256)), 1);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c.withdraw(&k, &TemplateItem::WithdrawAll { options: false }),
            1
        );
        assert!(c.is_empty());
    }
}
