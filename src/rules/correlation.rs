//! Correlation state (Sigma 2.0): per correlation rule and group-by key, the recent hits of its
//! member rules on event time, and the decision to fire.
//!
//! Windows slide on event time, so replay speed never changes the result. Conditions with only
//! lower bounds (`gt`, `gte`) fire as soon as they hold; any other condition is decided when
//! the window closes. After firing, a group starts afresh. State is bounded: groups per rule
//! (oldest evicted and counted) and hits per group.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use super::alert::CorrelationHit;
use super::matcher::value_text;
use super::parse::{Cmp, CorrelationType};
use super::ruleset::CorrRule;
use crate::event::{Event, Value};

/// One member-rule match remembered by a group. Kept small and free of heap allocations in
/// the common case: a flood of matching events costs tens of bytes each, not a string each.
struct Hit {
    ts: i64,
    member: u16,
    /// Hash of the counted field's text (value_count, value_percentile).
    value: Option<u64>,
    number: Option<f64>,
    event_id: EventRef,
}

/// An event's id: its own `event_id` field when it has one, else a stable hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventRef {
    Hash(u64),
    Given(Box<str>),
}

impl std::fmt::Display for EventRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventRef::Hash(h) => write!(f, "{h:016x}"),
            EventRef::Given(s) => f.write_str(s),
        }
    }
}

fn text_hash(t: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

#[derive(Default)]
struct Group {
    /// Values of the group-by fields, for the alert.
    key_values: Vec<String>,
    window_start: i64,
    newest: i64,
    hits: VecDeque<Hit>,
    distinct: HashMap<u64, u32>,
    per_member: Vec<u32>,
    sum: f64,
}

impl Group {
    fn push(&mut self, h: Hit, members: usize) {
        if self.per_member.len() < members {
            self.per_member.resize(members, 0);
        }
        if let Some(v) = h.value {
            *self.distinct.entry(v).or_insert(0) += 1;
        }
        if let Some(c) = self.per_member.get_mut(h.member as usize) {
            *c += 1;
        }
        self.sum += h.number.unwrap_or(0.0);
        self.hits.push_back(h);
    }

    fn pop_front(&mut self) {
        let Some(h) = self.hits.pop_front() else {
            return;
        };
        if let Some(v) = h.value {
            if let Some(c) = self.distinct.get_mut(&v) {
                *c -= 1;
                if *c == 0 {
                    self.distinct.remove(&v);
                }
            }
        }
        if let Some(c) = self.per_member.get_mut(h.member as usize) {
            *c = c.saturating_sub(1);
        }
        self.sum -= h.number.unwrap_or(0.0);
    }

    fn prune(&mut self, before: i64) {
        while self.hits.front().is_some_and(|h| h.ts < before) {
            self.pop_front();
        }
    }

    fn reset(&mut self) {
        self.hits.clear();
        self.distinct.clear();
        self.per_member.iter_mut().for_each(|c| *c = 0);
        self.sum = 0.0;
    }

    /// The counted quantity of this correlation type over the current hits.
    fn measure(&self, kind: CorrelationType, members: usize) -> f64 {
        match kind {
            CorrelationType::EventCount => self.hits.len() as f64,
            CorrelationType::ValueCount => self.distinct.len() as f64,
            CorrelationType::Temporal => self.per_member.iter().filter(|c| **c > 0).count() as f64,
            CorrelationType::TemporalOrdered => {
                // Longest prefix of the member order seen as a subsequence, in time order.
                let mut next = 0u16;
                let mut hits: Vec<(i64, u16)> =
                    self.hits.iter().map(|h| (h.ts, h.member)).collect();
                hits.sort_by_key(|(ts, _)| *ts);
                for (_, m) in hits {
                    if m == next {
                        next += 1;
                        if next as usize == members {
                            break;
                        }
                    }
                }
                next as f64
            }
            CorrelationType::ValueSum => self.sum,
            CorrelationType::ValueAvg => {
                let n = self.hits.iter().filter(|h| h.number.is_some()).count();
                if n == 0 {
                    0.0
                } else {
                    self.sum / n as f64
                }
            }
            CorrelationType::ValuePercentile => {
                // Share (percent) of the group's hits carrying the newest hit's value: a low
                // share means a rare value for this group.
                let total = self.hits.len().max(1) as f64;
                let newest = self.hits.back().and_then(|h| h.value);
                let n = newest
                    .and_then(|v| self.distinct.get(&v))
                    .copied()
                    .unwrap_or(0);
                100.0 * n as f64 / total
            }
        }
    }
}

/// Whether a condition can be decided as hits arrive (it only has lower bounds).
fn online(c: &CorrRule) -> bool {
    !c.condition.is_empty()
        && c.condition
            .iter()
            .all(|(cmp, _)| matches!(cmp, Cmp::Gt | Cmp::Gte))
        || c.condition.is_empty()
}

fn holds(c: &CorrRule, x: f64) -> bool {
    if c.condition.is_empty() {
        // temporal without a condition: every member rule must have been seen.
        return x >= c.members.len() as f64;
    }
    c.condition.iter().all(|(cmp, b)| cmp.holds(x, *b))
}

/// The id of an event: its `event_id` field, else a stable hash of (ts, rule, group).
pub fn event_id(ev: &Event, rule: &str, group: &str) -> EventRef {
    if let Some(id) = ev.fields.get_name("event_id") {
        let mut buf = String::new();
        if let Some(t) = value_text(id, &mut buf) {
            return EventRef::Given(t.into());
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ev.ts.0.hash(&mut h);
    rule.hash(&mut h);
    group.hash(&mut h);
    EventRef::Hash(h.finish())
}

/// A correlation that fired: which rule, for which group, and what it rests on.
pub struct Fired {
    pub corr: u32,
    /// Event time of the newest hit the alert rests on.
    pub ts: i64,
    pub hit: CorrelationHit,
}

/// The correlation state one engine owns.
#[derive(Default)]
pub struct CorrelationState {
    groups: Vec<HashMap<Box<str>, Group>>,
    max_groups: usize,
    max_hits: usize,
    pub evictions: u64,
}

const MAX_EVENT_IDS: usize = 100;

impl CorrelationState {
    /// State for `n` correlation rules, bounded to `max_groups` groups per rule and
    /// `max_hits` hits per group.
    pub fn new(n: usize, max_groups: usize, max_hits: usize) -> CorrelationState {
        CorrelationState {
            groups: (0..n).map(|_| HashMap::new()).collect(),
            max_groups: max_groups.max(1),
            max_hits: max_hits.max(1),
            evictions: 0,
        }
    }

    /// Records that member `pos` of correlation `ci` matched `ev`; pushes what fires to `out`.
    pub fn feed(&mut self, ci: u32, c: &CorrRule, pos: u16, ev: &Event, out: &mut Vec<Fired>) {
        let (max_groups, max_hits) = (self.max_groups, self.max_hits);
        let Some(groups) = self.groups.get_mut(ci as usize) else {
            return;
        };
        let Some(fields) = c.group_fields.get(pos as usize) else {
            return;
        };
        let mut buf = String::new();
        let mut key_values = Vec::with_capacity(fields.len());
        for fp in fields {
            let mut v = String::new();
            fp.any_value(&ev.fields, &mut |x| {
                if let Some(t) = value_text(x, &mut buf) {
                    v = t.to_string();
                }
                true
            });
            key_values.push(v);
        }
        let key: Box<str> = key_values.join("\u{1f}").into();
        let ts = ev.ts.0;
        let span = c.timespan_ns;
        let (value, number) = match &c.value_field {
            Some(fp) => {
                let mut text = None;
                let mut num = None;
                fp.any_value(&ev.fields, &mut |x| {
                    num = match x {
                        Value::Int(i) => Some(*i as f64),
                        Value::Float(f) => Some(*f),
                        Value::Str(s) => s.trim().parse().ok(),
                        _ => None,
                    };
                    text = value_text(x, &mut buf).map(text_hash);
                    true
                });
                (text, num)
            }
            None => (None, None),
        };
        if c.value_field.is_some() && value.is_none() && c.kind == CorrelationType::ValueCount {
            return; // an event without the counted field adds no value
        }
        if !groups.contains_key(&key) && groups.len() >= max_groups {
            groups.retain(|_, g| g.newest >= ts - span);
            if groups.len() >= max_groups {
                if let Some(oldest) = groups
                    .iter()
                    .min_by_key(|(_, g)| g.newest)
                    .map(|(k, _)| k.clone())
                {
                    groups.remove(&oldest);
                    self.evictions += 1;
                }
            }
        }
        let members = c.members.len();
        let is_online = online(c);
        let g = groups.entry(key.clone()).or_insert_with(|| Group {
            key_values: key_values.clone(),
            window_start: ts,
            newest: ts,
            ..Group::default()
        });
        if !is_online && ts >= g.window_start + span {
            // The previous tumbling window closed: decide it.
            let x = g.measure(c.kind, members);
            if !g.hits.is_empty() && holds(c, x) {
                out.push(fire(ci, c, g, x));
            }
            g.reset();
            g.window_start = ts;
        }
        g.newest = g.newest.max(ts);
        if is_online {
            g.prune(g.newest - span);
        }
        let id = event_id(ev, &c.info.id, &key);
        g.push(
            Hit {
                ts,
                member: pos,
                value,
                number,
                event_id: id,
            },
            members,
        );
        while g.hits.len() > max_hits {
            g.pop_front();
        }
        if is_online {
            let x = g.measure(c.kind, members);
            if holds(c, x) {
                out.push(fire(ci, c, g, x));
                g.reset();
            }
        }
    }

    /// Closes every window that ended before `now` (and all of them when `now` is `None`).
    pub fn close_windows(&mut self, rules: &[CorrRule], now: Option<i64>, out: &mut Vec<Fired>) {
        for (ci, (groups, c)) in self.groups.iter_mut().zip(rules).enumerate() {
            let is_online = online(c);
            groups.retain(|_, g| {
                let ended = now.is_none_or(|n| n >= g.window_start + c.timespan_ns);
                if !ended {
                    return true;
                }
                if !is_online && !g.hits.is_empty() {
                    let x = g.measure(c.kind, c.members.len());
                    if holds(c, x) {
                        out.push(fire(ci as u32, c, g, x));
                    }
                }
                // Online groups expire once their newest hit leaves the window.
                is_online && now.is_some_and(|n| g.newest >= n - c.timespan_ns)
            });
        }
    }

    pub fn groups(&self) -> usize {
        self.groups.iter().map(HashMap::len).sum()
    }
}

fn fire(ci: u32, c: &CorrRule, g: &Group, x: f64) -> Fired {
    let mut ids: Vec<String> = g.hits.iter().map(|h| h.event_id.to_string()).collect();
    if ids.len() > MAX_EVENT_IDS {
        ids.drain(..ids.len() - MAX_EVENT_IDS);
    }
    Fired {
        corr: ci,
        ts: g.newest,
        hit: CorrelationHit {
            kind: c.kind.as_str(),
            group: c
                .group_names
                .iter()
                .cloned()
                .zip(g.key_values.iter().cloned())
                .collect(),
            count: x,
            event_ids: ids,
        },
    }
}
