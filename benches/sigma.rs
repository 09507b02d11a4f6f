//! Sigma evaluation throughput on one core, against rsigma (`rsigma engine eval`) on the same
//! NDJSON file and rules, with `--logsource any` semantics (every rule against every event).
//!
//! `cargo bench --bench sigma` (env: SIGMA_BENCH_EVENTS=N, SIGMA_BENCH_RULES=DIR,
//! SIGMA_BENCH_ALL=DIR for the second pass over the whole tree, SIGMA_BENCH_RSIGMA=0 to skip).

#[path = "support/auditd_events.rs"]
mod auditd_events;
#[path = "support/fast_json.rs"]
mod fast_json;
#[path = "support/rsigma.rs"]
mod rsigma;

use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil::event::{Event, Kind, LogSource, Timestamp};
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

/// CPU time of the calling thread (user + system), from /proc; 10 ms resolution.
fn thread_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            // fields after the command: state is [0]; utime is field 14 overall -> [11], stime [12]
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn to_event(line: &str) -> Option<Event> {
    let mut ev = Event::new(
        Timestamp(0),
        Kind::Log,
        LogSource::product_service("linux", "auditd"),
    );
    ev.fields = fast_json::fields_from_json(line)?;
    Some(ev)
}

struct Figures {
    rules: usize,
    events: u64,
    matches: u64,
    eval: Duration,
    total: Duration,
    total_cpu: Duration,
}

fn load(rules: &Path) -> RuleSet {
    let opts = LoadOptions {
        logsource_any: true,
        map_fields: false,
        ..LoadOptions::default()
    };
    match RuleSet::load(&[rules.to_path_buf()], &opts) {
        Ok(s) => s,
        Err(report) => {
            eprintln!("{report}");
            std::process::exit(1);
        }
    }
}

/// Evaluation alone, on events parsed beforehand: (events/s of CPU time, events/s wall, matches).
fn eval_only(rules: &Path, events: &[Event]) -> (f64, f64, u64) {
    let mut engine = Engine::new(Arc::new(load(rules)));
    let mut out = Vec::new();
    let cpu = thread_cpu();
    let wall = Instant::now();
    for batch in events.chunks(1024) {
        engine.process_batch(batch, &mut out);
        out.clear();
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = (thread_cpu() - cpu).as_secs_f64().max(0.01);
    let n = events.len() as f64;
    (n / cpu, n / wall, engine.matches())
}

fn run_vigil(rules: &Path, events: &Path) -> Figures {
    let t = Instant::now();
    let set = load(rules);
    let loaded = t.elapsed();
    let t = Instant::now();
    let (_, unscreened) = set.prefilter_stats(&LogSource::default());
    eprintln!(
        "  vigil  loaded {} rules in {} ms, prefilter built in {} ms ({unscreened} rules it cannot screen)",
        set.len(),
        loaded.as_millis(),
        t.elapsed().as_millis()
    );
    let n_rules = set.len();
    let mut engine = Engine::new(Arc::new(set));
    let debug = std::env::var_os("SIGMA_BENCH_DEBUG").is_some();
    if debug {
        engine.enable_profile();
    }
    let start = Instant::now();
    let cpu_start = thread_cpu();
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
    if let Some(dump) = std::env::var_os("SIGMA_BENCH_DUMP") {
        let lines: Vec<String> = engine
            .rule_matches()
            .iter()
            .map(|(rule, n)| format!("{n} {rule}"))
            .collect();
        let _ = std::fs::write(dump, lines.join("\n") + "\n");
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
        total_cpu: thread_cpu() - cpu_start,
    }
}

struct Pass {
    label: &'static str,
    rules: PathBuf,
    stream: Figures,
    peak_kb: u64,
}

fn report(p: &Pass, events_file: &Path, parsed: &[Event], with_peer: bool) {
    let v = &p.stream;
    let stream_wall = v.events as f64 / v.total.as_secs_f64();
    let stream_cpu = v.events as f64 / v.total_cpu.as_secs_f64().max(0.01);
    let (eval_cpu, eval_wall, eval_matches) = eval_only(&p.rules, parsed);
    println!("{}: {} rules, {} events", p.label, v.rules, v.events);
    println!(
        "  vigil  evaluation only : {eval_cpu:>9.0} events/s (CPU time), {eval_wall:>9.0} events/s (wall); {eval_matches} matches"
    );
    println!(
        "  vigil  NDJSON -> alerts: {stream_cpu:>9.0} events/s (CPU time), {stream_wall:>9.0} events/s (wall), evaluation {:.0} ms of it; {} matches; peak RSS {} MiB",
        v.eval.as_secs_f64() * 1e3,
        v.matches,
        p.peak_kb / 1024
    );
    if !with_peer {
        return;
    }
    match rsigma::run(&p.rules, events_file, &[], Some("0")) {
        Some(r) => {
            let cpu_rate = v.events as f64 / r.cpu_secs.max(0.01);
            let wall_rate = v.events as f64 / r.secs;
            println!(
                "  rsigma NDJSON -> alerts: {cpu_rate:>9.0} events/s (CPU time), {wall_rate:>9.0} events/s (wall); {} matches; peak RSS {} MiB",
                r.matches,
                r.peak_kb / 1024
            );
            println!(
                "  ratio (CPU time): {:.1}x evaluation only, {:.1}x NDJSON -> alerts; matches {}",
                eval_cpu / cpu_rate,
                stream_cpu / cpu_rate,
                if r.matches == v.matches && eval_matches == v.matches {
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
    let events = match std::env::var_os("SIGMA_BENCH_EVENTS_FILE") {
        Some(f) => PathBuf::from(f),
        None => std::env::temp_dir().join(format!("vigil-sigma-bench-{n}.ndjson")),
    };
    if !events.exists() {
        let f =
            std::fs::File::create(&events).unwrap_or_else(|e| panic!("{}: {e}", events.display()));
        let mut w = BufWriter::new(f);
        let bad = auditd_events::write_events(&mut w, n, 0x5eed).unwrap_or(0);
        drop(w);
        println!("wrote {n} events ({bad} malicious) to {}", events.display());
    }
    // Streaming passes first, so that peak RSS is that of streaming (rules + one batch), not of
    // the events parsed in memory for the evaluation-only passes.
    let mut passes = vec![Pass {
        label: "linux rules",
        stream: run_vigil(&rules, &events),
        peak_kb: peak_rss_kb(),
        rules,
    }];
    if all.exists() {
        passes.push(Pass {
            label: "all rules",
            stream: run_vigil(&all, &events),
            peak_kb: peak_rss_kb(),
            rules: all,
        });
    }
    let parsed: Vec<Event> = std::fs::read_to_string(&events)
        .unwrap_or_default()
        .lines()
        .filter_map(to_event)
        .collect();
    for p in &passes {
        report(p, &events, &parsed, with_peer);
    }
}
