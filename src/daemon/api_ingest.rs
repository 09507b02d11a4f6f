//! `POST /api/v1/ingest` in the daemon: a body of log lines (syslog, auditd, JSON lines,
//! VPC flow logs, ...) is recognized from its content like a replay input, parsed, and its
//! events handed to the pipeline's ingest queue. Unlike the network listeners it waits for
//! room in the queue (the HTTP client waits with it), so accepted lines are never dropped.
//!
//! A tenant-scoped ingest token stamps its events with `ingest_tenant`, and alerts on them
//! belong to that tenant whatever addresses the lines claim.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::api::{IngestError, Ingested};
use crate::event::{Event, Timestamp, Value};
use crate::logs::detect::{detect, Detected, HEAD};
use crate::logs::{truncate, LogParser};
use crate::metrics;
use crate::rules::INGEST_TENANT;
use crate::source::ingest::EventSender;

/// How long one request may wait for room in a full queue before it is refused.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The API's handle on the ingest queue; [`ApiIngest::close`] lets the daemon drain.
pub struct ApiIngest {
    sender: Mutex<Option<EventSender>>,
}

impl ApiIngest {
    pub fn new(sender: EventSender) -> ApiIngest {
        ApiIngest {
            sender: Mutex::new(Some(sender)),
        }
    }

    /// Flushes what is pending and lets go of the queue: later requests get 503.
    pub fn close(&self) {
        let mut s = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut tx) = s.take() {
            tx.flush();
        }
    }

    /// Parses `body` and queues its events.
    pub fn ingest(&self, body: &[u8], tenant: Option<String>) -> Result<Ingested, IngestError> {
        let format = match detect(&body[..body.len().min(HEAD)]) {
            Ok(Detected::Log(f)) => f,
            Ok(Detected::Capture) => {
                return Err(IngestError::Invalid(
                    "captures are not taken over the API; send log lines or JSON lines".into(),
                ))
            }
            Err(e) => return Err(IngestError::Invalid(e.to_string())),
        };
        let mut parser = LogParser::new(format, Timestamp::now());
        let mut events: Vec<Event> = Vec::new();
        let mut report = Ingested::default();
        let text = String::from_utf8_lossy(body);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if let Err(e) = parser.line(line, &mut events) {
                report.rejected += 1;
                metrics::PARSE_ERRORS
                    .with_label_values(&["api", format.as_str()])
                    .inc();
                if report.first_error.is_none() {
                    report.first_error =
                        Some(format!("line {}: {e}: {:?}", n + 1, truncate(line, 120)));
                }
            }
        }
        if let Err(e) = parser.finish(&mut events) {
            report.rejected += 1;
            report.first_error.get_or_insert_with(|| e.to_string());
        }
        if let Some(t) = &tenant {
            let t = compact_str::CompactString::from(t.as_str());
            for ev in &mut events {
                ev.fields.push(*INGEST_TENANT, Value::Str(t.clone()));
            }
        }
        report.accepted = events.len();
        self.queue(events)?;
        Ok(report)
    }

    fn queue(&self, events: Vec<Event>) -> Result<(), IngestError> {
        let stopping = || IngestError::Unavailable("the daemon is stopping".into());
        let mut guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        for ev in events {
            let tx = guard.as_mut().ok_or_else(stopping)?;
            // Wait while the queue is more than half full rather than let the sender drop.
            while tx.backlogged() {
                if started.elapsed() > WAIT_LIMIT {
                    tx.flush();
                    return Err(IngestError::Unavailable(format!(
                        "the ingest queue stayed full for {} s; retry later",
                        WAIT_LIMIT.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            tx.push(ev);
        }
        if let Some(tx) = guard.as_mut() {
            tx.flush();
        }
        Ok(())
    }
}
