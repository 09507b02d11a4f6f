//! `vigil run` against real peers: curl over TLS (health, readiness, metrics, 401 on the API,
//! old TLS refused, mutual TLS), util-linux `logger` over UDP and TCP, SIGHUP with a broken
//! tenants file, SIGTERM draining into the JSON-lines output, sd_notify, and
//! `vigil config check` / `vigil certs init`.

mod common;

use std::process::Command;

use common::*;

const TENANTS: &str = "\
tenants:
  - id: acme
    cidrs: [10.1.0.0/16]
";

fn logger(port: u16, extra: &[&str], msg: &str) {
    let st = Command::new("logger")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(extra)
        .args(["-t", "vigiltest", msg])
        .status()
        .expect("run logger");
    assert!(st.success(), "logger {extra:?} failed");
}

#[test]
fn https_health_readiness_metrics_and_api_over_real_curl() {
    let dir = tempdir("daemon-https");
    let d = Daemon::start(&dir, &[]);
    assert!(
        d.stderr_text().contains("made a development CA"),
        "{}",
        d.stderr_text()
    );
    for f in ["ca.crt", "server.crt", "server.key", "ca.key"] {
        assert!(dir.join("tls").join(f).exists(), "{f} missing");
    }

    assert_eq!(d.curl("/healthz", &[]), (0, "200".into(), "ok\n".into()));
    assert_eq!(d.curl("/readyz", &[]), (0, "200".into(), "ready\n".into()));

    let (rc, code, body) = d.curl("/metrics", &["-D", "-"]);
    assert_eq!((rc, code.as_str()), (0, "200"));
    assert!(
        body.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{body}"
    );
    assert!(body.contains("vigil_build_info{version=\""), "{body}");

    // Every /api/ path needs a token, known route or not; nothing else exists.
    for path in [
        "/api/v1/alerts",
        "/api/v1/incidents",
        "/api/v1/nope",
        "/api",
    ] {
        let (rc, code, body) = d.curl(path, &[]);
        assert_eq!((rc, code.as_str()), (0, "401"), "{path}: {body}");
    }
    let (_, _, head) = d.curl("/api/v1/alerts", &["-D", "-"]);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer realm=\"vigil\""),
        "{head}"
    );
    assert_eq!(d.curl("/nothing", &[]).1, "404");
    assert_eq!(d.curl("/healthz", &["-X", "POST"]).1, "405");
    assert_eq!(
        d.curl("/readyz", &["-H", "Content-Length: 999999999"]).1,
        "413"
    );

    // TLS 1.2 and 1.3 are served; 1.1 is refused by the server (the client is told to allow
    // it, so the refusal is vigil's) and counted.
    assert_eq!(
        d.curl("/healthz", &["--tlsv1.2", "--tls-max", "1.2"]).1,
        "200"
    );
    assert_eq!(d.curl("/healthz", &["--tlsv1.3"]).1, "200");
    let before = d.metric("vigil_tls_handshake_errors_total");
    let (rc, code, _) = d.curl(
        "/healthz",
        &[
            "--tlsv1",
            "--tls-max",
            "1.1",
            "--ciphers",
            "DEFAULT:@SECLEVEL=0",
        ],
    );
    assert_eq!(
        (rc, code.as_str()),
        (35, "000"),
        "TLS 1.1 must fail the handshake"
    );
    assert_eq!(d.metric("vigil_tls_handshake_errors_total"), before + 1.0);
    assert!(d.metric("vigil_api_requests_total{code=\"401\",route=\"/api\"}") >= 4.0);
}

#[test]
fn syslog_over_udp_and_tcp_is_counted_and_written_and_sigterm_drains() {
    let dir = tempdir("daemon-syslog");
    let mut d = Daemon::start(&dir, &[]);
    let port = d.syslog.expect("syslog port");
    assert!(d
        .stderr_text()
        .contains(&format!("syslog_tcp listening on tcp 127.0.0.1:{port}")));

    for i in 0..5 {
        logger(port, &["--udp", "--rfc3164"], &format!("udp message {i}"));
    }
    for i in 0..5 {
        logger(port, &["--tcp", "--rfc3164"], &format!("tcp message {i}"));
    }
    logger(
        port,
        &["--tcp", "--octet-count", "--rfc5424"],
        "octet message",
    );
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_udp\"}",
        5.0,
    );
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_tcp\"}",
        6.0,
    );

    // Sent right before SIGTERM: still drained into the output.
    logger(port, &["--udp", "--rfc5424"], "last words");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let st = d.stop();
    assert!(st.success(), "exit {st}:\n{}", d.stderr_text());
    assert!(d.stderr_text().contains("vigil: stopped"));

    let out = std::fs::read_to_string(dir.join("events.jsonl")).expect("output file");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap_or(""))
        .collect();
    // logger's tag is parsed into `program`; the message is the text after it.
    for want in (0..5)
        .map(|i| format!("udp message {i}"))
        .chain((0..5).map(|i| format!("tcp message {i}")))
        .chain(["octet message".to_string(), "last words".to_string()])
    {
        assert!(
            messages.iter().any(|m| m.ends_with(&want)),
            "`{want}` missing from {messages:#?}"
        );
    }
    assert_eq!(events.len(), 12, "{messages:#?}");
    for e in &events {
        assert_eq!(e["kind"], "log");
        assert_eq!(e["logsource"]["product"], "linux");
        // The service is the sending program (logger's tag), or `syslog` without one.
        let program = e["program"].as_str().unwrap_or("syslog");
        assert_eq!(e["logsource"]["service"], program);
        assert_eq!(e["peer_ip"], "127.0.0.1");
    }
}

#[test]
fn sighup_reloads_tenants_and_keeps_the_old_ones_when_the_file_breaks() {
    let dir = tempdir("daemon-reload");
    let tenants = dir.join("tenants.yaml");
    std::fs::write(&tenants, TENANTS).unwrap();
    let mut d = Daemon::start(&dir, &["--tenants", tenants.to_str().unwrap()]);

    d.signal("HUP");
    d.wait_metric("vigil_reload_total{result=\"ok\",what=\"tenants\"}", 1.0);

    std::fs::write(
        &tenants,
        "tenants:\n  - id: acme\n    cidrs: [10.1.0.1/16]\n",
    )
    .unwrap();
    d.signal("HUP");
    d.wait_metric("vigil_reload_total{result=\"error\",what=\"tenants\"}", 1.0);
    assert!(
        d.stderr_text().contains("keeping the previous tenants"),
        "{}",
        d.stderr_text()
    );
    assert_eq!(d.curl("/healthz", &[]).1, "200");
    assert_eq!(d.curl("/readyz", &[]).1, "200");
    assert!(d.stop().success());
}

#[test]
fn mutual_tls_with_certs_init_client_certificates() {
    let dir = tempdir("daemon-mtls");
    let out = vigil(&[
        "certs",
        "init",
        "--data",
        dir.to_str().unwrap(),
        "--client",
        "soc",
    ]);
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    for f in [
        "ca.crt",
        "ca.key",
        "server.crt",
        "server.key",
        "client-soc.crt",
        "client-soc.key",
    ] {
        assert!(printed.contains(f), "{printed}");
    }
    // Run again: the CA and server certificate are kept.
    let again = vigil(&["certs", "init", "--data", dir.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing made"));

    let cfg = dir.join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[api.tls]\nclient_ca = \"{}\"\n",
            dir.join("tls/ca.crt").display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&dir, &["--config", cfg.to_str().unwrap()]);
    assert!(!d.stderr_text().contains("made a development CA"));
    let (rc, _, _) = d.curl("/healthz", &[]);
    assert_ne!(rc, 0, "a client without a certificate must be refused");
    let tls = dir.join("tls");
    let with_cert = d.curl(
        "/healthz",
        &[
            "--cert",
            tls.join("client-soc.crt").to_str().unwrap(),
            "--key",
            tls.join("client-soc.key").to_str().unwrap(),
        ],
    );
    assert_eq!(with_cert, (0, "200".into(), "ok\n".into()));
}

#[test]
fn ready_is_announced_to_systemd() {
    let dir = tempdir("daemon-notify");
    let sock_path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut d = Daemon::start_with(&dir, &[], &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("a notification");
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    assert!(
        msg.contains(&format!("STATUS=ready: api https://{}", d.api)),
        "{msg}"
    );
    assert!(d.stop().success());
    let n = sock.recv(&mut buf).expect("a stopping notification");
    assert_eq!(&buf[..n], b"STOPPING=1");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let dir = tempdir("daemon-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = vigil(&[
        "run",
        "--data",
        dir.to_str().unwrap(),
        "--api",
        &addr,
        "--syslog",
        "off",
        "--netflow",
        "off",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("api: cannot listen on {addr}")),
        "{err}"
    );
}

#[test]
fn config_check_reports_every_problem_with_its_line() {
    let dir = tempdir("daemon-config");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "data = \"/tmp/x\"\n[api]\nlisten = \"127.0.0.1:9443\"\n[sources]\nsyslog_tcp = \"off\"\n",
    )
    .unwrap();
    let out = vigil(&["config", "check", "--config", good.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "config ok\n");
    let out = vigil(&["config", "check"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "config ok\n");

    let bad = dir.join("vigil.toml");
    let f = bad.display();
    std::fs::write(
        &bad,
        "# vigil\ndata = \"/tmp/x\"\n\n[api]\nlistn = \"127.0.0.1:8443\"\n",
    )
    .unwrap();
    let out = vigil(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{f}:5: unknown key `listn` in [api]; did you mean `listen`?\n")
    );

    std::fs::write(
        &bad,
        "[api]\nlisten = \"localhost:8443\"\n\n[sources]\nsyslog_udp = \"127.0.0.1:5514\"\nnetflow = \"0.0.0.0\"\n[flow]\nudp_timeout = 0\n[tenants]\nfile = \"/nonexistent/tenants.yaml\"\n",
    )
    .unwrap();
    let out = vigil(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "{f}:2: [api] listen: `localhost:8443` is not a socket address"
        )),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{f}:6: [sources] netflow: `0.0.0.0` is not a socket address"
        )),
        "{text}"
    );
    assert_eq!(
        lines[2],
        format!("{f}:8: [flow] udp_timeout: must be a number of seconds above 0")
    );
    assert!(
        lines[3].starts_with(&format!(
            "{f}:10: [tenants] file: tenants file `/nonexistent/tenants.yaml`: No such file"
        )),
        "{text}"
    );

    std::fs::write(
        &bad,
        "[store]\nmax_age = \"forever\"\nmax_bytes = 0\n[output.webhook]\nurl = \"https://h/x\"\nsecret_file = \"/s\"\n",
    )
    .unwrap();
    let out = vigil(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{f}:2: [store] max_age: `forever` is not a duration like 30s, 10m, 1h, 30d\n{f}:3: [store] max_bytes: must be above 0\n"
        )
    );
    std::fs::write(
        &bad,
        "[output.alertmanager]\nurll = \"http://127.0.0.1:9093\"\n",
    )
    .unwrap();
    let out = vigil(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{f}:2: unknown key `urll` in [output.alertmanager]; did you mean `url`?\n")
    );

    std::fs::write(&bad, "[sorces]\n").unwrap();
    let out = vigil(&["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{f}:1: unknown section `[sorces]`; did you mean `[sources]`?\n")
    );

    // The shipped example only lacks files that exist once installed.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/vigil.example.toml");
    let out = vigil(&["config", "check", "--config", example]);
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        assert!(l.contains("No such file"), "{l}");
    }
}

#[test]
fn over_long_syslog_messages_are_dropped_and_counted() {
    use std::io::Write;
    let dir = tempdir("daemon-long");
    let d = Daemon::start(&dir, &[]);
    let port = d.syslog.expect("syslog port");
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let long = format!("<13>{}\n", "x".repeat(70 * 1024));
    tcp.write_all(long.as_bytes()).unwrap();
    tcp.write_all(b"<13>short one\n").unwrap();
    drop(tcp);
    d.wait_metric(
        "vigil_events_dropped_total{reason=\"too_long\",source=\"syslog_tcp\"}",
        1.0,
    );
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_tcp\"}",
        1.0,
    );
}

#[test]
fn a_silent_client_is_cut_off_at_the_handshake_deadline() {
    use std::io::Read;
    let dir = tempdir("daemon-slow");
    let d = Daemon::start(&dir, &[]);
    let mut tcp = std::net::TcpStream::connect(&d.api).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 64];
    // The server closes the connection (read returns 0 or an error) after its 10 s deadline.
    let n = tcp.read(&mut buf).unwrap_or(0);
    let waited = t0.elapsed();
    assert_eq!(n, 0);
    assert!(
        waited >= std::time::Duration::from_secs(9) && waited < std::time::Duration::from_secs(20),
        "closed after {waited:?}"
    );
    assert!(d.metric("vigil_tls_handshake_errors_total") >= 1.0);
}

#[test]
fn a_slow_request_head_is_cut_off_after_the_handshake() {
    use std::io::Write;
    let dir = tempdir("daemon-slowloris");
    let d = Daemon::start(&dir, &[]);
    let ca = dir.join("tls/ca.crt");
    let mut s = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &d.api, "-CAfile"])
        .arg(&ca)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = s.stdin.take().unwrap();
    // Headers that never end; stdin stays open, so only the server can end this.
    stdin
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        if s.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > std::time::Duration::from_secs(25) {
            let _ = s.kill();
            panic!("the server kept a request head open for 25 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(t0.elapsed() >= std::time::Duration::from_secs(9));
    drop(stdin);
}

#[test]
fn metrics_pass_promtool() {
    // Debian's `prometheus` package brings promtool; .ci/run installs it.
    let probe = Command::new("promtool")
        .arg("--version")
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    assert!(probe.status.success());
    let dir = tempdir("daemon-promtool");
    let d = Daemon::start(&dir, &[]);
    logger(d.syslog.unwrap(), &["--udp"], "for the counters");
    d.curl("/api/v1/alerts", &[]);
    d.signal("HUP");
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_udp\"}",
        1.0,
    );
    let (_, _, body) = d.curl("/metrics", &[]);
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut p.stdin.take().unwrap(), body.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn certificates_made_with_openssl_as_in_certs_readme() {
    let dir = tempdir("daemon-byo");
    // The commands of certs/README.md's "bring your own" section.
    let script = r#"set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=my vigil CA" -keyout ca.key -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=vigil" \
  -keyout server.key -out server.csr
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days 397 -out server.crt \
  -extfile <(printf "subjectAltName=DNS:vigil.example,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
"#;
    let st = Command::new("bash")
        .args(["-c", script])
        .current_dir(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(st.success());
    let cfg = dir.join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[api.tls]\ncert = \"{0}/server.crt\"\nkey = \"{0}/server.key\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let data = dir.join("data");
    let d = Daemon::start(&data, &["--config", cfg.to_str().unwrap()]);
    assert!(
        !data.join("tls").exists(),
        "no dev material when TLS is configured"
    );
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(dir.join("ca.crt"))
        .arg(format!("https://{}/healthz", d.api))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

#[test]
fn sigterm_reads_what_an_open_connection_already_sent() {
    use std::io::Write;
    let dir = tempdir("daemon-open-conn");
    let mut d = Daemon::start(&dir, &[]);
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", d.syslog.unwrap())).unwrap();
    // A complete line and one without its newline; the connection stays open.
    tcp.write_all(b"<13>complete line\n<13>unterminated line")
        .unwrap();
    d.wait_metric(
        "vigil_events_total{kind=\"log\",source=\"syslog_tcp\"}",
        1.0,
    );
    let t0 = std::time::Instant::now();
    assert!(d.stop().success(), "{}", d.stderr_text());
    assert!(t0.elapsed() < std::time::Duration::from_secs(8));
    let out = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(out.contains("\"message\":\"complete line\""), "{out}");
    assert!(out.contains("\"message\":\"unterminated line\""), "{out}");
    drop(tcp);
}

#[test]
fn a_flood_beyond_the_ingest_queue_is_dropped_and_counted_not_blocking() {
    let dir = tempdir("daemon-flood");
    let cfg = dir.join("vigil.toml");
    // Tiny queues and batches so that the workers fall behind the socket.
    std::fs::write(&cfg, "[pipeline]\nbatch = 1\nqueue = 1\ningest_queue = 1\n").unwrap();
    let d = Daemon::start(&dir, &["--config", cfg.to_str().unwrap()]);
    let port = d.syslog.unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let msg = [b'x'; 200];
    let t0 = std::time::Instant::now();
    let mut sent = 0u64;
    while d.metric("vigil_events_dropped_total{reason=\"queue_full\",source=\"syslog_udp\"}") == 0.0
    {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "no drop counted after {sent} datagrams"
        );
        for _ in 0..20_000 {
            if sock.send_to(&msg, ("127.0.0.1", port)).is_ok() {
                sent += 1;
            }
        }
    }
    // The daemon is still answering, and accepted events are still counted.
    assert_eq!(d.curl("/healthz", &[]).1, "200");
    assert!(d.metric("vigil_events_total{kind=\"log\",source=\"syslog_udp\"}") > 0.0);
}
