//! The daemon's TOML configuration: defaults embedded, a file that overrides them key by key,
//! and `vigil run` flags that override both. Every problem is reported with the file, the line
//! and the key, and what to write instead; all problems are reported at once, not the first.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::pipeline::PipelineConfig;

const SEC: i64 = 1_000_000_000;

/// The default API address (DESIGN.md).
pub const DEFAULT_API: &str = "127.0.0.1:8443";
/// The default syslog address, UDP and TCP.
pub const DEFAULT_SYSLOG: &str = "127.0.0.1:5514";
/// The default NetFlow/IPFIX address.
pub const DEFAULT_NETFLOW: &str = "127.0.0.1:2055";
/// The default data folder.
pub const DEFAULT_DATA: &str = "./vigil-data";
/// The JSON-lines output, relative to the data folder.
pub const DEFAULT_JSONL: &str = "events.jsonl";

/// The daemon's configuration, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where vigil keeps its state (TLS material, the store, the JSON-lines output).
    pub data: PathBuf,
    pub api: ApiConfig,
    pub sources: SourcesConfig,
    /// The tenants file; none means no tenant enrichment beyond zones of public addresses.
    pub tenants: Option<PathBuf>,
    /// Rule files and folders.
    pub rules: Vec<PathBuf>,
    /// Folders of indicator lists (`NAME.txt` binds the placeholder `%NAME%`).
    pub indicators: Vec<PathBuf>,
    /// Suppression for rules without their own block: window and group-by fields.
    pub suppression: Option<crate::rules::SuppressionSpec>,
    pub pipeline: PipelineConfig,
    /// Batches of events from network sources waiting for the pipeline; past it they drop.
    pub ingest_queue: usize,
    pub output: OutputConfig,
    pub store: StoreConfig,
    /// How long a SIGTERM may take to drain queues and flush outputs.
    pub shutdown_timeout: Duration,
}

/// The incident store under `DATA/store/`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// Alerts about one tenant and entity this close in event time share an incident.
    pub incident_window: Duration,
    /// Alerts older than this (before the newest event time) are removed.
    pub max_age: Option<Duration>,
    /// Alert records are trimmed, oldest first, to at most this many bytes.
    pub max_bytes: Option<u64>,
    /// How often retention runs.
    pub retention_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            incident_window: Duration::from_secs(30 * 60),
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
            max_bytes: Some(4 << 30),
            retention_interval: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Server certificate and key; none means the dev material under `DATA/tls/`.
    pub tls: Option<TlsFiles>,
    /// When set, clients must present a certificate signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug)]
pub struct SourcesConfig {
    pub syslog_udp: Option<SocketAddr>,
    pub syslog_tcp: Option<SocketAddr>,
    /// Longest syslog message kept; longer ones are dropped and counted.
    pub syslog_max_message: usize,
    /// Most TCP syslog connections at once; more wait in the kernel's backlog.
    pub syslog_max_connections: usize,
    /// Syslog over TLS (RFC 5425); off by default.
    pub syslog_tls: Option<SocketAddr>,
    /// When set, syslog-over-TLS clients must present a certificate signed by this CA.
    pub syslog_tls_client_ca: Option<PathBuf>,
    /// Log files to follow (absolute paths), their read positions kept in `DATA/positions.json`.
    pub files: Vec<PathBuf>,
    pub netflow: Option<SocketAddr>,
    /// Interfaces for live capture (AF_PACKET).
    pub interfaces: Vec<String>,
    /// Capture threads per interface, spread by the kernel's flow-hash fanout.
    pub capture_threads: usize,
    /// Put capture interfaces in promiscuous mode.
    pub promiscuous: bool,
}

#[derive(Clone, Debug)]
pub struct OutputConfig {
    /// The JSON-lines file events (and, once rules are loaded, alerts) are appended to.
    pub jsonl: PathBuf,
    /// Write every normalized event, not only alerts.
    pub events: bool,
    /// Alertmanager, the webhook, and rotation of the JSON-lines file.
    pub outputs: crate::output::OutputsConfig,
}

/// Command-line values that override the file (`vigil run` flags).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub api: Option<String>,
    pub syslog: Option<String>,
    pub syslog_tls: Option<String>,
    pub files: Vec<PathBuf>,
    pub netflow: Option<String>,
    pub tenants: Option<PathBuf>,
    pub rules: Vec<PathBuf>,
    pub interfaces: Vec<String>,
}

/// One thing wrong with the configuration, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The file (and line) or the flag the value came from.
    pub origin: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Read { .. } => vec![self.to_string()],
            ConfigError::Invalid(p) => p.iter().map(Problem::to_string).collect(),
        }
    }
}

fn list(p: &[Problem]) -> String {
    p.iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Default for Config {
    fn default() -> Config {
        let syslog = DEFAULT_SYSLOG.parse().ok();
        Config {
            data: PathBuf::from(DEFAULT_DATA),
            api: ApiConfig {
                listen: DEFAULT_API
                    .parse()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8443))),
                tls: None,
                client_ca: None,
            },
            sources: SourcesConfig {
                syslog_udp: syslog,
                syslog_tcp: syslog,
                syslog_max_message: 64 * 1024,
                syslog_max_connections: 512,
                syslog_tls: None,
                syslog_tls_client_ca: None,
                files: Vec::new(),
                netflow: DEFAULT_NETFLOW.parse().ok(),
                interfaces: Vec::new(),
                capture_threads: 1,
                promiscuous: true,
            },
            tenants: None,
            rules: Vec::new(),
            indicators: Vec::new(),
            suppression: None,
            pipeline: PipelineConfig::default(),
            ingest_queue: 256,
            output: OutputConfig {
                jsonl: Path::new(DEFAULT_DATA).join(DEFAULT_JSONL),
                events: true,
                outputs: crate::output::OutputsConfig::default(),
            },
            store: StoreConfig::default(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

// The file as written. Values that can be wrong after parsing keep their span so that the
// error can name the line.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    data: Option<Spanned<String>>,
    shutdown_timeout: Option<Spanned<u64>>,
    api: RawApi,
    sources: RawSources,
    tenants: RawTenants,
    rules: RawRules,
    flow: RawFlow,
    pipeline: RawPipeline,
    output: RawOutput,
    store: RawStore,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    incident_window: Option<Spanned<String>>,
    max_age: Option<Spanned<String>>,
    max_bytes: Option<Spanned<u64>>,
    retention_interval: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawApi {
    listen: Option<Spanned<String>>,
    tls: RawTls,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    client_ca: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSources {
    syslog_udp: Option<Spanned<String>>,
    syslog_tcp: Option<Spanned<String>>,
    syslog_max_message: Option<Spanned<usize>>,
    syslog_max_connections: Option<Spanned<usize>>,
    syslog_tls: Option<Spanned<String>>,
    syslog_tls_client_ca: Option<Spanned<String>>,
    files: Option<Vec<Spanned<String>>>,
    netflow: Option<Spanned<String>>,
    interfaces: Option<Vec<String>>,
    capture_threads: Option<Spanned<usize>>,
    promiscuous: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTenants {
    file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRules {
    paths: Option<Vec<Spanned<String>>>,
    indicators: Option<Vec<Spanned<String>>>,
    suppress_window: Option<Spanned<String>>,
    suppress_by: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFlow {
    new_timeout: Option<Spanned<u64>>,
    tcp_established_timeout: Option<Spanned<u64>>,
    tcp_closed_timeout: Option<Spanned<u64>>,
    udp_timeout: Option<Spanned<u64>>,
    icmp_timeout: Option<Spanned<u64>>,
    other_timeout: Option<Spanned<u64>>,
    active_timeout: Option<Spanned<u64>>,
    max_flows: Option<Spanned<usize>>,
    community_id_seed: Option<u16>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPipeline {
    workers: Option<usize>,
    batch: Option<Spanned<usize>>,
    queue: Option<Spanned<usize>>,
    ingest_queue: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawOutput {
    jsonl: Option<Spanned<String>>,
    events: Option<bool>,
    alertmanager: Option<crate::output::AlertmanagerConfig>,
    webhook: Option<crate::output::WebhookConfig>,
    rotate: Option<crate::output::RotationConfig>,
}

/// Collects problems while the file is turned into a [`Config`].
struct Check<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Check<'_> {
    fn line_of(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn at(&mut self, span: &Range<usize>, message: String) {
        let line = self.line_of(span);
        self.problems.push(Problem {
            origin: format!("{}:{line}", self.file),
            message,
        });
    }

    /// A listen address, or `off`.
    fn addr(&mut self, key: &str, v: &Spanned<String>) -> Option<Option<SocketAddr>> {
        match parse_listen(v.get_ref()) {
            Ok(a) => Some(a),
            Err(e) => {
                self.at(&v.span(), format!("{key}: {e}"));
                None
            }
        }
    }

    fn positive(&mut self, key: &str, v: &Spanned<u64>) -> Option<i64> {
        match i64::try_from(*v.get_ref()) {
            Ok(n) if n > 0 && n <= i64::MAX / SEC => Some(n * SEC),
            _ => {
                self.at(
                    &v.span(),
                    format!("{key}: must be a number of seconds above 0"),
                );
                None
            }
        }
    }

    fn count(&mut self, key: &str, v: &Spanned<usize>) -> Option<usize> {
        if *v.get_ref() == 0 {
            self.at(&v.span(), format!("{key}: must be above 0"));
            None
        } else {
            Some(*v.get_ref())
        }
    }

    /// A file to follow: an absolute path (its read position is kept under that name). It
    /// need not exist yet; the daemon waits for it.
    fn followed_file(&mut self, v: &Spanned<String>) -> Option<PathBuf> {
        let p = PathBuf::from(v.get_ref());
        if p.is_absolute() {
            Some(p)
        } else {
            self.at(
                &v.span(),
                format!(
                    "[sources] files: `{}` is not an absolute path; write it from `/`",
                    p.display()
                ),
            );
            None
        }
    }

    fn existing(&mut self, key: &str, v: &Spanned<String>, what: &str) -> PathBuf {
        let p = PathBuf::from(v.get_ref());
        if let Err(e) = std::fs::metadata(&p) {
            self.at(&v.span(), format!("{key}: {what} `{}`: {e}", p.display()));
        }
        p
    }
}

/// Parses a listen address: `HOST:PORT` with a literal IP, `[v6]:PORT`, or `off`.
pub fn parse_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse::<SocketAddr>().map(Some).map_err(|_| {
        format!(
            "`{s}` is not a socket address; write IP:PORT such as `127.0.0.1:5514` or `[::1]:5514`, or `off`"
        )
    })
}

impl Config {
    /// The defaults, then the file if any, then the flags; checks that every file named exists.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut problems = Vec::new();
        let mut jsonl_set = false;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let name = path.display().to_string();
            let mut check = Check {
                file: &name,
                text: &text,
                problems: Vec::new(),
            };
            match toml::from_str::<RawConfig>(&text) {
                Ok(raw) => jsonl_set = cfg.apply(raw, &mut check),
                Err(e) => syntax_problem(&mut check, &e),
            }
            // In file order, whatever order the checks ran in.
            check.problems.sort_by_key(|p| {
                p.origin
                    .rsplit_once(':')
                    .and_then(|(_, l)| l.parse::<usize>().ok())
            });
            problems.extend(check.problems);
        }
        cfg.apply_flags(flags, &mut problems);
        if !jsonl_set {
            cfg.output.jsonl = cfg.data.join(DEFAULT_JSONL);
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Applies the file's values; returns whether the output path was given.
    fn apply(&mut self, raw: RawConfig, c: &mut Check<'_>) -> bool {
        if let Some(d) = &raw.data {
            self.data = PathBuf::from(d.get_ref());
        }
        if let Some(t) = &raw.shutdown_timeout {
            if let Some(ns) = c.positive("shutdown_timeout", t) {
                self.shutdown_timeout = Duration::from_nanos(ns as u64);
            }
        }
        // [api]
        if let Some(v) = &raw.api.listen {
            match c.addr("[api] listen", v) {
                Some(Some(a)) => self.api.listen = a,
                Some(None) => c.at(
                    &v.span(),
                    "[api] listen: the API cannot be `off`; it serves /healthz and /metrics".into(),
                ),
                None => {}
            }
        }
        let tls = &raw.api.tls;
        match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => {
                self.api.tls = Some(TlsFiles {
                    cert: c.existing("[api.tls] cert", cert, "certificate"),
                    key: c.existing("[api.tls] key", key, "private key"),
                });
            }
            (Some(one), None) | (None, Some(one)) => c.at(
                &one.span(),
                "[api.tls]: `cert` and `key` go together; give both, or neither to use the dev certificate under DATA/tls/".into(),
            ),
            (None, None) => {}
        }
        if let Some(ca) = &tls.client_ca {
            self.api.client_ca = Some(c.existing("[api.tls] client_ca", ca, "CA certificate"));
        }
        // [sources]
        let s = &raw.sources;
        if let Some(v) = &s.syslog_udp {
            if let Some(a) = c.addr("[sources] syslog_udp", v) {
                self.sources.syslog_udp = a;
            }
        }
        if let Some(v) = &s.syslog_tcp {
            if let Some(a) = c.addr("[sources] syslog_tcp", v) {
                self.sources.syslog_tcp = a;
            }
        }
        if let Some(v) = &s.syslog_tls {
            if let Some(a) = c.addr("[sources] syslog_tls", v) {
                self.sources.syslog_tls = a;
            }
        }
        if let Some(ca) = &s.syslog_tls_client_ca {
            self.sources.syslog_tls_client_ca =
                Some(c.existing("[sources] syslog_tls_client_ca", ca, "CA certificate"));
        }
        if let Some(files) = &s.files {
            self.sources.files = files.iter().filter_map(|f| c.followed_file(f)).collect();
        }
        if let Some(v) = &s.netflow {
            if let Some(a) = c.addr("[sources] netflow", v) {
                self.sources.netflow = a;
            }
        }
        if let Some(n) = s
            .syslog_max_message
            .as_ref()
            .and_then(|v| c.count("[sources] syslog_max_message", v))
        {
            self.sources.syslog_max_message = n;
        }
        if let Some(n) = s
            .syslog_max_connections
            .as_ref()
            .and_then(|v| c.count("[sources] syslog_max_connections", v))
        {
            self.sources.syslog_max_connections = n;
        }
        if let Some(i) = &s.interfaces {
            self.sources.interfaces = i.clone();
        }
        if let Some(n) = s
            .capture_threads
            .as_ref()
            .and_then(|v| c.count("[sources] capture_threads", v))
        {
            self.sources.capture_threads = n;
        }
        if let Some(p) = s.promiscuous {
            self.sources.promiscuous = p;
        }
        // [tenants], [rules]
        if let Some(f) = &raw.tenants.file {
            self.tenants = Some(c.existing("[tenants] file", f, "tenants file"));
        }
        if let Some(paths) = &raw.rules.paths {
            self.rules = paths
                .iter()
                .map(|p| c.existing("[rules] paths", p, "rules path"))
                .collect();
        }
        if let Some(dirs) = &raw.rules.indicators {
            self.indicators = dirs
                .iter()
                .map(|p| c.existing("[rules] indicators", p, "indicator folder"))
                .collect();
        }
        if let Some(w) = &raw.rules.suppress_window {
            match crate::rules::parse_timespan(w.get_ref()) {
                Some(window_ns) => {
                    self.suppression = Some(crate::rules::SuppressionSpec {
                        window_ns,
                        group_by: raw.rules.suppress_by.clone().unwrap_or_default(),
                    })
                }
                None => c.at(
                    &w.span(),
                    format!(
                        "[rules] suppress_window: `{}` is not a duration like 30s, 10m, 1h",
                        w.get_ref()
                    ),
                ),
            }
        }
        // [store]
        let st = &raw.store;
        let mut span = |key: &str, v: &Option<Spanned<String>>| -> Option<Duration> {
            let v = v.as_ref()?;
            match crate::rules::parse_timespan(v.get_ref()) {
                Some(ns) if ns > 0 => Some(Duration::from_nanos(ns as u64)),
                _ => {
                    c.at(
                        &v.span(),
                        format!(
                            "[store] {key}: `{}` is not a duration like 30s, 10m, 1h, 30d",
                            v.get_ref()
                        ),
                    );
                    None
                }
            }
        };
        if let Some(d) = span("incident_window", &st.incident_window) {
            self.store.incident_window = d;
        }
        if let Some(d) = span("max_age", &st.max_age) {
            self.store.max_age = Some(d);
        }
        if let Some(d) = span("retention_interval", &st.retention_interval) {
            self.store.retention_interval = d;
        }
        if let Some(b) = &st.max_bytes {
            if *b.get_ref() == 0 {
                c.at(&b.span(), "[store] max_bytes: must be above 0".to_string());
            } else {
                self.store.max_bytes = Some(*b.get_ref());
            }
        }
        // [flow]
        let f = &raw.flow;
        let flow = &mut self.pipeline.flow;
        for (key, v, slot) in [
            ("new_timeout", &f.new_timeout, &mut flow.new_timeout),
            (
                "tcp_established_timeout",
                &f.tcp_established_timeout,
                &mut flow.tcp_established_timeout,
            ),
            (
                "tcp_closed_timeout",
                &f.tcp_closed_timeout,
                &mut flow.tcp_closed_timeout,
            ),
            ("udp_timeout", &f.udp_timeout, &mut flow.udp_timeout),
            ("icmp_timeout", &f.icmp_timeout, &mut flow.icmp_timeout),
            ("other_timeout", &f.other_timeout, &mut flow.other_timeout),
            (
                "active_timeout",
                &f.active_timeout,
                &mut flow.active_timeout,
            ),
        ] {
            if let Some(ns) = v
                .as_ref()
                .and_then(|v| c.positive(&format!("[flow] {key}"), v))
            {
                *slot = ns;
            }
        }
        if let Some(n) = f
            .max_flows
            .as_ref()
            .and_then(|v| c.count("[flow] max_flows", v))
        {
            flow.max_flows = n;
        }
        if let Some(seed) = f.community_id_seed {
            flow.community_id_seed = seed;
        }
        // [pipeline]
        let p = &raw.pipeline;
        if let Some(w) = p.workers {
            // 0 keeps the default: one worker per core but one.
            if w > 0 {
                self.pipeline.workers = w;
            }
        }
        if let Some(n) = p
            .batch
            .as_ref()
            .and_then(|v| c.count("[pipeline] batch", v))
        {
            self.pipeline.batch = n;
        }
        if let Some(n) = p
            .queue
            .as_ref()
            .and_then(|v| c.count("[pipeline] queue", v))
        {
            self.pipeline.queue = n;
        }
        if let Some(n) = p
            .ingest_queue
            .as_ref()
            .and_then(|v| c.count("[pipeline] ingest_queue", v))
        {
            self.ingest_queue = n;
        }
        // [output]
        if let Some(e) = raw.output.events {
            self.output.events = e;
        }
        self.output.outputs = crate::output::OutputsConfig {
            alertmanager: raw.output.alertmanager.clone(),
            webhook: raw.output.webhook.clone(),
            rotate: raw.output.rotate.clone(),
        };
        match &raw.output.jsonl {
            Some(j) => {
                let p = PathBuf::from(j.get_ref());
                // Relative paths are inside the data folder, so that one flag moves everything.
                self.output.jsonl = if p.is_absolute() {
                    p
                } else {
                    self.data.join(p)
                };
                true
            }
            None => false,
        }
    }

    fn apply_flags(&mut self, o: &Overrides, problems: &mut Vec<Problem>) {
        let mut flag = |name: &str, message: String| {
            problems.push(Problem {
                origin: name.to_string(),
                message,
            })
        };
        if let Some(d) = &o.data {
            let rel = self
                .output
                .jsonl
                .strip_prefix(&self.data)
                .ok()
                .map(Path::to_path_buf);
            self.data = d.clone();
            if let Some(rel) = rel {
                self.output.jsonl = self.data.join(rel);
            }
        }
        if let Some(a) = &o.api {
            match parse_listen(a) {
                Ok(Some(addr)) => self.api.listen = addr,
                Ok(None) => flag("--api", "the API cannot be `off`".into()),
                Err(e) => flag("--api", e),
            }
        }
        if let Some(a) = &o.syslog {
            match parse_listen(a) {
                Ok(addr) => {
                    self.sources.syslog_udp = addr;
                    self.sources.syslog_tcp = addr;
                }
                Err(e) => flag("--syslog", e),
            }
        }
        if let Some(a) = &o.syslog_tls {
            match parse_listen(a) {
                Ok(addr) => self.sources.syslog_tls = addr,
                Err(e) => flag("--syslog-tls", e),
            }
        }
        if !o.files.is_empty() {
            // Relative to where vigil was started, made absolute so the position keeps its name.
            let cwd = std::env::current_dir().unwrap_or_default();
            self.sources.files = o.files.iter().map(|f| cwd.join(f)).collect();
        }
        if let Some(a) = &o.netflow {
            match parse_listen(a) {
                Ok(addr) => self.sources.netflow = addr,
                Err(e) => flag("--netflow", e),
            }
        }
        if !o.interfaces.is_empty() {
            self.sources.interfaces = o.interfaces.clone();
        }
        if let Some(t) = &o.tenants {
            if let Err(e) = std::fs::metadata(t) {
                flag("--tenants", format!("`{}`: {e}", t.display()));
            }
            self.tenants = Some(t.clone());
        }
        if !o.rules.is_empty() {
            for r in &o.rules {
                if let Err(e) = std::fs::metadata(r) {
                    flag("--rules", format!("`{}`: {e}", r.display()));
                }
            }
            self.rules = o.rules.clone();
        }
    }
}

/// Turns a TOML or serde error into a problem with its line, the section it is in, and for an
/// unknown key the nearest known one.
fn syntax_problem(c: &mut Check<'_>, e: &toml::de::Error) {
    let span = e.span().unwrap_or(0..0);
    let msg = e.message().trim().to_string();
    let line_no = c.line_of(&span);
    let line = c.text.lines().nth(line_no - 1).unwrap_or("");
    let section = section_at(c.text, line_no);
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known = backticked(expected);
        let is_table = line.trim_start().starts_with('[');
        let (what, wrap): (&str, fn(&str) -> String) = if is_table {
            ("section", |s| format!("[{}]", s))
        } else {
            ("key", |s| s.to_string())
        };
        let mut m = match (&section, is_table) {
            (Some(s), false) => format!("unknown {what} `{}` in [{s}]", wrap(name)),
            _ => format!("unknown {what} `{}`", wrap(name)),
        };
        match nearest(name, &known) {
            Some(k) => m.push_str(&format!("; did you mean `{}`?", wrap(k))),
            None if !known.is_empty() => m.push_str(&format!(
                "; known: {}",
                known
                    .iter()
                    .map(|k| format!("`{}`", wrap(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => {}
        }
        c.at(&span, m);
        return;
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let m = match (section, key) {
        (Some(s), Some(k)) => format!("[{s}] {k}: {msg}"),
        (None, Some(k)) => format!("{k}: {msg}"),
        _ => msg,
    };
    c.at(&span, m);
}

/// The `[table]` a line is in, if any.
fn section_at(text: &str, line_no: usize) -> Option<String> {
    text.lines()
        .take(line_no)
        .filter_map(|l| {
            let t = l.trim();
            let inner = t.strip_prefix('[')?;
            let end = inner.find(']')?;
            Some(inner[..end].trim().to_string())
        })
        .last()
}

/// The names between backticks in serde's "expected one of `a`, `b`".
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// The known name closest to `name`, when close enough to be a typo.
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("vigil-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!(
            "{:x}.toml",
            text.len() * 31 + text.as_bytes()[0] as usize
        ));
        std::fs::write(&f, text).unwrap();
        let r = Config::load(Some(&f), &Overrides::default());
        let _ = std::fs::remove_file(&f);
        r
    }

    fn problems(text: &str) -> Vec<String> {
        match load_text(text) {
            Ok(_) => panic!("expected errors for {text:?}"),
            Err(ConfigError::Invalid(p)) => p
                .into_iter()
                .map(|p| {
                    // Drop the temporary file name, keep ":LINE: message".
                    let (_, line) = p.origin.rsplit_once(':').unwrap_or(("", &p.origin));
                    format!("{line}: {}", p.message)
                })
                .collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn defaults_match_design() {
        let c = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.sources.syslog_udp.unwrap().to_string(), "127.0.0.1:5514");
        assert_eq!(c.sources.syslog_tcp.unwrap().to_string(), "127.0.0.1:5514");
        assert_eq!(c.sources.netflow.unwrap().to_string(), "127.0.0.1:2055");
        assert_eq!(c.data, PathBuf::from("./vigil-data"));
        assert_eq!(c.output.jsonl, PathBuf::from("./vigil-data/events.jsonl"));
        assert!(c.rules.is_empty(), "the bundled rules by default");
    }

    #[test]
    fn unknown_key_names_line_section_and_suggestion() {
        let p = problems("data = \"/tmp/x\"\n\n[api]\nlistn = \"127.0.0.1:1\"\n");
        assert_eq!(
            p,
            vec!["4: unknown key `listn` in [api]; did you mean `listen`?"]
        );
    }

    #[test]
    fn unknown_section_is_named() {
        let p = problems("[sourcse]\nsyslog_udp = \"off\"\n");
        assert_eq!(
            p,
            vec!["1: unknown section `[sourcse]`; did you mean `[sources]`?"]
        );
    }

    #[test]
    fn bad_addresses_are_all_reported() {
        let p = problems(
            "[api]\nlisten = \"localhost\"\n[sources]\nsyslog_udp = \"off\"\nnetflow = \"1.2.3.4:99999\"\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("2: [api] listen: `localhost` is not a socket address"));
        assert!(p[1].starts_with("5: [sources] netflow: `1.2.3.4:99999`"));
    }

    #[test]
    fn off_disables_a_listener_and_missing_files_are_named() {
        let p = problems(
            "[sources]\nsyslog_tcp = \"off\"\n[tenants]\nfile = \"/nonexistent/t.yaml\"\n",
        );
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("4: [tenants] file: tenants file `/nonexistent/t.yaml`:"),
            "{p:?}"
        );
    }

    #[test]
    fn type_errors_name_the_key() {
        let p = problems("[pipeline]\nbatch = \"many\"\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("2: [pipeline] batch: "), "{p:?}");
    }

    #[test]
    fn flags_override_the_file_and_move_the_output() {
        let o = Overrides {
            data: Some("/tmp/d".into()),
            api: Some("127.0.0.1:0".into()),
            syslog: Some("off".into()),
            ..Overrides::default()
        };
        let c = Config::load(None, &o).unwrap();
        assert_eq!(c.api.listen.port(), 0);
        assert!(c.sources.syslog_udp.is_none() && c.sources.syslog_tcp.is_none());
        assert_eq!(c.output.jsonl, PathBuf::from("/tmp/d/events.jsonl"));
        let bad = Overrides {
            api: Some("nope".into()),
            ..Overrides::default()
        };
        let e = Config::load(None, &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("--api: `nope` is not a socket address"),
            "{e}"
        );
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../systemd/vigil.example.toml");
        let raw: RawConfig = toml::from_str(text).unwrap();
        let mut c = Config::default();
        let mut check = Check {
            file: "vigil.example.toml",
            text,
            problems: Vec::new(),
        };
        c.apply(raw, &mut check);
        // Only missing files (the example names /etc and /var paths) may be reported.
        for p in &check.problems {
            assert!(p.message.contains("No such file"), "{p}");
        }
    }

    #[test]
    fn syslog_tls_and_files_are_checked_with_their_lines() {
        let p = problems(
            "[sources]\nsyslog_tls = \"127.0.0.1\"\nsyslog_tls_client_ca = \"/nonexistent/ca.crt\"\nfiles = [\"/var/log/syslog\",\n  \"relative.log\"]\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("2: [sources] syslog_tls: `127.0.0.1` is not a socket address"));
        assert!(p[1].starts_with(
            "3: [sources] syslog_tls_client_ca: CA certificate `/nonexistent/ca.crt`:"
        ));
        assert!(
            p[2].starts_with("5: [sources] files: `relative.log` is not an absolute path"),
            "{p:?}"
        );
        let c =
            load_text("[sources]\nsyslog_tls = \"127.0.0.1:6514\"\nfiles = [\"/var/log/a.log\"]\n")
                .unwrap();
        assert_eq!(c.sources.syslog_tls.unwrap().to_string(), "127.0.0.1:6514");
        assert_eq!(c.sources.files, vec![PathBuf::from("/var/log/a.log")]);
        assert!(
            Config::default().sources.syslog_tls.is_none(),
            "off by default"
        );
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(nearest("listn", &["listen", "tls"]), Some("listen"));
        assert_eq!(nearest("zzzzzz", &["listen", "tls"]), None);
    }
}
