//! Test doubles for the API's unit tests: a small in-memory [`Store`] that filters by scope
//! itself, as the trait requires (the sled store replaces it in integration tests), fixed
//! tokens for every role, and helpers to make requests and read responses.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response};
use std::net::IpAddr;
use tokio::sync::broadcast;

use crate::api::auth::{bearer, Authenticate, Principal, Role};
use crate::api::routes::{route, ApiState, Body};
use crate::daemon::readiness::Readiness;

use crate::incident::{
    Action, AlertRecord, Change, Filter, Incident, Level, Notice, Page, Scope, Status, Store,
    StoreError, StoreStats,
};
use crate::rules::Alert;

pub(crate) struct MemStore {
    data: Mutex<Data>,
    notices: broadcast::Sender<Notice>,
}

#[derive(Default)]
struct Data {
    alerts: Vec<AlertRecord>,
    incidents: Vec<Incident>,
}

fn alert_matches(scope: &Scope, f: &Filter, a: &AlertRecord) -> bool {
    scope.sees(&a.tenant) && f.matches_alert(a)
}

fn incident_matches(scope: &Scope, f: &Filter, i: &Incident) -> bool {
    scope.sees(&i.tenant) && f.matches_incident(i)
}

/// Newest first; the cursor is the position to continue from.
fn page<T: Clone>(
    items: impl DoubleEndedIterator<Item = T>,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<T>, StoreError> {
    let skip = match cursor {
        None => 0,
        Some(c) => c
            .strip_prefix("p")
            .and_then(|n| n.parse().ok())
            .ok_or(StoreError::BadCursor)?,
    };
    let all: Vec<T> = items.rev().collect();
    let items: Vec<T> = all.iter().skip(skip).take(limit).cloned().collect();
    let next = (skip + items.len() < all.len()).then(|| format!("p{}", skip + items.len()));
    Ok(Page { items, next })
}

impl MemStore {
    /// `capacity` is the broadcast buffer: small to make receivers lag.
    pub(crate) fn new(capacity: usize) -> Arc<MemStore> {
        Arc::new(MemStore {
            data: Mutex::new(Data::default()),
            notices: broadcast::channel(capacity).0,
        })
    }

    /// Stores an alert (and an incident `i-<seq>` for it) and publishes it.
    pub(crate) fn push(
        &self,
        tenant: Option<&str>,
        level: Level,
        rule: &str,
        tags: &[&str],
    ) -> AlertRecord {
        let mut d = self.data.lock().unwrap();
        let seq = d.alerts.len() as u64 + 1;
        let id = format!("a-{seq:016x}");
        let incident_id = format!("i-{seq:016x}");
        let ts_ms = 1_764_000_000_000 + seq as i64 * 1000;
        let rec = AlertRecord {
            seq,
            id: id.clone(),
            ts_ms,
            tenant: tenant.map(str::to_string),
            rule_id: rule.to_string(),
            level,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            incident_id: incident_id.clone(),
            json: serde_json::json!({
                "id": id, "rule": {"id": rule, "level": level.as_str(), "tags": tags},
                "tenant": tenant, "incident_id": incident_id,
            })
            .into(),
        };
        let inc = Incident {
            id: incident_id,
            tenant: rec.tenant.clone(),
            entity: "10.1.4.20".into(),
            title: rule.to_string(),
            status: Status::Open,
            severity: level,
            first_ms: ts_ms,
            last_ms: ts_ms,
            alert_count: 1,
            rules: vec![rule.to_string()],
            tags: rec.tags.clone(),
            assignee: None,
            notes: Vec::new(),
            history: Vec::new(),
        };
        d.alerts.push(rec.clone());
        d.incidents.push(inc.clone());
        drop(d);
        let _ = self.notices.send(Notice::Alert(Arc::new(rec.clone())));
        let _ = self.notices.send(Notice::Incident(Arc::new(inc)));
        rec
    }
}

impl Store for MemStore {
    fn append_alerts(&self, alerts: &mut [Alert]) -> Result<Vec<AlertRecord>, StoreError> {
        let mut out = Vec::new();
        for a in alerts.iter_mut() {
            let level = Level::parse(&a.rule.level).unwrap_or(Level::Informational);
            let tags: Vec<&str> = a.rule.tags.iter().map(String::as_str).collect();
            let rec = self.push(a.tenant.as_deref(), level, &a.rule.id, &tags);
            a.incident_id = Some(rec.incident_id.clone());
            out.push(rec);
        }
        Ok(out)
    }

    fn alerts(
        &self,
        scope: &Scope,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<AlertRecord>, StoreError> {
        let d = self.data.lock().unwrap();
        let it = d.alerts.iter().filter(|a| alert_matches(scope, filter, a));
        page(it.cloned().collect::<Vec<_>>().into_iter(), limit, cursor)
    }

    fn alerts_after(
        &self,
        scope: &Scope,
        filter: &Filter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let d = self.data.lock().unwrap();
        Ok(d.alerts
            .iter()
            .filter(|a| a.seq > after && alert_matches(scope, filter, a))
            .take(limit)
            .cloned()
            .collect())
    }

    fn incidents(
        &self,
        scope: &Scope,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Incident>, StoreError> {
        let d = self.data.lock().unwrap();
        let it = d
            .incidents
            .iter()
            .filter(|i| incident_matches(scope, filter, i));
        page(it.cloned().collect::<Vec<_>>().into_iter(), limit, cursor)
    }

    fn incident(&self, scope: &Scope, id: &str) -> Result<Option<Incident>, StoreError> {
        let d = self.data.lock().unwrap();
        Ok(d.incidents
            .iter()
            .find(|i| i.id == id && scope.sees(&i.tenant))
            .cloned())
    }

    fn update_incident(
        &self,
        scope: &Scope,
        id: &str,
        action: Action,
        actor: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let mut d = self.data.lock().unwrap();
        let Some(i) = d
            .incidents
            .iter_mut()
            .find(|i| i.id == id && scope.sees(&i.tenant))
        else {
            return Ok(None);
        };
        let change = |action: &str, detail: Option<String>| Change {
            at_ms: 0,
            actor: actor.to_string(),
            action: action.to_string(),
            detail,
        };
        match action {
            Action::Acknowledge => {
                i.status = Status::Acknowledged;
                i.history.push(change("acknowledged", None));
            }
            Action::Resolve => {
                i.status = Status::Resolved;
                i.history.push(change("resolved", None));
            }
            Action::Reopen => {
                i.status = Status::Open;
                i.history.push(change("reopened", None));
            }
            Action::Assign(who) => {
                i.assignee = Some(who.clone());
                i.history.push(change("assigned", Some(who)));
            }
            Action::Note(n) => {
                i.notes.push(change("note", Some(n.clone())));
                i.history.push(change("note", Some(n)));
            }
        }
        let out = i.clone();
        drop(d);
        let _ = self.notices.send(Notice::Incident(Arc::new(out.clone())));
        Ok(Some(out))
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    fn stats(&self) -> StoreStats {
        let d = self.data.lock().unwrap();
        StoreStats {
            alerts: d.alerts.len() as u64,
            incidents: d.incidents.len() as u64,
            ..StoreStats::default()
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One token per role, unscoped, and a viewer, operator and ingest token for tenant `acme`.
pub(crate) struct Keys;

pub(crate) const TOKENS: [(&str, Role, Option<&str>); 7] = [
    ("viewer", Role::Viewer, None),
    ("operator", Role::Operator, None),
    ("ingest", Role::Ingest, None),
    ("admin", Role::Admin, None),
    ("acme-viewer", Role::Viewer, Some("acme")),
    ("acme-operator", Role::Operator, Some("acme")),
    ("acme-ingest", Role::Ingest, Some("acme")),
];

impl Authenticate for Keys {
    fn authenticate(&self, authorization: Option<&HeaderValue>) -> Option<Principal> {
        let t = bearer(authorization)?;
        TOKENS
            .iter()
            .find(|(name, ..)| *name == t)
            .map(|(name, role, tenant)| Principal {
                subject: name.to_string(),
                role: *role,
                tenant: tenant.map(str::to_string),
            })
    }
}

pub(crate) const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

/// A state with [`Keys`], and with `store` attached if given.
pub(crate) fn state(store: Option<Arc<MemStore>>) -> Arc<ApiState> {
    let st = ApiState::new(Arc::new(Readiness::default()), Arc::new(Keys));
    if let Some(s) = store {
        st.set_store(s);
    }
    Arc::new(st)
}

pub(crate) fn req(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap()
}

pub(crate) async fn call(st: &Arc<ApiState>, r: Request<Full<Bytes>>) -> Response<Body> {
    route(st, PEER, r).await.1
}

pub(crate) async fn text(r: Response<Body>) -> String {
    String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

pub(crate) async fn json(r: Response<Body>) -> serde_json::Value {
    serde_json::from_str(&text(r).await).unwrap()
}

pub(crate) fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
