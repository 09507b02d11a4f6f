//! JSON lines: one event or alert per line, on stdout for `vigil replay` or into a file.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::event::{Event, Kind};
use crate::pipeline::Sink;
use crate::rules::Alert;

/// Counts of what went through a sink, readable from another thread.
#[derive(Debug, Default)]
pub struct Tally {
    pub events: AtomicU64,
    pub flows: AtomicU64,
    pub alerts: AtomicU64,
}

/// What a [`JsonLines`] sink writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Print {
    Nothing,
    Events,
    Alerts,
    Both,
}

/// Writes events and/or alerts as JSON lines, counting everything that passes.
pub struct JsonLines<W: Write + Send> {
    out: W,
    print: Print,
    line: Vec<u8>,
    pub tally: Arc<Tally>,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W, print: Print) -> JsonLines<W> {
        JsonLines {
            out,
            print,
            line: Vec::with_capacity(1024),
            tally: Arc::default(),
        }
    }

    fn write<T: serde::Serialize>(&mut self, item: &T) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, item).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn events(&mut self, events: &mut Vec<Event>) -> io::Result<()> {
        let flows = events.iter().filter(|e| e.kind == Kind::Flow).count() as u64;
        self.tally
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.tally.flows.fetch_add(flows, Ordering::Relaxed);
        if matches!(self.print, Print::Events | Print::Both) {
            for ev in events.iter() {
                self.write(ev)?;
            }
        }
        Ok(())
    }

    fn alerts(&mut self, alerts: &mut Vec<Alert>) -> io::Result<()> {
        self.tally
            .alerts
            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
        if matches!(self.print, Print::Alerts | Print::Both) {
            for a in alerts.iter() {
                self.write(a)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
