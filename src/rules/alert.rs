//! The alert: one rule firing, after suppression, in DESIGN.md's JSON form.
//!
//! Correlation alerts add the group key, the count and the ids of the events they rest on;
//! collapsed (suppressed) repeats carry how many alerts they stand for.

use std::sync::{Arc, LazyLock};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::RuleInfo;
use crate::event::{f, Event, FieldId, Timestamp, Value};

/// The tenant of the ingest token an event came with (`POST /api/v1/ingest`).
pub static INGEST_TENANT: LazyLock<FieldId> =
    LazyLock::new(|| crate::event::intern("ingest_tenant"));

/// What a correlation alert adds.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationHit {
    pub kind: &'static str,
    /// group-by field name and value, in the rule's order.
    pub group: Vec<(String, String)>,
    /// The counted quantity: events, distinct values, rules seen, sum or average.
    pub count: f64,
    /// Ids of the events the alert rests on (field `event_id`, else a hash; see rules/README.md).
    pub event_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub ts: Timestamp,
    pub rule: Arc<RuleInfo>,
    pub tenant: Option<String>,
    pub src_ip: Option<String>,
    pub dst_ip: Option<String>,
    pub summary: String,
    /// The matching event (for correlations, the one that completed the correlation).
    pub event: Option<Event>,
    pub incident_id: Option<String>,
    pub correlation: Option<CorrelationHit>,
    /// How many firings this alert stands for: 1, or more for a collapsed suppression window.
    pub count: u64,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.to_string()),
        Value::Ip(ip) => Some(ip.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

impl Alert {
    /// A detection alert for `ev`.
    pub fn new(rule: Arc<RuleInfo>, ev: &Event) -> Alert {
        // Events sent with a tenant-scoped ingest token belong to that tenant, whatever
        // addresses they claim (`ingest_tenant`, see daemon::api_ingest).
        let tenant = ev
            .get(*INGEST_TENANT)
            .or_else(|| ev.get(f::SRC_TENANT))
            .or_else(|| ev.get(f::DST_TENANT))
            .and_then(text);
        let src_ip = ev.get(f::SRC_IP).and_then(text);
        let dst_ip = ev.get(f::DST_IP).and_then(text);
        let summary = match (&src_ip, &dst_ip) {
            (Some(s), Some(d)) => format!("{}: {s} -> {d}", rule.title),
            (Some(s), None) => format!("{}: {s}", rule.title),
            _ => rule.title.clone(),
        };
        Alert {
            ts: ev.ts,
            rule,
            tenant,
            src_ip,
            dst_ip,
            summary,
            event: Some(ev.clone()),
            incident_id: None,
            correlation: None,
            count: 1,
        }
    }
}

struct RuleRef<'a>(&'a RuleInfo);

impl Serialize for RuleRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("id", &self.0.id)?;
        m.serialize_entry("title", &self.0.title)?;
        m.serialize_entry("level", &self.0.level)?;
        m.serialize_entry("tags", &self.0.tags)?;
        m.end()
    }
}

struct Group<'a>(&'a [(String, String)]);

impl Serialize for Group<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A value serialized as its `Display` text, without building the string first.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An alert serialized with `"id"` in front, as the store keeps it (see [`Alert::with_id`]).
pub struct WithId<'a> {
    id: &'a str,
    alert: &'a Alert,
}

impl Serialize for WithId<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", self.id)?;
        self.alert.entries(&mut m)?;
        m.end()
    }
}

impl Alert {
    /// This alert as JSON with `"id": id` as the first key.
    pub fn with_id<'a>(&'a self, id: &'a str) -> WithId<'a> {
        WithId { id, alert: self }
    }

    fn entries<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("ts", &Shown(self.ts))?;
        m.serialize_entry("rule", &RuleRef(&self.rule))?;
        m.serialize_entry("tenant", &self.tenant)?;
        m.serialize_entry("src_ip", &self.src_ip)?;
        m.serialize_entry("dst_ip", &self.dst_ip)?;
        m.serialize_entry("summary", &self.summary)?;
        m.serialize_entry("event", &self.event)?;
        m.serialize_entry("incident_id", &self.incident_id)?;
        if self.count != 1 {
            m.serialize_entry("collapsed", &self.count)?;
        }
        if let Some(c) = &self.correlation {
            m.serialize_entry("correlation", c.kind)?;
            m.serialize_entry("group", &Group(&c.group))?;
            if c.count.fract() == 0.0 && c.count.abs() < 9e15 {
                m.serialize_entry("count", &(c.count as i64))?;
            } else {
                m.serialize_entry("count", &c.count)?;
            }
            m.serialize_entry("event_ids", &c.event_ids)?;
        }
        Ok(())
    }
}

impl Serialize for Alert {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        self.entries(&mut m)?;
        m.end()
    }
}
