//! The `vigil` command line: parses arguments and calls into the library, nothing else.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use vigil::config::{Config, Overrides};
use vigil::enrich::Tenants;
use vigil::output::jsonl::{JsonLines, Print};
use vigil::pipeline::Rules;
use vigil::replay::{Replay, ReplayError, Speed};
use vigil::rules::{LoadOptions, RuleSet, SuppressionSpec};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Situational awareness for multi-tenant clouds"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay captures and logs through the pipeline and print what they produce.
    Replay(ReplayArgs),
    /// Check, test and list Sigma rules.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Run the daemon: listeners, pipeline, HTTPS API (SIGHUP reloads, SIGTERM drains).
    Run(RunArgs),
    /// Check the daemon's configuration.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Make TLS material for development.
    Certs {
        #[command(subcommand)]
        cmd: CertsCmd,
    },
    /// Inspect the alert and incident store.
    Store {
        #[command(subcommand)]
        cmd: StoreCmd,
    },
}

#[derive(Subcommand)]
enum StoreCmd {
    /// Check the integrity chain: exit 0 when intact, 1 on tampering, 2 when unreadable.
    Verify {
        #[arg(long, value_name = "DIR", default_value = vigil::config::DEFAULT_DATA)]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Load rules and report every one that cannot load (file, line, reason).
    Check {
        /// Rule files or folders (default: the bundled rule pack).
        paths: Vec<PathBuf>,
        /// Folder of indicator lists (`NAME.txt` binds `%NAME%`); repeatable.
        #[arg(long, value_name = "DIR")]
        indicators: Vec<PathBuf>,
    },
    /// Run the test events shipped beside rules (`NAME.tests.yml`).
    Test {
        /// Rule files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Folder of indicator lists (`NAME.txt` binds `%NAME%`); repeatable.
        #[arg(long, value_name = "DIR")]
        indicators: Vec<PathBuf>,
    },
    /// List rules: id, kind, level, logsource, title.
    List {
        /// Rule files or folders (default: the bundled rule pack).
        paths: Vec<PathBuf>,
        /// Folder of indicator lists (`NAME.txt` binds `%NAME%`); repeatable.
        #[arg(long, value_name = "DIR")]
        indicators: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The configuration file (TOML); without it, the embedded defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data folder (dev TLS material, outputs); default ./vigil-data.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// API address, IP:PORT (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "ADDR")]
    api: Option<String>,
    /// Syslog address for UDP and TCP, IP:PORT or `off`.
    #[arg(long, value_name = "ADDR")]
    syslog: Option<String>,
    /// Syslog over TLS (RFC 5425) address, IP:PORT or `off` (the default).
    #[arg(long, value_name = "ADDR")]
    syslog_tls: Option<String>,
    /// Follow this log file (repeatable; replaces the configured ones).
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// NetFlow/IPFIX address, IP:PORT or `off`.
    #[arg(long, value_name = "ADDR")]
    netflow: Option<String>,
    /// Tenants file (YAML).
    #[arg(long, value_name = "FILE")]
    tenants: Option<PathBuf>,
    /// Rule file or folder (repeatable); replaces the configured ones.
    #[arg(long, value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Capture live on this interface (repeatable; needs CAP_NET_RAW).
    #[arg(long, value_name = "IFACE")]
    interface: Vec<String>,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print `config ok`, or every problem with its file, line and key (exit code 2).
    Check {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CertsCmd {
    /// Make a dev CA and a server certificate under DATA/tls/ (kept if present), and client
    /// certificates for mutual TLS.
    Init {
        #[arg(long, value_name = "DIR", default_value = vigil::config::DEFAULT_DATA)]
        data: PathBuf,
        /// Also make a client certificate with this name (repeatable).
        #[arg(long, value_name = "NAME")]
        client: Vec<String>,
        /// Extra DNS name or IP address for the server certificate (only when it is made).
        #[arg(long, value_name = "NAME")]
        san: Vec<String>,
    },
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Inputs, read in order: captures (pcap, pcapng) or logs (syslog, raw auditd, JSON lines
    /// or documents, AWS VPC flow logs, libvirt/QEMU logs), detected from content; `-` is stdin.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the normalized events as JSON lines instead of alerts.
    #[arg(long)]
    events: bool,
    /// Sigma rule files or folders (default: the bundled rule pack).
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Folder of indicator lists: `NAME.txt` binds the placeholder `%NAME%` (repeatable).
    #[arg(long, value_name = "DIR")]
    indicators: Vec<PathBuf>,
    /// Collapse repeats of a rule's alert within this window (`30s`, `10m`, `1h`) for rules
    /// without their own `suppression` block.
    #[arg(long, value_name = "WINDOW")]
    suppress: Option<String>,
    /// Comma-separated fields that keep suppression groups apart (with `--suppress`).
    #[arg(long, value_name = "FIELDS", requires = "suppress")]
    suppress_by: Option<String>,
    /// What log inputs hold, e.g. `product=linux,service=auditd` (replaces those parts of the
    /// detected logsource; needed for generic JSON), or `any` to apply every rule to every event.
    #[arg(long, value_name = "SPEC|any")]
    logsource: Option<vigil::logs::LogSourceSpec>,
    /// Tenants file (YAML) for tenant, zone and policy enrichment.
    #[arg(long)]
    tenants: Option<PathBuf>,
    /// `max`, or a factor of packet time such as `1x` or `10x`.
    #[arg(long, default_value = "max")]
    speed: Speed,
    /// Worker threads for flow tracking and detection (default: cores - 1).
    #[arg(long)]
    workers: Option<usize>,
    /// Most flows tracked at once; past it the least recently seen are evicted and counted.
    #[arg(long, default_value_t = 1_000_000)]
    max_flows: usize,
    /// Seed for the Community ID flow hash.
    #[arg(long, default_value_t = 0)]
    community_id_seed: u16,
    /// Write vigil's metrics (Prometheus text format) to this file at the end.
    #[arg(long, value_name = "FILE")]
    metrics_out: Option<PathBuf>,
    /// Never show progress, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Replay(a) => replay(a),
        Cmd::Rules(c) => rules(c),
        Cmd::Run(a) => run(a),
        Cmd::Config {
            cmd: ConfigCmd::Check { config },
        } => config_check(config),
        Cmd::Certs {
            cmd: CertsCmd::Init { data, client, san },
        } => certs_init(&data, &client, &san),
        Cmd::Store {
            cmd: StoreCmd::Verify { data },
        } => store_verify(&data),
    }
}

fn store_verify(data: &std::path::Path) -> ExitCode {
    match vigil::incident::verify(data) {
        Ok(r) => match r.problem {
            None => {
                let note = match r.unconfirmed {
                    0 => String::new(),
                    n => format!(" ({n} entries from a batch cut short by a crash)"),
                };
                println!("store ok: {} records, chain intact{note}", r.records);
                ExitCode::SUCCESS
            }
            Some(p) => {
                println!("store tampered: {p}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("vigil store verify: {e}");
            ExitCode::from(2)
        }
    }
}

fn rules(c: RulesCmd) -> ExitCode {
    let with = |indicators: &[PathBuf]| LoadOptions {
        indicator_dirs: indicators.to_vec(),
        ..LoadOptions::default()
    };
    let code = match c {
        RulesCmd::Check { paths, indicators } if paths.is_empty() => {
            match vigil::rules::bundled::load(&with(&indicators)) {
                Ok(set) => {
                    println!("{} rules loaded (bundled)", set.len());
                    0
                }
                Err(report) => {
                    eprint!("{report}");
                    1
                }
            }
        }
        RulesCmd::Check { paths, indicators } => {
            vigil::rules::cli::check_with(&paths, &with(&indicators))
        }
        RulesCmd::Test { paths, indicators } => {
            vigil::rules::cli::test_with(&paths, &with(&indicators))
        }
        RulesCmd::List { paths, indicators } if paths.is_empty() => {
            match vigil::rules::bundled::load(&with(&indicators)) {
                Ok(set) => {
                    vigil::rules::cli::print_list(&set);
                    0
                }
                Err(report) => {
                    eprint!("{report}");
                    1
                }
            }
        }
        RulesCmd::List { paths, indicators } => {
            vigil::rules::cli::list_with(&paths, &with(&indicators))
        }
    };
    ExitCode::from(code as u8)
}

/// The rules a replay evaluates: `--rules` paths, or the bundled pack.
fn replay_rules(a: &ReplayArgs, any: bool) -> Result<Rules, String> {
    let suppression = match &a.suppress {
        None => None,
        Some(w) => Some(SuppressionSpec {
            window_ns: vigil::rules::parse_timespan(w).ok_or(format!(
                "--suppress `{w}` is not a duration like 30s, 10m, 1h"
            ))?,
            group_by: a
                .suppress_by
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter(|f| !f.is_empty())
                .map(String::from)
                .collect(),
        }),
    };
    let opts = LoadOptions {
        logsource_any: any,
        indicator_dirs: a.indicators.clone(),
        suppression,
        ..LoadOptions::default()
    };
    let paths = &a.rules;
    let set = if paths.is_empty() {
        vigil::rules::bundled::load(&opts)
    } else {
        RuleSet::load(paths, &opts)
    };
    set.map(|s| Rules::Fixed(Arc::new(s)))
        .map_err(|report| format!("rules do not load:\n{report}"))
}

fn run(a: RunArgs) -> ExitCode {
    let flags = Overrides {
        data: a.data,
        api: a.api,
        syslog: a.syslog,
        syslog_tls: a.syslog_tls,
        files: a.files,
        netflow: a.netflow,
        tenants: a.tenants,
        rules: a.rules,
        interfaces: a.interface,
    };
    let cfg = match Config::load(a.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            for p in e.problems() {
                eprintln!("vigil: {p}");
            }
            return ExitCode::from(2);
        }
    };
    match vigil::daemon::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitCode::from(if e.is_config() { 2 } else { 1 })
        }
    }
}

fn config_check(file: Option<PathBuf>) -> ExitCode {
    match Config::load(file.as_deref(), &Overrides::default()) {
        Ok(_) => {
            println!("config ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            for p in e.problems() {
                println!("{p}");
            }
            ExitCode::from(2)
        }
    }
}

fn certs_init(data: &std::path::Path, clients: &[String], san: &[String]) -> ExitCode {
    let tls = vigil::daemon::dev_tls(data);
    let mut made = match tls.ensure(san) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::from(2);
        }
    };
    for c in clients {
        match tls.client(c) {
            Ok(m) => made.extend(m),
            Err(e) => {
                eprintln!("vigil: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if made.is_empty() {
        println!(
            "{}: CA and server certificate already present; nothing made",
            tls.dir.display()
        );
    }
    for m in made {
        println!("made {}", m.display());
    }
    ExitCode::SUCCESS
}

fn replay(a: ReplayArgs) -> ExitCode {
    let mut r = Replay::new(a.files.clone());
    r.logsource = a.logsource.clone();
    r.speed = a.speed;
    if a.quiet {
        r.progress = false;
    }
    if let Some(w) = a.workers {
        r.pipeline.workers = w.max(1);
    }
    r.pipeline.flow.community_id_seed = a.community_id_seed;
    r.pipeline.flow.max_flows = a.max_flows.max(1);
    let any = matches!(r.logsource, Some(vigil::logs::LogSourceSpec::Any));
    match replay_rules(&a, any) {
        Ok(rules) => r.rules = Some(rules),
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::from(2);
        }
    }
    let enricher: vigil::pipeline::Enricher = match &a.tenants {
        None => {
            let none = Tenants::default();
            Arc::new(move |ev: &mut vigil::event::Event| none.enrich(&mut ev.fields))
        }
        Some(path) => match Tenants::load(path) {
            Ok(t) => Arc::new(move |ev: &mut vigil::event::Event| t.enrich(&mut ev.fields)),
            Err(e) => {
                eprintln!("vigil: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let print = if a.events {
        Print::Events
    } else {
        Print::Alerts
    };
    let sink = JsonLines::new(BufWriter::with_capacity(1 << 16, std::io::stdout()), print);
    let tally = sink.tally.clone();
    match r.run(enricher, Box::new(sink)) {
        Ok(s) => {
            let events = tally.events.load(std::sync::atomic::Ordering::Relaxed);
            let flows = tally.flows.load(std::sync::atomic::Ordering::Relaxed);
            let alerts = tally.alerts.load(std::sync::atomic::Ordering::Relaxed);
            let secs = s.elapsed.as_secs_f64();
            eprintln!(
                "vigil replay: {} file(s), {} packets ({} bytes), {} flows, {} events, {} alerts, {} malformed packets, {:.3}s ({:.0} packets/s)",
                s.files,
                s.packets,
                s.bytes,
                flows,
                events,
                alerts,
                s.decode_errors,
                secs,
                s.packets as f64 / secs.max(1e-9)
            );
            if s.log_lines > 0 {
                eprintln!(
                    "vigil replay: {} log lines, {} log events, {} unparseable lines",
                    s.log_lines, s.log_events, s.parse_errors
                );
            }
            if let Some(path) = &a.metrics_out {
                if let Err(e) = std::fs::write(path, vigil::metrics::render()) {
                    eprintln!("vigil: {}: cannot write metrics: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            ExitCode::SUCCESS
        }
        Err(ReplayError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitCode::from(2)
        }
    }
}
