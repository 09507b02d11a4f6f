//! The tenants file (DESIGN.md, "Tenants file"): YAML text in, validated [`Tenants`] out.
//!
//! Errors in one value (a bad CIDR, a VNI out of range, an unknown key) are raised while
//! deserializing and carry serde_yaml_ng's position. Errors between items (a duplicate id,
//! overlapping tenants, an unknown tenant in `allow`) are found afterwards and located with
//! [`locate`], so that every error names the line and column of the offending item.

use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::Path;

use compact_str::CompactString;
use hashbrown::HashMap;
use ipnet::IpNet;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::{Owner, Ports, Tenants};
use crate::enrich::locate::{locate, Step, Step::Index, Step::Key};
use crate::enrich::prefix::PrefixTable;

/// Why a tenants file could not be loaded. `Invalid` displays as `FILE:LINE:COLUMN: message`.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    #[error("{path}: cannot read the tenants file: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}:{column}: {message}")]
    Invalid {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Tenants {
    /// Reads and parses a tenants file.
    pub fn load(path: &Path) -> Result<Tenants, TenantsError> {
        let origin = path.display().to_string();
        match fs::read_to_string(path) {
            Ok(text) => Tenants::parse(&text, &origin),
            Err(source) => Err(TenantsError::Read {
                path: origin,
                source,
            }),
        }
    }

    /// Parses the text of a tenants file; `origin` names it in errors (usually its path).
    pub fn parse(text: &str, origin: &str) -> Result<Tenants, TenantsError> {
        let file = match serde_yaml_ng::from_str::<Document>(text) {
            Ok(Document(Some(file))) => file,
            Ok(Document(None)) => {
                return Err(TenantsError::Invalid {
                    origin: origin.to_owned(),
                    line: 1,
                    column: 1,
                    message: "the tenants file is empty: list tenants under `tenants:` \
                              (write `tenants: []` to run without any)"
                        .to_owned(),
                })
            }
            Err(e) => return Err(yaml_error(origin, &e)),
        };
        Build { text, origin }.tenants(&file)
    }
}

/// Turns serde_yaml_ng's "message at line L column C" into our `FILE:L:C: message`.
fn yaml_error(origin: &str, e: &serde_yaml_ng::Error) -> TenantsError {
    let mut message = e.to_string();
    // Errors without a position (several documents in one file) are about the whole file.
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    // The position ends a message about a value, which may quote the value; it comes first in
    // a YAML syntax message, which may go on to name the construct it was parsing.
    let suffix = format!(" at line {line} column {column}");
    if message.ends_with(&suffix) {
        message.truncate(message.len() - suffix.len());
    } else if let Some(at) = message.find(&suffix) {
        message.replace_range(at..at + suffix.len(), "");
    }
    TenantsError::Invalid {
        origin: origin.to_owned(),
        line,
        column,
        message,
    }
}

// The file's shape. Sections may be missing or empty (`management:` with nothing after it).

/// The whole document: a mapping of sections, or nothing at all (an empty file).
struct Document(Option<TenantsFile>);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Document, D::Error> {
        d.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of `tenants`, `shared_services`, `allow` and `infrastructure`")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Document, E> {
        Ok(Document(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Document, E> {
        Ok(Document(None))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Document, A::Error> {
        TenantsFile::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(|f| Document(Some(f)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    #[serde(default, deserialize_with = "or_empty")]
    tenants: Vec<TenantDef>,
    #[serde(default, deserialize_with = "or_empty")]
    shared_services: Vec<SharedServiceDef>,
    #[serde(default, deserialize_with = "or_empty")]
    allow: Vec<AllowDef>,
    #[serde(default, deserialize_with = "or_empty")]
    infrastructure: InfrastructureDef,
}

#[derive(Deserialize)]
#[serde(rename = "tenant", deny_unknown_fields)]
struct TenantDef {
    id: Id,
    #[serde(default, deserialize_with = "or_empty")]
    cidrs: Vec<Cidr>,
    #[serde(default, deserialize_with = "or_empty")]
    vnis: Vec<Vni>,
}

#[derive(Deserialize)]
#[serde(rename = "shared service", deny_unknown_fields)]
struct SharedServiceDef {
    name: Id,
    #[serde(default, deserialize_with = "or_empty")]
    cidrs: Vec<Cidr>,
    #[serde(default, deserialize_with = "or_empty")]
    ports: Vec<PortRange>,
}

#[derive(Deserialize)]
#[serde(rename = "allow entry", deny_unknown_fields)]
struct AllowDef {
    from: Id,
    to: Id,
    #[serde(default, deserialize_with = "or_empty")]
    ports: Vec<PortRange>,
}

#[derive(Default, Deserialize)]
#[serde(rename = "infrastructure", deny_unknown_fields)]
struct InfrastructureDef {
    #[serde(default, deserialize_with = "or_empty")]
    hypervisors: Vec<Cidr>,
    #[serde(default, deserialize_with = "or_empty")]
    management: Vec<Cidr>,
    #[serde(default, deserialize_with = "or_empty")]
    metadata: Vec<Cidr>,
}

/// A key with nothing after it (`management:`) means an empty section, as `[]` does.
fn or_empty<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// Leaf values. Each validates inside its `Visitor`, while the deserializer still knows where
// the value is: an error raised after `deserialize` returns would be placed at the parent.

/// A tenant id or a service name.
struct Id(CompactString);

/// Ids travel on every alert; ids of up to 24 bytes are even stored inline in events.
const ID_MAX: usize = 64;

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id (letters, digits, `-`, `_`, `.`, `:`)")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if s.is_empty() {
            return Err(E::custom("an id cannot be empty"));
        }
        if let Some(bad) = s.chars().find(|c| !allowed(*c)) {
            return Err(E::custom(format_args!(
                "id `{s}` contains {bad:?}: use letters, digits, `-`, `_`, `.` and `:` only"
            )));
        }
        if s.len() > ID_MAX {
            return Err(E::custom(format_args!(
                "id `{}...` is longer than {ID_MAX} bytes: use a shorter id",
                s.get(..16).unwrap_or(s)
            )));
        }
        Ok(Id(s.into()))
    }
    // `id: 1001` is read as a number by YAML; take it as the id it was meant to be.
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Id, E> {
        Ok(Id(compact_str::format_compact!("{n}")))
    }
}

/// A CIDR block; a bare address is a block of one.
struct Cidr(IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        d.deserialize_str(CidrVisitor)
    }
}

struct CidrVisitor;

impl Visitor<'_> for CidrVisitor {
    type Value = Cidr;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CIDR such as `10.1.0.0/16` or `fd00:1::/48`")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cidr, E> {
        parse_cidr(s).map(Cidr).map_err(E::custom)
    }
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let (addr_text, len_text) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        format!(
            "`{s}` is not a CIDR: `{addr_text}` is not an IP address \
             (write e.g. `10.1.0.0/16` or `fd00:1::/48`)"
        )
    })?;
    let (family, max) = if addr.is_ipv4() { (4, 32) } else { (6, 128) };
    let len = match len_text {
        None => max,
        Some(l) => l.parse::<u8>().ok().filter(|n| *n <= max).ok_or_else(|| {
            format!("`{s}` is not a CIDR: an IPv{family} prefix length runs from /0 to /{max}")
        })?,
    };
    let net = IpNet::new(addr, len).map_err(|e| format!("`{s}` is not a CIDR: {e}"))?;
    let network = net.trunc();
    if network != net {
        return Err(format!(
            "`{s}` has host bits set: write `{network}` for the network, \
             or `{addr}/{max}` for the single address"
        ));
    }
    Ok(net)
}

/// A VXLAN or Geneve network identifier: 24 bits.
struct Vni(u32);

const VNI_MAX: u32 = (1 << 24) - 1;

impl<'de> Deserialize<'de> for Vni {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Vni, D::Error> {
        d.deserialize_any(VniVisitor)
    }
}

struct VniVisitor;

impl Visitor<'_> for VniVisitor {
    type Value = Vni;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a VNI from 0 to {VNI_MAX}")
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Vni, E> {
        match u32::try_from(n) {
            Ok(v) if v <= VNI_MAX => Ok(Vni(v)),
            _ => Err(E::custom(format_args!(
                "VNI {n} is out of range: a VNI has 24 bits, from 0 to {VNI_MAX}"
            ))),
        }
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Vni, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(format_args!(
                "VNI {n} is out of range: a VNI has 24 bits, from 0 to {VNI_MAX}"
            ))),
        }
    }
}

/// A destination port (`443`) or an inclusive range of them (`"8000-8100"`).
struct PortRange(u16, u16);

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PortRange, D::Error> {
        d.deserialize_any(PortVisitor)
    }
}

struct PortVisitor;

fn port_out_of_range(n: impl fmt::Display) -> String {
    format!("port {n} is out of range: ports run from 1 to 65535")
}

fn port(n: i128) -> Result<u16, String> {
    u16::try_from(n)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| port_out_of_range(n))
}

impl Visitor<'_> for PortVisitor {
    type Value = PortRange;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a port from 1 to 65535 or a range such as \"8000-8100\"")
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<PortRange, E> {
        let p = port(i128::from(n)).map_err(E::custom)?;
        Ok(PortRange(p, p))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<PortRange, E> {
        let p = port(i128::from(n)).map_err(E::custom)?;
        Ok(PortRange(p, p))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<PortRange, E> {
        let number = |t: &str| {
            t.trim()
                .parse::<i128>()
                .map_err(|_| format!("`{s}` is not a port or a range of ports like \"8000-8100\""))
                .and_then(port)
        };
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (number(a).map_err(E::custom)?, number(b).map_err(E::custom)?),
            None => {
                let p = number(s).map_err(E::custom)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(E::custom(format_args!(
                "port range `{s}` runs backwards: write `{hi}-{lo}`"
            )));
        }
        Ok(PortRange(lo, hi))
    }
}

fn ports(list: &[PortRange]) -> Ports {
    Ports::from_ranges(list.iter().map(|p| (p.0, p.1)).collect())
}

/// Cross-item validation and the building of the lookup tables.
struct Build<'a> {
    text: &'a str,
    origin: &'a str,
}

/// A listed CIDR, with what it belongs to and where it was written.
struct Listed {
    net: IpNet,
    owner: Owner,
    path: Vec<Step>,
}

impl Build<'_> {
    fn error(&self, path: &[Step], message: String) -> TenantsError {
        let (line, column) = locate(self.text, path).unwrap_or((1, 1));
        TenantsError::Invalid {
            origin: self.origin.to_owned(),
            line,
            column,
            message,
        }
    }

    fn line(&self, path: &[Step]) -> usize {
        locate(self.text, path).map_or(0, |(line, _)| line)
    }

    fn tenants(&self, file: &TenantsFile) -> Result<Tenants, TenantsError> {
        let index = self.tenant_index(file)?;
        self.check_service_names(file)?;
        let vnis = self.vni_owners(file)?;
        let listed = listed_cidrs(file);
        self.check_cidrs(file, &listed)?;
        let allow = self.peerings(file, &index)?;
        Ok(Tenants {
            places: PrefixTable::new(listed.iter().map(|l| (l.net, l.owner))),
            ids: file.tenants.iter().map(|t| t.id.0.clone()).collect(),
            services: file
                .shared_services
                .iter()
                .map(|s| (s.name.0.clone(), ports(&s.ports)))
                .collect(),
            vnis,
            allow,
        })
    }

    /// Tenant ids to their indexes; an id used twice is an error.
    fn tenant_index<'f>(
        &self,
        file: &'f TenantsFile,
    ) -> Result<HashMap<&'f str, u32>, TenantsError> {
        let mut index = HashMap::new();
        for (i, t) in file.tenants.iter().enumerate() {
            if let Some(&first) = index.get(t.id.0.as_str()) {
                let first_line = self.line(&[Key("tenants"), Index(first as usize), Key("id")]);
                return Err(self.error(
                    &[Key("tenants"), Index(i), Key("id")],
                    format!(
                        "duplicate tenant id `{}`: line {first_line} already uses it; \
                         give each tenant its own id",
                        t.id.0
                    ),
                ));
            }
            index.insert(t.id.0.as_str(), i as u32);
        }
        Ok(index)
    }

    fn check_service_names(&self, file: &TenantsFile) -> Result<(), TenantsError> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, s) in file.shared_services.iter().enumerate() {
            if let Some(&first) = seen.get(s.name.0.as_str()) {
                let first_line = self.line(&[Key("shared_services"), Index(first), Key("name")]);
                return Err(self.error(
                    &[Key("shared_services"), Index(i), Key("name")],
                    format!(
                        "duplicate shared service name `{}`: line {first_line} already uses it; \
                         give each service its own name",
                        s.name.0
                    ),
                ));
            }
            seen.insert(s.name.0.as_str(), i);
        }
        Ok(())
    }

    /// VNIs to the tenant that claims them; a VNI claimed by two tenants is an error.
    fn vni_owners(&self, file: &TenantsFile) -> Result<HashMap<u32, u32>, TenantsError> {
        // Each VNI's tenant and its position in that tenant's list, for the error message.
        let mut owners: HashMap<u32, (u32, usize)> = HashMap::new();
        for (i, t) in file.tenants.iter().enumerate() {
            for (j, vni) in t.vnis.iter().enumerate() {
                match owners.get(&vni.0) {
                    Some(&(owner, k)) if owner != i as u32 => {
                        let owner_path =
                            [Key("tenants"), Index(owner as usize), Key("vnis"), Index(k)];
                        return Err(self.error(
                            &[Key("tenants"), Index(i), Key("vnis"), Index(j)],
                            format!(
                                "VNI {} already belongs to tenant `{}` (line {}): \
                                 a VNI names one tenant",
                                vni.0,
                                describe_id(file, owner),
                                self.line(&owner_path)
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        owners.insert(vni.0, (i as u32, j));
                    }
                }
            }
        }
        Ok(owners.into_iter().map(|(v, (t, _))| (v, t)).collect())
    }

    /// `(from, to)` tenant indexes to the ports `allow` opens between them; an entry naming an
    /// unknown tenant is an error.
    fn peerings(
        &self,
        file: &TenantsFile,
        index: &HashMap<&str, u32>,
    ) -> Result<HashMap<(u32, u32), Ports>, TenantsError> {
        let mut allow: HashMap<(u32, u32), Ports> = HashMap::new();
        for (i, a) in file.allow.iter().enumerate() {
            let tenant = |key: &'static str, id: &Id| {
                index.get(id.0.as_str()).copied().ok_or_else(|| {
                    self.error(
                        &[Key("allow"), Index(i), Key(key)],
                        unknown_tenant(&id.0, file),
                    )
                })
            };
            let pair = (tenant("from", &a.from)?, tenant("to", &a.to)?);
            let admitted = ports(&a.ports);
            match allow.get_mut(&pair) {
                Some(p) => p.merge(admitted),
                None => {
                    allow.insert(pair, admitted);
                }
            }
        }
        Ok(allow)
    }

    /// A network listed for two owners is an error, and so is a tenant's network inside
    /// another tenant's. Other nesting is how special addresses are carved out of larger
    /// ranges (a metadata /32 inside a tenant /16) and is resolved by the most specific prefix.
    fn check_cidrs(&self, file: &TenantsFile, listed: &[Listed]) -> Result<(), TenantsError> {
        let mut order: Vec<&Listed> = listed.iter().collect();
        order.sort_by_key(|l| sort_key(l.net));

        for pair in order.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.net == b.net && a.owner != b.owner {
                return Err(self.conflict(file, a, b, "is also listed for"));
            }
        }

        // Sorted by address then prefix length, a network comes right after the networks that
        // contain it; the stack holds the chain of tenant networks containing the current one.
        let mut outer: Vec<&Listed> = Vec::new();
        for l in order
            .into_iter()
            .filter(|l| matches!(l.owner, Owner::Tenant(_)))
        {
            while outer.last().is_some_and(|o| !o.net.contains(&l.net)) {
                outer.pop();
            }
            if let Some(o) = outer.last() {
                if o.owner != l.owner {
                    return Err(self.conflict(file, o, l, "overlaps"));
                }
            }
            outer.push(l);
        }
        Ok(())
    }

    /// Reports a conflict between two listed networks at the one written later in the file.
    fn conflict(&self, file: &TenantsFile, a: &Listed, b: &Listed, verb: &str) -> TenantsError {
        let (first, second) = if self.line(&a.path) <= self.line(&b.path) {
            (a, b)
        } else {
            (b, a)
        };
        let hint = if matches!(
            (first.owner, second.owner),
            (Owner::Tenant(_), Owner::Tenant(_))
        ) {
            "two tenants' networks must not overlap (tenants that reuse addresses are told \
             apart by `vnis` alone)"
        } else {
            "a network belongs to one place; list it once"
        };
        self.error(
            &second.path,
            format!(
                "`{}` of {} {verb} `{}` of {} (line {}): {hint}",
                second.net,
                describe(file, second.owner),
                first.net,
                describe(file, first.owner),
                self.line(&first.path),
            ),
        )
    }
}

fn sort_key(net: IpNet) -> (u8, u128, u8) {
    match net {
        IpNet::V4(n) => (4, u128::from(u32::from(n.network())), n.prefix_len()),
        IpNet::V6(n) => (6, u128::from(n.network()), n.prefix_len()),
    }
}

fn listed_cidrs(file: &TenantsFile) -> Vec<Listed> {
    let mut listed = Vec::new();
    for (i, t) in file.tenants.iter().enumerate() {
        for (j, c) in t.cidrs.iter().enumerate() {
            listed.push(Listed {
                net: c.0,
                owner: Owner::Tenant(i as u32),
                path: vec![Key("tenants"), Index(i), Key("cidrs"), Index(j)],
            });
        }
    }
    for (i, s) in file.shared_services.iter().enumerate() {
        for (j, c) in s.cidrs.iter().enumerate() {
            listed.push(Listed {
                net: c.0,
                owner: Owner::Service(i as u32),
                path: vec![Key("shared_services"), Index(i), Key("cidrs"), Index(j)],
            });
        }
    }
    let infra = &file.infrastructure;
    for (key, owner, cidrs) in [
        ("hypervisors", Owner::Hypervisor, &infra.hypervisors),
        ("management", Owner::Management, &infra.management),
        ("metadata", Owner::Metadata, &infra.metadata),
    ] {
        for (j, c) in cidrs.iter().enumerate() {
            listed.push(Listed {
                net: c.0,
                owner,
                path: vec![Key("infrastructure"), Key(key), Index(j)],
            });
        }
    }
    listed
}

fn describe(file: &TenantsFile, owner: Owner) -> String {
    match owner {
        Owner::Tenant(t) => format!("tenant `{}`", describe_id(file, t)),
        Owner::Service(s) => format!(
            "shared service `{}`",
            file.shared_services
                .get(s as usize)
                .map_or("?", |s| s.name.0.as_str())
        ),
        Owner::Hypervisor => "`infrastructure.hypervisors`".to_owned(),
        Owner::Management => "`infrastructure.management`".to_owned(),
        Owner::Metadata => "`infrastructure.metadata`".to_owned(),
    }
}

fn describe_id(file: &TenantsFile, tenant: u32) -> &str {
    file.tenants
        .get(tenant as usize)
        .map_or("?", |t| t.id.0.as_str())
}

fn unknown_tenant(id: &str, file: &TenantsFile) -> String {
    let closest = file
        .tenants
        .iter()
        .map(|t| (edit_distance(id, &t.id.0), t.id.0.as_str()))
        .min();
    match closest {
        Some((d, best)) if d <= 2 || d * 3 <= id.chars().count() => {
            format!("unknown tenant `{id}` in `allow`; did you mean `{best}`?")
        }
        Some(_) => {
            let known: Vec<&str> = file
                .tenants
                .iter()
                .take(8)
                .map(|t| t.id.0.as_str())
                .collect();
            let more = if file.tenants.len() > known.len() {
                ", ..."
            } else {
                ""
            };
            format!(
                "unknown tenant `{id}` in `allow`: the tenants are `{}`{more}",
                known.join("`, `")
            )
        }
        None => format!("unknown tenant `{id}` in `allow`: no tenants are listed under `tenants:`"),
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DESIGN.md's example, verbatim.
    const DESIGN_EXAMPLE: &str = "\
tenants:
  - id: acme
    cidrs: [10.1.0.0/16]
    vnis: [1001]
  - id: globex
    cidrs: [10.2.0.0/16]
    vnis: [1002]
shared_services:          # reachable by every tenant on these ports
  - name: dns
    cidrs: [10.255.0.53/32]
    ports: [53]
allow:                    # explicit peerings; anything else between tenants is denied
  - from: acme
    to: globex
    ports: [443]
infrastructure:
  hypervisors: [192.168.100.0/24]
  management: []
  metadata: [169.254.169.254/32]
";

    /// The error for `text`, as displayed.
    fn error(text: &str) -> String {
        match Tenants::parse(text, "t.yaml") {
            Ok(_) => panic!("parsed:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_design_example() {
        let t = Tenants::parse(DESIGN_EXAMPLE, "t.yaml").unwrap();
        assert_eq!(t.tenant_ids().collect::<Vec<_>>(), ["acme", "globex"]);
        assert_eq!(t.tenant_of(ip("10.1.2.3")), Some("acme"));
        assert_eq!(t.tenant_of_vni(1002), Some("globex"));
        assert_eq!(
            t.zone_of(ip("10.255.0.53")),
            super::super::Zone::SharedService
        );
        assert_eq!(
            t.zone_of(ip("192.168.100.1")),
            super::super::Zone::Hypervisor
        );
        assert_eq!(
            t.zone_of(ip("169.254.169.254")),
            super::super::Zone::Metadata
        );
    }

    #[test]
    fn parses_the_shipped_example() {
        let text = include_str!("../../../systemd/tenants.example.yaml");
        let t = Tenants::parse(text, "tenants.example.yaml").unwrap();
        assert_eq!(t.tenant_ids().collect::<Vec<_>>(), ["acme", "globex"]);
    }

    #[test]
    fn loads_from_a_file_and_names_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("vigil-tenants-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tenants.yaml");
        fs::write(&path, DESIGN_EXAMPLE).unwrap();
        assert_eq!(Tenants::load(&path).unwrap().len(), 2);
        fs::write(&path, "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/33]\n").unwrap();
        let e = Tenants::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:3:13: ", path.display())), "{e}");
        let missing = dir.join("missing.yaml");
        let e = Tenants::load(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: cannot read", missing.display())),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn optional_and_empty_sections() {
        let t = Tenants::parse("tenants: []\n", "t.yaml").unwrap();
        assert!(t.is_empty());
        let t = Tenants::parse(
            "tenants:\n  - id: a\n    vnis: [5]\ninfrastructure:\n  management:\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(t.tenant_of_vni(5), Some("a"));
        // Bare addresses, IPv6, numeric ids and port ranges.
        let t = Tenants::parse(
            "tenants:\n  - id: 42\n    cidrs: [\"fd00:42::/48\", 10.42.0.7]\n\
             shared_services:\n  - name: web\n    cidrs: [10.0.0.80]\n    ports: [\"8000-8100\", 443]\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(t.tenant_of(ip("fd00:42::1")), Some("42"));
        assert_eq!(t.tenant_of(ip("10.42.0.7")), Some("42"));
        assert_eq!(t.tenant_of(ip("10.42.0.8")), None);
        let verdict = |port| t.policy(ip("10.42.0.7"), ip("10.0.0.80"), Some(port));
        assert_eq!(verdict(8050), Some(super::super::Policy::Allowed));
        assert_eq!(verdict(443), Some(super::super::Policy::Allowed));
        assert_eq!(verdict(8101), Some(super::super::Policy::Denied));
    }

    #[test]
    fn empty_files() {
        for text in ["", "\n\n", "# nothing yet\n", "~\n"] {
            assert_eq!(
                error(text),
                "t.yaml:1:1: the tenants file is empty: list tenants under `tenants:` \
                 (write `tenants: []` to run without any)"
            );
        }
    }

    #[test]
    fn value_errors_name_their_line_and_column() {
        let cases = [
            (
                "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/33]\n",
                "t.yaml:3:13: tenants[0].cidrs[0]: `10.1.0.0/33` is not a CIDR: \
                 an IPv4 prefix length runs from /0 to /32",
            ),
            (
                "tenants:\n  - id: acme\n    cidrs:\n      - 10.1.0.0/16\n      - 10.1.0.1/16\n",
                "t.yaml:5:9: tenants[0].cidrs[1]: `10.1.0.1/16` has host bits set: \
                 write `10.1.0.0/16` for the network, or `10.1.0.1/32` for the single address",
            ),
            (
                "tenants:\n  - id: acme\n    cidrs: [10.1.0/16]\n",
                "t.yaml:3:13: tenants[0].cidrs[0]: `10.1.0/16` is not a CIDR: \
                 `10.1.0` is not an IP address (write e.g. `10.1.0.0/16` or `fd00:1::/48`)",
            ),
            (
                "tenants:\n  - id: acme\n    vnis: [1001, 16777216]\n",
                "t.yaml:3:18: tenants[0].vnis[1]: VNI 16777216 is out of range: \
                 a VNI has 24 bits, from 0 to 16777215",
            ),
            (
                "tenants:\n  - id: acme\n    vnis: [-1]\n",
                "t.yaml:3:12: tenants[0].vnis[0]: VNI -1 is out of range: \
                 a VNI has 24 bits, from 0 to 16777215",
            ),
            (
                "tenants: []\nallow:\n  - from: a\n    to: b\n    ports: [443, 70000]\n",
                "t.yaml:5:18: allow[0].ports[1]: port 70000 is out of range: \
                 ports run from 1 to 65535",
            ),
            (
                "shared_services:\n  - name: dns\n    ports: [0]\n",
                "t.yaml:3:13: shared_services[0].ports[0]: port 0 is out of range: \
                 ports run from 1 to 65535",
            ),
            (
                "shared_services:\n  - name: web\n    ports: [\"9000-8000\"]\n",
                "t.yaml:3:13: shared_services[0].ports[0]: port range `9000-8000` runs \
                 backwards: write `8000-9000`",
            ),
            (
                "tenants:\n  - id: acme\n    cidr: [10.1.0.0/16]\n",
                "t.yaml:3:5: tenants[0]: unknown field `cidr`, expected one of `id`, `cidrs`, `vnis`",
            ),
            (
                "tenants: []\nshared_service: []\n",
                "t.yaml:2:1: unknown field `shared_service`, expected one of \
                 `tenants`, `shared_services`, `allow`, `infrastructure`",
            ),
            (
                "- id: acme\n",
                "t.yaml:1:1: invalid type: sequence, expected a mapping of `tenants`, \
                 `shared_services`, `allow` and `infrastructure`",
            ),
            (
                "tenants:\n  - cidrs: [10.1.0.0/16]\n",
                "t.yaml:2:5: tenants[0]: missing field `id`",
            ),
            (
                "tenants:\n  - id: acme corp\n",
                "t.yaml:2:9: tenants[0].id: id `acme corp` contains ' ': \
                 use letters, digits, `-`, `_`, `.` and `:` only",
            ),
            (
                "tenants:\n  - id: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz\n",
                "t.yaml:2:9: tenants[0].id: id `abcdefghijklmnop...` is longer than 64 bytes: \
                 use a shorter id",
            ),
            (
                "tenants:\n  - id: acme\n    cidrs: [\"10.1.0.0/16 at line 3 column 13\"]\n",
                "t.yaml:3:13: tenants[0].cidrs[0]: `10.1.0.0/16 at line 3 column 13` is not a \
                 CIDR: an IPv4 prefix length runs from /0 to /32",
            ),
            (
                "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16\n",
                "t.yaml:4:1: did not find expected ',' or ']', \
                 while parsing a flow sequence at line 3 column 12",
            ),
        ];
        let mut wrong = Vec::new();
        for (text, expected) in cases {
            let got = error(text);
            if got != expected {
                wrong.push(format!("{text}\n  got: {got}\n want: {expected}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn errors_between_items_name_the_offending_line() {
        let cases = [
            (
                "tenants:\n  - id: acme\n  - id: globex\n  - id: acme\n",
                "t.yaml:4:9: duplicate tenant id `acme`: line 2 already uses it; \
                 give each tenant its own id",
            ),
            (
                "shared_services:\n  - name: dns\n  - name: dns\n",
                "t.yaml:3:11: duplicate shared service name `dns`: line 2 already uses it; \
                 give each service its own name",
            ),
            (
                "tenants:\n  - id: acme\n    vnis: [1001]\n  - id: globex\n    vnis: [1002, 1001]\n",
                "t.yaml:5:18: VNI 1001 already belongs to tenant `acme` (line 3): \
                 a VNI names one tenant",
            ),
            (
                "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16]\n\
                 \x20 - id: globex\n    cidrs: [10.2.0.0/16, 10.1.128.0/17]\n",
                "t.yaml:5:26: `10.1.128.0/17` of tenant `globex` overlaps `10.1.0.0/16` of \
                 tenant `acme` (line 3): two tenants' networks must not overlap (tenants \
                 that reuse addresses are told apart by `vnis` alone)",
            ),
            // The wider network written later is the one reported.
            (
                "tenants:\n  - id: acme\n    cidrs: [10.1.5.0/24]\n\
                 \x20 - id: globex\n    cidrs: [10.0.0.0/8]\n",
                "t.yaml:5:13: `10.0.0.0/8` of tenant `globex` overlaps `10.1.5.0/24` of \
                 tenant `acme` (line 3): two tenants' networks must not overlap (tenants \
                 that reuse addresses are told apart by `vnis` alone)",
            ),
            (
                "tenants:\n  - id: acme\n    cidrs: [\"fd00:1::/48\"]\n\
                 \x20 - id: globex\n    cidrs: [\"fd00:1:0:5::/64\"]\n",
                "t.yaml:5:13: `fd00:1:0:5::/64` of tenant `globex` overlaps `fd00:1::/48` of \
                 tenant `acme` (line 3): two tenants' networks must not overlap (tenants \
                 that reuse addresses are told apart by `vnis` alone)",
            ),
            (
                "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16]\n\
                 infrastructure:\n  management: [10.1.0.0/16]\n",
                "t.yaml:5:16: `10.1.0.0/16` of `infrastructure.management` is also listed \
                 for `10.1.0.0/16` of tenant `acme` (line 3): a network belongs to one \
                 place; list it once",
            ),
            (
                "tenants:\n  - id: acme\n  - id: globex\n\
                 allow:\n  - from: acme\n    to: globx\n",
                "t.yaml:6:9: unknown tenant `globx` in `allow`; did you mean `globex`?",
            ),
            (
                "allow:\n  - from: acme\n    to: globex\ntenants:\n  - id: globex\n  - id: initech\n",
                "t.yaml:2:11: unknown tenant `acme` in `allow`: \
                 the tenants are `globex`, `initech`",
            ),
            (
                "allow:\n  - from: acme\n    to: globex\n",
                "t.yaml:2:11: unknown tenant `acme` in `allow`: \
                 no tenants are listed under `tenants:`",
            ),
        ];
        let mut wrong = Vec::new();
        for (text, expected) in cases {
            let got = error(text);
            if got != expected {
                wrong.push(format!("{text}\n  got: {got}\n want: {expected}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn harmless_repetition_is_accepted() {
        // The same network or VNI twice for one tenant, and nested networks of one tenant.
        let t = Tenants::parse(
            "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16, 10.1.0.0/16, 10.1.2.0/24]\n\
             \x20   vnis: [7, 7]\n  - id: globex\n    cidrs: [10.2.0.0/16]\n\
             allow:\n  - {from: acme, to: globex, ports: [443]}\n  - {from: acme, to: globex}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(t.tenant_of(ip("10.1.2.3")), Some("acme"));
        // A second entry for the same pair widens the first: here to every port.
        assert_eq!(
            t.policy(ip("10.1.0.1"), ip("10.2.0.1"), Some(22)),
            Some(super::super::Policy::Allowed)
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("acme", "acme"), 0);
        assert_eq!(edit_distance("acm", "acme"), 1);
        assert_eq!(edit_distance("globx", "globex"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
