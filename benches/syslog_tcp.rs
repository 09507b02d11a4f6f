//! The syslog path's benchmark: RFC 5424 lines over one TCP connection on loopback into
//! `vigil run`, parsed and matched against the SigmaHQ Linux rules, beside
//! `rsigma engine eval --input-format syslog` on the same lines and rules.
//!
//! `cargo bench --bench syslog_tcp` writes `target/bench/syslog-5424.log` (env
//! `VIGIL_BENCH_LINES`, default 2,000,000), then prints lines/s (wall and per CPU second),
//! peak RSS, alerts and drops for both. A run in which vigil dropped events is invalid.
//! Other knobs: `VIGIL_BENCH_CPUS=1` runs the daemon under `taskset -c 1` (one core),
//! `VIGIL_BENCH_RSIGMA=0` skips rsigma, `VIGIL_BENCH_BATCH` and `VIGIL_BENCH_INGEST_QUEUE` set
//! the daemon's `[pipeline]` batch and ingest queue.

#[path = "support/rsigma.rs"]
mod rsigma;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOSTS: [&str; 8] = [
    "web-01",
    "web-02",
    "db-01",
    "db-02",
    "cache-01",
    "build-07",
    "bastion",
    "k8s-node-3",
];
const USERS: [&str; 6] = ["alice", "bob", "deploy", "root", "ubuntu", "postgres"];

/// Line `i` of the generated log: mostly routine Linux host traffic, with about one line in
/// 500 carrying something a SigmaHQ Linux rule looks for.
fn line(out: &mut Vec<u8>, i: u64) {
    let host = HOSTS[(i % HOSTS.len() as u64) as usize];
    let user = USERS[(i / 7 % USERS.len() as u64) as usize];
    let secs = 1_764_331_200 + i / 1000;
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let micros = (i * 997) % 1_000_000;
    let pid = 1000 + i % 30_000;
    let ip = format!("10.{}.{}.{}", i % 7, (i / 7) % 250, (i / 1750) % 250 + 1);
    let port = 1024 + (i * 31) % 60_000;
    // PRI: facility (auth 4, authpriv 10, cron 9, kern 0, daemon 3) * 8 + severity.
    let (pri, app, procid, msgid, sd, msg): (u8, &str, String, &str, &str, String) = if i % 500
        == 17
    {
        match i / 500 % 4 {
                0 => (
                    82,
                    "sshd",
                    pid.to_string(),
                    "-",
                    "-",
                    format!("error: Corrupted MAC on input from {ip} port {port}"),
                ),
                1 => (
                    2,
                    "kernel",
                    "-".into(),
                    "-",
                    "-",
                    format!("*** stack smashing detected ***: terminated pid {pid}"),
                ),
                2 => (
                    85,
                    "sudo",
                    pid.to_string(),
                    "-",
                    "-",
                    format!(
                        "{user} : TTY=pts/1 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/rm -rf /var/log/syslog"
                    ),
                ),
                _ => (
                    30,
                    "named",
                    pid.to_string(),
                    "-",
                    "-",
                    format!("client @0x7f3a {ip}#{port} (example.com): zone transfer denied AXFR from {ip}"),
                ),
            }
    } else {
        match i % 10 {
                0..=2 => (
                    86,
                    "sshd",
                    pid.to_string(),
                    "-",
                    "-",
                    format!("Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:q6Xb3Vd0qk2hT9sZ1m0yLrR4Zk5Fh3rC9d8s7a6B5c4"),
                ),
                3 => (
                    84,
                    "sshd",
                    pid.to_string(),
                    "-",
                    "-",
                    format!("Failed password for invalid user {user}{} from {ip} port {port} ssh2", i % 97),
                ),
                4 => (
                    85,
                    "sudo",
                    pid.to_string(),
                    "-",
                    "-",
                    format!("{user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"),
                ),
                5 => (
                    78,
                    "CRON",
                    pid.to_string(),
                    "-",
                    "-",
                    format!("({user}) CMD (/usr/local/bin/backup.sh --incremental >/dev/null 2>&1)"),
                ),
                6 => (
                    6,
                    "kernel",
                    "-".into(),
                    "-",
                    "-",
                    format!("[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC={ip} DST=10.0.0.5 LEN=60 TTL=52 ID={pid} PROTO=TCP SPT={port} DPT=23 WINDOW=29200 SYN"),
                ),
                7 => (
                    30,
                    "systemd",
                    "1".into(),
                    "-",
                    "-",
                    format!("Started session-{pid}.scope - Session {pid} of User {user}."),
                ),
                8 => (
                    86,
                    "sshd",
                    pid.to_string(),
                    "-",
                    r#"[origin ip="10.0.0.9" software="rsyslogd"][meta sequenceId="42"]"#,
                    format!("pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)"),
                ),
                _ => (
                    29,
                    "systemd-logind",
                    "812".into(),
                    "-",
                    "-",
                    format!("New session {pid} of user {user}."),
                ),
            }
    };
    let _ = writeln!(
        out,
        "<{pri}>1 2025-11-28T{h:02}:{m:02}:{s:02}.{micros:06}Z {host} {app} {procid} {msgid} {sd} {msg}"
    );
}

fn generate(path: &Path, n: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut buf = Vec::with_capacity(256);
    for i in 0..n {
        buf.clear();
        line(&mut buf, i);
        w.write_all(&buf)?;
    }
    w.flush()
}

/// utime + stime of a process, in clock ticks (100 per second here).
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The daemon's metrics page.
fn metrics(api: SocketAddr, ca: &Path) -> String {
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(ca)
        .arg(format!("https://{api}/metrics"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sum of every sample of `name` whose labels contain `labels`.
fn metric(page: &str, name: &str, labels: &str) -> u64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

struct Daemon {
    child: Child,
    api: SocketAddr,
    syslog: SocketAddr,
}

fn start_vigil(dir: &Path, rules: &Path, batch: usize) -> Daemon {
    let config = dir.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\nbatch = {batch}\n{}\n[output]\njsonl = \"{}\"\nevents = false\n",
            std::env::var("VIGIL_BENCH_INGEST_QUEUE")
                .map(|q| format!("ingest_queue = {q}\n"))
                .unwrap_or_default(),
            dir.join("alerts.jsonl").display()
        ),
    )
    .expect("config written");
    let mut cmd = match std::env::var("VIGIL_BENCH_CPUS") {
        Ok(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpus, env!("CARGO_BIN_EXE_vigil")]);
            c
        }
        Err(_) => Command::new(env!("CARGO_BIN_EXE_vigil")),
    };
    let mut child = cmd
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(dir)
        .args(["--api", "127.0.0.1:0", "--syslog", "127.0.0.1:0"])
        .args(["--netflow", "off", "--rules"])
        .arg(rules)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let (mut api, mut syslog) = (None, None);
    for l in lines.by_ref() {
        let l = l.expect("vigil's stderr reads");
        eprintln!("  {l}");
        if let Some(a) = l.strip_prefix("vigil: api listening on https://") {
            api = a.trim().parse().ok();
        }
        if let Some(a) = l.strip_prefix("vigil: syslog_tcp listening on tcp ") {
            syslog = a.trim().parse().ok();
        }
        if l == "vigil: ready" {
            break;
        }
    }
    // Keep draining stderr so the daemon never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Daemon {
        child,
        api: api.expect("vigil printed its API address"),
        syslog: syslog.expect("vigil printed its syslog TCP address"),
    }
}

struct Figures {
    lines: u64,
    /// First byte sent to the last line counted in by the listener.
    ingest: Duration,
    /// First byte sent to the daemon's CPU going idle (detection and output done).
    done: Duration,
    cpu: Duration,
    peak_kb: u64,
    alerts: u64,
    dropped: u64,
    parse_errors: u64,
}

fn run_vigil(log: &Path, rules: &Path, n: u64) -> Figures {
    let dir = std::env::temp_dir().join(format!("vigil-syslog-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let batch = std::env::var("VIGIL_BENCH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(1024);
    let mut d = start_vigil(&dir, rules, batch);
    let pid = d.child.id();
    let ca = dir.join("tls/ca.crt");
    let data = std::fs::read(log).expect("log reads");

    let cpu0 = cpu_ticks(pid);
    let mut sock = TcpStream::connect(d.syslog).expect("connects to vigil");
    let start = Instant::now();
    for chunk in data.chunks(1 << 20) {
        sock.write_all(chunk).expect("vigil reads");
    }
    drop(sock);
    let sent = start.elapsed();
    let ingest = loop {
        let page = metrics(d.api, &ca);
        let seen = metric(&page, "vigil_events_total", "source=\"syslog_tcp\"")
            + metric(&page, "vigil_events_dropped_total", "source=\"syslog_tcp\"");
        if seen >= n {
            break start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(300) {
            panic!("vigil counted {seen} of {n} lines in 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Detection runs behind the listener: wait for the daemon to go idle.
    let mut last = cpu_ticks(pid);
    let mut idle_since = start.elapsed();
    loop {
        std::thread::sleep(Duration::from_millis(30));
        let now = cpu_ticks(pid);
        if now != last {
            last = now;
            idle_since = start.elapsed();
        } else if start.elapsed() - idle_since >= Duration::from_millis(150) {
            break;
        }
    }
    let done = idle_since;
    let cpu = Duration::from_millis((last - cpu0) * 10);
    let peak_kb = peak_rss_kb(pid);
    let page = metrics(d.api, &ca);
    let dropped = metric(&page, "vigil_events_dropped_total", "");
    let parse_errors = metric(&page, "vigil_parse_errors_total", "");
    let counted = metric(&page, "vigil_events_total", "source=\"syslog_tcp\"");
    eprintln!("  sent in {:.2} s; counted {counted}", sent.as_secs_f64());

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = d.child.wait();
    let alerts = std::fs::read(dir.join("alerts.jsonl"))
        .map(|b| b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count() as u64)
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    Figures {
        lines: counted,
        ingest,
        done,
        cpu,
        peak_kb,
        alerts,
        dropped,
        parse_errors,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n: u64 = std::env::var("VIGIL_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = root.join("../shared/corpus/sigma/rules/linux");
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let log = dir.join("syslog-5424.log");
    let t = Instant::now();
    generate(&log, n).expect("log written");
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "generated {n} lines ({:.0} MiB) in {:.1} s: {}",
        size as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64(),
        log.display()
    );

    let v = run_vigil(&log, &rules, n);
    let peer = if std::env::var("VIGIL_BENCH_RSIGMA").as_deref() == Ok("0") {
        None
    } else {
        rsigma::run(&rules, &log, &["--input-format", "syslog"], None)
    };

    let mib = |kb: u64| kb as f64 / 1024.0;
    let v_wall = v.lines as f64 / v.ingest.as_secs_f64();
    let v_done = v.lines as f64 / v.done.as_secs_f64();
    let v_cpu = v.lines as f64 / v.cpu.as_secs_f64().max(0.01);
    println!(
        "syslog over TCP: {n} RFC 5424 lines, {:.0} MiB, SigmaHQ rules/linux",
        size as f64 / (1 << 20) as f64
    );
    println!(
        "  vigil run (1 TCP connection): {v_wall:>9.0} lines/s (wall, first byte to last line counted in {:.2} s), {v_done:>9.0} lines/s (wall, to detection done in {:.2} s), {v_cpu:>9.0} lines/s per CPU second ({:.2} s CPU); peak RSS {:.0} MiB; {} alerts; {} dropped; {} parse errors",
        v.ingest.as_secs_f64(),
        v.done.as_secs_f64(),
        v.cpu.as_secs_f64(),
        mib(v.peak_kb),
        v.alerts,
        v.dropped,
        v.parse_errors
    );
    if v.dropped > 0 || v.lines != n {
        println!(
            "  INVALID: vigil counted {} of {n} lines and dropped {}",
            v.lines, v.dropped
        );
    }
    match peer {
        Some(p) => {
            let wall = p.processed.max(n) as f64 / p.secs;
            let cpu = p.processed.max(n) as f64 / p.cpu_secs.max(0.01);
            println!(
                "  rsigma engine eval --input-format syslog (file): {wall:>9.0} lines/s (wall, {:.2} s), {cpu:>9.0} lines/s per CPU second ({:.2} s CPU); peak RSS {:.0} MiB; {} matches; {} events processed",
                p.secs,
                p.cpu_secs,
                mib(p.peak_kb),
                p.matches,
                p.processed
            );
            println!(
                "  vigil / rsigma: {:.1}x (wall, to detection done), {:.1}x (per CPU second)",
                v_done / wall,
                v_cpu / cpu
            );
        }
        None => println!("  rsigma: skipped or not on PATH (cargo install rsigma@0.23.0 --locked)"),
    }
}
