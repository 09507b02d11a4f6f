//! Tenants that SIGHUP can replace while events flow. Workers keep the tenants they use in a
//! thread-local and check one atomic generation per event; only after a reload do they take
//! the lock once to pick up the new tenants, so the hot path never contends on a lock.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::enrich::Tenants;
use crate::event::Event;
use crate::pipeline::Enricher;

/// The current tenants, replaceable at run time.
pub struct LiveTenants {
    /// Tells apart several `LiveTenants` in one process (tests) in the thread-local caches.
    id: u64,
    generation: AtomicU64,
    current: RwLock<Arc<Tenants>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Per worker thread: (LiveTenants id, generation, tenants).
    static CACHE: RefCell<Vec<(u64, u64, Arc<Tenants>)>> = const { RefCell::new(Vec::new()) };
}

impl LiveTenants {
    pub fn new(t: Tenants) -> Arc<LiveTenants> {
        Arc::new(LiveTenants {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            current: RwLock::new(Arc::new(t)),
        })
    }

    /// Swaps in new tenants; events enriched after this see them.
    pub fn replace(&self, t: Tenants) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn current(&self) -> Arc<Tenants> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The pipeline's enricher over these tenants.
    pub fn enricher(self: &Arc<Self>) -> Enricher {
        let me = self.clone();
        Arc::new(move |ev: &mut Event| me.with(|t| t.enrich(&mut ev.fields)))
    }

    fn with<R>(&self, f: impl FnOnce(&Tenants) -> R) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            let i = match cache.iter().position(|(id, _, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    cache.push((self.id, generation, self.current()));
                    cache.len() - 1
                }
            };
            if cache[i].1 != generation {
                cache[i] = (self.id, generation, self.current());
            }
            f(&cache[i].2)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{f, Kind, LogSource, Timestamp};

    fn tenants(cidr: &str) -> Tenants {
        let dir = std::env::temp_dir().join(format!("vigil-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("{}.yaml", cidr.replace(['/', '.'], "_")));
        std::fs::write(&p, format!("tenants:\n  - id: acme\n    cidrs: [{cidr}]\n")).unwrap();
        Tenants::load(&p).unwrap()
    }

    fn tenant_of(e: &Enricher, ip: &str) -> Option<String> {
        let mut ev = Event::new(Timestamp(0), Kind::Flow, LogSource::category("flow"));
        ev.fields
            .push(f::SRC_IP, ip.parse::<std::net::IpAddr>().unwrap());
        e(&mut ev);
        ev.get_str(f::SRC_TENANT).map(String::from)
    }

    #[test]
    fn a_replacement_is_seen_by_the_next_event() {
        let live = LiveTenants::new(tenants("10.1.0.0/16"));
        let e = live.enricher();
        assert_eq!(tenant_of(&e, "10.1.2.3").as_deref(), Some("acme"));
        assert_eq!(tenant_of(&e, "10.2.2.3"), None);
        live.replace(tenants("10.2.0.0/16"));
        assert_eq!(tenant_of(&e, "10.2.2.3").as_deref(), Some("acme"));
        assert_eq!(tenant_of(&e, "10.1.2.3"), None);
    }
}
