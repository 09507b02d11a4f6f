//! Grouping: alerts about the same tenant and entity within a window of event time become one
//! incident, with its lifecycle, severity and history.
//!
//! The grouper owns the incidents that can still take alerts (last alert within the window of
//! the newest event time seen); the store persists what it changes and reloads it on open.

use hashbrown::{HashMap, HashSet};
use std::time::Duration;

use super::{Change, Incident, Level, Status};
use crate::event::{f, Timestamp, Value};
use crate::rules::Alert;

/// Default grouping window: 30 minutes of event time.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 60);
/// The actor the daemon's own changes are recorded under.
pub const DAEMON: &str = "vigil";
/// At most this many rule ids and tags are listed on one incident.
const LIST_CAP: usize = 64;

/// `(tenant, entity)`.
pub type GroupKey = (Option<String>, String);

/// `i-` + the sequence number in fixed-width hex.
pub fn incident_id(seq: u64) -> String {
    format!("i-{seq:016x}")
}

/// Wall-clock Unix milliseconds.
pub fn wall_ms() -> i64 {
    Timestamp::now().millis()
}

/// Event time of an alert in Unix milliseconds.
pub fn alert_ms(a: &Alert) -> i64 {
    a.ts.millis()
}

/// The alert's level (unknown levels count as informational).
pub fn alert_level(a: &Alert) -> Level {
    Level::parse(&a.rule.level).unwrap_or(Level::Informational)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) if !s.is_empty() => Some(s.to_string()),
        Value::Ip(ip) => Some(ip.to_string()),
        _ => None,
    }
}

/// What the alert is about: the correlation group, else the source address, else the host,
/// else the rule.
pub fn entity_of(a: &Alert) -> String {
    if let Some(c) = &a.correlation {
        if !c.group.is_empty() {
            let parts: Vec<String> = c.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            return parts.join(",");
        }
    }
    if let Some(ip) = a.src_ip.as_deref().filter(|s| !s.is_empty()) {
        return ip.to_string();
    }
    if let Some(ev) = &a.event {
        let host = ev
            .get(f::HOST)
            .and_then(text)
            .or_else(|| ev.fields.get_name("hostname").and_then(text));
        if let Some(h) = host {
            return h;
        }
    }
    a.rule.id.clone()
}

fn push_capped(list: &mut Vec<String>, item: &str) -> bool {
    if list.len() < LIST_CAP && !list.iter().any(|x| x == item) {
        list.push(item.to_string());
        return true;
    }
    false
}

fn change(at_ms: i64, actor: &str, action: &str, detail: Option<String>) -> Change {
    Change {
        at_ms,
        actor: actor.to_string(),
        action: action.to_string(),
        detail,
    }
}

/// The incidents that can still take alerts, and the next incident number.
#[derive(Debug)]
pub struct Grouper {
    window_ms: i64,
    active: HashMap<GroupKey, Incident>,
    by_id: HashMap<String, GroupKey>,
    next_seq: u64,
    /// The newest event time seen (ms).
    now_ms: i64,
    /// Incidents opened, or changed beyond their counters (`alert_count`, `first_ms`,
    /// `last_ms`), since the last [`Grouper::take_shown`].
    shown: HashSet<String>,
}

impl Grouper {
    pub fn new(window: Duration, next_seq: u64) -> Grouper {
        Grouper {
            window_ms: window.as_millis().min(i64::MAX as u128) as i64,
            active: HashMap::new(),
            by_id: HashMap::new(),
            next_seq: next_seq.max(1),
            now_ms: i64::MIN,
            shown: HashSet::new(),
        }
    }

    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// The sequence number the next new incident gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Takes back an incident read from the store (after a restart), if it is still in its
    /// window relative to `newest_ms`.
    pub fn restore(&mut self, inc: Incident, newest_ms: i64) {
        self.now_ms = self.now_ms.max(newest_ms);
        if inc.last_ms < newest_ms.saturating_sub(self.window_ms) {
            return;
        }
        self.insert(inc);
    }

    fn insert(&mut self, inc: Incident) {
        let key = (inc.tenant.clone(), inc.entity.clone());
        if let Some(old) = self.active.get(&key) {
            // Two incidents for one entity: keep the newer (as the store would have grouped).
            if old.last_ms > inc.last_ms {
                return;
            }
            self.by_id.remove(&old.id);
        }
        self.by_id.insert(inc.id.clone(), key.clone());
        self.active.insert(key, inc);
    }

    /// Puts an incident's new version in place after an operator changed it.
    pub fn replace(&mut self, inc: &Incident) {
        if let Some(key) = self.by_id.get(&inc.id) {
            if let Some(slot) = self.active.get_mut(key) {
                *slot = inc.clone();
            }
        }
    }

    /// Forgets an incident (retention removed it).
    pub fn forget(&mut self, id: &str) {
        if let Some(key) = self.by_id.remove(id) {
            self.active.remove(&key);
        }
    }

    pub fn get(&self, id: &str) -> Option<&Incident> {
        self.by_id.get(id).and_then(|k| self.active.get(k))
    }

    /// Files `alert` under an incident (new, grown or reopened) and returns the incident's id
    /// with its status and severity before the alert (`None` for a new incident). `at_ms` is
    /// the wall time recorded in history.
    pub fn assign(&mut self, alert: &Alert, at_ms: i64) -> (String, Option<(Status, Level)>) {
        let ts = alert_ms(alert);
        let level = alert_level(alert);
        self.now_ms = self.now_ms.max(ts);
        let key = (alert.tenant.clone(), entity_of(alert));
        let window = self.window_ms;
        if let Some(inc) = self.active.get_mut(&key) {
            if ts.saturating_sub(inc.last_ms) <= window {
                let before = (inc.status, inc.severity);
                if grow(inc, alert, ts, level, at_ms) {
                    self.shown.insert(inc.id.clone());
                }
                return (inc.id.clone(), Some(before));
            }
            let old = inc.id.clone();
            self.by_id.remove(&old);
        }
        let id = incident_id(self.next_seq);
        self.next_seq += 1;
        let mut inc = Incident {
            id: id.clone(),
            tenant: key.0.clone(),
            entity: key.1.clone(),
            title: alert.rule.title.clone(),
            status: Status::Open,
            severity: level,
            first_ms: ts,
            last_ms: ts,
            alert_count: alert.count.max(1),
            rules: vec![alert.rule.id.clone()],
            tags: Vec::new(),
            assignee: None,
            notes: Vec::new(),
            history: vec![change(at_ms, DAEMON, "opened", Some(alert.rule.id.clone()))],
        };
        for t in &alert.rule.tags {
            push_capped(&mut inc.tags, t);
        }
        self.by_id.insert(id.clone(), key.clone());
        self.active.insert(key, inc);
        self.shown.insert(id.clone());
        (id, None)
    }

    /// The incidents opened or changed beyond their counters since the last call; the store
    /// writes those in full and only the counters of the rest.
    pub fn take_shown(&mut self) -> HashSet<String> {
        std::mem::take(&mut self.shown)
    }

    /// Drops incidents whose window has passed (on event time); they can take no more alerts.
    pub fn evict(&mut self) {
        let horizon = self.now_ms.saturating_sub(self.window_ms);
        let by_id = &mut self.by_id;
        self.active.retain(|_, inc| {
            let keep = inc.last_ms >= horizon;
            if !keep {
                by_id.remove(&inc.id);
            }
            keep
        });
    }
}

/// Adds `alert` to `inc`; true when more than its counters changed.
fn grow(inc: &mut Incident, alert: &Alert, ts: i64, level: Level, at_ms: i64) -> bool {
    let shown = (inc.history.len(), inc.tags.len());
    inc.alert_count = inc.alert_count.saturating_add(alert.count.max(1));
    inc.first_ms = inc.first_ms.min(ts);
    inc.last_ms = inc.last_ms.max(ts);
    if inc.status == Status::Resolved {
        inc.status = Status::Open;
        inc.history.push(change(
            at_ms,
            DAEMON,
            "reopened",
            Some(alert.rule.id.clone()),
        ));
    }
    if level > inc.severity {
        inc.history.push(change(
            at_ms,
            DAEMON,
            "severity",
            Some(format!("{} -> {}", inc.severity, level)),
        ));
        inc.severity = level;
    }
    if push_capped(&mut inc.rules, &alert.rule.id) {
        inc.history
            .push(change(at_ms, DAEMON, "alert", Some(alert.rule.id.clone())));
    }
    for t in &alert.rule.tags {
        push_capped(&mut inc.tags, t);
    }
    // Status, severity and rules change only with a history entry; tags may change alone.
    shown != (inc.history.len(), inc.tags.len())
}

/// Applies an operator's action; `Err` says why it does not apply.
pub fn apply(
    inc: &mut Incident,
    action: &super::Action,
    actor: &str,
    at_ms: i64,
) -> Result<bool, String> {
    use super::Action;
    match action {
        Action::Acknowledge => match inc.status {
            Status::Open => {
                inc.status = Status::Acknowledged;
                inc.history.push(change(at_ms, actor, "acknowledged", None));
            }
            Status::Acknowledged => return Ok(false),
            Status::Resolved => return Err("it is resolved; reopen it first".into()),
        },
        Action::Resolve => {
            if inc.status == Status::Resolved {
                return Ok(false);
            }
            inc.status = Status::Resolved;
            inc.history.push(change(at_ms, actor, "resolved", None));
        }
        Action::Reopen => {
            if inc.status != Status::Resolved {
                return Ok(false);
            }
            inc.status = Status::Open;
            inc.history.push(change(at_ms, actor, "reopened", None));
        }
        Action::Assign(who) => {
            if inc.assignee.as_deref() == Some(who.as_str()) {
                return Ok(false);
            }
            inc.assignee = Some(who.clone());
            inc.history
                .push(change(at_ms, actor, "assigned", Some(who.clone())));
        }
        Action::Note(text) => {
            let c = change(at_ms, actor, "note", Some(text.clone()));
            inc.notes.push(c.clone());
            inc.history.push(c);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Kind, LogSource, Timestamp};
    use crate::rules::{CorrelationHit, RuleInfo, RuleKind, RuleLogSource};
    use std::sync::Arc;

    pub fn rule(id: &str, level: &str) -> Arc<RuleInfo> {
        Arc::new(RuleInfo {
            id: id.into(),
            name: None,
            title: format!("Rule {id}"),
            level: level.into(),
            status: None,
            tags: vec!["attack.t1611".into()],
            file: "r.yml".into(),
            line: 1,
            logsource: RuleLogSource::default(),
            kind: RuleKind::Detection,
        })
    }

    fn alert(rule_id: &str, level: &str, tenant: &str, src: Option<&str>, min: i64) -> Alert {
        Alert {
            ts: Timestamp(min * 60_000_000_000),
            rule: rule(rule_id, level),
            tenant: Some(tenant.into()),
            src_ip: src.map(Into::into),
            dst_ip: None,
            summary: "s".into(),
            event: None,
            incident_id: None,
            correlation: None,
            count: 1,
        }
    }

    #[test]
    fn same_entity_within_window_groups() {
        let mut g = Grouper::new(DEFAULT_WINDOW, 1);
        let a = g
            .assign(&alert("r1", "low", "acme", Some("10.0.0.1"), 0), 5)
            .0;
        let b = g
            .assign(&alert("r2", "high", "acme", Some("10.0.0.1"), 29), 6)
            .0;
        assert_eq!(a, b);
        assert_eq!(a, "i-0000000000000001");
        let inc = g.get(&a).expect("active");
        assert_eq!(inc.severity, Level::High);
        assert_eq!(inc.alert_count, 2);
        assert!(inc.history.iter().any(|c| c.action == "severity"));
        assert_eq!(inc.rules, vec!["r1", "r2"]);
        // Another tenant, same address: another incident.
        let c = g
            .assign(&alert("r1", "low", "globex", Some("10.0.0.1"), 29), 7)
            .0;
        assert_ne!(a, c);
        // Past the window: a new incident.
        let d = g
            .assign(&alert("r1", "low", "acme", Some("10.0.0.1"), 60), 8)
            .0;
        assert_ne!(a, d);
    }

    #[test]
    fn resolved_incident_reopens_within_window() {
        let mut g = Grouper::new(DEFAULT_WINDOW, 1);
        let id = g
            .assign(&alert("r1", "low", "acme", Some("10.0.0.1"), 0), 5)
            .0;
        let mut inc = g.get(&id).expect("active").clone();
        assert_eq!(
            apply(&mut inc, &super::super::Action::Resolve, "ana", 6),
            Ok(true)
        );
        g.replace(&inc);
        let again = g
            .assign(&alert("r1", "low", "acme", Some("10.0.0.1"), 10), 7)
            .0;
        assert_eq!(id, again);
        let inc = g.get(&id).expect("active");
        assert_eq!(inc.status, Status::Open);
        let actions: Vec<&str> = inc.history.iter().map(|c| c.action.as_str()).collect();
        assert_eq!(actions, vec!["opened", "resolved", "reopened"]);
    }

    #[test]
    fn lifecycle_rules() {
        let mut g = Grouper::new(DEFAULT_WINDOW, 1);
        let id = g
            .assign(&alert("r1", "low", "acme", Some("10.0.0.1"), 0), 5)
            .0;
        let mut inc = g.get(&id).expect("active").clone();
        use super::super::Action;
        assert_eq!(apply(&mut inc, &Action::Acknowledge, "ana", 6), Ok(true));
        assert_eq!(apply(&mut inc, &Action::Acknowledge, "ana", 6), Ok(false));
        assert_eq!(
            apply(&mut inc, &Action::Assign("bob".into()), "ana", 7),
            Ok(true)
        );
        assert_eq!(
            apply(&mut inc, &Action::Note("looked".into()), "bob", 8),
            Ok(true)
        );
        assert_eq!(apply(&mut inc, &Action::Resolve, "bob", 9), Ok(true));
        assert!(apply(&mut inc, &Action::Acknowledge, "bob", 9).is_err());
        assert_eq!(inc.assignee.as_deref(), Some("bob"));
        assert_eq!(inc.notes.len(), 1);
        assert_eq!(inc.history.last().map(|c| c.actor.as_str()), Some("bob"));
    }

    #[test]
    fn entity_precedence() {
        let mut a = alert("r1", "low", "acme", Some("10.0.0.1"), 0);
        assert_eq!(entity_of(&a), "10.0.0.1");
        a.correlation = Some(CorrelationHit {
            kind: "event_count",
            group: vec![("user".into(), "root".into())],
            count: 5.0,
            event_ids: vec![],
        });
        assert_eq!(entity_of(&a), "user=root");
        let mut b = alert("r1", "low", "acme", None, 0);
        assert_eq!(entity_of(&b), "r1");
        let mut ev = Event::new(Timestamp(0), Kind::Log, LogSource::default());
        ev.fields.set(f::HOST, "web1");
        b.event = Some(ev);
        assert_eq!(entity_of(&b), "web1");
    }

    #[test]
    fn eviction_on_event_time() {
        let mut g = Grouper::new(Duration::from_secs(60), 1);
        g.assign(&alert("r1", "low", "acme", Some("10.0.0.1"), 0), 5);
        g.assign(&alert("r1", "low", "acme", Some("10.0.0.2"), 5), 5);
        g.evict();
        assert_eq!(g.active_len(), 1);
    }
}
