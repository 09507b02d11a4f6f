//! The Alertmanager output: one alert per incident, POSTed to `/api/v2/alerts`, re-sent every
//! `resend_interval` while open (Alertmanager forgets alerts after `resolve_timeout`) and sent
//! once with `endsAt` = now when resolved. Labels: `alertname` (the incident's title, its first
//! rule's), `severity`, `tenant` (absent without one), `technique` (the first `attack.tNNNN`
//! tag as ATT&CK writes it: `T1611`, `T1059.004`), `incident_id`; annotations `summary`,
//! `description`. A follower task keeps the state and never waits on the network; a sender
//! task posts batches with retries; a bounded queue between them drops and counts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::{duration, now_ms, rfc3339, OutputError};
use crate::client::{join, Client};
use crate::incident::{AlertRecord, Incident, Level, Notice, Status};
use crate::metrics;

/// The `output` label of this output's metrics.
pub const NAME: &str = "alertmanager";

/// `[output.alertmanager]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL, e.g. `http://127.0.0.1:9093`.
    pub url: String,
    /// How often open incidents are sent again; keep it below Alertmanager's
    /// `resolve_timeout` (5m by default).
    #[serde(default = "default_resend", deserialize_with = "duration")]
    pub resend_interval: Duration,
    /// PEM CA file for an `https://` Alertmanager (default: the system roots).
    #[serde(default)]
    pub cacert: Option<PathBuf>,
    /// File holding a bearer token, for an Alertmanager behind an authenticating proxy.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// One request, connect to last byte.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Alerts per POST.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Incidents tracked at most (open ones); past it new incidents are dropped and counted.
    #[serde(default = "default_max_incidents")]
    pub max_incidents: usize,
    /// Attempts per batch before it is dropped.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Base URL of vigil's API for each alert's `generatorURL`
    /// (`BASE/api/v1/incidents/ID`).
    #[serde(default)]
    pub incident_url: Option<String>,
}

fn default_resend() -> Duration {
    Duration::from_secs(60)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_batch() -> usize {
    64
}
fn default_max_incidents() -> usize {
    10_000
}
fn default_attempts() -> u32 {
    5
}

impl AlertmanagerConfig {
    pub fn new(url: &str) -> AlertmanagerConfig {
        AlertmanagerConfig {
            url: url.to_string(),
            resend_interval: default_resend(),
            cacert: None,
            token_file: None,
            timeout: default_timeout(),
            batch: default_batch(),
            max_incidents: default_max_incidents(),
            attempts: default_attempts(),
            incident_url: None,
        }
    }
}

/// An alert as Alertmanager's v2 API takes it (`postableAlert`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AmAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

/// The first ATT&CK technique among Sigma tags (`attack.t1611` -> `T1611`).
pub fn technique(tags: &[String]) -> Option<String> {
    tags.iter().find_map(|t| {
        let rest = t.strip_prefix("attack.")?;
        let mut chars = rest.chars();
        let first = chars.next()?;
        let digits = chars.as_str();
        let id = digits.split('.').next().unwrap_or("");
        let ok = first.eq_ignore_ascii_case(&'t')
            && id.len() == 4
            && id.bytes().all(|b| b.is_ascii_digit())
            && digits[4..]
                .strip_prefix('.')
                .is_none_or(|sub| !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_digit()));
        ok.then(|| format!("T{digits}"))
    })
}

/// What is known of one incident.
#[derive(Clone, Debug)]
struct Tracked {
    title: String,
    tenant: Option<String>,
    severity: Level,
    technique: Option<String>,
    starts_ms: i64,
    summary: String,
    entity: Option<String>,
    alert_count: u64,
    status: Status,
    /// The labels Alertmanager last got, to end them when they change.
    sent_labels: Option<BTreeMap<String, String>>,
}

/// The follower's state: incidents by id, and which changed since the last send.
struct State {
    cfg: AlertmanagerConfig,
    incidents: HashMap<String, Tracked>,
    dirty: Vec<String>,
    /// Alerts for label sets that were replaced, to be ended.
    retired: Vec<AmAlert>,
}

impl State {
    fn new(cfg: AlertmanagerConfig) -> State {
        State {
            cfg,
            incidents: HashMap::new(),
            dirty: Vec::new(),
            retired: Vec::new(),
        }
    }

    fn entry(&mut self, id: &str, make: impl FnOnce() -> Tracked) -> Option<&mut Tracked> {
        if !self.incidents.contains_key(id) {
            if self.incidents.len() >= self.cfg.max_incidents {
                metrics::OUTPUT_DROPPED.with_label_values(&[NAME]).inc();
                return None;
            }
            self.incidents.insert(id.to_string(), make());
        }
        if !self.dirty.iter().any(|d| d == id) {
            self.dirty.push(id.to_string());
        }
        self.incidents.get_mut(id)
    }

    fn apply(&mut self, n: &Notice) {
        match n {
            Notice::Alert(a) => self.alert(a),
            Notice::Incident(i) => self.incident(i),
        }
    }

    fn alert(&mut self, a: &AlertRecord) {
        let json = a.json.value();
        let title = json["rule"]["title"]
            .as_str()
            .unwrap_or(&a.rule_id)
            .to_string();
        let summary = json["summary"].as_str().unwrap_or(&title).to_string();
        let make = || Tracked {
            title: title.clone(),
            tenant: a.tenant.clone(),
            severity: a.level,
            technique: technique(&a.tags),
            starts_ms: a.ts_ms,
            summary: summary.clone(),
            entity: None,
            alert_count: 0,
            status: Status::Open,
            sent_labels: None,
        };
        let Some(t) = self.entry(&a.incident_id, make) else {
            return;
        };
        t.severity = t.severity.max(a.level);
        if t.technique.is_none() {
            t.technique = technique(&a.tags);
        }
        t.starts_ms = t.starts_ms.min(a.ts_ms);
        t.summary = summary;
        t.alert_count += 1;
        if t.status == Status::Resolved {
            // A new alert reopens a resolved incident; the store says so too.
            t.status = Status::Open;
        }
    }

    fn incident(&mut self, i: &Incident) {
        // An incident resolved before this output saw it open (say, before a restart) is still
        // sent once with its end, so that an alert left in Alertmanager by a previous run ends.
        let make = || Tracked {
            title: i.title.clone(),
            tenant: i.tenant.clone(),
            severity: i.severity,
            technique: None,
            starts_ms: i.first_ms,
            summary: i.title.clone(),
            entity: None,
            alert_count: 0,
            status: i.status,
            sent_labels: None,
        };
        let Some(t) = self.entry(&i.id, make) else {
            return;
        };
        t.title = i.title.clone();
        t.tenant = i.tenant.clone();
        t.severity = i.severity;
        t.technique = technique(&i.tags).or(t.technique.take());
        t.starts_ms = i.first_ms;
        t.entity = Some(i.entity.clone());
        t.alert_count = i.alert_count;
        t.status = i.status;
    }

    /// Everything open, for the periodic resend.
    fn mark_all(&mut self) {
        self.dirty = self.incidents.keys().cloned().collect();
        self.dirty.sort();
    }

    /// The alerts to send for what changed; resolved incidents are forgotten once taken.
    fn take(&mut self) -> Vec<AmAlert> {
        let now = now_ms();
        let mut out = std::mem::take(&mut self.retired);
        for id in std::mem::take(&mut self.dirty) {
            let Some(t) = self.incidents.get_mut(&id) else {
                continue;
            };
            let alert = render(&self.cfg, &id, t, now);
            if let Some(old) = t.sent_labels.replace(alert.labels.clone()) {
                if old != alert.labels {
                    out.push(AmAlert {
                        labels: old,
                        ends_at: Some(rfc3339(now)),
                        ..alert.clone()
                    });
                }
            }
            if t.status == Status::Resolved {
                self.incidents.remove(&id);
            }
            out.push(alert);
        }
        out
    }
}

fn render(cfg: &AlertmanagerConfig, id: &str, t: &Tracked, now: i64) -> AmAlert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), t.title.clone());
    labels.insert("severity".to_string(), t.severity.as_str().to_string());
    labels.insert("incident_id".to_string(), id.to_string());
    if let Some(tenant) = &t.tenant {
        labels.insert("tenant".to_string(), tenant.clone());
    }
    if let Some(tech) = &t.technique {
        labels.insert("technique".to_string(), tech.clone());
    }
    let status = match t.status {
        Status::Open => "open",
        Status::Acknowledged => "acknowledged",
        Status::Resolved => "resolved",
    };
    let mut description = format!("vigil incident {id} ({status})");
    if let Some(e) = &t.entity {
        description.push_str(&format!(" about {e}"));
    }
    if let Some(tenant) = &t.tenant {
        description.push_str(&format!(" in tenant {tenant}"));
    }
    if t.alert_count > 0 {
        description.push_str(&format!(": {} alert(s)", t.alert_count));
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_string(), t.summary.clone());
    annotations.insert("description".to_string(), description);
    AmAlert {
        labels,
        annotations,
        // Alertmanager rejects a start after the end; clock skew between event time and now
        // must not make a resolve fail.
        starts_at: rfc3339(t.starts_ms.min(now)),
        ends_at: (t.status == Status::Resolved).then(|| rfc3339(now)),
        generator_url: cfg
            .incident_url
            .as_deref()
            .map(|b| join(b, &format!("/api/v1/incidents/{id}"))),
    }
}

/// Starts the follower and the sender.
pub(super) fn spawn(
    cfg: &AlertmanagerConfig,
    notices: broadcast::Receiver<Notice>,
    seed: Vec<Incident>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, OutputError> {
    if cfg.batch == 0 || cfg.max_incidents == 0 || cfg.attempts == 0 {
        return Err(OutputError::Config {
            output: NAME,
            reason: "batch, max_incidents and attempts must be at least 1".into(),
        });
    }
    let client = super::client(
        NAME,
        cfg.cacert.as_deref(),
        cfg.token_file.as_deref(),
        cfg.timeout,
    )?;
    // Room for two full resend rounds; past it the sender is far behind (Alertmanager slow or
    // down) and batches are dropped, to be made up by a later resend.
    let (tx, rx) = mpsc::channel(2 * cfg.max_incidents.div_ceil(cfg.batch) + 16);
    let mut state = State::new(cfg.clone());
    for i in &seed {
        state.incident(i);
    }
    let first = state.take();
    queue(cfg.batch, first, &tx);
    let follower = tokio::spawn(follow(state, notices, tx, stop));
    let url = join(&cfg.url, "/api/v2/alerts");
    let sender = tokio::spawn(send_batches(client, url, rx, cfg.attempts));
    Ok(vec![follower, sender])
}

async fn follow(
    mut state: State,
    mut notices: broadcast::Receiver<Notice>,
    tx: mpsc::Sender<Vec<AmAlert>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut resend = tokio::time::interval(state.cfg.resend_interval);
    resend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resend.tick().await;
    loop {
        tokio::select! {
            n = notices.recv() => match n {
                Ok(n) => {
                    state.apply(&n);
                    // Take whatever else is already published, so that a burst is one batch.
                    while let Ok(n) = notices.try_recv() {
                        state.apply(&n);
                    }
                }
                Err(RecvError::Lagged(k)) => {
                    metrics::OUTPUT_DROPPED.with_label_values(&[NAME]).inc_by(k);
                    continue;
                }
                Err(RecvError::Closed) => break,
            },
            _ = resend.tick() => state.mark_all(),
            _ = stop.changed() => {
                // What the store published before the stop (the pipeline's drain) still goes.
                while let Ok(n) = notices.try_recv() {
                    state.apply(&n);
                }
                break;
            }
        }
        let alerts = state.take();
        queue(state.cfg.batch, alerts, &tx);
    }
    let alerts = state.take();
    queue(state.cfg.batch, alerts, &tx);
}

fn queue(batch: usize, alerts: Vec<AmAlert>, tx: &mpsc::Sender<Vec<AmAlert>>) {
    for chunk in alerts.chunks(batch) {
        if tx.try_send(chunk.to_vec()).is_err() {
            metrics::OUTPUT_DROPPED
                .with_label_values(&[NAME])
                .inc_by(chunk.len() as u64);
        }
    }
}

async fn send_batches(
    client: Client,
    url: String,
    mut rx: mpsc::Receiver<Vec<AmAlert>>,
    attempts: u32,
) {
    let mut failing = false;
    while let Some(batch) = rx.recv().await {
        let body = match serde_json::to_vec(&batch) {
            Ok(b) => Bytes::from(b),
            Err(_) => continue,
        };
        let n = batch.len() as u64;
        if super::post_with_retries(NAME, &client, &url, &[], body, attempts, &mut failing).await {
            metrics::OUTPUT_SENT.with_label_values(&[NAME]).inc_by(n);
        } else {
            metrics::OUTPUT_DROPPED.with_label_values(&[NAME]).inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn technique_is_the_first_attack_id() {
        assert_eq!(
            technique(&tags(&["attack.privilege_escalation", "attack.t1611"])),
            Some("T1611".into())
        );
        assert_eq!(
            technique(&tags(&["attack.T1059.004", "attack.t1611"])),
            Some("T1059.004".into())
        );
        assert_eq!(
            technique(&tags(&["attack.ta0004", "cloud.vm_escape"])),
            None
        );
        assert_eq!(technique(&tags(&["attack.t161", "attack.t1611."])), None);
    }

    fn incident(status: Status, severity: Level) -> Incident {
        Incident {
            id: "i-01".into(),
            tenant: Some("acme".into()),
            entity: "10.1.4.20".into(),
            title: "Container escape".into(),
            status,
            severity,
            first_ms: 1_000,
            last_ms: 2_000,
            alert_count: 2,
            rules: vec!["r1".into()],
            tags: tags(&["attack.t1611"]),
            assignee: None,
            notes: vec![],
            history: vec![],
        }
    }

    #[test]
    fn a_severity_change_ends_the_old_label_set() {
        let mut s = State::new(AlertmanagerConfig::new("http://x"));
        s.apply(&Notice::Incident(Arc::new(incident(
            Status::Open,
            Level::Medium,
        ))));
        let first = s.take();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].labels["severity"], "medium");
        assert_eq!(first[0].labels["technique"], "T1611");
        assert!(first[0].ends_at.is_none());
        s.apply(&Notice::Incident(Arc::new(incident(
            Status::Open,
            Level::High,
        ))));
        let second = s.take();
        assert_eq!(second.len(), 2);
        assert_eq!(second[0].labels["severity"], "medium");
        assert!(second[0].ends_at.is_some());
        assert_eq!(second[1].labels["severity"], "high");
        s.apply(&Notice::Incident(Arc::new(incident(
            Status::Resolved,
            Level::High,
        ))));
        let third = s.take();
        assert_eq!(third.len(), 1);
        assert!(third[0].ends_at.is_some());
        assert!(s.incidents.is_empty(), "resolved incidents are forgotten");
        s.mark_all();
        assert!(s.take().is_empty());
    }
}
