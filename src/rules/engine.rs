//! The per-worker engine: routes each event to the rules of its logsource, prefilters them,
//! evaluates the candidates, feeds correlations and passes alerts through suppression.
//!
//! One engine per worker thread owns its correlation and suppression state; the rule set is
//! shared read-only. Nothing allocates per event unless a rule matches.

use std::sync::Arc;
use std::time::Instant;

use super::alert::Alert;
use super::correlation::{CorrelationState, Fired};
use super::eval::detection_matches;
use super::ruleset::{RuleSet, View};
use crate::event::{Event, LogSource, Timestamp};
use crate::metrics;

/// How often (in event time) expired suppression windows and correlation windows are closed.
const SWEEP_NS: i64 = 1_000_000_000;
/// Logsource views an engine keeps at hand.
const VIEW_CACHE: usize = 16;
/// Events between metric publications when `process` is called one event at a time.
const PUBLISH_EVERY: u64 = 4096;

pub struct Engine {
    rules: Arc<RuleSet>,
    /// Views of the logsources seen recently; events of a few kinds interleave in a batch.
    views: Vec<(LogSource, &'static [&'static str], Arc<View>)>,
    cand: Vec<u64>,
    /// Rules that matched the current event (reused buffer).
    matched: Vec<u32>,
    buf: String,
    corr: CorrelationState,
    suppress: super::suppress::Suppressor,
    fired: Vec<Fired>,
    next_sweep: i64,
    /// Matches per detection rule not yet published to metrics.
    pending: Vec<u64>,
    /// Matches per detection rule since the engine started.
    totals: Vec<u64>,
    pending_events: u64,
    published_evictions: u64,
    published_suppressed: u64,
    matches: u64,
    evaluations: u64,
    /// Per detection rule (evaluations, nanoseconds), when profiling is on.
    profile: Option<Vec<(u64, u64)>>,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>) -> Engine {
        let n = rules.detections.len() + rules.correlations.len();
        let max_groups = rules.opts.max_groups;
        Engine {
            corr: CorrelationState::new(
                rules.correlations.len(),
                rules.opts.max_groups,
                rules.opts.max_events_per_group,
            ),
            suppress: super::suppress::Suppressor::new(max_groups),
            pending: vec![0; n],
            totals: vec![0; n],
            rules,
            views: Vec::new(),
            cand: Vec::new(),
            matched: Vec::new(),
            buf: String::new(),
            fired: Vec::new(),
            next_sweep: i64::MIN,
            pending_events: 0,
            published_evictions: 0,
            published_suppressed: 0,
            matches: 0,
            evaluations: 0,
            profile: None,
        }
    }

    /// Switches to a reloaded rule set. Correlation state is dropped (rule indices change);
    /// open suppression windows are closed first so their counts are not lost.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>, out: &mut Vec<Alert>) {
        self.suppress.expire(None, out);
        self.publish();
        *self = Engine::new(rules);
    }

    /// The rule set this engine runs.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Measures the time spent in each rule from now on (costs a clock read per evaluation).
    pub fn enable_profile(&mut self) {
        self.profile = Some(vec![(0, 0); self.rules.detections.len()]);
    }

    /// With profiling on: (rule id and title, evaluations, total nanoseconds), costliest first.
    pub fn rule_costs(&self) -> Vec<(String, u64, u64)> {
        let Some(p) = &self.profile else {
            return Vec::new();
        };
        let mut v: Vec<(String, u64, u64)> = p
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(i, (n, ns))| {
                let info = &self.rules.detections[i].info;
                (format!("{} {}", info.id, info.title), *n, *ns)
            })
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.2));
        v
    }

    /// Rule evaluations so far (candidates the prefilter let through).
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Detection matches so far (before suppression, alerting or not).
    pub fn matches(&self) -> u64 {
        self.matches
    }

    /// Index in `self.views` of the view for `ls`, building it on first sight.
    /// The view for an event: its logsource and the services it also answers to.
    fn view_for(&mut self, ls: &LogSource, aliases: &'static [&'static str]) -> usize {
        let any = self.rules.opts.logsource_any;
        // Service first: it is what tells the views of one product apart. Alias lists are
        // static, so the same address is the same list (else compare their contents).
        let same = |(cached, a, _): &(LogSource, &'static [&'static str], Arc<View>)| {
            cached.service == ls.service
                && cached.product == ls.product
                && cached.category == ls.category
                && (std::ptr::eq(*a, aliases) || *a == aliases)
        };
        if let Some(i) = self.views.iter().position(|v| any || same(v)) {
            return i;
        }
        let v = self.rules.view(ls, aliases);
        if self.views.len() >= VIEW_CACHE {
            self.views.remove(0);
        }
        self.views.push((ls.clone(), aliases, v));
        self.views.len() - 1
    }

    /// Evaluates one event; alerts are appended to `out`.
    pub fn process(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        self.eval(ev, out);
        self.pending_events += 1;
        if self.pending_events >= PUBLISH_EVERY {
            self.publish();
        }
    }

    /// Evaluates a batch; metrics are published once for the batch.
    pub fn process_batch(&mut self, evs: &[Event], out: &mut Vec<Alert>) {
        let start = Instant::now();
        for ev in evs {
            self.eval(ev, out);
        }
        metrics::RULE_EVAL_SECONDS.observe(start.elapsed().as_secs_f64());
        self.pending_events += evs.len() as u64;
        self.publish();
    }

    /// End of input (or a quiet period): closes correlation and suppression windows that ended
    /// by `now`, emitting what they hold. `Timestamp(i64::MAX)` closes everything.
    pub fn flush(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let until = if now.0 == i64::MAX { None } else { Some(now.0) };
        self.close_windows(until, out);
        self.suppress.expire(until, out);
        self.publish();
    }

    fn close_windows(&mut self, until: Option<i64>, out: &mut Vec<Alert>) {
        let mut fired = std::mem::take(&mut self.fired);
        self.corr
            .close_windows(&self.rules.correlations, until, &mut fired);
        let rules = self.rules.clone();
        for f in fired.drain(..) {
            // Closed windows have no triggering event; their alerts carry none.
            self.correlation_fired(&rules, f, None, out);
        }
        self.fired = fired;
    }

    fn publish(&mut self) {
        let nd = self.rules.detections.len();
        for (i, n) in self.pending.iter_mut().enumerate() {
            if *n == 0 {
                continue;
            }
            let info = if i < nd {
                &self.rules.detections[i].info
            } else {
                &self.rules.correlations[i - nd].info
            };
            metrics::RULE_MATCHES
                .with_label_values(&[info.id.as_str()])
                .inc_by(*n);
            *n = 0;
        }
        metrics::CORRELATION_EVICTIONS.inc_by(self.corr.evictions - self.published_evictions);
        self.published_evictions = self.corr.evictions;
        metrics::ALERTS_SUPPRESSED.inc_by(self.suppress.suppressed - self.published_suppressed);
        self.published_suppressed = self.suppress.suppressed;
        self.pending_events = 0;
    }

    fn eval(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        if ev.ts.0 >= self.next_sweep {
            if self.next_sweep != i64::MIN {
                self.close_windows(Some(ev.ts.0), out);
                self.suppress.expire(Some(ev.ts.0), out);
            }
            self.next_sweep = ev.ts.0.saturating_add(SWEEP_NS);
        }
        let vi = self.view_for(&ev.logsource, crate::logs::service_aliases(ev));
        let Some((_, _, view)) = self.views.get(vi) else {
            return;
        };
        let mut cand = std::mem::take(&mut self.cand);
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        view.prefilter.candidates(ev, &mut cand, &mut self.buf);
        for (wi, word) in cand.iter().enumerate() {
            let mut w = *word;
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                let Some(&ri) = view.rules.get(wi * 64 + bit) else {
                    continue;
                };
                let rule = &self.rules.detections[ri as usize];
                self.evaluations += 1;
                let started = self.profile.is_some().then(Instant::now);
                let hit = detection_matches(&rule.det, ev, &mut self.buf)
                    && !rule
                        .exclusions
                        .iter()
                        .any(|x| detection_matches(x, ev, &mut self.buf));
                if let (Some(t), Some(p)) = (started, self.profile.as_mut()) {
                    if let Some(slot) = p.get_mut(ri as usize) {
                        slot.0 += 1;
                        slot.1 += t.elapsed().as_nanos() as u64;
                    }
                }
                if hit {
                    matched.push(ri);
                }
            }
        }
        self.cand = cand;
        if !matched.is_empty() {
            let rules = self.rules.clone();
            for &ri in &matched {
                self.detection_matched(&rules, ri, ev, out);
            }
        }
        self.matched = matched;
    }

    fn detection_matched(
        &mut self,
        rules: &Arc<RuleSet>,
        ri: u32,
        ev: &Event,
        out: &mut Vec<Alert>,
    ) {
        self.matches += 1;
        self.pending[ri as usize] += 1;
        self.totals[ri as usize] += 1;
        let rule = &rules.detections[ri as usize];
        if rule.alert {
            let alert = Alert::new(rule.info.clone(), ev);
            self.emit(ri, rule.suppression.as_ref(), alert, out);
        }
        let mut fired = std::mem::take(&mut self.fired);
        for &(ci, pos) in &rule.parents {
            self.feed(rules, ci, pos, ev, &mut fired);
        }
        for f in fired.drain(..) {
            self.correlation_fired(rules, f, Some(ev), out);
        }
        self.fired = fired;
    }

    fn feed(
        &mut self,
        rules: &Arc<RuleSet>,
        ci: u32,
        pos: u16,
        ev: &Event,
        fired: &mut Vec<Fired>,
    ) {
        let Some(c) = rules.correlations.get(ci as usize) else {
            return;
        };
        self.corr.feed(ci, c, pos, ev, fired);
    }

    fn correlation_fired(
        &mut self,
        rules: &Arc<RuleSet>,
        f: Fired,
        ev: Option<&Event>,
        out: &mut Vec<Alert>,
    ) {
        let nd = rules.detections.len() as u32;
        let Some(c) = rules.correlations.get(f.corr as usize) else {
            return;
        };
        self.pending[(nd + f.corr) as usize] += 1;
        if c.alert {
            let mut alert = match ev {
                Some(ev) => Alert::new(c.info.clone(), ev),
                None => Alert {
                    ts: Timestamp(f.ts),
                    rule: c.info.clone(),
                    tenant: None,
                    src_ip: None,
                    dst_ip: None,
                    summary: String::new(),
                    event: None,
                    incident_id: None,
                    correlation: None,
                    count: 1,
                },
            };
            let group: Vec<String> = f
                .hit
                .group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            alert.summary = format!(
                "{}: {} {} for {}",
                c.info.title,
                f.hit.kind,
                f.hit.count,
                group.join(", ")
            );
            for (k, v) in &f.hit.group {
                match k.as_str() {
                    "src_ip" if alert.src_ip.is_none() => alert.src_ip = Some(v.clone()),
                    "dst_ip" if alert.dst_ip.is_none() => alert.dst_ip = Some(v.clone()),
                    _ => {}
                }
            }
            alert.correlation = Some(f.hit);
            self.emit(nd + f.corr, c.suppression.as_ref(), alert, out);
        }
        // Chained correlations: this one firing is a hit for the correlations that name it.
        if let Some(ev) = ev {
            let mut fired = Vec::new();
            for &(pi, pos) in &c.parents {
                self.feed(rules, pi, pos, ev, &mut fired);
            }
            for f in fired {
                self.correlation_fired(rules, f, Some(ev), out);
            }
        }
    }

    fn emit(
        &mut self,
        key: u32,
        spec: Option<&super::parse::SuppressionSpec>,
        alert: Alert,
        out: &mut Vec<Alert>,
    ) {
        match spec {
            Some(s) => self.suppress.admit(key, s, alert, out),
            None => out.push(alert),
        }
    }

    /// Matches per rule since the engine started (rules with at least one), most first.
    pub fn rule_matches(&self) -> Vec<(String, u64)> {
        let nd = self.rules.detections.len();
        let mut v: Vec<(String, u64)> = self
            .totals
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let info = if i < nd {
                    &self.rules.detections[i].info
                } else {
                    &self.rules.correlations[i - nd].info
                };
                (format!("{} {}", info.id, info.title), *n)
            })
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        v
    }

    /// Correlation groups evicted because a rule reached its group limit.
    pub fn evictions(&self) -> u64 {
        self.corr.evictions
    }

    /// Correlation groups and suppression windows currently held (for diagnostics).
    pub fn state_size(&self) -> (usize, usize) {
        (self.corr.groups(), self.suppress.len())
    }
}
