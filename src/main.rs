//! The `vigil` command line: parses arguments and calls into the library, nothing else.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use vigil::config::{Config, Overrides};
use vigil::drill::{Collect, Coverage, Drill, Fired};
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
    /// Make, list and revoke API bearer tokens (works while the daemon runs).
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Incidents on a running daemon: list, show, acknowledge, resolve.
    Incidents(IncidentsArgs),
    /// Attack and benign scenarios for drills: inputs, tenants file and drill file.
    #[command(subcommand)]
    Scenario(ScenarioCmd),
    /// Inspect the alert and incident store.
    Store {
        #[command(subcommand)]
        cmd: StoreCmd,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Make a token and print it on the last line; only its SHA-256 is stored.
    Create {
        #[arg(long, value_name = "DIR", default_value = vigil::config::DEFAULT_DATA)]
        data: PathBuf,
        /// viewer, operator, ingest or admin.
        #[arg(long)]
        role: vigil::api::Role,
        /// Confine the token to this tenant's alerts and incidents.
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        /// A name for the token, shown in incident histories.
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens: id, role, tenant, name, created (never the secrets; they are not kept).
    List {
        #[arg(long, value_name = "DIR", default_value = vigil::config::DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Revoke a token by id; the daemon refuses it within a second.
    Revoke {
        #[arg(long, value_name = "DIR", default_value = vigil::config::DEFAULT_DATA)]
        data: PathBuf,
        id: String,
    },
}

#[derive(clap::Args)]
struct IncidentsArgs {
    #[command(subcommand)]
    cmd: IncidentsCmd,
    /// The daemon's API.
    #[arg(long, global = true, value_name = "URL", default_value = vigil::client::incidents::DEFAULT_SERVER)]
    server: String,
    /// Bearer token (default: the VIGIL_TOKEN environment variable); `vigil token create`.
    #[arg(long, global = true, value_name = "TOKEN")]
    token: Option<String>,
    /// CA certificate (PEM) that signed the API's certificate (default:
    /// ./vigil-data/tls/ca.crt when present, else the system roots).
    #[arg(long, global = true, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// JSON lines even on a terminal (the default when piped).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum IncidentsCmd {
    /// Newest first, filtered.
    List {
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        /// At least this severity (informational, low, medium, high, critical).
        #[arg(long, value_name = "LEVEL")]
        level: Option<String>,
        /// open, acknowledged or resolved.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
    },
    /// One incident with its history.
    Show { id: String },
    /// Acknowledge an incident (operator role).
    Ack { id: String },
    /// Resolve an incident (operator role).
    Resolve { id: String },
}

#[derive(Subcommand)]
enum ScenarioCmd {
    /// List the scenarios.
    List,
    /// Write a scenario (or `all`) under DIR/NAME/: its inputs, tenants.yaml, NAME.drill.yaml.
    Write {
        /// A scenario name from `vigil scenario list`, or `all`.
        name: String,
        /// Folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
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
    /// ATT&CK coverage: rules per technique and per tactic (from `attack.*` tags).
    Coverage {
        /// Rule files or folders (default: the bundled rule pack).
        paths: Vec<PathBuf>,
        /// Folder of indicator lists (`NAME.txt` binds `%NAME%`); repeatable.
        #[arg(long, value_name = "DIR")]
        indicators: Vec<PathBuf>,
        /// Also write an ATT&CK Navigator layer (JSON, layer format 4.5) to this file.
        #[arg(long, value_name = "FILE")]
        navigator: Option<PathBuf>,
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
    /// With `--drill`, read after the drill's own inputs.
    #[arg(required_unless_present = "drill")]
    files: Vec<PathBuf>,
    /// A drill file (YAML): what the replay should detect; scored into `--report`.
    #[arg(long, value_name = "FILE", requires = "report")]
    drill: Option<PathBuf>,
    /// Where the drill report goes: `R.json` (JSON only), `R.md` (Markdown only), or any other
    /// name R for both `R.md` and `R.json`.
    #[arg(long, value_name = "FILE", requires = "drill")]
    report: Option<PathBuf>,
    /// Exit 1 when the drill missed an expectation (for CI).
    #[arg(long, requires = "drill")]
    fail_on_miss: bool,
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
    /// Replay into a running daemon (its API, e.g. https://127.0.0.1:8443) instead of here:
    /// the daemon decodes, detects, stores and alerts; `--speed` paces what is sent.
    #[arg(long, value_name = "URL", conflicts_with_all = ["drill", "events", "rules", "tenants", "logsource"])]
    server: Option<String>,
    /// Bearer token for `--server` (role ingest or admin; default: VIGIL_TOKEN).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// CA certificate of the server's certificate (default: ./vigil-data/tls/ca.crt when
    /// present, else the system roots).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
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
        Cmd::Token { cmd } => token(cmd),
        Cmd::Incidents(a) => incidents(a),
        Cmd::Scenario(c) => scenario(c),
        Cmd::Store {
            cmd: StoreCmd::Verify { data },
        } => store_verify(&data),
    }
}

fn token(cmd: TokenCmd) -> ExitCode {
    use vigil::api::tokens;
    let result = match cmd {
        TokenCmd::Create {
            data,
            role,
            tenant,
            name,
        } => tokens::create(&data, tokens::NewToken { role, tenant, name }).map(|(t, rec)| {
            eprintln!(
                "vigil: token {} ({}{}) stored in {}; it is shown only now:",
                rec.id,
                rec.role,
                rec.tenant
                    .as_deref()
                    .map(|t| format!(", tenant {t}"))
                    .unwrap_or_default(),
                tokens::path_in(&data).display()
            );
            println!("{t}");
        }),
        TokenCmd::List { data } => tokens::list(&data).map(|list| {
            println!("ID\tROLE\tTENANT\tNAME\tCREATED");
            for t in list {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.role,
                    t.tenant.as_deref().unwrap_or("-"),
                    t.name.as_deref().unwrap_or("-"),
                    t.created
                );
            }
        }),
        TokenCmd::Revoke { data, id } => tokens::revoke(&data, &id).map(|t| {
            println!("revoked {}", t.id);
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitCode::from(2)
        }
    }
}

fn incidents(a: IncidentsArgs) -> ExitCode {
    use std::io::IsTerminal;
    use vigil::client::incidents::{self as inc, Command, Connection, Format, ListQuery};
    let cmd = match a.cmd {
        IncidentsCmd::List {
            tenant,
            level,
            status,
            limit,
        } => Command::List(ListQuery {
            tenant,
            level,
            status,
            limit,
        }),
        IncidentsCmd::Show { id } => Command::Show(id),
        IncidentsCmd::Ack { id } => Command::Ack(id),
        IncidentsCmd::Resolve { id } => Command::Resolve(id),
    };
    let conn = Connection {
        server: a.server,
        token: a
            .token
            .or_else(|| std::env::var("VIGIL_TOKEN").ok())
            .filter(|t| !t.trim().is_empty()),
        cacert: a.cacert.or_else(inc::default_cacert),
    };
    let stdout = std::io::stdout();
    let format = if a.json || !stdout.is_terminal() {
        Format::Json
    } else {
        Format::Table
    };
    match inc::run(&cmd, &conn, format, &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(inc::IncidentsError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scenario(c: ScenarioCmd) -> ExitCode {
    match c {
        ScenarioCmd::List => {
            for (name, summary) in vigil::scenario::SCENARIOS {
                println!("{name:<18} {summary}");
            }
            ExitCode::SUCCESS
        }
        ScenarioCmd::Write { name, out } => match vigil::scenario::write(&name, &out) {
            Ok(drills) => {
                for d in drills {
                    println!("{}", d.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vigil: {e}");
                ExitCode::from(2)
            }
        },
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
                println!(
                    "store ok: {} records, chain intact ({} alerts){note}",
                    r.records, r.alerts
                );
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

/// `vigil replay --server`: the inputs go to a running daemon's ingest API.
fn replay_remote(a: &ReplayArgs, server: &str) -> ExitCode {
    use vigil::client::replay::RemoteReplay;
    let Some(token) = a
        .token
        .clone()
        .or_else(|| std::env::var("VIGIL_TOKEN").ok())
    else {
        eprintln!("vigil: --server needs --token (or VIGIL_TOKEN); make one with `vigil token create --role ingest`");
        return ExitCode::from(2);
    };
    let cacert = a.cacert.clone().or_else(|| {
        let dev = PathBuf::from(vigil::config::DEFAULT_DATA).join("tls/ca.crt");
        dev.exists().then_some(dev)
    });
    let mut r = match RemoteReplay::new(server, token, cacert, a.speed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::from(2);
        }
    };
    let t0 = std::time::Instant::now();
    let result = r.run(&a.files);
    let s = &r.summary;
    eprintln!(
        "vigil replay: sent {} file(s) to {server}: {} packets, {} log lines in {} requests; the server accepted {} and rejected {}, {:.3}s",
        s.files,
        s.packets,
        s.lines,
        s.requests,
        s.accepted,
        s.rejected,
        t0.elapsed().as_secs_f64()
    );
    if let Some(e) = &s.first_error {
        eprintln!("vigil replay: first problem the server reported: {e}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e}");
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
        RulesCmd::Coverage {
            paths,
            indicators,
            navigator,
        } => coverage(&paths, &with(&indicators), navigator.as_deref()),
    };
    ExitCode::from(code as u8)
}

/// `vigil rules coverage`: the tables on stdout, the Navigator layer to `navigator`.
fn coverage(paths: &[PathBuf], opts: &LoadOptions, navigator: Option<&std::path::Path>) -> i32 {
    // Like `rules list`: the rules that load are counted, problems make the exit code 1.
    let (set, problems) = if paths.is_empty() {
        match vigil::rules::bundled::load(opts) {
            Ok(s) => (s, 0),
            Err(report) => {
                eprint!("{report}");
                return 1;
            }
        }
    } else {
        let (set, report) = RuleSet::load_lenient(paths, opts);
        (set, report.errors.len())
    };
    let cov = Coverage::of(&set);
    print!("{}", cov.table());
    if problems > 0 {
        eprintln!("{problems} problem(s); run `vigil rules check` for details");
    }
    if let Some(file) = navigator {
        let name = if paths.is_empty() {
            "vigil rules (bundled)".to_string()
        } else {
            format!(
                "vigil rules ({})",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let layer = cov.navigator(&name);
        let text = serde_json::to_string_pretty(&layer).unwrap_or_default();
        if let Err(e) = std::fs::write(file, text + "\n") {
            eprintln!(
                "vigil: {}: cannot write the Navigator layer: {e}",
                file.display()
            );
            return 2;
        }
        eprintln!("vigil: wrote {}", file.display());
    }
    i32::from(problems > 0)
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
    if let Some(server) = &a.server {
        return replay_remote(&a, server);
    }
    let drill = match a.drill.as_deref().map(Drill::load).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::from(2);
        }
    };
    // A drill's inputs come first, then the command line's.
    let mut files: Vec<PathBuf> = drill.iter().flat_map(|d| d.inputs.clone()).collect();
    files.extend(a.files.iter().cloned());
    if files.is_empty() {
        eprintln!("vigil: nothing to replay: the drill names no `inputs` and no FILE was given");
        return ExitCode::from(2);
    }
    let tenants = a
        .tenants
        .clone()
        .or_else(|| drill.as_ref().and_then(|d| d.tenants.clone()));
    let mut r = Replay::new(files.clone());
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
    let enricher: vigil::pipeline::Enricher = match &tenants {
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
    let (sink, fired): (Box<dyn vigil::pipeline::Sink>, _) = match drill {
        Some(_) => {
            let (c, fired) = Collect::new(Box::new(sink));
            (Box::new(c), Some(fired))
        }
        None => (Box::new(sink), None),
    };
    match r.run(enricher, sink) {
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
            match (&drill, fired, &a.report) {
                (Some(d), Some(fired), Some(report)) => {
                    drill_report(d, &files, &fired, s.first_ts, report, a.fail_on_miss)
                }
                _ => ExitCode::SUCCESS,
            }
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

/// Scores a drill's replay, writes the report and says the outcome on stderr.
fn drill_report(
    drill: &Drill,
    files: &[PathBuf],
    fired: &std::sync::Mutex<Vec<Fired>>,
    first_event: Option<vigil::event::Timestamp>,
    report: &std::path::Path,
    fail_on_miss: bool,
) -> ExitCode {
    let inputs: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let scored = match fired.lock() {
        Ok(fired) => vigil::drill::score(drill, &inputs, &fired, first_event),
        Err(_) => {
            eprintln!("vigil: the drill's alert list is poisoned");
            return ExitCode::from(2);
        }
    };
    let written = match vigil::drill::render::write(&scored, report) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::from(2);
        }
    };
    let missed = scored.missed_names();
    let mut line = format!("vigil drill {}: {}", scored.drill, scored.summary);
    if !missed.is_empty() {
        line.push_str(&format!("; missed: {}", missed.join("; ")));
    }
    eprintln!("{line}");
    for w in written {
        eprintln!("vigil drill {}: report {}", scored.drill, w.display());
    }
    if fail_on_miss && !missed.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
