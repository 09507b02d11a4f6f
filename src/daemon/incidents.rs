//! The daemon's side of the incident store: the pipeline sink that stores alerts (and so
//! gives them their incident) before any output sees them, and the housekeeping task that
//! applies retention and keeps the incident, risk and store-size metrics current.

use std::sync::Arc;
use std::time::Duration;

use crate::config::StoreConfig;
use crate::event::Event;
use crate::incident::sled_store::SledStore;
use crate::incident::{open_incidents, posture, Scope, Store};
use crate::metrics;
use crate::pipeline::Sink;
use crate::rules::Alert;

/// Stores each batch of alerts (durably: the store flushes before it returns) and fills in
/// their `incident_id`, then hands them to the next sink (the JSON-lines file).
pub struct Stored {
    pub store: Arc<SledStore>,
    pub next: Box<dyn Sink>,
}

impl Sink for Stored {
    fn events(&mut self, events: &mut Vec<Event>) -> std::io::Result<()> {
        self.next.events(events)
    }

    fn alerts(&mut self, alerts: &mut Vec<Alert>) -> std::io::Result<()> {
        if !alerts.is_empty() {
            self.store
                .append_alerts(alerts)
                .map_err(|e| std::io::Error::other(format!("incident store: {e}")))?;
        }
        self.next.alerts(alerts)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.next.finish()?;
        self.store
            .flush()
            .map_err(|e| std::io::Error::other(format!("incident store: {e}")))
    }
}

/// Sets the store's metrics from its current state: open incidents by tenant and severity,
/// each tenant's risk, the size on disk.
pub fn publish_metrics(store: &dyn Store) {
    let stats = store.stats();
    metrics::STORE_SIZE_BYTES.set(stats.size_bytes as i64);
    metrics::INCIDENTS_OPEN.reset();
    for (tenant, level, n) in &stats.open {
        let t = metrics::tenant_label((!tenant.is_empty()).then_some(tenant.as_str()));
        metrics::INCIDENTS_OPEN
            .with_label_values(&[t, level.as_str()])
            .add(*n as i64);
    }
    match open_incidents(store, &Scope::All) {
        Ok(open) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let p = posture::compute(&open, now, posture::HALF_LIFE_HOURS);
            metrics::TENANT_RISK_SCORE.reset();
            for t in &p.tenants {
                let label = metrics::tenant_label((!t.tenant.is_empty()).then_some(&t.tenant));
                metrics::TENANT_RISK_SCORE
                    .with_label_values(&[label])
                    .set(t.risk);
            }
        }
        Err(e) => eprintln!("vigil: store: cannot read the open incidents: {e}"),
    }
}

/// Every few seconds: the metrics; every `retention_interval`: retention.
pub async fn housekeeping(store: Arc<SledStore>, cfg: StoreConfig) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut since_retention = Duration::ZERO;
    loop {
        tick.tick().await;
        since_retention += Duration::from_secs(5);
        let s = store.clone();
        let retain = since_retention >= cfg.retention_interval;
        if retain {
            since_retention = Duration::ZERO;
        }
        let (max_age, max_bytes) = (cfg.max_age, cfg.max_bytes);
        let _ = tokio::task::spawn_blocking(move || {
            if retain && (max_age.is_some() || max_bytes.is_some()) {
                match s.apply_retention(max_age, max_bytes) {
                    Ok(r) if r.alerts_removed + r.incidents_removed > 0 => eprintln!(
                        "vigil: store: retention removed {} alerts and {} incidents",
                        r.alerts_removed, r.incidents_removed
                    ),
                    Ok(_) => {}
                    Err(e) => eprintln!("vigil: store: retention: {e}"),
                }
            }
            publish_metrics(s.as_ref());
        })
        .await;
    }
}
