//! Tenants and zones: which tenant and zone an address belongs to, the policy verdict for
//! traffic between tenants, and VNI checks, all from the tenants file (DESIGN.md).
//!
//! [`Tenants::enrich`] runs on every event: one binary search per address, one hash lookup for
//! the VNI, and no allocation for tenant ids of up to 24 bytes (stored inline).

mod file;

use std::net::IpAddr;

use compact_str::CompactString;
use hashbrown::HashMap;

use super::prefix::PrefixTable;
use crate::event::{f, FieldId, Fields, Key, Value};

pub use file::TenantsError;

/// The kind of place an address belongs to (`src_zone`, `dst_zone`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Zone {
    /// In a tenant's CIDRs, or an unlisted private address carried in a tenant's VNI.
    Tenant,
    /// In a shared service's CIDRs.
    SharedService,
    /// In `infrastructure.hypervisors`.
    Hypervisor,
    /// In `infrastructure.management`.
    Management,
    /// In `infrastructure.metadata`.
    Metadata,
    /// A globally routable address in no listed range.
    Internet,
    /// A private, loopback, link-local, multicast or otherwise non-global address in no listed
    /// range: internal, but the tenants file does not say whose. Worth a rule of its own.
    Unknown,
}

impl Zone {
    pub const fn as_str(self) -> &'static str {
        match self {
            Zone::Tenant => "tenant",
            Zone::SharedService => "shared_service",
            Zone::Hypervisor => "hypervisor",
            Zone::Management => "management",
            Zone::Metadata => "metadata",
            Zone::Internet => "internet",
            Zone::Unknown => "unknown",
        }
    }
}

/// The verdict for traffic from a tenant to a tenant or shared service (`tenant_policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Both ends belong to the same tenant.
    Intra,
    /// An `allow` entry, or a shared service's `ports`, admits the destination port.
    Allowed,
    /// Nothing admits it: the file says everything between tenants not allowed is denied.
    Denied,
}

impl Policy {
    pub const fn as_str(self) -> &'static str {
        match self {
            Policy::Intra => "intra",
            Policy::Allowed => "allowed",
            Policy::Denied => "denied",
        }
    }
}

/// What a listed CIDR belongs to; the label of the prefix table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Tenant(u32),
    Service(u32),
    Hypervisor,
    Management,
    Metadata,
}

/// The destination ports a peering or shared service admits.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ports {
    All,
    /// Inclusive ranges.
    Listed(Vec<(u16, u16)>),
}

impl Ports {
    /// An empty list in the file means every port.
    fn from_ranges(ranges: Vec<(u16, u16)>) -> Ports {
        if ranges.is_empty() {
            Ports::All
        } else {
            Ports::Listed(ranges)
        }
    }

    /// Two `allow` entries for the same pair of tenants admit what either admits.
    fn merge(&mut self, other: Ports) {
        match (&mut *self, other) {
            (Ports::All, _) => {}
            (_, Ports::All) => *self = Ports::All,
            (Ports::Listed(mine), Ports::Listed(theirs)) => mine.extend(theirs),
        }
    }

    /// Traffic without a port (ICMP, or no `dst_port`) passes only where every port does.
    fn admits(&self, port: Option<u16>) -> bool {
        match self {
            Ports::All => true,
            Ports::Listed(ranges) => {
                port.is_some_and(|p| ranges.iter().any(|&(lo, hi)| lo <= p && p <= hi))
            }
        }
    }
}

/// A parsed tenants file, ready for lookups. `Tenants::default()` lists nothing: every
/// address is then in zone `internet` or `unknown`.
#[derive(Clone, Debug, Default)]
pub struct Tenants {
    /// Tenant ids by index, as the values set on events.
    ids: Vec<CompactString>,
    /// Shared service names and ports by index.
    services: Vec<(CompactString, Ports)>,
    places: PrefixTable<Owner>,
    vnis: HashMap<u32, u32>,
    /// `(from, to)` tenant indexes to the ports the peering admits.
    allow: HashMap<(u32, u32), Ports>,
}

/// One end of an event, resolved.
#[derive(Clone, Copy, Debug)]
struct End {
    zone: Zone,
    tenant: Option<u32>,
    /// Whether `tenant` comes from the tenant's CIDRs rather than from the VNI.
    by_cidr: bool,
    service: Option<u32>,
}

impl Tenants {
    /// The number of tenants.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Tenant ids in file order.
    pub fn tenant_ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(CompactString::as_str)
    }

    /// The zone of an address, without VNI context.
    pub fn zone_of(&self, ip: IpAddr) -> Zone {
        self.end(ip, None).zone
    }

    /// The tenant whose CIDRs hold `ip` most specifically, if any.
    pub fn tenant_of(&self, ip: IpAddr) -> Option<&str> {
        self.end(ip, None).tenant.map(|t| self.id(t))
    }

    /// The tenant that claims a VNI.
    pub fn tenant_of_vni(&self, vni: u32) -> Option<&str> {
        self.vnis.get(&vni).map(|t| self.id(*t))
    }

    /// The verdict for traffic from `src` to `dst` (by CIDR, without VNI context), or `None`
    /// when `src` is not a tenant or `dst` is neither a tenant nor a shared service.
    pub fn policy(&self, src: IpAddr, dst: IpAddr, dst_port: Option<u16>) -> Option<Policy> {
        self.verdict(self.end(src, None), self.end(dst, None), dst_port)
    }

    /// Sets, from `src_ip dst_ip dst_port proto vni` (fields whose inputs are missing are left
    /// alone, existing ones are replaced):
    /// - `src_zone`/`dst_zone` for each address, and `src_tenant`/`dst_tenant` when it is a
    ///   tenant's: by CIDR, or by the VNI for a non-global address in no listed range;
    /// - `tenant_policy` when the source is a tenant and the destination a tenant or a shared
    ///   service (see [`Policy`]; ports count for TCP, UDP and SCTP only);
    /// - `vni_tenant` when the VNI belongs to a tenant, and then `vni_mismatch`: `true` when
    ///   an address lies in a tenant's CIDRs but neither lies in the VNI tenant's, `false`
    ///   otherwise (peered traffic in either tenant's VNI is no mismatch; the policy verdict
    ///   judges it). An unknown VNI sets neither.
    pub fn enrich(&self, fields: &mut Fields) {
        // Most log events carry neither address nor VNI: one scan says so, instead of five.
        let relevant =
            |k: &Key| matches!(k, Key::Id(id) if [f::SRC_IP, f::DST_IP, f::VNI].contains(id));
        if !fields.iter().any(|(k, _)| relevant(k)) {
            return;
        }
        let vni_tenant = fields
            .get(f::VNI)
            .and_then(Value::as_int)
            .and_then(|v| u32::try_from(v).ok())
            .and_then(|v| self.vnis.get(&v).copied());
        let src = ip_field(fields, f::SRC_IP).map(|ip| self.end(ip, vni_tenant));
        let dst = ip_field(fields, f::DST_IP).map(|ip| self.end(ip, vni_tenant));
        let port = policy_port(fields);

        if let Some(end) = src {
            self.tag(fields, f::SRC_TENANT, f::SRC_ZONE, end);
        }
        if let Some(end) = dst {
            self.tag(fields, f::DST_TENANT, f::DST_ZONE, end);
        }
        if let (Some(s), Some(d)) = (src, dst) {
            if let Some(verdict) = self.verdict(s, d, port) {
                fields.set(f::TENANT_POLICY, verdict.as_str());
            }
        }
        if let Some(t) = vni_tenant {
            fields.set(f::VNI_TENANT, self.id_value(t));
            // Only addresses listed in a tenant's CIDRs can contradict the VNI; an unlisted
            // address took its tenant from the VNI in the first place. Traffic between two
            // tenants travels in one of their VNIs, so it contradicts the VNI only when
            // neither end belongs to the VNI's tenant.
            let owners = || {
                [src, dst]
                    .into_iter()
                    .flatten()
                    .filter(|e| e.by_cidr)
                    .filter_map(|e| e.tenant)
            };
            let mismatch = owners().next().is_some() && owners().all(|owner| owner != t);
            fields.set(f::VNI_MISMATCH, mismatch);
        }
    }

    fn tag(&self, fields: &mut Fields, tenant: FieldId, zone: FieldId, end: End) {
        if let Some(t) = end.tenant {
            fields.set(tenant, self.id_value(t));
        }
        fields.set(zone, end.zone.as_str());
    }

    fn end(&self, ip: IpAddr, vni_tenant: Option<u32>) -> End {
        let (zone, tenant, service) = match self.places.get(ip) {
            Some(Owner::Tenant(t)) => (Zone::Tenant, Some(t), None),
            Some(Owner::Service(s)) => (Zone::SharedService, None, Some(s)),
            Some(Owner::Hypervisor) => (Zone::Hypervisor, None, None),
            Some(Owner::Management) => (Zone::Management, None, None),
            Some(Owner::Metadata) => (Zone::Metadata, None, None),
            None if is_global(ip) => (Zone::Internet, None, None),
            // Tenants that reuse private address space are told apart by their VNI alone.
            None => match vni_tenant {
                Some(t) => {
                    return End {
                        zone: Zone::Tenant,
                        tenant: Some(t),
                        by_cidr: false,
                        service: None,
                    }
                }
                None => (Zone::Unknown, None, None),
            },
        };
        End {
            zone,
            tenant,
            by_cidr: tenant.is_some(),
            service,
        }
    }

    fn verdict(&self, src: End, dst: End, port: Option<u16>) -> Option<Policy> {
        let from = src.tenant?;
        let admitted = match (dst.tenant, dst.service) {
            (Some(to), _) if to == from => return Some(Policy::Intra),
            (Some(to), _) => self
                .allow
                .get(&(from, to))
                .is_some_and(|ports| ports.admits(port)),
            (None, Some(s)) => self
                .services
                .get(s as usize)
                .is_some_and(|(_, ports)| ports.admits(port)),
            (None, None) => return None,
        };
        Some(if admitted {
            Policy::Allowed
        } else {
            Policy::Denied
        })
    }

    fn id(&self, t: u32) -> &str {
        self.ids.get(t as usize).map_or("", CompactString::as_str)
    }

    fn id_value(&self, t: u32) -> Value {
        Value::Str(self.ids.get(t as usize).cloned().unwrap_or_default())
    }
}

/// An address field: typed by the decoders, or text in JSON logs (`"src_ip": "10.1.0.5"`).
fn ip_field(fields: &Fields, id: FieldId) -> Option<IpAddr> {
    match fields.get(id)? {
        Value::Str(s) => s.parse().ok(),
        v => v.as_ip(),
    }
}

/// The destination port that `allow` and shared service `ports` are checked against: ports
/// mean something for TCP, UDP and SCTP only, so other protocols (ICMP, where exporters put
/// type and code in `dst_port`) count as having none. Without `proto`, `dst_port` is trusted.
fn policy_port(fields: &Fields) -> Option<u16> {
    let has_ports = match fields.get(f::PROTO) {
        None => true,
        Some(Value::Str(p)) => ["tcp", "udp", "sctp"]
            .iter()
            .any(|known| p.eq_ignore_ascii_case(known)),
        Some(Value::Int(n)) => matches!(n, 6 | 17 | 132),
        Some(_) => false,
    };
    if !has_ports {
        return None;
    }
    fields
        .get(f::DST_PORT)
        .and_then(Value::as_int)
        .and_then(|p| u16::try_from(p).ok())
}

/// Whether an address is globally routable, i.e. `internet` when no listed range holds it.
/// IPv6 counts as global only in 2000::/3 outside documentation space.
fn is_global(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let [o0, o1, o2, _] = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o0 == 0 // "this network"
                || o0 >= 240 // reserved
                || (o0 == 100 && (o1 & 0xc0) == 64) // shared address space (CGNAT)
                || (o0 == 198 && (o1 & 0xfe) == 18) // benchmarking
                || (o0 == 192 && o1 == 0 && o2 == 0)) // IETF protocol assignments
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DESIGN.md's example, plus an IPv6 tenant and a metadata address inside a tenant.
    const FILE: &str = "\
tenants:
  - id: acme
    cidrs: [10.1.0.0/16, fd00:1::/48]
    vnis: [1001]
  - id: globex
    cidrs: [10.2.0.0/16]
    vnis: [1002]
  - id: initech
    vnis: [1003]
shared_services:
  - name: dns
    cidrs: [10.255.0.53/32]
    ports: [53]
allow:
  - from: acme
    to: globex
    ports: [443]
  - from: globex
    to: acme
infrastructure:
  hypervisors: [192.168.100.0/24]
  management: [10.254.0.0/16]
  metadata: [169.254.169.254/32, 10.1.0.2/32]
";

    fn tenants() -> Tenants {
        Tenants::parse(FILE, "tenants.yaml").unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn flow(src: &str, dst: &str, port: i64, proto: &'static str, vni: Option<i64>) -> Fields {
        let mut fields = Fields::new();
        fields.push(f::SRC_IP, ip(src));
        fields.push(f::DST_IP, ip(dst));
        fields.push(f::DST_PORT, port);
        fields.push(f::PROTO, proto);
        if let Some(v) = vni {
            fields.push(f::VNI, v);
        }
        fields
    }

    fn enriched(fields: Fields) -> Fields {
        let mut fields = fields;
        tenants().enrich(&mut fields);
        fields
    }

    fn str_of(fields: &Fields, id: FieldId) -> Option<&str> {
        fields.get(id).and_then(Value::as_str)
    }

    #[test]
    fn zones_and_tenants_by_cidr() {
        let t = tenants();
        let cases = [
            ("10.1.4.20", Zone::Tenant, Some("acme")),
            ("10.2.9.30", Zone::Tenant, Some("globex")),
            ("fd00:1::7", Zone::Tenant, Some("acme")),
            ("::ffff:10.2.0.1", Zone::Tenant, Some("globex")),
            ("10.255.0.53", Zone::SharedService, None),
            ("192.168.100.7", Zone::Hypervisor, None),
            ("10.254.1.1", Zone::Management, None),
            ("169.254.169.254", Zone::Metadata, None),
            // A metadata /32 inside acme's /16: the most specific prefix wins.
            ("10.1.0.2", Zone::Metadata, None),
            ("10.1.0.3", Zone::Tenant, Some("acme")),
            ("8.8.8.8", Zone::Internet, None),
            ("2606:4700::1111", Zone::Internet, None),
            ("10.3.0.1", Zone::Unknown, None),
            ("127.0.0.1", Zone::Unknown, None),
            ("169.254.1.1", Zone::Unknown, None),
            ("100.64.0.1", Zone::Unknown, None),
            ("fd00:2::1", Zone::Unknown, None),
            ("fe80::1", Zone::Unknown, None),
            ("2001:db8::1", Zone::Unknown, None),
        ];
        for (addr, zone, tenant) in cases {
            assert_eq!(t.zone_of(ip(addr)), zone, "{addr}");
            assert_eq!(t.tenant_of(ip(addr)), tenant, "{addr}");
        }
        assert_eq!(t.tenant_of_vni(1002), Some("globex"));
        assert_eq!(t.tenant_of_vni(7), None);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.tenant_ids().collect::<Vec<_>>(),
            ["acme", "globex", "initech"]
        );
    }

    #[test]
    fn empty_tenants_know_only_internet_and_unknown() {
        let t = Tenants::default();
        assert!(t.is_empty());
        assert_eq!(t.zone_of(ip("1.1.1.1")), Zone::Internet);
        assert_eq!(t.zone_of(ip("10.1.0.1")), Zone::Unknown);
        let mut fields = flow("10.1.0.1", "1.1.1.1", 443, "tcp", Some(1001));
        t.enrich(&mut fields);
        assert_eq!(str_of(&fields, f::SRC_ZONE), Some("unknown"));
        assert_eq!(str_of(&fields, f::DST_ZONE), Some("internet"));
        assert_eq!(fields.get(f::SRC_TENANT), None);
        assert_eq!(fields.get(f::TENANT_POLICY), None);
        assert_eq!(fields.get(f::VNI_TENANT), None);
    }

    #[test]
    fn addresses_as_text_in_json_logs_are_enriched_too() {
        let mut fields = Fields::new();
        fields.push(f::SRC_IP, "10.1.4.20");
        fields.push(f::DST_IP, "not an address");
        let e = enriched(fields);
        assert_eq!(str_of(&e, f::SRC_TENANT), Some("acme"));
        assert_eq!(e.get(f::DST_TENANT), None);
        assert_eq!(e.get(f::DST_ZONE), None);
    }

    #[test]
    fn enrich_sets_tenants_zones_and_policy() {
        let e = enriched(flow("10.1.4.20", "10.2.9.30", 443, "tcp", None));
        assert_eq!(str_of(&e, f::SRC_TENANT), Some("acme"));
        assert_eq!(str_of(&e, f::DST_TENANT), Some("globex"));
        assert_eq!(str_of(&e, f::SRC_ZONE), Some("tenant"));
        assert_eq!(str_of(&e, f::DST_ZONE), Some("tenant"));
        assert_eq!(str_of(&e, f::TENANT_POLICY), Some("allowed"));
        assert_eq!(e.get(f::VNI_TENANT), None);
        assert_eq!(e.get(f::VNI_MISMATCH), None);
    }

    #[test]
    fn policy_verdicts() {
        let t = tenants();
        let p = |src: &str, dst: &str, port: Option<u16>| t.policy(ip(src), ip(dst), port);
        assert_eq!(p("10.1.4.20", "10.1.9.9", Some(22)), Some(Policy::Intra));
        assert_eq!(p("10.1.4.20", "fd00:1::9", Some(22)), Some(Policy::Intra));
        assert_eq!(
            p("10.1.4.20", "10.2.9.30", Some(443)),
            Some(Policy::Allowed)
        );
        assert_eq!(p("10.1.4.20", "10.2.9.30", Some(22)), Some(Policy::Denied));
        assert_eq!(p("10.1.4.20", "10.2.9.30", None), Some(Policy::Denied));
        // globex -> acme is allowed on every port, acme -> globex only on 443.
        assert_eq!(p("10.2.9.30", "10.1.4.20", Some(22)), Some(Policy::Allowed));
        assert_eq!(p("10.2.9.30", "10.1.4.20", None), Some(Policy::Allowed));
        // Shared services: allowed on their ports, denied on others.
        assert_eq!(
            p("10.1.4.20", "10.255.0.53", Some(53)),
            Some(Policy::Allowed)
        );
        assert_eq!(
            p("10.1.4.20", "10.255.0.53", Some(22)),
            Some(Policy::Denied)
        );
        // No verdict unless a tenant talks to a tenant or a shared service.
        assert_eq!(p("10.255.0.53", "10.1.4.20", Some(53)), None);
        assert_eq!(p("10.1.4.20", "8.8.8.8", Some(53)), None);
        assert_eq!(p("10.1.4.20", "169.254.169.254", Some(80)), None);
        assert_eq!(p("192.168.100.7", "10.1.4.20", Some(22)), None);
    }

    #[test]
    fn ports_apply_to_tcp_udp_and_sctp_only() {
        let e = enriched(flow("10.1.4.20", "10.255.0.53", 53, "udp", None));
        assert_eq!(str_of(&e, f::TENANT_POLICY), Some("allowed"));
        let e = enriched(flow("10.1.4.20", "10.255.0.53", 53, "TCP", None));
        assert_eq!(str_of(&e, f::TENANT_POLICY), Some("allowed"));
        // ICMP echo with type 8 put in dst_port by an exporter: no port, so denied.
        let e = enriched(flow("10.1.4.20", "10.255.0.53", 53, "icmp", None));
        assert_eq!(str_of(&e, f::TENANT_POLICY), Some("denied"));
        let mut fields = flow("10.1.4.20", "10.2.9.30", 443, "tcp", None);
        fields.set(f::PROTO, 6);
        assert_eq!(str_of(&enriched(fields), f::TENANT_POLICY), Some("allowed"));
        let mut fields = flow("10.1.4.20", "10.2.9.30", 443, "tcp", None);
        fields.set(f::PROTO, 1);
        assert_eq!(str_of(&enriched(fields), f::TENANT_POLICY), Some("denied"));
    }

    #[test]
    fn vni_names_the_tenant_of_unlisted_private_addresses() {
        // initech has no CIDRs: its addresses are known by VNI only.
        let e = enriched(flow("10.9.0.1", "10.9.0.2", 22, "tcp", Some(1003)));
        assert_eq!(str_of(&e, f::SRC_TENANT), Some("initech"));
        assert_eq!(str_of(&e, f::DST_TENANT), Some("initech"));
        assert_eq!(str_of(&e, f::SRC_ZONE), Some("tenant"));
        assert_eq!(str_of(&e, f::TENANT_POLICY), Some("intra"));
        assert_eq!(str_of(&e, f::VNI_TENANT), Some("initech"));
        assert_eq!(e.get(f::VNI_MISMATCH), Some(&Value::Bool(false)));
        // A public address stays internet even inside a tenant's VNI.
        let e = enriched(flow("10.9.0.1", "8.8.8.8", 53, "udp", Some(1003)));
        assert_eq!(str_of(&e, f::DST_ZONE), Some("internet"));
        assert_eq!(e.get(f::DST_TENANT), None);
        assert_eq!(e.get(f::TENANT_POLICY), None);
        // An unknown VNI adds nothing.
        let e = enriched(flow("10.9.0.1", "10.9.0.2", 22, "tcp", Some(4242)));
        assert_eq!(str_of(&e, f::SRC_ZONE), Some("unknown"));
        assert_eq!(e.get(f::VNI_TENANT), None);
        assert_eq!(e.get(f::VNI_MISMATCH), None);
    }

    #[test]
    fn vni_mismatch() {
        // acme's traffic in acme's VNI: fine.
        let e = enriched(flow("10.1.4.20", "10.1.4.21", 22, "tcp", Some(1001)));
        assert_eq!(str_of(&e, f::VNI_TENANT), Some("acme"));
        assert_eq!(e.get(f::VNI_MISMATCH), Some(&Value::Bool(false)));
        // acme's addresses in globex's VNI: a tenant isolation breach (or a misconfiguration).
        let e = enriched(flow("10.1.4.20", "10.1.4.21", 22, "tcp", Some(1002)));
        assert_eq!(str_of(&e, f::VNI_TENANT), Some("globex"));
        assert_eq!(str_of(&e, f::SRC_TENANT), Some("acme"));
        assert_eq!(e.get(f::VNI_MISMATCH), Some(&Value::Bool(true)));
        // Either end is enough.
        let e = enriched(flow("10.9.0.1", "10.2.9.30", 22, "tcp", Some(1001)));
        assert_eq!(str_of(&e, f::SRC_TENANT), Some("acme"));
        assert_eq!(str_of(&e, f::DST_TENANT), Some("globex"));
        assert_eq!(str_of(&e, f::TENANT_POLICY), Some("denied"));
        assert_eq!(e.get(f::VNI_MISMATCH), Some(&Value::Bool(true)));
        // Traffic between two tenants in one of their VNIs is not (the policy judges it).
        let e = enriched(flow("10.1.4.20", "10.2.9.30", 443, "tcp", Some(1001)));
        assert_eq!(e.get(f::VNI_MISMATCH), Some(&Value::Bool(false)));
        // Shared services and infrastructure inside a tenant VNI are not a mismatch.
        let e = enriched(flow("10.1.4.20", "169.254.169.254", 80, "tcp", Some(1001)));
        assert_eq!(str_of(&e, f::DST_ZONE), Some("metadata"));
        assert_eq!(e.get(f::VNI_MISMATCH), Some(&Value::Bool(false)));
    }

    #[test]
    fn enrich_replaces_and_skips_missing_inputs() {
        let mut fields = Fields::new();
        fields.push(f::DST_IP, ip("10.2.0.1"));
        fields.push(f::DST_ZONE, "stale");
        tenants().enrich(&mut fields);
        assert_eq!(str_of(&fields, f::DST_ZONE), Some("tenant"));
        assert_eq!(str_of(&fields, f::DST_TENANT), Some("globex"));
        assert_eq!(fields.get(f::SRC_ZONE), None);
        assert_eq!(fields.get(f::TENANT_POLICY), None);
        assert_eq!(fields.len(), 3);
        let mut log = Fields::new();
        log.push(f::MESSAGE, "no addresses here");
        tenants().enrich(&mut log);
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn short_ids_are_inline() {
        let e = enriched(flow("10.1.4.20", "10.2.9.30", 443, "tcp", None));
        match e.get(f::SRC_TENANT) {
            Some(Value::Str(s)) => assert!(!s.is_heap_allocated()),
            other => panic!("{other:?}"),
        }
    }
}
