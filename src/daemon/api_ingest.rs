//! `POST /api/v1/ingest` in the daemon: a body of log lines (syslog, auditd, JSON lines,
//! VPC flow logs, ...) or a pcap/pcapng capture is recognized from its content like a replay
//! input; log events go to the pipeline's ingest queue, packets through the decoder to the
//! workers (as `vigil replay --server` sends them). Unlike the network listeners it waits for
//! room (the HTTP client waits with it), so accepted lines and packets are never dropped.
//!
//! A tenant-scoped ingest token stamps its events with `ingest_tenant`, and alerts on them
//! belong to that tenant whatever addresses the lines claim.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::path::Path;

use bytes::Bytes;

use crate::api::{IngestError, Ingested};
use crate::event::{Event, Timestamp, Value};
use crate::logs::detect::{detect, Detected, HEAD};
use crate::logs::{truncate, LogParser};
use crate::metrics;
use crate::pipeline::PacketInput;
use crate::rules::INGEST_TENANT;
use crate::source::ingest::EventSender;
use crate::source::pcap::CaptureReader;

/// How long one request may wait for room in a full queue before it is refused.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The API's handle on the ingest queue; [`ApiIngest::close`] lets the daemon drain.
pub struct ApiIngest {
    sender: Mutex<Option<EventSender>>,
    packets: Mutex<Option<PacketInput>>,
}

impl ApiIngest {
    pub fn new(sender: EventSender, packets: PacketInput) -> ApiIngest {
        ApiIngest {
            sender: Mutex::new(Some(sender)),
            packets: Mutex::new(Some(packets)),
        }
    }

    /// Flushes what is pending and lets go of the queues: later requests get 503.
    pub fn close(&self) {
        let mut s = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut tx) = s.take() {
            tx.flush();
        }
        // Dropping the input flushes it.
        drop(
            self.packets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }

    /// Parses `body` and queues its events or packets.
    pub fn ingest(&self, body: Bytes, tenant: Option<String>) -> Result<Ingested, IngestError> {
        let format = match detect(&body[..body.len().min(HEAD)]) {
            Ok(Detected::Log(f)) => f,
            Ok(Detected::Capture) => return self.capture(body, tenant),
            Err(e) => return Err(IngestError::Invalid(e.to_string())),
        };
        let mut parser = LogParser::new(format, Timestamp::now());
        let mut events: Vec<Event> = Vec::new();
        let mut report = Ingested::default();
        let text = String::from_utf8_lossy(&body);
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

    /// A capture: every frame decoded and handed to the workers, as a replay does. Packets
    /// carry no tenant of their own; a tenant-scoped token may not send them, since its
    /// packets would be attributed by address like any other traffic.
    fn capture(&self, body: Bytes, tenant: Option<String>) -> Result<Ingested, IngestError> {
        if tenant.is_some() {
            return Err(IngestError::Invalid(
                "a tenant-scoped token may send logs, not captures (packets are attributed by address)".into(),
            ));
        }
        let size = body.len() as u64;
        let mut reader =
            CaptureReader::from_reader(Path::new("request body"), std::io::Cursor::new(body), size)
                .map_err(|e| IngestError::Invalid(e.to_string()))?;
        let mut guard = self.packets.lock().unwrap_or_else(|e| e.into_inner());
        let input = guard
            .as_mut()
            .ok_or_else(|| IngestError::Unavailable("the daemon is stopping".into()))?;
        let mut report = Ingested::default();
        let read = reader.for_each(|frame| {
            let what = match frame.link {
                None => {
                    input.count_frame(frame.wire_len);
                    input.count_decode_error("link");
                    Err(format!("link type {} is not decoded", frame.link_raw))
                }
                Some(link) => input
                    .push_frame(frame.ts, link, frame.data, frame.wire_len)
                    .map(|_| ())
                    .map_err(|e| format!("malformed packet: {e}")),
            };
            match what {
                Ok(()) => report.accepted += 1,
                Err(why) => {
                    report.rejected += 1;
                    report.first_error.get_or_insert_with(|| {
                        format!("packet {} (offset {}): {why}", frame.number, frame.offset)
                    });
                }
            }
            true
        });
        input.flush();
        if let Err(e) = read {
            // What came before the damage is in; say where it stopped.
            report.first_error = Some(e.to_string());
            report.rejected += 1;
        }
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
