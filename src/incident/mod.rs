//! Alerts become incidents; incidents and alerts are kept in the store.
//!
//! This module is the only one that opens sled. Everything else sees the [`Store`] trait:
//! the daemon's pipeline appends alerts through it, the API reads and updates through it
//! (always with a [`Scope`], so tenant isolation is enforced where data is read), and the
//! outputs and the live stream follow its [`Notice`]s.
//!
//! Ordering contract: `append_alerts` returns only once the records are durable (flushed),
//! and notices for them are published only after that, so anything shown by the API or the
//! stream survives `kill -9`.

pub mod posture;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rules::Alert;

pub mod alert_json;
pub mod chain;
pub mod grouping;
pub mod pages;
pub mod postings;
pub mod sled_store;

pub use alert_json::AlertJson;
pub use chain::{verify, Problem, ProblemKind, VerifyError, VerifyReport};
pub use grouping::{Grouper, DEFAULT_WINDOW};
pub use sled_store::{decode_alert, decode_incident, RetentionReport, SledStore, StoreOptions};

/// Severity, ordered; parsed from a rule's `level` (Sigma: informational low medium high
/// critical). Unknown levels count as informational.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "informational" | "info" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        // A visitor, so that the error carries the value's line rather than its mapping's.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Level;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a level: informational, low, medium, high or critical")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Level, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        Level::parse(s.trim()).ok_or_else(|| {
            format!(
                "unknown level `{s}`, expected one of `informational`, `low`, `medium`, `high`, `critical`"
            )
        })
    }
}

/// Incident lifecycle. A new alert on a resolved incident within its window reopens it
/// (status `open` again, with a `reopened` history entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

/// What a reader may see: everything, or one tenant's data only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Tenant(String),
}

impl Scope {
    /// Whether a record about `tenant` may be seen in this scope.
    pub fn sees(&self, tenant: &Option<String>) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(t) => tenant.as_ref() == Some(t),
        }
    }
}

/// A stored alert: DESIGN.md's alert JSON with `id` and `incident_id` filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Monotonic sequence number, the stream's event id (`Last-Event-ID`).
    pub seq: u64,
    /// `a-` + seq in fixed-width hex; what the API shows as `id`.
    pub id: String,
    /// Event time in Unix milliseconds.
    pub ts_ms: i64,
    pub tenant: Option<String>,
    pub rule_id: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub incident_id: String,
    /// The alert JSON, as written to the JSON-lines output (with `id` and `incident_id`).
    pub json: AlertJson,
}

/// One change to an incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Wall-clock Unix milliseconds of the change.
    pub at_ms: i64,
    /// Who made it: `vigil` for the daemon, else the token's subject.
    pub actor: String,
    /// `opened`, `alert`, `acknowledged`, `resolved`, `reopened`, `assigned`, `note`,
    /// `severity`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `i-` + a sequence number in fixed-width hex.
    pub id: String,
    pub tenant: Option<String>,
    /// What the alerts are about: the source address, the correlation group or the host.
    pub entity: String,
    /// The title of the first alert's rule.
    pub title: String,
    pub status: Status,
    /// The highest level of its alerts.
    pub severity: Level,
    pub first_ms: i64,
    pub last_ms: i64,
    pub alert_count: u64,
    pub rules: Vec<String>,
    pub tags: Vec<String>,
    pub assignee: Option<String>,
    pub notes: Vec<Change>,
    pub history: Vec<Change>,
}

/// List filters of the API (`since`, `tenant`, `level`, `rule`, `tag`, `status`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Unix milliseconds, inclusive.
    pub since_ms: Option<i64>,
    pub tenant: Option<String>,
    /// At least this level.
    pub level: Option<Level>,
    pub rule: Option<String>,
    pub tag: Option<String>,
    /// Incidents only.
    pub status: Option<Status>,
}

impl Filter {
    /// Whether an alert passes the filters (scope is the reader's, see [`Scope::sees`]).
    pub fn matches_alert(&self, a: &AlertRecord) -> bool {
        self.since_ms.is_none_or(|s| a.ts_ms >= s)
            && self
                .tenant
                .as_ref()
                .is_none_or(|t| a.tenant.as_ref() == Some(t))
            && self.level.is_none_or(|l| a.level >= l)
            && self.rule.as_ref().is_none_or(|r| &a.rule_id == r)
            && self.tag.as_ref().is_none_or(|t| a.tags.contains(t))
    }

    /// Whether an incident passes the filters: its last alert, its severity, any of its
    /// rules and tags, its status.
    pub fn matches_incident(&self, i: &Incident) -> bool {
        self.since_ms.is_none_or(|s| i.last_ms >= s)
            && self
                .tenant
                .as_ref()
                .is_none_or(|t| i.tenant.as_ref() == Some(t))
            && self.level.is_none_or(|l| i.severity >= l)
            && self.rule.as_ref().is_none_or(|r| i.rules.contains(r))
            && self.tag.as_ref().is_none_or(|t| i.tags.contains(t))
            && self.status.is_none_or(|s| i.status == s)
    }
}

/// One page of a list, newest first (alerts: the most recently stored first, by sequence
/// number; incidents: by id). `next` is an opaque cursor for the following page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// What an operator does to an incident.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Acknowledge,
    Resolve,
    Reopen,
    Assign(String),
    Note(String),
}

/// Published after a change is durable: to the live stream and to the outputs.
#[derive(Clone, Debug)]
pub enum Notice {
    Alert(std::sync::Arc<AlertRecord>),
    Incident(std::sync::Arc<Incident>),
}

/// Figures for metrics and `/api/v1/posture`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStats {
    pub alerts: u64,
    pub incidents: u64,
    /// Open or acknowledged incidents by (tenant or "", severity).
    pub open: Vec<(String, Level, u64)>,
    pub size_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Open { path: String, message: String },
    #[error("store: {0}")]
    Io(String),
    #[error("bad cursor")]
    BadCursor,
    #[error("incident {0}: {1}")]
    Conflict(String, String),
}

/// The store, shared by the pipeline (writer), the API and the outputs (readers).
pub trait Store: Send + Sync {
    /// Groups the alerts into incidents, stores both, flushes, fills in `alert.incident_id`,
    /// then publishes notices. Returns the stored records in input order.
    fn append_alerts(&self, alerts: &mut [Alert]) -> Result<Vec<AlertRecord>, StoreError>;
    fn alerts(
        &self,
        scope: &Scope,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<AlertRecord>, StoreError>;
    /// Alerts with `seq > after`, oldest first, at most `limit` (the stream's resume).
    fn alerts_after(
        &self,
        scope: &Scope,
        filter: &Filter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError>;
    fn incidents(
        &self,
        scope: &Scope,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Incident>, StoreError>;
    /// `None` when it does not exist or is outside `scope`.
    fn incident(&self, scope: &Scope, id: &str) -> Result<Option<Incident>, StoreError>;
    /// Applies `action` durably and publishes the change; `None` as for [`Store::incident`].
    fn update_incident(
        &self,
        scope: &Scope,
        id: &str,
        action: Action,
        actor: &str,
    ) -> Result<Option<Incident>, StoreError>;
    /// A receiver of every notice published from now on.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Notice>;
    fn stats(&self) -> StoreStats;
    /// Flushes everything written so far.
    fn flush(&self) -> Result<(), StoreError>;
}

/// Every open or acknowledged incident `scope` may see, paging through the store.
pub fn open_incidents(store: &dyn Store, scope: &Scope) -> Result<Vec<Incident>, StoreError> {
    let mut out = Vec::new();
    for status in [Status::Open, Status::Acknowledged] {
        let filter = Filter {
            status: Some(status),
            ..Filter::default()
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = store.incidents(scope, &filter, 1000, cursor.as_deref())?;
            out.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(out)
}
