//! Every Prometheus metric vigil exports, in one place. Hot paths count locally and add
//! to these once per batch, so worker threads do not contend on shared atomics per event.
//! Label values that come from data (tenants, tactics) go through [`tenant_label`] and
//! [`tactics`], which keep their number bounded whatever the input.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use prometheus::core::Collector;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts,
};

fn reg<T: Collector + Clone + 'static>(m: T) -> T {
    // Registering twice only happens in tests that build several pipelines; the first wins.
    let _ = prometheus::default_registry().register(Box::new(m.clone()));
    m
}

fn counter(name: &str, help: &str) -> IntCounter {
    reg(IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}")))
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}")))
}

fn gauge(name: &str, help: &str) -> IntGauge {
    reg(IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}")))
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    reg(IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}")))
}

fn float_gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    reg(GaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}")))
}

/// Events produced, by source and event kind.
pub static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_events_total",
        "Events produced, by source and kind.",
        &["source", "kind"],
    )
});
/// Packets read, by source.
pub static PACKETS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_packets_total",
        "Packets read, by source.",
        &["source"],
    )
});
/// Bytes read (frame lengths on the wire), by source.
pub static BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_bytes_total",
        "Bytes of packets read, by source.",
        &["source"],
    )
});
/// Malformed packets, by source and the layer that failed.
pub static DECODE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_decode_errors_total",
        "Packets that could not be decoded, by source and layer.",
        &["source", "layer"],
    )
});
/// Unparseable log lines or records, by source and format.
pub static PARSE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_parse_errors_total",
        "Records that could not be parsed, by source and format.",
        &["source", "format"],
    )
});
/// Events dropped, by source (or queue) and reason.
pub static DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_events_dropped_total",
        "Events dropped, by source and reason.",
        &["source", "reason"],
    )
});
/// Depth of each bounded queue, in batches.
pub static QUEUE_DEPTH: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "vigil_queue_depth",
        "Batches waiting in each bounded queue.",
        &["queue"],
    )
});
/// Flows tracked right now, over all workers.
pub static FLOWS_ACTIVE: LazyLock<IntGauge> =
    LazyLock::new(|| gauge("vigil_flows_active", "Flows currently tracked."));
/// Flows created.
pub static FLOWS: LazyLock<IntCounter> =
    LazyLock::new(|| counter("vigil_flows_total", "Flows created."));
/// Flows pushed out by the flow table's memory cap.
pub static FLOWS_EVICTED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "vigil_flows_evicted_total",
        "Flows evicted by the flow table's memory cap.",
    )
});
/// IP fragments seen, and those whose first fragment was never seen.
pub static FRAGMENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_fragments_total",
        "IP fragments, by whether they were attributed to a flow.",
        &["attributed"],
    )
});
/// Events matched, per rule id (before suppression).
pub static RULE_MATCHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_rule_matches_total",
        "Events matched, per rule (before suppression).",
        &["rule"],
    )
});
/// Time to evaluate the rules against one batch of events.
pub static RULE_EVAL_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    let buckets = prometheus::exponential_buckets(1e-6, 4.0, 12).unwrap_or_default();
    let opts = HistogramOpts::new(
        "vigil_rule_eval_seconds",
        "Time to evaluate the rules against one batch of events.",
    );
    reg(Histogram::with_opts(opts.buckets(buckets))
        .unwrap_or_else(|e| panic!("metric vigil_rule_eval_seconds: {e}")))
});
/// Rules in the running rule set.
pub static RULES_LOADED: LazyLock<IntGauge> =
    LazyLock::new(|| gauge("vigil_rules_loaded", "Rules in the running rule set."));
/// Rule set reloads, by result (`ok`, `error`).
pub static RULES_RELOAD: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_rules_reload_total",
        "Rule set reloads by result (ok, error).",
        &["result"],
    )
});
/// Correlation groups evicted by the per-rule group limit.
pub static CORRELATION_EVICTIONS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "vigil_correlation_evictions_total",
        "Correlation groups evicted because the per-rule group limit was reached.",
    )
});
/// Alerts collapsed into a suppression window instead of being emitted.
pub static ALERTS_SUPPRESSED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "vigil_alerts_suppressed_total",
        "Alerts collapsed into a suppression window instead of being emitted.",
    )
});
/// Alerts raised (after suppression), by level.
pub static ALERTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_alerts_total",
        "Alerts raised (after suppression), by level.",
        &["level"],
    )
});

/// Alerts raised (after suppression), by tenant (see [`tenant_label`]) and level.
pub static ALERTS_BY_TENANT: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_alerts_by_tenant_total",
        "Alerts raised (after suppression), by tenant (none: no tenant; other: past the label cap) and level.",
        &["tenant", "level"],
    )
});
/// Alerts raised (after suppression), by ATT&CK tactic from the rule's tags (see [`tactics`]).
/// An alert counts once for each tactic its rule names, or once as `none`.
pub static ALERTS_BY_TACTIC: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_alerts_by_tactic_total",
        "Alerts raised (after suppression), by ATT&CK tactic of the rule (once per tactic; none: no tactic tag).",
        &["tactic"],
    )
});
/// Wall time minus event time when an event reaches detection, by event kind. For flows the
/// event time is the flow's start, so the lag includes the flow's life and its idle timeout.
pub static EVENT_LAG_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    let opts = HistogramOpts::new(
        "vigil_event_lag_seconds",
        "Wall-clock time minus event time when an event reaches detection, by event kind.",
    )
    .buckets(vec![
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    ]);
    reg(HistogramVec::new(opts, &["kind"])
        .unwrap_or_else(|e| panic!("metric vigil_event_lag_seconds: {e}")))
});

/// Incidents not resolved (open or acknowledged), by tenant (see [`tenant_label`]) and
/// severity. Set by the incident store.
pub static INCIDENTS_OPEN: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "vigil_incidents_open",
        "Incidents not yet resolved, by tenant and severity.",
        &["tenant", "severity"],
    )
});
/// Size of the incident store on disk. Set by the incident store.
pub static STORE_SIZE_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    gauge(
        "vigil_store_size_bytes",
        "Size of the incident store on disk, in bytes.",
    )
});
/// A tenant's current risk score (from its unresolved incidents), by tenant (see
/// [`tenant_label`]). Set by the incident store.
pub static TENANT_RISK_SCORE: LazyLock<GaugeVec> = LazyLock::new(|| {
    float_gauge_vec(
        "vigil_tenant_risk_score",
        "Current risk score of a tenant, from its unresolved incidents.",
        &["tenant"],
    )
});

/// Most distinct tenant label values the metrics carry; further tenants are counted as
/// `other`.
pub const MAX_TENANT_LABELS: usize = 256;

/// Which tenant ids may be label values: those of the tenants file once the daemon has told
/// ([`set_tenants`]), else the first [`MAX_TENANT_LABELS`] seen. A tenant id can come from
/// the input (a JSON log with its own `src_tenant` field), so neither list trusts it blindly.
#[derive(Default)]
struct TenantLabels {
    known: Option<HashSet<String>>,
    seen: HashSet<String>,
}

impl TenantLabels {
    fn label<'a>(&mut self, tenant: Option<&'a str>) -> &'a str {
        let Some(t) = tenant else {
            return "none";
        };
        if let Some(known) = &self.known {
            return if known.contains(t) { t } else { "other" };
        }
        if self.seen.contains(t) {
            return t;
        }
        if self.seen.len() < MAX_TENANT_LABELS {
            self.seen.insert(t.to_string());
            return t;
        }
        "other"
    }

    fn set<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        let known = ids
            .into_iter()
            .take(MAX_TENANT_LABELS)
            .map(str::to_string)
            .collect();
        self.known = Some(known);
    }
}

static TENANT_LABELS: LazyLock<Mutex<TenantLabels>> =
    LazyLock::new(|| Mutex::new(TenantLabels::default()));

/// The `tenant` label value for a tenant: its id, `none` without one, or `other` for a
/// tenant outside the tenants file (see [`set_tenants`]) or past [`MAX_TENANT_LABELS`].
/// Every metric with a tenant label goes through this, so that their values agree and their
/// number stays bounded.
pub fn tenant_label(tenant: Option<&str>) -> &str {
    TENANT_LABELS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .label(tenant)
}

/// The tenants of the tenants file, at start and after each reload: from then on only these
/// ids are label values, any other tenant is `other`.
pub fn set_tenants<'a>(ids: impl IntoIterator<Item = &'a str>) {
    TENANT_LABELS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .set(ids);
}

/// The tactics a rule's tags name (`attack.discovery`, also `attack.Command-and-Control`),
/// as `tactic` label values (a fixed set: [`crate::drill::attack::TACTICS`]); technique tags
/// (`attack.t1046`) and others are not tactics.
pub fn tactics(tags: &[String]) -> impl Iterator<Item = &'static str> + '_ {
    tags.iter().filter_map(|t| crate::drill::attack::tactic(t))
}

/// Receive drops of each capture interface, as the kernel counts them.
pub static INTERFACE_RX_DROPPED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "vigil_interface_rx_dropped",
        "Packets the kernel dropped on a capture interface (sysfs rx_dropped).",
        &["interface"],
    )
});

/// Flow records decoded from NetFlow, IPFIX and sFlow exports, by source and format.
pub static FLOW_EXPORT_RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_flow_export_records_total",
        "Flow records decoded from exports (sFlow: packet samples), by source and format.",
        &["source", "format"],
    )
});
/// NetFlow v9 and IPFIX templates known, over all exporters.
pub static FLOW_EXPORT_TEMPLATES: LazyLock<IntGauge> = LazyLock::new(|| {
    gauge(
        "vigil_flow_export_templates",
        "NetFlow v9 and IPFIX templates known.",
    )
});
/// Data sets that arrived before their template: buffered, decoded late, or dropped. Counted
/// per set because without the template the number of records is unknown.
pub static FLOW_EXPORT_SETS_WITHOUT_TEMPLATE: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_flow_export_sets_without_template_total",
        "NetFlow v9/IPFIX data sets that arrived before their template, by outcome.",
        &["outcome"],
    )
});
/// sFlow counter samples received (counted, not decoded further).
pub static SFLOW_COUNTER_SAMPLES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "vigil_sflow_counter_samples_total",
        "sFlow counter samples received.",
    )
});
/// Datagrams the kernel dropped on a listening socket (receive buffer full), where readable.
pub static KERNEL_DROPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_kernel_drops_total",
        "Datagrams dropped by the kernel on a listening socket, by source (Linux only).",
        &["source"],
    )
});
/// Build information; the value is always 1.
pub static BUILD_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "vigil_build_info",
        "vigil's version; always 1.",
        &["version"],
    )
});

/// Reloads (SIGHUP) of tenants or rules, by what was reloaded and whether it worked.
pub static RELOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_reload_total",
        "Reloads of tenants or rules, by what and result (ok, error).",
        &["what", "result"],
    )
});
/// HTTPS API requests, by route and status code.
pub static API_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_api_requests_total",
        "API requests, by route and status code.",
        &["route", "code"],
    )
});
/// TLS handshakes that failed (old protocol versions, bad client certificates, timeouts).
pub static TLS_HANDSHAKE_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "vigil_tls_handshake_errors_total",
        "TLS handshakes on the API that failed.",
    )
});
/// TLS handshakes that failed on a source's listener (syslog over TLS), by why.
pub static SOURCE_TLS_HANDSHAKE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_source_tls_handshake_errors_total",
        "TLS handshakes on a source's listener that failed, by source and reason.",
        &["source", "reason"],
    )
});
/// Log files followed: rotations and truncations noticed, by kind.
pub static FILE_ROTATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_file_rotations_total",
        "Rotations of followed log files noticed, by kind (rename, truncate).",
        &["kind"],
    )
});
/// Connections open on each listener (API, syslog over TCP).
pub static CONNECTIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "vigil_connections_open",
        "Connections open, by listener.",
        &["listener"],
    )
});

/// Touches the metrics that have no labels to fill, so that a scrape shows them from the start.
pub fn init() {
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    LazyLock::force(&FLOWS_ACTIVE);
    LazyLock::force(&FLOWS);
    LazyLock::force(&FLOWS_EVICTED);
    LazyLock::force(&RULES_LOADED);
    LazyLock::force(&RULE_EVAL_SECONDS);
    LazyLock::force(&CORRELATION_EVICTIONS);
    LazyLock::force(&ALERTS_SUPPRESSED);
    // Known label values start at zero, so that a rate over them is 0 rather than absent.
    for level in ["informational", "low", "medium", "high", "critical"] {
        ALERTS.with_label_values(&[level]);
    }
    for result in ["ok", "error"] {
        RELOADS.with_label_values(&["tenants", result]);
        RULES_RELOAD.with_label_values(&[result]);
    }
}

/// The text exposition of every registered metric.
pub fn render() -> String {
    let mut buf = String::new();
    let families = prometheus::default_registry().gather();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut buf) {
        buf = format!("# error encoding metrics: {e}\n");
    }
    buf
}

/// Alerts an output delivered (Alertmanager: alert updates; webhook: alerts), by output.
pub static OUTPUT_SENT: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_output_sent_total",
        "Alerts delivered by an output, by output.",
        &["output"],
    )
});
/// Failed delivery attempts (each retry counts), by output.
pub static OUTPUT_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_output_errors_total",
        "Failed delivery attempts of an output (each retry counts), by output.",
        &["output"],
    )
});
/// Alerts an output gave up on: queue full, retries exhausted, or notices missed.
pub static OUTPUT_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "vigil_output_dropped_total",
        "Alerts an output dropped (queue full, retries exhausted, notices missed), by output.",
        &["output"],
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_are_read_from_attack_tags_only() {
        let tags: Vec<String> = [
            "attack.discovery",
            "attack.t1046",
            "attack.Command-and-Control",
            "cloud.vm_escape",
            "attack.",
            "attack.discovery_x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got: Vec<&str> = tactics(&tags).collect();
        assert_eq!(got, ["discovery", "command_and_control"]);
    }

    #[test]
    fn tenant_labels_are_capped() {
        let mut l = TenantLabels::default();
        assert_eq!(l.label(None), "none");
        assert_eq!(l.label(Some("acme")), "acme");
        for i in 0..MAX_TENANT_LABELS + 10 {
            let t = format!("t{i}");
            let got = l.label(Some(&t));
            assert_eq!(got == t, i + 1 < MAX_TENANT_LABELS, "{t}: {got}");
        }
        assert_eq!(l.seen.len(), MAX_TENANT_LABELS);
        assert_eq!(l.label(Some("a-new-one")), "other");
        assert_eq!(
            l.label(Some("acme")),
            "acme",
            "known tenants keep their label"
        );
    }

    #[test]
    fn with_a_tenants_file_only_its_tenants_are_labels() {
        let mut l = TenantLabels::default();
        assert_eq!(l.label(Some("from-the-input")), "from-the-input");
        l.set(["acme", "globex"]);
        assert_eq!(l.label(Some("acme")), "acme");
        assert_eq!(l.label(Some("from-the-input")), "other");
        assert_eq!(l.label(None), "none");
        l.set(["globex"]);
        assert_eq!(l.label(Some("acme")), "other", "a reload removes acme");
    }
}
