//! `vigil run` under a continuous stream from util-linux `logger` over TCP: SIGHUPs that reload
//! rules and tenants in the middle lose no event and are counted, and SIGTERM right after a
//! burst drains every queued event (and its alerts) into the output and exits 0 in time.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const RULE: &str = "title: load test marker\nid: 0b6f7d9e-1c2a-4e55-9b1f-5a0c3e7d2f10\nlogsource:\n    product: linux\ndetection:\n    sel:\n        message|contains: alert-me\n    condition: sel\ntags:\n    - attack.credential_access\nlevel: high\n";

const TENANTS_A: &str = "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16]\n";
const TENANTS_B: &str =
    "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/16]\n  - id: globex\n    cidrs: [10.2.0.0/16]\n";

/// One in this many lines matches the rule.
const ALERT_EVERY: u32 = 100;

fn line(seq: u32) -> String {
    if seq % ALERT_EVERY == 0 {
        format!("seq {seq} alert-me\n")
    } else {
        format!("seq {seq}\n")
    }
}

/// `logger` sending each line of its stdin over one TCP connection.
fn logger_tcp(port: u16) -> Child {
    Command::new("logger")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(["--tcp", "-t", "loadtest"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run logger (util-linux)")
}

fn wait_logger(child: Child) {
    let out = child.wait_with_output().expect("wait for logger");
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How often each `seq N` of program `loadtest` is in the output.
fn seqs(data: &Path) -> BTreeMap<u32, u32> {
    let mut m = BTreeMap::new();
    for l in std::fs::read_to_string(data.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
    {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        if v["program"] != "loadtest" {
            continue;
        }
        let seq = v["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("seq "))
            .and_then(|m| m.split(' ').next())
            .and_then(|n| n.parse().ok());
        if let Some(n) = seq {
            *m.entry(n).or_insert(0) += 1;
        }
    }
    m
}

fn alerts(data: &Path) -> usize {
    std::fs::read_to_string(data.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"rule\":") && l.contains("alert-me"))
        .count()
}

fn exactly_once(m: &BTreeMap<u32, u32>, n: u32) {
    let missing: Vec<u32> = (1..=n).filter(|s| !m.contains_key(s)).take(10).collect();
    let twice: Vec<u32> = m
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(s, _)| *s)
        .take(10)
        .collect();
    assert!(
        missing.is_empty() && twice.is_empty() && m.len() == n as usize,
        "{} of {n} lines out; first missing {missing:?}, first duplicated {twice:?}",
        m.len()
    );
}

fn setup(name: &str) -> (std::path::PathBuf, Vec<String>) {
    let dir = tempdir(name);
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("marker.yml"), RULE).expect("write rule");
    let tenants = dir.join("tenants.yaml");
    std::fs::write(&tenants, TENANTS_A).expect("write tenants");
    let args = vec![
        "--rules".to_string(),
        rules.display().to_string(),
        "--tenants".to_string(),
        tenants.display().to_string(),
    ];
    (dir, args)
}

#[test]
fn sighup_under_a_continuous_stream_loses_nothing_and_is_counted() {
    const RELOADS: u32 = 5;
    const CHUNK: u32 = 400;
    let (dir, args) = setup("reload-load");
    let data = dir.join("data");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = Daemon::start(&data, &args);
    let port = d.syslog.expect("syslog port");

    // The stream: chunks of 400 lines about 50 ms apart, from before the first SIGHUP until
    // after the last one.
    let mut logger = logger_tcp(port);
    let mut stdin = logger.stdin.take().expect("logger stdin");
    let reloading = Arc::new(AtomicBool::new(true));
    let flowing = reloading.clone();
    let writer = std::thread::spawn(move || {
        let mut sent = 0;
        let mut after = 0;
        // Two more chunks once the reloads are done, so that the last one is under load too.
        while after < 2 {
            if !flowing.load(Ordering::Relaxed) {
                after += 1;
            }
            let text: String = (sent + 1..=sent + CHUNK).map(line).collect();
            stdin.write_all(text.as_bytes()).expect("write to logger");
            sent += CHUNK;
            std::thread::sleep(Duration::from_millis(50));
        }
        sent
    });

    // SIGHUPs while it flows, each with a changed tenants file. Signals that arrive together
    // may be merged, so each waits for the reload before the next.
    for i in 1..=RELOADS {
        std::thread::sleep(Duration::from_millis(300));
        let tenants = if i % 2 == 1 { TENANTS_B } else { TENANTS_A };
        std::fs::write(dir.join("tenants.yaml"), tenants).expect("rewrite tenants");
        d.signal("HUP");
        d.wait_metric(
            "vigil_reload_total{result=\"ok\",what=\"tenants\"}",
            f64::from(i),
        );
        d.wait_metric("vigil_rules_reload_total{result=\"ok\"}", f64::from(i));
    }
    reloading.store(false, Ordering::Relaxed);
    let n = writer.join().expect("writer thread");
    wait_logger(logger);
    assert!(n >= 10 * CHUNK, "only {n} lines sent");

    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_tcp\"}",
        f64::from(n),
    );
    assert_eq!(
        d.metric("vigil_events_total{kind=\"log\",source=\"syslog_tcp\"}"),
        f64::from(n)
    );
    assert_eq!(
        d.metric_sum("vigil_events_dropped_total"),
        0.0,
        "{}",
        d.curl("/metrics", &[]).2
    );
    let want_alerts = f64::from(n / ALERT_EVERY);
    d.wait_metric("vigil_alerts_total{level=\"high\"}", want_alerts);
    assert_eq!(d.metric("vigil_alerts_total{level=\"high\"}"), want_alerts);
    assert_eq!(
        d.metric("vigil_alerts_by_tactic_total{tactic=\"credential_access\"}"),
        want_alerts
    );
    assert_eq!(
        d.metric("vigil_reload_total{result=\"ok\",what=\"tenants\"}"),
        f64::from(RELOADS)
    );
    assert_eq!(
        d.metric("vigil_rules_reload_total{result=\"ok\"}"),
        f64::from(RELOADS)
    );
    assert_eq!(
        d.metric("vigil_reload_total{result=\"error\",what=\"tenants\"}")
            + d.metric("vigil_rules_reload_total{result=\"error\"}"),
        0.0
    );
    assert_eq!(d.metric("vigil_rules_loaded"), 1.0);

    // And every line is in the output once, with its alert.
    let t0 = Instant::now();
    while seqs(&data).len() < n as usize && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    exactly_once(&seqs(&data), n);
    assert_eq!(alerts(&data), (n / ALERT_EVERY) as usize);
    let mut d = d;
    assert!(d.stop().success(), "{}", d.stderr_text());
}

#[test]
fn sigterm_right_after_a_burst_outputs_every_queued_event_and_exits_0() {
    const N: u32 = 20_000;
    let (dir, args) = setup("sigterm-drain");
    let data = dir.join("data");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Daemon::start(&data, &args);
    let port = d.syslog.expect("syslog port");

    let mut logger = logger_tcp(port);
    let text: String = (1..=N).map(line).collect();
    logger
        .stdin
        .take()
        .expect("logger stdin")
        .write_all(text.as_bytes())
        .expect("write to logger");
    // logger has written everything and closed; much of it is still in vigil's socket
    // buffer and queues when SIGTERM arrives.
    wait_logger(logger);
    let t0 = Instant::now();
    let st = d.stop();
    let took = t0.elapsed();
    assert!(st.success(), "exit {st}:\n{}", d.stderr_text());
    assert!(
        took < Duration::from_secs(10),
        "stopping took {took:?}:\n{}",
        d.stderr_text()
    );
    assert!(d.stderr_text().contains("vigil: stopped"));
    exactly_once(&seqs(&data), N);
    assert_eq!(alerts(&data), (N / ALERT_EVERY) as usize);
}
