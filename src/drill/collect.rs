//! The sink a drill replays into: it hands everything to the usual output (alerts on stdout)
//! and keeps, for scoring, each alert's time and rule.

use std::sync::{Arc, Mutex};

use super::score::Fired;
use crate::event::Event;
use crate::pipeline::Sink;
use crate::rules::Alert;

/// Wraps a sink and records the alerts that pass through it.
pub struct Collect {
    inner: Box<dyn Sink>,
    fired: Arc<Mutex<Vec<Fired>>>,
}

impl Collect {
    /// The sink, and the list it fills (read it after the replay finished).
    pub fn new(inner: Box<dyn Sink>) -> (Collect, Arc<Mutex<Vec<Fired>>>) {
        let fired = Arc::new(Mutex::new(Vec::new()));
        (
            Collect {
                inner,
                fired: fired.clone(),
            },
            fired,
        )
    }
}

impl Sink for Collect {
    fn events(&mut self, events: &mut Vec<Event>) -> std::io::Result<()> {
        self.inner.events(events)
    }

    fn alerts(&mut self, alerts: &mut Vec<Alert>) -> std::io::Result<()> {
        self.fired
            .lock()
            .map_err(|_| std::io::Error::other("the drill's alert list is poisoned"))?
            .extend(alerts.iter().map(|a| Fired {
                ts: a.ts,
                rule: a.rule.clone(),
            }));
        self.inner.alerts(alerts)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.inner.finish()
    }
}
