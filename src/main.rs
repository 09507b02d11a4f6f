//! The `vigil` command line: parses arguments and calls into the library, nothing else.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use vigil::enrich::Tenants;
use vigil::output::jsonl::JsonLines;
use vigil::replay::{Replay, ReplayError, Speed};

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
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Inputs, read in order: captures (pcap, pcapng) or logs (syslog, raw auditd, JSON lines
    /// or documents, AWS VPC flow logs, libvirt/QEMU logs), detected from content; `-` is stdin.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// What log inputs hold, e.g. `product=linux,service=auditd` (replaces those parts of the
    /// detected logsource; needed for generic JSON), or `any` to apply every rule to every event.
    #[arg(long, value_name = "SPEC|any")]
    logsource: Option<vigil::logs::LogSourceSpec>,
    /// Print the normalized events as JSON lines instead of alerts.
    #[arg(long)]
    events: bool,
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
    }
}

fn replay(a: ReplayArgs) -> ExitCode {
    let mut r = Replay::new(a.files);
    r.logsource = a.logsource;
    r.speed = a.speed;
    if a.quiet {
        r.progress = false;
    }
    if let Some(w) = a.workers {
        r.pipeline.workers = w.max(1);
    }
    r.pipeline.flow.community_id_seed = a.community_id_seed;
    r.pipeline.flow.max_flows = a.max_flows.max(1);
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
    let sink = JsonLines::new(
        BufWriter::with_capacity(1 << 16, std::io::stdout()),
        a.events,
    );
    let tally = sink.tally.clone();
    match r.run(enricher, Box::new(sink)) {
        Ok(s) => {
            let events = tally.events.load(std::sync::atomic::Ordering::Relaxed);
            let flows = tally.flows.load(std::sync::atomic::Ordering::Relaxed);
            let secs = s.elapsed.as_secs_f64();
            eprintln!(
                "vigil replay: {} file(s), {} packets ({} bytes), {} flows, {} events, {} malformed packets, {:.3}s ({:.0} packets/s)",
                s.files,
                s.packets,
                s.bytes,
                flows,
                events,
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
