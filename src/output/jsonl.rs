//! JSON lines: one event per line, on stdout for `vigil replay` or into a file.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::event::{Event, Kind};
use crate::pipeline::Sink;

/// Counts of what went through a sink, readable from another thread.
#[derive(Debug, Default)]
pub struct Tally {
    pub events: AtomicU64,
    pub flows: AtomicU64,
}

/// Writes each event as one JSON line, or only counts them when `print` is off.
pub struct JsonLines<W: Write + Send> {
    out: W,
    print: bool,
    line: Vec<u8>,
    pub tally: Arc<Tally>,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W, print: bool) -> JsonLines<W> {
        JsonLines {
            out,
            print,
            line: Vec::with_capacity(1024),
            tally: Arc::default(),
        }
    }
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn events(&mut self, events: &mut Vec<Event>) -> io::Result<()> {
        let flows = events.iter().filter(|e| e.kind == Kind::Flow).count() as u64;
        self.tally
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.tally.flows.fetch_add(flows, Ordering::Relaxed);
        if self.print {
            for ev in events.iter() {
                self.line.clear();
                serde_json::to_writer(&mut self.line, ev).map_err(io::Error::other)?;
                self.line.push(b'\n');
                self.out.write_all(&self.line)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
