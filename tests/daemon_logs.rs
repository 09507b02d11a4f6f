//! `vigil run` taking logs from syslog over TLS (RFC 5425) with real `openssl s_client`, with
//! and without client certificates, and from followed files through append, rename rotation,
//! copytruncate and a restart with lines written while it was down; and the config errors of
//! the keys behind both.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The port the daemon printed for syslog over TLS.
fn tls_port(d: &Daemon) -> u16 {
    d.stderr_text()
        .lines()
        .find_map(|l| l.strip_prefix("vigil: syslog_tls listening on tls 127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .expect("syslog_tls port printed")
}

/// `openssl s_client` to the syslog-over-TLS port, trusting the dev CA, with `extra` flags;
/// writes `data` and keeps the connection open until killed.
fn s_client(d: &Daemon, port: u16, extra: &[&str], data: &[u8]) -> Child {
    let mut c = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .arg("-CAfile")
        .arg(d.data.join("tls/ca.crt"))
        .arg("-quiet")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = c.stdin.take().expect("stdin");
    stdin.write_all(data).expect("write to s_client");
    // Dropping stdin would end the session at once with `-quiet`; keep it open until the
    // test has seen the events, then kill the client.
    std::mem::forget(stdin);
    c
}

/// RFC 5425 framing: `LEN SP MSG`.
fn octet_counted(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

/// The events in the JSON-lines output.
fn events(d: &Daemon) -> Vec<serde_json::Value> {
    std::fs::read_to_string(d.data.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The events of the output once at least `n` are there: counted events are written only
/// after detection, a moment later than the metric says they arrived.
fn wait_events(d: &Daemon, n: usize) -> Vec<serde_json::Value> {
    let t0 = Instant::now();
    loop {
        let evs: Vec<serde_json::Value> = events(d)
            .into_iter()
            .filter(|e| e.get("kind").is_some())
            .collect();
        if evs.len() >= n || t0.elapsed() > Duration::from_secs(10) {
            return evs;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How often each `seq=N` of program `prog` arrived.
fn seqs(data: &Path, prog: &str) -> BTreeMap<u32, u32> {
    let mut m = BTreeMap::new();
    let text = std::fs::read_to_string(data.join("events.jsonl")).unwrap_or_default();
    for l in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        if v["program"] != prog {
            continue;
        }
        if let Some(n) = v["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("seq="))
            .and_then(|n| n.parse().ok())
        {
            *m.entry(n).or_insert(0) += 1;
        }
    }
    m
}

/// Waits until `seq=1..=upto` all arrived; panics with what did otherwise.
fn wait_seqs(d: &Daemon, prog: &str, upto: u32) -> BTreeMap<u32, u32> {
    let t0 = Instant::now();
    loop {
        let m = seqs(&d.data, prog);
        if (1..=upto).all(|n| m.contains_key(&n)) {
            return m;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "seq 1..={upto} not all arrived: {m:?}\n{}",
            d.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn append(path: &Path, from: u32, to: u32) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the log for append");
    for n in from..=to {
        writeln!(f, "<13>Nov 29 01:00:00 web01 follower[7]: seq={n}").expect("append");
    }
}

fn exactly_once(m: &BTreeMap<u32, u32>, upto: u32) {
    let want: BTreeMap<u32, u32> = (1..=upto).map(|n| (n, 1)).collect();
    assert_eq!(m, &want, "every line exactly once");
}

#[test]
fn syslog_over_tls_with_real_openssl_octet_counted_and_newline_framed() {
    let dir = tempdir("logs-tls");
    let d = Daemon::start(&dir, &["--syslog-tls", "127.0.0.1:0"]);
    let port = tls_port(&d);
    let mut data = String::new();
    data.push_str(&octet_counted(
        "<13>1 2026-11-29T01:00:00Z web01 tlsapp 42 - - first over tls",
    ));
    data.push_str(&octet_counted(
        "<38>1 2026-11-29T01:00:01Z web01 sshd 43 - - second\nwith a newline inside",
    ));
    // A sender that ignores RFC 5425 and frames by newline, as the TCP listener accepts.
    data.push_str("<13>Nov 29 01:00:02 web01 lineapp: third by newline\n");
    let mut client = s_client(&d, port, &[], data.as_bytes());
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_tls\"}",
        3.0,
    );
    let _ = client.kill();
    let _ = client.wait();
    let evs = wait_events(&d, 3);
    let by_program = |p: &str| {
        evs.iter()
            .find(|e| e["program"] == p)
            .unwrap_or_else(|| panic!("no event from {p}: {evs:?}"))
            .clone()
    };
    assert_eq!(by_program("tlsapp")["message"], "first over tls");
    assert_eq!(by_program("tlsapp")["host"], "web01");
    assert_eq!(
        by_program("sshd")["message"],
        "second\nwith a newline inside",
        "octet counting keeps a message's newlines"
    );
    assert_eq!(by_program("lineapp")["message"], "third by newline");
    assert_eq!(by_program("tlsapp")["peer_ip"], "127.0.0.1");
    assert_eq!(
        d.metric("vigil_source_tls_handshake_errors_total{reason=\"error\",source=\"syslog_tls\"}"),
        0.0
    );

    // Plain TCP to the TLS port is a failed handshake, counted, and delivers nothing.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.write_all(b"<13>Nov 29 01:00:03 web01 plain: not tls\n")
        .expect("write");
    d.wait_metric(
        "vigil_source_tls_handshake_errors_total{reason=\"error\",source=\"syslog_tls\"}",
        1.0,
    );
    assert!(!events(&d).iter().any(|e| e["program"] == "plain"));
}

#[test]
fn a_silent_tls_peer_holds_its_slot_only_until_the_handshake_deadline() {
    let dir = tempdir("logs-tls-slow");
    let cfg = dir.join("vigil.toml");
    std::fs::write(
        &cfg,
        "[sources]\nsyslog_tls = \"127.0.0.1:0\"\nsyslog_max_connections = 1\n",
    )
    .expect("write config");
    let d = Daemon::start(&dir, &["--config", cfg.to_str().expect("utf-8 path")]);
    let port = tls_port(&d);
    // Takes the only connection slot and never starts its handshake.
    let silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let msg = octet_counted("<13>1 2026-11-29T01:00:00Z web01 waiter - - - after the slot frees");
    let mut client = s_client(&d, port, &[], msg.as_bytes());
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_tls\"}",
        1.0,
    );
    assert!(
        t0.elapsed() >= Duration::from_secs(8),
        "the second peer waited for the first one's handshake deadline"
    );
    assert_eq!(
        d.metric(
            "vigil_source_tls_handshake_errors_total{reason=\"timeout\",source=\"syslog_tls\"}"
        ),
        1.0
    );
    let _ = client.kill();
    let _ = client.wait();
    drop(silent);
}

#[test]
fn syslog_over_tls_requires_a_client_certificate_when_a_client_ca_is_set() {
    let dir = tempdir("logs-tls-mtls");
    let out = vigil(&[
        "certs",
        "init",
        "--data",
        dir.to_str().expect("utf-8 path"),
        "--client",
        "relay",
    ]);
    assert!(out.status.success(), "{out:?}");
    let tls = dir.join("tls");
    let cfg = dir.join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources]\nsyslog_tls = \"127.0.0.1:0\"\nsyslog_tls_client_ca = \"{}\"\n",
            tls.join("ca.crt").display()
        ),
    )
    .expect("write config");
    let d = Daemon::start(&dir, &["--config", cfg.to_str().expect("utf-8 path")]);
    let port = tls_port(&d);
    let refused = "vigil_source_tls_handshake_errors_total{reason=\"error\",source=\"syslog_tls\"}";

    // Without a certificate: the server refuses the handshake; nothing is delivered.
    let msg = octet_counted("<13>1 2026-11-29T01:00:00Z web01 nocert - - - without a cert");
    let mut anon = s_client(&d, port, &[], msg.as_bytes());
    d.wait_metric(refused, 1.0);
    let st = anon.wait().expect("s_client ends when refused");
    assert!(!st.success(), "openssl without a client cert must fail");

    // With the client certificate made by `vigil certs init --client`: delivered.
    let msg = octet_counted("<13>1 2026-11-29T01:00:01Z web01 withcert - - - with a cert");
    let mut ok = s_client(
        &d,
        port,
        &[
            "-cert",
            tls.join("client-relay.crt").to_str().expect("utf-8 path"),
            "-key",
            tls.join("client-relay.key").to_str().expect("utf-8 path"),
        ],
        msg.as_bytes(),
    );
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_tls\"}",
        1.0,
    );
    let _ = ok.kill();
    let _ = ok.wait();
    let evs = wait_events(&d, 1);
    assert!(evs
        .iter()
        .any(|e| e["program"] == "withcert" && e["message"] == "with a cert"));
    assert!(!evs.iter().any(|e| e["program"] == "nocert"));
    assert_eq!(d.metric(refused), 1.0);
}

#[test]
fn a_followed_file_survives_rename_copytruncate_and_a_restart_without_loss_or_duplicates() {
    let dir = tempdir("logs-follow");
    let data = dir.join("data");
    let log = dir.join("app.log");
    let args = ["--file", log.to_str().expect("utf-8 path")];
    // Missing at start: the daemon waits for it.
    let d = Daemon::start(&data, &args);
    append(&log, 1, 5);
    wait_seqs(&d, "follower", 5);
    assert!(d.stderr_text().contains("waiting for it"));

    // logrotate's default: rename, the writer finishes its line in the old file, then a new
    // file is created.
    std::fs::rename(&log, dir.join("app.log.1")).expect("rename");
    append(&dir.join("app.log.1"), 6, 7);
    append(&log, 8, 10);
    exactly_once(&wait_seqs(&d, "follower", 10), 10);

    // copytruncate: copied away, truncated in place, written again.
    std::fs::copy(&log, dir.join("app.log.2")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .expect("truncate");
    append(&log, 11, 13);
    exactly_once(&wait_seqs(&d, "follower", 13), 13);
    d.wait_metric("vigil_file_rotations_total{kind=\"rename\"}", 1.0);
    d.wait_metric("vigil_file_rotations_total{kind=\"truncate\"}", 1.0);

    // A restart in the middle: lines written while the daemon is down arrive once it is back.
    let mut d = d;
    append(&log, 14, 16);
    wait_seqs(&d, "follower", 16);
    assert!(d.stop().success());
    let positions = std::fs::read_to_string(data.join("positions.json")).expect("positions");
    assert!(
        positions.contains(log.to_str().expect("utf-8 path")),
        "{positions}"
    );
    append(&log, 17, 25);
    let d = Daemon::start(&data, &args);
    exactly_once(&wait_seqs(&d, "follower", 25), 25);
    // And it goes on following.
    append(&log, 26, 30);
    exactly_once(&wait_seqs(&d, "follower", 30), 30);
}

#[test]
fn a_followed_auditd_log_gives_the_events_replay_gives() {
    let dir = tempdir("logs-follow-audit");
    let data = dir.join("data");
    let log = dir.join("audit.log");
    let corpus_log = corpus("logs/auditd/audit-rhel7.log");
    let text = std::fs::read_to_string(&corpus_log).expect("read the corpus log");
    let lines: Vec<&str> = text.lines().collect();
    let d = Daemon::start(&data, &["--file", log.to_str().expect("utf-8 path")]);
    // Written in two parts a few polls apart, as auditd writes: one event's records may be
    // split between them and must still be merged.
    let (first, second) = lines.split_at(lines.len() / 2);
    std::fs::write(&log, first.join("\n") + "\n").expect("write the first half");
    std::thread::sleep(Duration::from_millis(600));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open for append");
    f.write_all((second.join("\n") + "\n").as_bytes())
        .expect("append the second half");
    let want: Vec<serde_json::Value> = common::events(&[&corpus_log], &[]);
    let t0 = Instant::now();
    let got = loop {
        let got: Vec<serde_json::Value> = events(&d)
            .into_iter()
            .filter(|e| e["logsource"]["service"] == "auditd")
            .collect();
        if got.len() >= want.len() || t0.elapsed() > Duration::from_secs(20) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(got.len(), want.len(), "{}", d.stderr_text());
    // The same events; a replay hands them to detection sorted by time within each second of
    // event time, the daemon in arrival order.
    let sorted = |v: Vec<serde_json::Value>| {
        let mut s: Vec<String> = v.iter().map(|e| e.to_string()).collect();
        s.sort();
        s
    };
    assert_eq!(sorted(got), sorted(want), "the same events as vigil replay");
}

#[test]
fn files_wait_for_a_full_pipeline_instead_of_dropping() {
    let dir = tempdir("logs-backpressure");
    let data = dir.join("data");
    let log = dir.join("big.log");
    const N: u32 = 20_000;
    append(&log, 1, N);
    // Tiny queues: the file reader must wait for the workers, never drop.
    let cfg = dir.join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources]\nfiles = [\"{}\"]\n[pipeline]\nbatch = 16\nqueue = 1\nworkers = 1\n",
            log.display()
        ),
    )
    .expect("write config");
    let d = Daemon::start(&data, &["--config", cfg.to_str().expect("utf-8 path")]);
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"file\"}",
        f64::from(N),
    );
    exactly_once(&wait_seqs(&d, "follower", N), N);
    assert_eq!(
        d.metric("vigil_events_dropped_total{reason=\"queue_full\",source=\"file\"}"),
        0.0
    );
}

#[test]
fn config_errors_for_syslog_tls_and_files_name_their_lines() {
    let dir = tempdir("logs-config");
    let bad = dir.join("vigil.toml");
    let f = bad.display();
    std::fs::write(
        &bad,
        "[sources]\nsyslog_tls = \"localhost:6514\"\nsyslog_tls_client_ca = \"/nonexistent/ca.crt\"\nfiles = [\n  \"/var/log/syslog\",\n  \"audit.log\",\n]\n",
    )
    .expect("write config");
    let out = vigil(&[
        "config",
        "check",
        "--config",
        bad.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "{f}:2: [sources] syslog_tls: `localhost:6514` is not a socket address"
        )),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{f}:3: [sources] syslog_tls_client_ca: CA certificate `/nonexistent/ca.crt`: No such file"
        )),
        "{text}"
    );
    assert_eq!(
        lines[2],
        format!("{f}:6: [sources] files: `audit.log` is not an absolute path; write it from `/`")
    );

    std::fs::write(&bad, "[sources]\nfiles = \"/var/log/syslog\"\n").expect("write config");
    let out = vigil(&[
        "config",
        "check",
        "--config",
        bad.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("{f}:2: [sources] files: ")),
        "{text}"
    );

    std::fs::write(&bad, "[sources]\nsylog_tls = \"127.0.0.1:6514\"\n").expect("write config");
    let out = vigil(&[
        "config",
        "check",
        "--config",
        bad.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{f}:2: unknown key `sylog_tls` in [sources]; did you mean `syslog_tls`?\n")
    );

    let out = vigil(&[
        "run",
        "--syslog-tls",
        "nope",
        "--data",
        dir.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--syslog-tls: `nope` is not a socket address"),
        "{out:?}"
    );
}
