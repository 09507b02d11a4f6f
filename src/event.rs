//! The event: one typed record with a timestamp, a kind, a Sigma logsource and fields.
//!
//! Field names are interned once into `FieldId`s so that rules compiled against them compare
//! integers, never strings. Values are typed; nested JSON is kept as maps and reached by
//! dotted paths, and a path through a list matches when any element does.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{OnceLock, RwLock};

use compact_str::CompactString;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// An interned field name.
pub type FieldId = u32;

/// At most this many distinct field names are interned; past it, names from untrusted input
/// (generic JSON keys) are kept as strings so that hostile input cannot grow memory unboundedly.
const INTERN_CAP: usize = 1 << 16;

macro_rules! known_fields {
    ($($konst:ident = $name:literal),* $(,)?) => {
        /// Canonical field ids, fixed at compile time (DESIGN.md's canonical field names).
        pub mod f {
            use super::FieldId;
            known_fields!(@consts 0u32; $($konst),*);
        }
        const KNOWN: &[&str] = &[$($name),*];
    };
    (@consts $n:expr; $first:ident $(, $rest:ident)*) => {
        pub const $first: FieldId = $n;
        known_fields!(@consts $n + 1u32; $($rest),*);
    };
    (@consts $n:expr;) => {};
}

known_fields! {
    SRC_IP = "src_ip", SRC_PORT = "src_port", DST_IP = "dst_ip", DST_PORT = "dst_port",
    PROTO = "proto", BYTES_TOSERVER = "bytes_toserver", BYTES_TOCLIENT = "bytes_toclient",
    PKTS_TOSERVER = "pkts_toserver", PKTS_TOCLIENT = "pkts_toclient", TCP_FLAGS = "tcp_flags",
    TCP_FLAGS_TS = "tcp_flags_ts", TCP_FLAGS_TC = "tcp_flags_tc",
    STATE = "state", REASON = "reason", START = "start", END = "end", DURATION = "duration",
    VLAN = "vlan", VNI = "vni", TUNNEL = "tunnel", OUTER_SRC_IP = "outer_src_ip",
    OUTER_DST_IP = "outer_dst_ip", APP_PROTO = "app_proto", EXPORTER = "exporter",
    ACTION = "action", COMMUNITY_ID = "community_id", FRAGMENTS = "fragments",
    ICMP_TYPE = "icmp_type", ICMP_CODE = "icmp_code", MIN_TTL = "min_ttl", MAX_TTL = "max_ttl",
    QUERY = "query", RECORD_TYPE = "record_type", ANSWER = "answer", RCODE = "rcode",
    DNS_ID = "dns_id", DNS_TYPE = "dns_type", QUERY_LENGTH = "query_length",
    LABEL_COUNT = "label_count", LONGEST_LABEL = "longest_label", QUERY_ENTROPY = "query_entropy",
    REGISTERED_DOMAIN = "registered_domain", SUBDOMAIN = "subdomain",
    C_URI = "c-uri", CS_HOST = "cs-host", CS_METHOD = "cs-method", C_USERAGENT = "c-useragent",
    HTTP_URI = "http.uri", HTTP_HOST = "http.host", HTTP_METHOD = "http.method",
    HTTP_USER_AGENT = "http.user_agent", HTTP_VERSION = "http.version",
    SNI = "sni", JA3 = "ja3", JA3_STRING = "ja3_string", TLS_VERSION = "tls_version",
    SSH_CLIENT = "ssh_client", SSH_SERVER = "ssh_server", SSH_BANNER = "ssh_banner",
    SSH_SOFTWARE = "ssh_software",
    SRC_TENANT = "src_tenant", DST_TENANT = "dst_tenant", SRC_ZONE = "src_zone",
    DST_ZONE = "dst_zone", TENANT_POLICY = "tenant_policy", VNI_TENANT = "vni_tenant",
    VNI_MISMATCH = "vni_mismatch",
    HOST = "host", PROGRAM = "program", PID = "pid", FACILITY = "facility",
    SEVERITY = "severity", MESSAGE = "message",
    FTP_COMMAND = "ftp_command", FTP_ARG = "ftp_arg", FTP_REPLY_CODE = "ftp_reply_code",
    FTP_REPLY = "ftp_reply",
}

struct Interner {
    ids: HashMap<&'static str, FieldId>,
    names: Vec<&'static str>,
}

fn interner() -> &'static RwLock<Interner> {
    static INTERNER: OnceLock<RwLock<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        let mut ids = HashMap::with_capacity(KNOWN.len() * 2);
        for (i, n) in KNOWN.iter().enumerate() {
            ids.insert(*n, i as FieldId);
        }
        RwLock::new(Interner {
            ids,
            names: KNOWN.to_vec(),
        })
    })
}

/// Interns `name`, or returns `None` once the interner is full (see [`Key`]).
pub fn try_intern(name: &str) -> Option<FieldId> {
    let lock = interner();
    if let Some(id) = lock.read().unwrap_or_else(|e| e.into_inner()).ids.get(name) {
        return Some(*id);
    }
    let mut w = lock.write().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = w.ids.get(name) {
        return Some(*id);
    }
    if w.names.len() >= INTERN_CAP {
        return None;
    }
    // Leaked on purpose: interned names live as long as the process and are bounded by INTERN_CAP.
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let id = w.names.len() as FieldId;
    w.names.push(leaked);
    w.ids.insert(leaked, id);
    Some(id)
}

/// Interns a name that the program itself chose (rule fields, parser keys). Names from rules are
/// interned at load, long before untrusted input could fill the interner, so this cannot fail in
/// practice; if it ever does, the name maps to a reserved id that no event carries.
pub fn intern(name: &str) -> FieldId {
    try_intern(name).unwrap_or(FieldId::MAX)
}

/// Looks a name up without interning it.
pub fn lookup(name: &str) -> Option<FieldId> {
    interner()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .ids
        .get(name)
        .copied()
}

/// The name of an interned field.
pub fn field_name(id: FieldId) -> &'static str {
    interner()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .names
        .get(id as usize)
        .copied()
        .unwrap_or("?")
}

/// A field key: interned in all but the overflow case.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Id(FieldId),
    Name(CompactString),
}

impl Key {
    pub fn new(name: &str) -> Key {
        match try_intern(name) {
            Some(id) => Key::Id(id),
            None => Key::Name(name.into()),
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Key::Id(id) => field_name(*id),
            Key::Name(n) => n,
        }
    }
}

impl From<FieldId> for Key {
    fn from(id: FieldId) -> Key {
        Key::Id(id)
    }
}

/// A typed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(CompactString),
    Ip(IpAddr),
    /// A point in event time; printed as RFC 3339.
    Time(Timestamp),
    List(Vec<Value>),
    Map(Fields),
}

impl Value {
    /// A string value that costs no allocation for a `'static` literal.
    pub const fn static_str(s: &'static str) -> Value {
        Value::Str(CompactString::const_new(s))
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            _ => None,
        }
    }
    /// Converts parsed JSON into a typed value, interning object keys.
    pub fn from_json(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.into()),
            serde_json::Value::Array(a) => {
                Value::List(a.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(o) => {
                let mut fields = Fields::with_capacity(o.len());
                for (k, v) in o {
                    fields.push_key(Key::new(&k), Value::from_json(v));
                }
                Value::Map(fields)
            }
        }
    }
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Value {
        Value::static_str(s)
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s.into())
    }
}
impl From<CompactString> for Value {
    fn from(s: CompactString) -> Value {
        Value::Str(s)
    }
}
impl From<IpAddr> for Value {
    fn from(ip: IpAddr) -> Value {
        Value::Ip(ip)
    }
}
impl From<Timestamp> for Value {
    fn from(t: Timestamp) -> Value {
        Value::Time(t)
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Value { Value::Int(i as i64) }
        }
    )*};
}
int_value!(u8, u16, u32, u64, i32, i64, usize);

/// An ordered list of fields. Events carry tens of fields, so a vector scanned linearly beats a
/// hash map and keeps output in insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields(Vec<(Key, Value)>);

impl Fields {
    pub fn new() -> Fields {
        Fields(Vec::new())
    }
    pub fn with_capacity(n: usize) -> Fields {
        Fields(Vec::with_capacity(n))
    }
    pub fn clear(&mut self) {
        self.0.clear()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Appends a field (no check for an existing one; use [`Fields::set`] to replace).
    pub fn push(&mut self, id: FieldId, v: impl Into<Value>) {
        self.0.push((Key::Id(id), v.into()))
    }
    pub fn push_key(&mut self, k: Key, v: Value) {
        self.0.push((k, v))
    }
    /// Sets a field, replacing an existing value of the same name.
    pub fn set(&mut self, id: FieldId, v: impl Into<Value>) {
        let v = v.into();
        for (k, old) in self.0.iter_mut() {
            if *k == Key::Id(id) {
                *old = v;
                return;
            }
        }
        self.0.push((Key::Id(id), v))
    }
    pub fn get(&self, id: FieldId) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| matches!(k, Key::Id(i) if *i == id))
            .map(|(_, v)| v)
    }
    pub fn get_name(&self, name: &str) -> Option<&Value> {
        match lookup(name) {
            Some(id) => self.get(id),
            None => self
                .0
                .iter()
                .find(|(k, _)| k.name() == name)
                .map(|(_, v)| v),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &(Key, Value)> {
        self.0.iter()
    }
}

/// Visits every value reachable by `path` from `fields`. A list along the way fans out to its
/// elements, so `spec.containers.image` reaches the image of every container.
pub fn visit_path<'a>(fields: &'a Fields, path: &[FieldId], visit: &mut dyn FnMut(&'a Value)) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(v) = fields.get(*first) {
        visit_value(v, rest, visit);
    }
}

fn visit_value<'a>(v: &'a Value, rest: &[FieldId], visit: &mut dyn FnMut(&'a Value)) {
    if rest.is_empty() {
        visit(v);
        return;
    }
    match v {
        Value::Map(m) => visit_path(m, rest, visit),
        Value::List(items) => {
            for item in items {
                visit_value(item, rest, visit);
            }
        }
        _ => {}
    }
}

/// Nanoseconds since the Unix epoch, in event time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_secs_nanos(secs: i64, nanos: u32) -> Timestamp {
        Timestamp(secs * 1_000_000_000 + nanos as i64)
    }
    pub fn from_micros(us: i64) -> Timestamp {
        Timestamp(us.saturating_mul(1000))
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
    /// Unix milliseconds (the store's and the API's unit).
    pub fn millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_secs_nanos(d.as_secs() as i64, d.subsec_nanos())
    }
}

/// RFC 3339 in UTC with microseconds, e.g. `2016-05-27T06:56:11.304062Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.secs();
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60,
            self.subsec_nanos() / 1000
        )
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01; the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What an event is about; decides its default logsource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Flow,
    Dns,
    Http,
    Tls,
    Ssh,
    Ftp,
    Log,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Flow => "flow",
            Kind::Dns => "dns",
            Kind::Http => "http",
            Kind::Tls => "tls",
            Kind::Ssh => "ssh",
            Kind::Ftp => "ftp",
            Kind::Log => "log",
        }
    }
}

/// Sigma's logsource triple.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSource {
    pub category: Option<CompactString>,
    pub product: Option<CompactString>,
    pub service: Option<CompactString>,
}

impl LogSource {
    pub fn category(c: &'static str) -> LogSource {
        LogSource {
            category: Some(CompactString::const_new(c)),
            product: None,
            service: None,
        }
    }
    pub fn product_service(p: &'static str, s: impl Into<CompactString>) -> LogSource {
        LogSource {
            category: None,
            product: Some(CompactString::const_new(p)),
            service: Some(s.into()),
        }
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub ts: Timestamp,
    pub kind: Kind,
    pub logsource: LogSource,
    pub fields: Fields,
}

impl Event {
    pub fn new(ts: Timestamp, kind: Kind, logsource: LogSource) -> Event {
        Event {
            ts,
            kind,
            logsource,
            fields: Fields::with_capacity(16),
        }
    }
    pub fn get(&self, id: FieldId) -> Option<&Value> {
        self.fields.get(id)
    }
    pub fn get_str(&self, id: FieldId) -> Option<&str> {
        self.get(id).and_then(Value::as_str)
    }
    pub fn get_ip(&self, id: FieldId) -> Option<IpAddr> {
        self.get(id).and_then(Value::as_ip)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Str(t) => s.serialize_str(t),
            Value::Ip(ip) => s.collect_str(ip),
            Value::Time(t) => s.collect_str(t),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for it in items {
                    seq.serialize_element(it)?;
                }
                seq.end()
            }
            Value::Map(m) => m.serialize(s),
        }
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.name(), v)?;
        }
        map.end()
    }
}

impl Serialize for LogSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in [
            ("category", &self.category),
            ("product", &self.product),
            ("service", &self.service),
        ] {
            if let Some(v) = v {
                map.serialize_entry(k, v.as_str())?;
            }
        }
        map.end()
    }
}

/// The normalized JSON form: `ts`, `kind` and `logsource` first, then the fields flat.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.fields.len() + 3))?;
        map.serialize_entry("ts", &self.ts.to_string())?;
        map.serialize_entry("kind", self.kind.as_str())?;
        map.serialize_entry("logsource", &self.logsource)?;
        for (k, v) in self.fields.iter() {
            map.serialize_entry(k.name(), v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fields_have_fixed_ids() {
        assert_eq!(lookup("src_ip"), Some(f::SRC_IP));
        assert_eq!(field_name(f::COMMUNITY_ID), "community_id");
        assert_eq!(intern("vni"), f::VNI);
    }

    #[test]
    fn timestamps_format_as_rfc3339() {
        let ts = Timestamp::from_secs_nanos(1_464_332_171, 304_062_000);
        assert_eq!(ts.to_string(), "2016-05-27T06:56:11.304062Z");
        assert_eq!(days_from_civil(2016, 5, 27), 1_464_332_171 / 86_400);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn dotted_paths_fan_out_over_lists() {
        let v = Value::from_json(serde_json::json!({
            "spec": {"containers": [{"image": "nginx"}, {"image": "busybox"}]}
        }));
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        let path = [intern("spec"), intern("containers"), intern("image")];
        let mut seen = Vec::new();
        visit_path(&m, &path, &mut |v| {
            seen.push(v.as_str().unwrap_or("").to_string())
        });
        assert_eq!(seen, ["nginx", "busybox"]);
    }
}
