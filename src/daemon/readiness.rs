//! Readiness: the parts the daemon waits for (the API, the rules, every listener), each
//! registered at start and marked ready when it is; `/readyz` answers 200 only when all are.

use std::sync::Mutex;

/// The parts of the daemon and whether each is ready.
#[derive(Debug, Default)]
pub struct Readiness {
    parts: Mutex<Vec<(String, bool)>>,
    stopping: std::sync::atomic::AtomicBool,
}

impl Readiness {
    /// Registers a part that is not ready yet.
    pub fn register(&self, part: &str) {
        let mut parts = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        if !parts.iter().any(|(p, _)| p == part) {
            parts.push((part.to_string(), false));
        }
    }

    /// Marks a part ready (registering it if needed).
    pub fn ready(&self, part: &str) {
        self.set(part, true);
    }

    pub fn not_ready(&self, part: &str) {
        self.set(part, false);
    }

    fn set(&self, part: &str, ready: bool) {
        let mut parts = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        match parts.iter_mut().find(|(p, _)| p == part) {
            Some(slot) => slot.1 = ready,
            None => parts.push((part.to_string(), ready)),
        }
    }

    /// From now on the daemon is not ready: it is draining.
    pub fn stopping(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// `Ok` when everything is ready, else what is missing, in registration order.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut missing: Vec<String> = self
            .parts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, r)| !r)
            .map(|(p, _)| p.clone())
            .collect();
        if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            missing.insert(0, "shutting down".into());
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_part_is() {
        let r = Readiness::default();
        r.register("api");
        r.register("rules");
        assert_eq!(r.check(), Err(vec!["api".into(), "rules".into()]));
        r.ready("api");
        assert_eq!(r.check(), Err(vec!["rules".into()]));
        r.ready("rules");
        assert_eq!(r.check(), Ok(()));
        r.stopping();
        assert_eq!(r.check(), Err(vec!["shutting down".into()]));
    }
}
