//! Alert suppression: repeats of a rule with the same group-by values within a window collapse.
//!
//! The first alert of a window goes out at once; when the window closes (on event time) and
//! more came, one closing alert carries `collapsed: N`, the number of firings in the window.
//! State is bounded; when full, the oldest window is closed early.

use std::collections::HashMap;

use super::alert::Alert;
use super::matcher::value_text;
use super::parse::SuppressionSpec;

struct Window {
    start: i64,
    window: i64,
    count: u64,
    first: Alert,
    last_ts: i64,
}

/// The suppression state one engine owns.
pub struct Suppressor {
    windows: HashMap<(u32, Box<str>), Window>,
    max: usize,
    /// Alerts absorbed into a window (not emitted on their own).
    pub suppressed: u64,
}

impl Suppressor {
    pub fn new(max: usize) -> Suppressor {
        Suppressor {
            windows: HashMap::new(),
            max: max.max(1),
            suppressed: 0,
        }
    }

    fn key(alert: &Alert, spec: &SuppressionSpec) -> Box<str> {
        let mut key = String::new();
        let mut buf = String::new();
        for name in &spec.group_by {
            let v = alert
                .event
                .as_ref()
                .and_then(|e| e.fields.get_name(name))
                .and_then(|v| value_text(v, &mut buf).map(str::to_string))
                .or_else(|| {
                    alert.correlation.as_ref().and_then(|c| {
                        c.group
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.clone())
                    })
                })
                .unwrap_or_default();
            key.push_str(&v);
            key.push('\u{1f}');
        }
        key.into()
    }

    /// Passes `alert` of rule `rule` through suppression `spec`.
    pub fn admit(&mut self, rule: u32, spec: &SuppressionSpec, alert: Alert, out: &mut Vec<Alert>) {
        let key = (rule, Suppressor::key(&alert, spec));
        let ts = alert.ts.0;
        if let Some(w) = self.windows.get_mut(&key) {
            if ts < w.start + w.window {
                w.count += 1;
                w.last_ts = w.last_ts.max(ts);
                self.suppressed += 1;
                return;
            }
            if let Some(w) = self.windows.remove(&key) {
                close(w, out);
            }
        }
        if self.windows.len() >= self.max {
            if let Some(oldest) = self
                .windows
                .iter()
                .min_by_key(|(_, w)| w.start)
                .map(|(k, _)| k.clone())
            {
                if let Some(w) = self.windows.remove(&oldest) {
                    close(w, out);
                }
            }
        }
        self.windows.insert(
            key,
            Window {
                start: ts,
                window: spec.window_ns,
                count: 1,
                first: alert.clone(),
                last_ts: ts,
            },
        );
        out.push(alert);
    }

    /// Closes the windows that ended by `now` (all of them when `now` is `None`).
    pub fn expire(&mut self, now: Option<i64>, out: &mut Vec<Alert>) {
        let mut ended: Vec<(u32, Box<str>)> = self
            .windows
            .iter()
            .filter(|(_, w)| now.is_none_or(|n| n >= w.start + w.window))
            .map(|(k, _)| k.clone())
            .collect();
        ended.sort_by_key(|k| self.windows.get(k).map(|w| w.start));
        for k in ended {
            if let Some(w) = self.windows.remove(&k) {
                close(w, out);
            }
        }
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.windows.len()
    }
}

fn close(w: Window, out: &mut Vec<Alert>) {
    if w.count <= 1 {
        return;
    }
    let mut a = w.first;
    a.ts = crate::event::Timestamp(w.last_ts);
    a.count = w.count;
    a.summary = format!(
        "{} ({} alerts in {}s, collapsed)",
        a.summary,
        w.count,
        w.window / 1_000_000_000
    );
    out.push(a);
}
