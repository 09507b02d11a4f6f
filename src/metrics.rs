//! Every Prometheus metric vigil exports, in one place. Hot paths count locally and add
//! to these once per batch, so worker threads do not contend on shared atomics per event.

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
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
