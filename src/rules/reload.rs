//! The running rule set and its replacement: reload on demand (SIGHUP) or when rule files
//! change (polled, debounced). A set with any error is refused whole; the running one stays.
//!
//! Workers hold an `Arc<RuleSet>` and compare [`RuleStore::generation`] between batches.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::ruleset::{rule_files, LoadOptions, LoadReport, RuleSet};
use crate::metrics;

pub struct RuleStore {
    paths: Vec<PathBuf>,
    opts: LoadOptions,
    current: RwLock<Arc<RuleSet>>,
    generation: AtomicU64,
}

impl RuleStore {
    /// Loads the first rule set; fails (with every problem) if it has any error.
    pub fn new(paths: Vec<PathBuf>, opts: LoadOptions) -> Result<RuleStore, LoadReport> {
        let set = RuleSet::load(&paths, &opts)?;
        metrics::RULES_LOADED.set(set.len() as i64);
        Ok(RuleStore {
            paths,
            opts,
            current: RwLock::new(Arc::new(set)),
            generation: AtomicU64::new(1),
        })
    }

    /// The running rule set.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Increases by one with every successful reload.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reloads from disk. On error the running set stays and the report says why.
    pub fn reload(&self) -> Result<usize, LoadReport> {
        match RuleSet::load(&self.paths, &self.opts) {
            Ok(set) => {
                let n = set.len();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
                self.generation.fetch_add(1, Ordering::AcqRel);
                metrics::RULES_RELOAD.with_label_values(&["ok"]).inc();
                metrics::RULES_LOADED.set(n as i64);
                Ok(n)
            }
            Err(report) => {
                metrics::RULES_RELOAD.with_label_values(&["error"]).inc();
                Err(report)
            }
        }
    }

    /// What the rule files look like now (names, sizes, modification times).
    fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        let mut files = rule_files(&self.paths).unwrap_or_default();
        for dir in &self.opts.indicator_dirs {
            if let Ok(rd) = std::fs::read_dir(dir) {
                files.extend(rd.flatten().map(|e| e.path()));
            }
        }
        files
            .into_iter()
            .map(|p| {
                let m = std::fs::metadata(&p).ok();
                let size = m.as_ref().map_or(0, |m| m.len());
                let mtime = m.and_then(|m| m.modified().ok());
                (p, size, mtime)
            })
            .collect()
    }

    /// Watches the rule files: a change that stays quiet for `debounce` triggers a reload.
    /// Failed reloads are reported through `on_error` (the daemon logs them).
    pub fn watch(
        self: &Arc<Self>,
        poll: Duration,
        debounce: Duration,
        on_error: impl Fn(&LoadReport) + Send + 'static,
    ) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let store = self.clone();
        let flag = stop.clone();
        let mut seen = store.fingerprint();
        let handle = std::thread::spawn(move || {
            let mut changed_at: Option<std::time::Instant> = None;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(poll);
                let now = store.fingerprint();
                if now != seen {
                    seen = now;
                    changed_at = Some(std::time::Instant::now());
                    continue;
                }
                if changed_at.is_some_and(|t| t.elapsed() >= debounce) {
                    changed_at = None;
                    if let Err(report) = store.reload() {
                        on_error(&report);
                    }
                }
            }
        });
        Watcher {
            stop,
            handle: Some(handle),
        }
    }
}

/// Stops the file watcher when dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "title: t\nlogsource: {product: linux}\ndetection:\n  sel: {a: b}\n  condition: sel\n";

    #[test]
    fn bad_reload_keeps_running_set_and_watch_picks_up_changes() {
        let dir = std::env::temp_dir().join(format!("vigil-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.yml"), GOOD).unwrap();
        let store = Arc::new(RuleStore::new(vec![dir.clone()], LoadOptions::default()).unwrap());
        assert_eq!(store.current().len(), 1);
        std::fs::write(
            dir.join("b.yml"),
            "title: x\ndetection:\n  sel:\n    a|contians: b\n  condition: sel\n",
        )
        .unwrap();
        let err = store.reload().unwrap_err();
        assert!(err.errors[0].to_string().contains("b.yml:4"));
        assert_eq!(store.current().len(), 1);
        assert_eq!(store.generation(), 1);
        let _w = store.watch(Duration::from_millis(20), Duration::from_millis(60), |_| {});
        std::fs::write(dir.join("b.yml"), GOOD.replace("title: t", "title: u")).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while store.generation() == 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(store.current().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
