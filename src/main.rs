//! The `vigil` command line: parses arguments and calls into the library, nothing else.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use vigil::enrich::Tenants;
use vigil::output::jsonl::{JsonLines, Print};
use vigil::pipeline::Rules;
use vigil::replay::{Replay, ReplayError, Speed};
use vigil::rules::{LoadOptions, RuleSet};

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
    /// Replay capture files through the pipeline and print what they produce.
    Replay(ReplayArgs),
    /// Check, test and list Sigma rules.
    #[command(subcommand)]
    Rules(RulesCmd),
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Load rules and report every one that cannot load (file, line, reason).
    Check {
        /// Rule files or folders (default: the bundled rule pack).
        paths: Vec<PathBuf>,
    },
    /// Run the test events shipped beside rules (`NAME.tests.yml`).
    Test {
        /// Rule files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List rules: id, kind, level, logsource, title.
    List {
        /// Rule files or folders (default: the bundled rule pack).
        paths: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Capture files (pcap or pcapng), read in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the normalized events as JSON lines instead of alerts.
    #[arg(long)]
    events: bool,
    /// Sigma rule files or folders (default: the bundled rule pack).
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// What the input holds (`product=linux,service=auditd`), or `any` to apply every rule
    /// to every event (for comparing engines).
    #[arg(long, value_name = "SPEC|any")]
    logsource: Option<String>,
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
    }
}

fn rules(c: RulesCmd) -> ExitCode {
    let code = match c {
        RulesCmd::Check { paths } if paths.is_empty() => {
            match vigil::rules::bundled::load(&LoadOptions::default()) {
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
        RulesCmd::Check { paths } => vigil::rules::cli::check(&paths),
        RulesCmd::Test { paths } => vigil::rules::cli::test(&paths),
        RulesCmd::List { paths } if paths.is_empty() => {
            match vigil::rules::bundled::load(&LoadOptions::default()) {
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
        RulesCmd::List { paths } => vigil::rules::cli::list(&paths),
    };
    ExitCode::from(code as u8)
}

/// The rules a replay evaluates: `--rules` paths, or the bundled pack.
fn replay_rules(paths: &[PathBuf], any: bool) -> Result<Rules, String> {
    let opts = LoadOptions {
        logsource_any: any,
        ..LoadOptions::default()
    };
    let set = if paths.is_empty() {
        vigil::rules::bundled::load(&opts)
    } else {
        RuleSet::load(paths, &opts)
    };
    set.map(|s| Rules::Fixed(Arc::new(s)))
        .map_err(|report| format!("rules do not load:\n{report}"))
}

fn replay(a: ReplayArgs) -> ExitCode {
    let mut r = Replay::new(a.files);
    r.speed = a.speed;
    if a.quiet {
        r.progress = false;
    }
    if let Some(w) = a.workers {
        r.pipeline.workers = w.max(1);
    }
    r.pipeline.flow.community_id_seed = a.community_id_seed;
    r.pipeline.flow.max_flows = a.max_flows.max(1);
    let any = a.logsource.as_deref() == Some("any");
    match replay_rules(&a.rules, any) {
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
