//! What every network source of the daemon shares: the [`Source`] trait, the handle through
//! which it hands events to the pipeline ([`EventSender`]), and the shutdown signal. Sources
//! never block on a full pipeline: a full ingest queue drops the batch and counts it. Sources
//! whose peers can be made to wait (TCP) pause reading while the queue is half full.

use std::future::Future;
use std::pin::Pin;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use tokio::sync::watch;

use crate::event::{Event, Kind};
use crate::metrics;
use crate::pipeline::PacketInput;

/// A boxed future, for sources behind `dyn Source`.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// One way events come in over the network. Binding happens when the source is built (so
/// that readiness and the startup message know the real address); `run` reads until shutdown,
/// then takes what the kernel already holds, flushes and returns.
pub trait Source: Send + 'static {
    /// The name used in metrics (`vigil_events_total{source=...}`) and readiness.
    fn name(&self) -> &'static str;
    /// What it listens on, for people: `udp 127.0.0.1:5514`.
    fn describe(&self) -> String;
    fn run(self: Box<Self>, out: EventSender, shutdown: Shutdown) -> BoxFuture;
}

/// Fires the shutdown of every source and connection.
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Waits for shutdown; cheap to clone into every task.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new shutdown signal, not fired.
pub fn shutdown_signal() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Returns once shutdown has been fired (at once if it already was).
    pub async fn wait(&mut self) {
        // An error means the trigger is gone, which also means stop.
        let _ = self.0.wait_for(|fired| *fired).await;
    }

    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }
}

/// The bounded queue between the network sources and the pipeline.
pub struct Ingest {
    tx: Sender<Vec<Event>>,
    batch: usize,
}

impl Ingest {
    /// A queue of `capacity` batches of at most `batch` events.
    pub fn new(capacity: usize, batch: usize) -> (Ingest, Receiver<Vec<Event>>) {
        let (tx, rx) = bounded(capacity.max(1));
        (
            Ingest {
                tx,
                batch: batch.max(1),
            },
            rx,
        )
    }

    /// A handle for one source.
    pub fn sender(&self, source: &'static str) -> EventSender {
        EventSender {
            source,
            tx: self.tx.clone(),
            pending: Vec::new(),
            batch: self.batch,
        }
    }
}

/// Moves batches from the ingest queue into the pipeline until every sender is gone. Runs on
/// its own thread: it is the one place that waits for the workers, so sockets never do.
pub fn forward(rx: Receiver<Vec<Event>>, mut input: PacketInput) {
    let depth = metrics::QUEUE_DEPTH.with_label_values(&["ingest"]);
    for batch in rx.iter() {
        depth.set(rx.len() as i64);
        input.push_events(batch);
    }
    depth.set(0);
    input.flush();
}

/// One source's (or one connection's) handle on the ingest queue; batches events and counts
/// what goes in and what is dropped. Dropping it flushes.
pub struct EventSender {
    source: &'static str,
    tx: Sender<Vec<Event>>,
    pending: Vec<Event>,
    batch: usize,
}

impl EventSender {
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Another handle for the same source (one per TCP connection).
    pub fn fork(&self) -> EventSender {
        EventSender {
            source: self.source,
            tx: self.tx.clone(),
            pending: Vec::new(),
            batch: self.batch,
        }
    }

    pub fn push(&mut self, ev: Event) {
        self.pending.push(ev);
        if self.pending.len() >= self.batch {
            self.flush();
        }
    }

    /// Whether the ingest queue is more than half full. A source that can make its peer wait
    /// (TCP, through its receive window) checks this before reading more, so that a fast
    /// sender slows down instead of losing messages and the backlog stays bounded.
    pub fn backlogged(&self) -> bool {
        self.tx
            .capacity()
            .is_some_and(|cap| self.tx.len() * 2 >= cap)
    }

    /// Counts `n` events this source had to drop before they became events.
    pub fn dropped(&self, reason: &str, n: u64) {
        metrics::DROPPED
            .with_label_values(&[self.source, reason])
            .inc_by(n);
    }

    /// Hands the pending events to the pipeline, or drops and counts them if its queue is full.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch.min(64)));
        let mut kinds = [0u64; KINDS.len()];
        for ev in &batch {
            kinds[kind_index(ev.kind)] += 1;
        }
        let n = batch.len() as u64;
        match self.tx.try_send(batch) {
            Ok(()) => {
                for (i, k) in KINDS.iter().enumerate() {
                    if kinds[i] > 0 {
                        metrics::EVENTS
                            .with_label_values(&[self.source, k.as_str()])
                            .inc_by(kinds[i]);
                    }
                }
            }
            Err(TrySendError::Full(_)) => self.dropped("queue_full", n),
            Err(TrySendError::Disconnected(_)) => self.dropped("shutdown", n),
        }
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        self.flush();
    }
}

const KINDS: [Kind; 7] = [
    Kind::Flow,
    Kind::Dns,
    Kind::Http,
    Kind::Tls,
    Kind::Ssh,
    Kind::Ftp,
    Kind::Log,
];

fn kind_index(k: Kind) -> usize {
    match k {
        Kind::Flow => 0,
        Kind::Dns => 1,
        Kind::Http => 2,
        Kind::Tls => 3,
        Kind::Ssh => 4,
        Kind::Ftp => 5,
        Kind::Log => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LogSource, Timestamp};

    fn ev() -> Event {
        Event::new(
            Timestamp(1),
            Kind::Log,
            LogSource::product_service("linux", "syslog"),
        )
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (ingest, rx) = Ingest::new(1, 2);
        let mut s = ingest.sender("test_full");
        for _ in 0..6 {
            s.push(ev());
        }
        s.flush();
        assert_eq!(rx.len(), 1);
        let dropped = metrics::DROPPED
            .with_label_values(&["test_full", "queue_full"])
            .get();
        assert_eq!(dropped, 4);
        assert_eq!(
            metrics::EVENTS
                .with_label_values(&["test_full", "log"])
                .get(),
            2
        );
    }

    #[test]
    fn kind_indexes_match() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(kind_index(*k), i);
        }
    }
}
