//! The rule engine's Prometheus metrics, registered in the default registry on first use.
//!
//! Engines count locally and publish once per batch: these atomics are shared by every worker.
//! (To be folded into the crate's `metrics.rs`.)

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

fn registered<C: prometheus::core::Collector + Clone + 'static>(
    c: prometheus::Result<C>,
) -> Option<C> {
    let c = c.ok()?;
    // A second registration (tests, reloads) fails harmlessly; the metric still counts.
    let _ = prometheus::default_registry().register(Box::new(c.clone()));
    Some(c)
}

pub static RULE_MATCHES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    registered(IntCounterVec::new(
        Opts::new(
            "vigil_rule_matches_total",
            "Events matched, per rule (before suppression).",
        ),
        &["rule"],
    ))
});

pub static RULE_EVAL_SECONDS: LazyLock<Option<Histogram>> = LazyLock::new(|| {
    registered(Histogram::with_opts(
        HistogramOpts::new(
            "vigil_rule_eval_seconds",
            "Time to evaluate the rules against one batch of events.",
        )
        .buckets(prometheus::exponential_buckets(1e-6, 4.0, 12).unwrap_or_default()),
    ))
});

pub static RULES_LOADED: LazyLock<Option<IntGauge>> = LazyLock::new(|| {
    registered(IntGauge::new(
        "vigil_rules_loaded",
        "Rules in the running rule set.",
    ))
});

pub static RULES_RELOAD: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    registered(IntCounterVec::new(
        Opts::new(
            "vigil_rules_reload_total",
            "Rule set reloads by result (ok, error).",
        ),
        &["result"],
    ))
});

pub static CORRELATION_EVICTIONS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    registered(IntCounter::new(
        "vigil_correlation_evictions_total",
        "Correlation groups evicted because the per-rule group limit was reached.",
    ))
});

pub static ALERTS_SUPPRESSED: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    registered(IntCounter::new(
        "vigil_alerts_suppressed_total",
        "Alerts collapsed into a suppression window instead of being emitted.",
    ))
});

pub fn add_matches(rule: &str, n: u64) {
    if let Some(c) = RULE_MATCHES.as_ref() {
        c.with_label_values(&[rule]).inc_by(n);
    }
}

pub fn observe_eval(seconds: f64) {
    if let Some(h) = RULE_EVAL_SECONDS.as_ref() {
        h.observe(seconds);
    }
}

pub fn set_loaded(n: usize) {
    if let Some(g) = RULES_LOADED.as_ref() {
        g.set(n as i64);
    }
}

pub fn count_reload(ok: bool) {
    if let Some(c) = RULES_RELOAD.as_ref() {
        c.with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }
}

pub fn add_evictions(n: u64) {
    if let (Some(c), true) = (CORRELATION_EVICTIONS.as_ref(), n > 0) {
        c.inc_by(n);
    }
}

pub fn add_suppressed(n: u64) {
    if let (Some(c), true) = (ALERTS_SUPPRESSED.as_ref(), n > 0) {
        c.inc_by(n);
    }
}
