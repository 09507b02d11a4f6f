//! Sigma evaluation throughput on one core, against rsigma (`rsigma engine eval`) on the same
//! NDJSON file and rules, with `--logsource any` semantics (every rule against every event).
//!
//! `cargo bench --bench sigma` (env: SIGMA_BENCH_EVENTS=N, SIGMA_BENCH_RULES=DIR,
//! SIGMA_BENCH_ALL=DIR for the second pass over the whole tree, SIGMA_BENCH_RSIGMA=0 to skip).

#[path = "support/auditd_events.rs"]
mod auditd_events;

use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil::event::{Event, Kind, LogSource, Timestamp, Value};
use vigil::rules::{Engine, LoadOptions, RuleSet};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn to_event(line: &str) -> Option<Event> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let Value::Map(fields) = Value::from_json(v) else {
        return None;
    };
    let mut ev = Event::new(
        Timestamp(0),
        Kind::Log,
        LogSource::product_service("linux", "auditd"),
    );
    ev.fields = fields;
    Some(ev)
}

struct Figures {
    rules: usize,
    events: u64,
    matches: u64,
    eval: Duration,
    total: Duration,
}

fn run_vigil(rules: &Path, events: &Path) -> Figures {
    let opts = LoadOptions {
        logsource_any: true,
        map_fields: false,
        ..LoadOptions::default()
    };
    let set = match RuleSet::load(&[rules.to_path_buf()], &opts) {
        Ok(s) => s,
        Err(report) => {
            eprintln!("{report}");
            std::process::exit(1);
        }
    };
    let n_rules = set.len();
    let mut engine = Engine::new(Arc::new(set));
    let debug = std::env::var_os("SIGMA_BENCH_DEBUG").is_some();
    if debug {
        engine.enable_profile();
    }
    let start = Instant::now();
    let file = std::fs::File::open(events).unwrap_or_else(|e| panic!("{}: {e}", events.display()));
    let mut batch = Vec::with_capacity(1024);
    let mut out = Vec::new();
    let mut eval = Duration::ZERO;
    let mut n = 0u64;
    let mut lines = BufReader::new(file).lines();
    loop {
        batch.clear();
        for line in lines.by_ref().take(1024) {
            let line = line.unwrap_or_default();
            if let Some(ev) = to_event(&line) {
                batch.push(ev);
            }
        }
        if batch.is_empty() {
            break;
        }
        n += batch.len() as u64;
        let t = Instant::now();
        engine.process_batch(&batch, &mut out);
        eval += t.elapsed();
        out.clear();
    }
    if debug {
        let ls = LogSource::default();
        let (applicable, unfiltered) = engine.rules().prefilter_stats(&ls);
        eprintln!(
            "  prefilter: {unfiltered} of {applicable} rules unscreened; {:.2} rules evaluated per event",
            engine.evaluations() as f64 / n as f64
        );
        for (rule, n) in engine.rule_matches().iter().take(10) {
            eprintln!("  {n:>8} matches {rule}");
        }
        for (rule, n, ns) in engine.rule_costs().iter().take(15) {
            eprintln!("  {:>8} ms {n:>8} evals {rule}", ns / 1_000_000);
        }
    }
    Figures {
        rules: n_rules,
        events: n,
        matches: engine.matches(),
        eval,
        total: start.elapsed(),
    }
}

struct Peer {
    matches: u64,
    secs: f64,
    peak_kb: u64,
}

fn run_rsigma(rules: &Path, events: &Path) -> Option<Peer> {
    let bin = which("rsigma")?;
    let time_out = std::env::temp_dir().join("vigil-rsigma-time.txt");
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&time_out)
        .arg("taskset")
        .arg("-c")
        .arg("0")
        .arg(bin)
        .args(["engine", "eval", "-r"])
        .arg(rules)
        .arg("-e")
        .arg(format!("@{}", events.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "Processed N events, M matches." (older releases: "M detection matches, ...")
    let stats = stderr.lines().find(|l| l.starts_with("Processed "));
    let matches = stats
        .and_then(|l| {
            l.split(", ")
                .find(|p| p.contains("matches"))
                .and_then(|p| p.split_whitespace().next())
                .and_then(|x| x.parse().ok())
        })
        .unwrap_or_else(|| {
            out.stdout
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count() as u64
        });
    let peak_kb = std::fs::read_to_string(&time_out)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    Some(Peer {
        matches,
        secs,
        peak_kb,
    })
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

fn report(label: &str, rules: &Path, events: &Path, with_peer: bool) {
    let v = run_vigil(rules, events);
    let eval_rate = v.events as f64 / v.eval.as_secs_f64();
    let total_rate = v.events as f64 / v.total.as_secs_f64();
    println!(
        "{label}: {} rules, {} events\n  vigil : {:>10.0} events/s evaluating, {:>10.0} events/s with JSON parsing; {} matches; peak RSS {} MiB (whole bench process)",
        v.rules,
        v.events,
        eval_rate,
        total_rate,
        v.matches,
        peak_rss_kb() / 1024
    );
    if !with_peer {
        return;
    }
    match run_rsigma(rules, events) {
        Some(p) => {
            let rate = v.events as f64 / p.secs;
            println!(
                "  rsigma: {:>10.0} events/s (wall, incl. parsing and loading); {} matches; peak RSS {} MiB",
                rate,
                p.matches,
                p.peak_kb / 1024
            );
            println!(
                "  ratio : {:.1}x evaluating, {:.1}x with parsing; matches {}",
                eval_rate / rate,
                total_rate / rate,
                if p.matches == v.matches {
                    "equal"
                } else {
                    "DIFFER"
                }
            );
        }
        None => println!("  rsigma: not on PATH (cargo install rsigma@0.23.0 --locked)"),
    }
}

fn main() {
    let n: usize = env_or("SIGMA_BENCH_EVENTS", "200000")
        .parse()
        .unwrap_or(200_000);
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/sigma/rules");
    let rules = PathBuf::from(env_or(
        "SIGMA_BENCH_RULES",
        &corpus.join("linux").to_string_lossy(),
    ));
    let all = PathBuf::from(env_or("SIGMA_BENCH_ALL", &corpus.to_string_lossy()));
    let with_peer = env_or("SIGMA_BENCH_RSIGMA", "1") != "0";
    let events = std::env::temp_dir().join(format!("vigil-sigma-bench-{n}.ndjson"));
    if !events.exists() {
        let f =
            std::fs::File::create(&events).unwrap_or_else(|e| panic!("{}: {e}", events.display()));
        let mut w = BufWriter::new(f);
        let bad = auditd_events::write_events(&mut w, n, 0x5eed).unwrap_or(0);
        drop(w);
        println!("wrote {n} events ({bad} malicious) to {}", events.display());
    }
    report("linux rules", &rules, &events, with_peer);
    if all.exists() {
        report("all rules", &all, &events, with_peer);
    }
}
