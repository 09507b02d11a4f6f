//! The daemon's side of the incident store: the pipeline sink that stores alerts (and so
//! gives them their incident) before any output sees them, and the housekeeping task that
//! applies retention and keeps the incident, risk and store-size metrics current.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::StoreConfig;
use crate::event::Event;
use crate::incident::sled_store::SledStore;
use crate::incident::{open_incidents, posture, Scope, Store};
use crate::metrics;
use crate::pipeline::Sink;
use crate::rules::Alert;

/// Stores alerts (durably: the store flushes before it returns) and fills in their
/// `incident_id`, then hands them to the next sink (the JSON-lines file). The store writes on
/// a thread of its own with group commit: whatever alerts queued up while one batch was being
/// flushed go into the next append and its one flush, so detection never waits for the disk
/// (it waits only when the store falls a whole queue behind).
pub struct Stored {
    tx: Option<crossbeam_channel::Sender<Vec<Alert>>>,
    next: Arc<Mutex<Box<dyn Sink>>>,
    store: Arc<SledStore>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

/// Batches of alerts waiting for the store.
const STORE_QUEUE: usize = 256;

fn store_err(e: crate::incident::StoreError) -> std::io::Error {
    std::io::Error::other(format!("incident store: {e}"))
}

fn locked(next: &Mutex<Box<dyn Sink>>) -> std::sync::MutexGuard<'_, Box<dyn Sink>> {
    next.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stored {
    pub fn start(store: Arc<SledStore>, next: Box<dyn Sink>) -> std::io::Result<Stored> {
        let next = Arc::new(Mutex::new(next));
        let (tx, rx) = crossbeam_channel::bounded::<Vec<Alert>>(STORE_QUEUE);
        let (s, n) = (store.clone(), next.clone());
        let writer = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let depth = metrics::QUEUE_DEPTH.with_label_values(&["store"]);
                while let Ok(mut alerts) = rx.recv() {
                    // Group commit: everything queued meanwhile shares this append's flush.
                    while let Ok(more) = rx.try_recv() {
                        alerts.extend(more);
                    }
                    depth.set(rx.len() as i64);
                    s.append_alerts(&mut alerts).map_err(store_err)?;
                    locked(&n).alerts(&mut alerts)?;
                }
                Ok(())
            })?;
        Ok(Stored {
            tx: Some(tx),
            next,
            store,
            writer: Some(writer),
        })
    }

    /// The writer's own result once it has stopped (an error stops it).
    fn writer_result(&mut self) -> std::io::Result<()> {
        match self.writer.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the store thread panicked")),
        }
    }
}

impl Sink for Stored {
    fn events(&mut self, events: &mut Vec<Event>) -> std::io::Result<()> {
        locked(&self.next).events(events)
    }

    fn alerts(&mut self, alerts: &mut Vec<Alert>) -> std::io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(alerts);
        let sent = self.tx.as_ref().map(|tx| tx.send(batch).is_ok());
        if sent != Some(true) {
            // The writer stopped on an error: say which.
            self.tx = None;
            self.writer_result()?;
            return Err(std::io::Error::other("the incident store has stopped"));
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        // Closing the queue lets the writer store what is left and stop.
        self.tx = None;
        self.writer_result()?;
        locked(&self.next).finish()?;
        self.store.flush().map_err(store_err)
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
            let now = crate::incident::grouping::wall_ms();
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
                    Ok(r) => {
                        if r.alerts_removed + r.incidents_removed > 0 {
                            eprintln!(
                                "vigil: store: retention removed {} alerts and {} incidents, \
                                 pruned {} chain entries",
                                r.alerts_removed, r.incidents_removed, r.chain_entries_pruned
                            );
                        }
                        if let Some(e) = r.prune_error {
                            eprintln!("vigil: store: chain not pruned: {e}");
                        }
                    }
                    Err(e) => eprintln!("vigil: store: retention: {e}"),
                }
            }
            publish_metrics(s.as_ref());
        })
        .await;
    }
}
