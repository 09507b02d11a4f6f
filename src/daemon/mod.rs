//! `vigil run`: the daemon. Wires config -> tenants -> pipeline -> sources -> outputs, serves
//! the HTTPS API, reloads on SIGHUP and stops on SIGTERM/SIGINT by draining every queue and
//! flushing the outputs. Tokio runs the network edges; the pipeline's threads do the work.

pub mod api_ingest;
pub mod incidents;
pub mod notify;
pub mod readiness;
pub mod tenants;

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::api::certs::{CertError, DevTls};
use crate::api::tls::{server_config, TlsError};
use crate::api::tokens::TokenFile;
use crate::api::{ApiServer, ApiState};
use crate::config::Config;
use crate::enrich::{Tenants, TenantsError};
use crate::event::Event;
use crate::incident::sled_store::{SledStore, StoreOptions};
use crate::incident::Store;
use crate::metrics;
use crate::output::jsonl::{JsonLines, Print, Reopen, RotatingFile};
use crate::pipeline::{Pipeline, Rules, Sink};
use crate::rules::{bundled, Alert, LoadOptions, RuleStore, Watcher};
use crate::source::follow::{FollowError, Follower, Positions};
use crate::source::ingest::{self, Ingest, Source};
use crate::source::live::{self, CaptureConfig, CaptureError};
use crate::source::netflow::listener::NetflowUdp;
use crate::source::netflow::{DecoderConfig, FlowExportDecoder};
use crate::source::syslog_net::{SyslogTcp, SyslogUdp};
use crate::source::syslog_tls;

use self::api_ingest::ApiIngest;
use self::readiness::Readiness;
use self::tenants::LiveTenants;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{}: cannot create the data folder: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tenants(#[from] TenantsError),
    #[error("dev TLS material: {0}")]
    Certs(#[from] CertError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{what}: cannot listen on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{}: cannot open the output: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("output: {0}")]
    Flush(std::io::Error),
    #[error("the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("rules do not load:\n{0}")]
    Rules(crate::rules::LoadReport),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("files: {0}")]
    Files(#[from] FollowError),
    #[error("{0}")]
    Store(#[from] crate::incident::StoreError),
    #[error(transparent)]
    Outputs(#[from] crate::output::OutputError),
    #[error("shutdown took longer than {0:?}; events still queued may be lost")]
    ShutdownTimeout(std::time::Duration),
}

impl DaemonError {
    /// Whether the error is the configuration's fault (exit 2) rather than the run's (exit 1).
    pub fn is_config(&self) -> bool {
        if let DaemonError::Capture(e) = self {
            return e.is_config();
        }
        matches!(
            self,
            DaemonError::Tenants(_)
                | DaemonError::Tls(_)
                | DaemonError::Bind { .. }
                | DaemonError::Rules(_)
        )
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(cfg: Config) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("vigil-net")
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(run_async(cfg))
}

async fn run_async(cfg: Config) -> Result<(), DaemonError> {
    // Signals first: SIGHUP's default action would end the process.
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Runtime)?;
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?;
    metrics::init();
    LazyLock::force(&metrics::TLS_HANDSHAKE_ERRORS);

    // Events hold tenants' logs: the data folder and the output are not for everyone.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&cfg.data)
        .map_err(|source| DaemonError::DataDir {
            path: cfg.data.clone(),
            source,
        })?;
    let readiness = Arc::new(Readiness::default());
    readiness.register("api");
    readiness.register("rules");

    let tenants = match &cfg.tenants {
        Some(p) => {
            let t = Tenants::load(p)?;
            eprintln!("vigil: tenants: {} from {}", t.len(), p.display());
            t
        }
        None => Tenants::default(),
    };
    // Tenant labels on metrics come from the tenants file only, never from the data.
    metrics::set_tenants(tenants.tenant_ids());
    let live = LiveTenants::new(tenants);

    // The API first, so /healthz answers while the rest comes up.
    let tls = tls_config(&cfg)?;
    let state = Arc::new(ApiState::new(
        readiness.clone(),
        Arc::new(TokenFile::new(&cfg.data)),
    ));
    let api = ApiServer::bind(cfg.api.listen, tls, state.clone())
        .await
        .map_err(|source| DaemonError::Bind {
            what: "api",
            addr: cfg.api.listen,
            source,
        })?;
    let api_addr = api.local_addr().map_err(DaemonError::Runtime)?;
    let (trigger, shutdown) = ingest::shutdown_signal();
    let api_task = tokio::spawn(api.serve(shutdown.clone()));
    eprintln!("vigil: api listening on https://{api_addr}");
    readiness.ready("api");

    // Rules before any input: the daemon never runs without them. Configured paths are
    // watched and reloaded on SIGHUP; without any, the bundled pack runs.
    let (rules, _watcher) = load_rules(&cfg)?;
    readiness.ready("rules");
    let current = rules.clone();
    state.set_rules(Arc::new(move || current.current()));

    // The store before the pipeline: alerts get their incident there before any output.
    let store = {
        let data = cfg.data.clone();
        let opts = StoreOptions {
            window: cfg.store.incident_window,
            ..StoreOptions::default()
        };
        tokio::task::spawn_blocking(move || SledStore::open_with(&data, opts))
            .await
            .map_err(|e| DaemonError::Runtime(std::io::Error::other(e)))??
    };
    let store = Arc::new(store);
    eprintln!("vigil: store: {}", store.path().display());
    state.set_store(store.clone());
    incidents::publish_metrics(store.as_ref());
    let housekeeping = tokio::spawn(incidents::housekeeping(store.clone(), cfg.store.clone()));
    let outputs = {
        let (sub, seed) = (store.clone(), store.clone());
        crate::output::spawn_outputs(
            &cfg.output.outputs,
            move || sub.subscribe(),
            move || crate::output::open_incidents(seed.as_ref()),
        )?
    };
    for name in outputs.names() {
        eprintln!("vigil: output {name}");
    }

    let (sink, reopen) = open_output(&cfg)?;
    let sink: Box<dyn Sink> =
        Box::new(incidents::Stored::start(store.clone(), sink).map_err(DaemonError::Runtime)?);
    let pipeline = Pipeline::start_with_rules(
        cfg.pipeline.clone(),
        live.enricher(),
        Some(rules.clone()),
        sink,
    );
    let (ingest, ingest_rx) = Ingest::new(cfg.ingest_queue, cfg.pipeline.batch);
    // POST /api/v1/ingest: lines from API clients, waiting for room rather than dropping.
    let api_ingest = Arc::new(ApiIngest::new(
        ingest.sender("api"),
        pipeline.packet_input("api", true),
    ));
    let handle = api_ingest.clone();
    state.set_ingest(Arc::new(move |body, tenant| handle.ingest(body, tenant)));
    let input = pipeline.packet_input("ingest", true);
    let forwarder = std::thread::Builder::new()
        .name("ingest".into())
        .spawn(move || ingest::forward(ingest_rx, input))
        .map_err(DaemonError::Runtime)?;

    let sources = bind_sources(&cfg, &readiness).await?;
    let mut tasks = Vec::new();
    let mut status = vec![format!("api https://{api_addr}")];
    for s in sources {
        eprintln!("vigil: {} listening on {}", s.name(), s.describe());
        status.push(format!("{} {}", s.name(), s.describe()));
        readiness.ready(s.name());
        let out = ingest.sender(s.name());
        tasks.push(tokio::spawn(s.run(out, shutdown.clone())));
    }
    // Each source holds its own sender; when they are all gone the forwarder ends.
    drop(ingest);
    let captures: Vec<CaptureConfig> = cfg
        .sources
        .interfaces
        .iter()
        .map(|i| CaptureConfig {
            interface: i.clone(),
            threads: cfg.sources.capture_threads,
            promiscuous: cfg.sources.promiscuous,
        })
        .collect();
    let capture_stop = Arc::new(AtomicBool::new(false));
    let capture_threads = live::start(
        &captures,
        || pipeline.packet_input("capture", false),
        capture_stop.clone(),
    )?;
    for c in &captures {
        eprintln!(
            "vigil: capturing on {} ({} thread(s))",
            c.interface, c.threads
        );
        status.push(format!("capture {}", c.interface));
    }
    // Files wait for the pipeline instead of dropping: their own blocking input, on a thread.
    let files_stop = Arc::new(AtomicBool::new(false));
    let files_thread = if cfg.sources.files.is_empty() {
        None
    } else {
        let positions = Positions::load(&cfg.data.join("positions.json"))?;
        let follower = Follower::new(&cfg.sources.files, positions, cfg.pipeline.batch);
        let input = pipeline.packet_input("file", true);
        let stop = files_stop.clone();
        let t = std::thread::Builder::new()
            .name("files".into())
            .spawn(move || follower.run(input, stop))
            .map_err(DaemonError::Runtime)?;
        for f in &cfg.sources.files {
            eprintln!("vigil: following {}", f.display());
        }
        status.push(format!("{} file(s)", cfg.sources.files.len()));
        Some(t)
    };
    eprintln!(
        "vigil: writing {} to {}",
        if cfg.output.events {
            "events"
        } else {
            "alerts"
        },
        cfg.output.jsonl.display()
    );
    eprintln!("vigil: ready");
    let _ = notify::notify(&format!("READY=1\nSTATUS=ready: {}", status.join(", ")));

    loop {
        tokio::select! {
            _ = hup.recv() => {
                reopen.request();
                reload(&cfg, &live, &rules).await
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }

    eprintln!("vigil: stopping: draining queues and flushing outputs");
    let _ = notify::notify("STOPPING=1");
    readiness.stopping();
    trigger.fire();
    api_ingest.close();
    capture_stop.store(true, Ordering::Relaxed);
    files_stop.store(true, Ordering::Relaxed);
    let drain = async {
        if let Some(t) = files_thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        for t in tasks {
            let _ = t.await;
        }
        for t in capture_threads {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        // The forwarder ends when every source's sender is gone; then the pipeline drains.
        tokio::task::spawn_blocking(move || {
            let _ = forwarder.join();
            pipeline.finish()
        })
        .await
    };
    let result = match tokio::time::timeout(cfg.shutdown_timeout, drain).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(DaemonError::Flush(e)),
        Ok(Err(e)) => Err(DaemonError::Flush(std::io::Error::other(e))),
        Err(_) => Err(DaemonError::ShutdownTimeout(cfg.shutdown_timeout)),
    };
    housekeeping.abort();
    // The pipeline has drained into the store: what it published still goes out.
    outputs.shutdown(cfg.shutdown_timeout).await;
    if let Err(e) = store.flush() {
        eprintln!("vigil: store: final flush: {e}");
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(6), api_task).await;
    if result.is_ok() {
        eprintln!("vigil: stopped");
    }
    result
}

/// The API's TLS: its server certificate, and client certificates when configured.
fn tls_config(cfg: &Config) -> Result<Arc<rustls::ServerConfig>, DaemonError> {
    let (cert, key) = server_cert(cfg)?;
    Ok(server_config(&cert, &key, cfg.api.client_ca.as_deref())?)
}

/// The server certificate and key every TLS listener presents: the configured files, or the
/// dev material under `DATA/tls/`, made if missing.
fn server_cert(cfg: &Config) -> Result<(PathBuf, PathBuf), DaemonError> {
    Ok(match &cfg.api.tls {
        Some(t) => (t.cert.clone(), t.key.clone()),
        None => {
            let dev = DevTls::new(cfg.data.join("tls"));
            let made = dev.ensure(&[])?;
            if !made.is_empty() {
                eprintln!(
                    "vigil: no TLS certificate configured: made a development CA and a server certificate for localhost and 127.0.0.1 in {} (clients trust {}); see certs/README.md for production",
                    dev.dir.display(),
                    dev.ca_cert().display()
                );
            }
            (dev.server_cert(), dev.server_key())
        }
    })
}

/// Binds every configured network source. A syslog address with port 0 gets one free port
/// shared by UDP and TCP, as a fixed port would.
async fn bind_sources(
    cfg: &Config,
    readiness: &Readiness,
) -> Result<Vec<Box<dyn Source>>, DaemonError> {
    let s = &cfg.sources;
    let mut out: Vec<Box<dyn Source>> = Vec::new();
    if s.syslog_udp.is_some() {
        readiness.register("syslog_udp");
    }
    if s.syslog_tcp.is_some() {
        readiness.register("syslog_tcp");
    }
    let bind_err = |what, addr| move |source| DaemonError::Bind { what, addr, source };
    let mut udp_port = None;
    if let Some(addr) = s.syslog_udp {
        let u = SyslogUdp::bind(addr, s.syslog_max_message)
            .await
            .map_err(bind_err("syslog_udp", addr))?;
        udp_port = u.local_addr().ok().map(|a| a.port());
        out.push(Box::new(u));
    }
    if let Some(mut addr) = s.syslog_tcp {
        if addr.port() == 0 && s.syslog_udp.map(|u| u.ip()) == Some(addr.ip()) {
            if let Some(p) = udp_port {
                // Same port as UDP when it is free for TCP too; any free port otherwise.
                let same = SocketAddr::new(addr.ip(), p);
                if std::net::TcpListener::bind(same).is_ok() {
                    addr = same;
                }
            }
        }
        let t = SyslogTcp::bind(addr, s.syslog_max_message, s.syslog_max_connections)
            .await
            .map_err(bind_err("syslog_tcp", addr))?;
        out.push(Box::new(t));
    }
    if let Some(addr) = s.syslog_tls {
        readiness.register("syslog_tls");
        // The API's certificate (made above when none is configured); its own client CA.
        let (cert, key) = server_cert(cfg)?;
        let tls = server_config(&cert, &key, s.syslog_tls_client_ca.as_deref())?;
        let t = syslog_tls::bind(addr, tls, s.syslog_max_message, s.syslog_max_connections)
            .await
            .map_err(bind_err("syslog_tls", addr))?;
        out.push(Box::new(t));
    }
    if let Some(addr) = s.netflow {
        readiness.register("netflow");
        let decoder = FlowExportDecoder::new(DecoderConfig {
            community_id_seed: cfg.pipeline.flow.community_id_seed,
            ..DecoderConfig::default()
        });
        let n = NetflowUdp::bind(addr, decoder)
            .await
            .map_err(bind_err("netflow", addr))?;
        out.push(Box::new(n));
    }
    Ok(out)
}

/// The JSON-lines output, appended to and rotated as configured; the handle reopens it
/// (SIGHUP, after an outside logrotate moved it).
fn open_output(cfg: &Config) -> Result<(Box<dyn Sink>, Reopen), DaemonError> {
    let path = &cfg.output.jsonl;
    let err = |source| DaemonError::Output {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file = RotatingFile::open(path, cfg.output.outputs.rotate.clone()).map_err(err)?;
    let reopen = file.reopen_handle();
    let print = if cfg.output.events {
        Print::Both
    } else {
        Print::Alerts
    };
    Ok((
        Box::new(FlushEveryBatch(JsonLines::new(file, print))),
        reopen,
    ))
}

/// Makes a live output visible to `tail -f` batch by batch instead of every 64 KiB.
struct FlushEveryBatch<S: Sink>(S);

impl<S: Sink> Sink for FlushEveryBatch<S> {
    fn events(&mut self, events: &mut Vec<Event>) -> std::io::Result<()> {
        self.0.events(events)?;
        // JsonLines' finish only flushes its writer, so it is safe to call per batch.
        self.0.finish()
    }
    fn alerts(&mut self, alerts: &mut Vec<Alert>) -> std::io::Result<()> {
        self.0.alerts(alerts)?;
        self.0.finish()
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.finish()
    }
}

/// SIGHUP: reloads the tenants; a file that does not load leaves the running ones in place.
/// Loads the configured rules (watched for changes, debounced) or the bundled pack.
fn load_rules(cfg: &Config) -> Result<(Rules, Option<Watcher>), DaemonError> {
    let opts = LoadOptions {
        indicator_dirs: cfg.indicators.clone(),
        suppression: cfg.suppression.clone(),
        ..LoadOptions::default()
    };
    if cfg.rules.is_empty() {
        let set = bundled::load(&opts).map_err(DaemonError::Rules)?;
        eprintln!("vigil: rules: {} bundled rules loaded", set.len());
        return Ok((Rules::Fixed(Arc::new(set)), None));
    }
    let store = Arc::new(RuleStore::new(cfg.rules.clone(), opts).map_err(DaemonError::Rules)?);
    let shown: Vec<String> = cfg.rules.iter().map(|p| p.display().to_string()).collect();
    eprintln!(
        "vigil: rules: {} loaded from {}",
        store.current().len(),
        shown.join(", ")
    );
    let watcher = store.watch(Duration::from_secs(1), Duration::from_secs(2), |report| {
        eprintln!(
            "vigil: rules changed on disk but do not load; the running rules stay:\n{report}"
        );
    });
    Ok((Rules::Reloadable(store), Some(watcher)))
}

async fn reload(cfg: &Config, live: &Arc<LiveTenants>, rules: &Rules) {
    let _ = notify::notify("RELOADING=1");
    if let Some(path) = cfg.tenants.clone() {
        let loaded = tokio::task::spawn_blocking(move || Tenants::load(&path)).await;
        match loaded {
            Ok(Ok(t)) => {
                eprintln!("vigil: reload: tenants: {} loaded", t.len());
                metrics::set_tenants(t.tenant_ids());
                live.replace(t);
                count_reload("tenants", "ok");
            }
            Ok(Err(e)) => {
                eprintln!("vigil: reload: tenants: {e}; keeping the previous tenants");
                count_reload("tenants", "error");
            }
            Err(e) => {
                eprintln!("vigil: reload: tenants: {e}; keeping the previous tenants");
                count_reload("tenants", "error");
            }
        }
    } else {
        eprintln!("vigil: reload: no tenants file configured");
    }
    if let Rules::Reloadable(store) = rules {
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.reload()).await {
            Ok(Ok(n)) => eprintln!("vigil: reload: {n} rules"),
            Ok(Err(report)) => {
                eprintln!("vigil: reload: rules do not load; the running rules stay:\n{report}")
            }
            Err(e) => eprintln!("vigil: reload: rules: {e}"),
        }
    }
    let _ = notify::notify("READY=1");
}

fn count_reload(what: &str, result: &str) {
    metrics::RELOADS.with_label_values(&[what, result]).inc();
}

/// The data folder's TLS material, for `vigil certs init`.
pub fn dev_tls(data: &Path) -> DevTls {
    DevTls::new(data.join("tls"))
}
