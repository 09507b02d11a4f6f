//! The outputs against real peers: a real `prometheus-alertmanager` on loopback (CI installs
//! it; a missing binary fails the test), a loopback HTTP listener for the webhook whose
//! signature is checked by real `openssl`, and the rotating JSON-lines file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

use vigil::client::{Client, ClientOptions};
use vigil::incident::{AlertRecord, Incident, Level, Notice, Status};
use vigil::output::{spawn_outputs, AlertmanagerConfig, Outputs, OutputsConfig, WebhookConfig};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("make temp dir");
    d
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// A real Alertmanager, killed on drop.
struct Alertmanager {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const ALERTMANAGER: &str = "prometheus-alertmanager";

async fn start_alertmanager() -> Alertmanager {
    let dir = temp_dir("am");
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: \"null\"\n  group_wait: 1s\nreceivers:\n  - name: \"null\"\n",
    )
    .expect("write alertmanager.yml");
    let port = free_port();
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {ALERTMANAGER} (apt-get install prometheus-alertmanager): {e}")
        });
    let am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let client = Client::new(ClientOptions::default()).expect("client");
    let ready = format!("{}/-/ready", am.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(&ready).await {
            if r.is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager not ready at {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    am
}

/// Alertmanager's alerts (`GET /api/v2/alerts`) carrying `incident_id`.
async fn am_alerts(am: &Alertmanager, incident: &str) -> Vec<serde_json::Value> {
    let client = Client::new(ClientOptions::default()).expect("client");
    let url = format!("{}/api/v2/alerts", am.url);
    let r = client.get(&url).await.expect("GET alerts");
    assert_eq!(r.status, 200, "{}", r.text());
    let all: Vec<serde_json::Value> = serde_json::from_slice(&r.body).expect("JSON");
    all.into_iter()
        .filter(|a| a["labels"]["incident_id"] == incident)
        .collect()
}

/// Polls `check` until it gives a value, at most `secs`.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alert(seq: u64, incident: &str, title: &str, level: Level, tags: &[&str]) -> Notice {
    let tags: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
    let json = serde_json::json!({
        "id": format!("a-{seq:016x}"),
        "ts": "2025-11-24T16:00:01.123Z",
        "rule": {"id": "r-escape", "title": title, "level": level.as_str(), "tags": tags},
        "tenant": "acme",
        "src_ip": "10.1.4.20",
        "dst_ip": "10.2.9.30",
        "summary": format!("{title}: 10.1.4.20 -> 10.2.9.30"),
        "incident_id": incident,
    });
    Notice::Alert(Arc::new(AlertRecord {
        seq,
        id: format!("a-{seq:016x}"),
        ts_ms: now_ms() - 5_000,
        tenant: Some("acme".into()),
        rule_id: "r-escape".into(),
        level,
        tags,
        incident_id: incident.into(),
        json: json.into(),
    }))
}

fn incident(id: &str, title: &str, status: Status, severity: Level) -> Notice {
    Notice::Incident(Arc::new(incident_of(id, title, status, severity)))
}

fn incident_of(id: &str, title: &str, status: Status, severity: Level) -> Incident {
    Incident {
        id: id.into(),
        tenant: Some("acme".into()),
        entity: "10.1.4.20".into(),
        title: title.into(),
        status,
        severity,
        first_ms: now_ms() - 5_000,
        last_ms: now_ms(),
        alert_count: 1,
        rules: vec!["r-escape".into()],
        tags: vec!["cloud.container_escape".into(), "attack.t1611".into()],
        assignee: None,
        notes: vec![],
        history: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_gets_one_alert_per_incident_resent_while_open_and_ended_on_resolve() {
    let am = start_alertmanager().await;
    let (tx, _keep) = broadcast::channel(64);
    let mut cfg = AlertmanagerConfig::new(&am.url);
    cfg.resend_interval = Duration::from_secs(1);
    cfg.incident_url = Some("https://vigil.example:8443".into());
    let outputs = spawn_outputs(
        &OutputsConfig {
            alertmanager: Some(cfg),
            ..OutputsConfig::default()
        },
        || tx.subscribe(),
        // Open before this start (say, before a restart): sent again at once.
        || {
            vec![incident_of(
                "i-seed",
                "Metadata abuse",
                Status::Acknowledged,
                Level::Medium,
            )]
        },
    )
    .expect("spawn outputs");
    assert_eq!(outputs.names(), vec!["alertmanager"]);

    let title = "Container escape via hostPID pod";
    let tags = ["attack.privilege_escalation", "attack.t1611"];
    tx.send(alert(1, "i-01", title, Level::High, &tags))
        .expect("send");
    tx.send(incident("i-01", title, Status::Open, Level::High))
        .expect("send");
    tx.send(alert(2, "i-01", title, Level::Medium, &tags))
        .expect("send");
    tx.send(incident(
        "i-02",
        "SSH brute force",
        Status::Open,
        Level::Low,
    ))
    .expect("send");

    let got = eventually(15, "the alert in Alertmanager", || async {
        let a = am_alerts(&am, "i-01").await;
        (!a.is_empty()).then_some(a)
    })
    .await;
    assert_eq!(got.len(), 1, "one alert per incident: {got:?}");
    let a = &got[0];
    let labels = &a["labels"];
    assert_eq!(labels["alertname"], title);
    assert_eq!(labels["severity"], "high");
    assert_eq!(labels["tenant"], "acme");
    assert_eq!(labels["technique"], "T1611");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(
        a["annotations"]["summary"],
        format!("{title}: 10.1.4.20 -> 10.2.9.30")
    );
    assert!(
        a["annotations"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("i-01") && d.contains("10.1.4.20")),
        "{a}"
    );
    assert_eq!(
        a["generatorURL"],
        "https://vigil.example:8443/api/v1/incidents/i-01"
    );

    // amtool, Alertmanager's own client, finds it by the labels a SOC would route on.
    let out = Command::new("amtool")
        .args(["alert", "query", "-o", "json"])
        .arg(format!("--alertmanager.url={}", am.url))
        .args(["technique=T1611", "tenant=acme", "severity=high"])
        .output()
        .expect("run amtool (apt-get install prometheus-alertmanager)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("amtool JSON");
    assert!(
        found.iter().any(|a| a["labels"]["incident_id"] == "i-01"),
        "{found:?}"
    );

    // Re-sent while open: Alertmanager's updatedAt moves without any new notice (after the
    // updates the notices above caused have settled).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let updated = am_alerts(&am, "i-01").await[0]["updatedAt"].clone();
    eventually(10, "a resend", || async {
        let a = am_alerts(&am, "i-01").await;
        a.first()
            .is_some_and(|a| a["updatedAt"] != updated)
            .then_some(())
    })
    .await;

    tx.send(incident("i-01", title, Status::Resolved, Level::High))
        .expect("send");
    eventually(15, "the resolved alert to end", || async {
        let a = am_alerts(&am, "i-01").await;
        let ended = a.iter().all(|a| {
            a["status"]["state"] != "active"
                || a["endsAt"]
                    .as_str()
                    .is_some_and(|e| e < a["updatedAt"].as_str().unwrap_or(""))
        });
        ended.then_some(())
    })
    .await;
    let seeded = am_alerts(&am, "i-seed").await;
    assert_eq!(seeded.len(), 1, "the seed is sent: {seeded:?}");
    assert_eq!(seeded[0]["labels"]["alertname"], "Metadata abuse");
    let other = am_alerts(&am, "i-02").await;
    assert_eq!(other.len(), 1, "the open incident stays: {other:?}");
    assert_eq!(other[0]["status"]["state"], "active");
    assert!(other[0]["labels"].get("technique").is_some());

    outputs.shutdown(Duration::from_secs(5)).await;
    let sent = vigil::metrics::OUTPUT_SENT
        .with_label_values(&["alertmanager"])
        .get();
    assert!(sent >= 3, "sent {sent}");
    let rendered = vigil::metrics::render();
    assert!(rendered.contains("vigil_output_sent_total{output=\"alertmanager\"}"));
    promtool_accepts(&rendered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_down_counts_errors_and_recovers_on_resend() {
    let port = free_port();
    let (tx, _keep) = broadcast::channel(64);
    let mut cfg = AlertmanagerConfig::new(&format!("http://127.0.0.1:{port}"));
    cfg.resend_interval = Duration::from_secs(1);
    cfg.attempts = 1;
    let errors_before = vigil::metrics::OUTPUT_ERRORS
        .with_label_values(&["alertmanager"])
        .get();
    let outputs = start(
        OutputsConfig {
            alertmanager: Some(cfg),
            ..OutputsConfig::default()
        },
        &tx,
    );
    tx.send(incident(
        "i-down",
        "Tenant isolation breach",
        Status::Open,
        Level::Critical,
    ))
    .expect("send");
    eventually(10, "an error to be counted", || async {
        let e = vigil::metrics::OUTPUT_ERRORS
            .with_label_values(&["alertmanager"])
            .get();
        (e > errors_before).then_some(())
    })
    .await;
    // Alertmanager comes up on that port later; the next resend delivers the incident.
    let dir = temp_dir("am-late");
    let cfg_file = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg_file,
        "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n",
    )
    .expect("write config");
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", cfg_file.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {ALERTMANAGER}: {e}"));
    let am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let got = eventually(30, "the incident after Alertmanager came up", || async {
        let client = Client::new(ClientOptions::default()).ok()?;
        let r = client
            .get(&format!("{}/api/v2/alerts", am.url))
            .await
            .ok()?;
        let all: Vec<serde_json::Value> = serde_json::from_slice(&r.body).ok()?;
        all.into_iter()
            .find(|a| a["labels"]["incident_id"] == "i-down")
    })
    .await;
    assert_eq!(got["labels"]["severity"], "critical");
    outputs.shutdown(Duration::from_secs(5)).await;
}

/// `promtool check metrics` (Debian's `prometheus` package) finds nothing to say.
fn promtool_accepts(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (apt-get install prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads one HTTP/1.1 request from `s`, answers it with `status`, returns its head and body.
async fn serve_one<S>(s: &mut S, status: &str) -> (String, Vec<u8>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body_start) = loop {
        let k = s.read(&mut chunk).await.unwrap_or(0);
        if k == 0 {
            break (String::new(), 0);
        }
        buf.extend_from_slice(&chunk[..k]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&buf[..i]).into_owned(), i + 4);
        }
    };
    let len = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < body_start + len {
        let k = s.read(&mut chunk).await.unwrap_or(0);
        if k == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..k]);
    }
    let _ = s
        .write_all(
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
    let _ = s.shutdown().await;
    (head, buf[body_start.min(buf.len())..].to_vec())
}

/// A loopback HTTP/1.1 server that answers the first request 503 and the rest 200, and hands
/// every request's headers and body to the test.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks/vigil", l.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = l.accept().await {
            n += 1;
            let status = if n == 1 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            if tx.send(serve_one(&mut s, status).await).await.is_err() {
                break;
            }
        }
    });
    (url, rx)
}

/// A CA and a server certificate for 127.0.0.1, made with real `openssl`.
fn openssl_ca_and_server(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("write ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_over_https_trusts_its_ca_file_and_sends_the_token() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = temp_dir("webhook-tls");
    let (ca, cert, key) = openssl_ca_and_server(&dir);
    let chain = CertificateDer::pem_file_iter(&cert)
        .expect("cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(&key).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}/hook", l.local_addr().expect("addr"));
    let (got_tx, mut got) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let Ok(mut tls) = acceptor.accept(s).await else {
                continue;
            };
            let _ = got_tx.send(serve_one(&mut tls, "200 OK").await).await;
        }
    });

    std::fs::write(dir.join("secret"), "k").expect("write secret");
    std::fs::write(dir.join("token"), "hook-token\n").expect("write token");
    let mut cfg = WebhookConfig::new(&url, dir.join("secret"));
    cfg.cacert = Some(ca);
    cfg.token_file = Some(dir.join("token"));
    let (tx, _keep) = broadcast::channel(64);
    let outputs = start(
        OutputsConfig {
            webhook: Some(cfg),
            ..OutputsConfig::default()
        },
        &tx,
    );
    tx.send(alert(11, "i-11", "Over TLS", Level::High, &[]))
        .expect("send");
    let (head, body) = recv(&mut got).await;
    assert_eq!(header(&head, "authorization"), Some("Bearer hook-token"));
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(doc["alerts"][0]["rule"]["title"], "Over TLS");
    outputs.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `openssl dgst -sha256 -hmac SECRET` of `body`, as lower-case hex.
fn openssl_hmac(secret: &str, body: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl output");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    // `SHA2-256(stdin)= HEX` (older: `(stdin)= HEX`).
    text.trim()
        .rsplit(' ')
        .next()
        .expect("a digest")
        .to_string()
}

async fn recv(got: &mut tokio::sync::mpsc::Receiver<(String, Vec<u8>)>) -> (String, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(15), got.recv())
        .await
        .expect("a webhook request in time")
        .expect("receiver running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_posts_signed_batches_and_retries() {
    let dir = temp_dir("webhook");
    let secret = "s3cret-for-tests";
    let secret_file = dir.join("webhook.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).expect("write secret");
    let (url, mut got) = webhook_receiver().await;
    let (tx, _keep) = broadcast::channel(64);
    let mut cfg = WebhookConfig::new(&url, secret_file);
    cfg.min_level = Some(Level::Medium);
    let outputs = start(
        OutputsConfig {
            webhook: Some(cfg),
            ..OutputsConfig::default()
        },
        &tx,
    );
    let tags = ["attack.t1611"];
    tx.send(alert(7, "i-07", "Container escape", Level::High, &tags))
        .expect("send");
    tx.send(alert(8, "i-07", "Noise", Level::Low, &tags))
        .expect("send");
    tx.send(incident(
        "i-07",
        "Container escape",
        Status::Open,
        Level::High,
    ))
    .expect("send");

    let (first_head, first_body) = recv(&mut got).await;
    let (head, body) = recv(&mut got).await;
    assert_eq!(first_body, body, "the retry carries the same batch");
    assert!(
        first_head.starts_with("POST /hooks/vigil HTTP/1.1"),
        "{first_head}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
    let alerts = doc["alerts"].as_array().expect("alerts list");
    assert_eq!(alerts.len(), 1, "the low alert is below min_level: {doc}");
    assert_eq!(alerts[0]["rule"]["title"], "Container escape");
    assert_eq!(alerts[0]["incident_id"], "i-07");
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    let ts: i64 = header(&head, "x-vigil-timestamp")
        .expect("timestamp header")
        .parse()
        .expect("unix seconds");
    assert!((now_ms() / 1000 - ts).abs() < 60);
    let sig = header(&head, "x-vigil-signature").expect("signature header");
    assert_eq!(sig, format!("sha256={}", openssl_hmac(secret, &body)));
    assert!(vigil::output::webhook::verify(
        secret.as_bytes(),
        &body,
        sig
    ));

    outputs.shutdown(Duration::from_secs(5)).await;
    assert!(
        vigil::metrics::OUTPUT_ERRORS
            .with_label_values(&["webhook"])
            .get()
            >= 1
    );
    assert!(
        vigil::metrics::OUTPUT_SENT
            .with_label_values(&["webhook"])
            .get()
            >= 1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn webhook_with_an_empty_secret_does_not_start() {
    let dir = temp_dir("webhook-empty");
    let secret_file = dir.join("empty.secret");
    std::fs::write(&secret_file, "\n").expect("write");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tx, _keep) = broadcast::channel::<Notice>(4);
    let cfg = OutputsConfig {
        webhook: Some(WebhookConfig::new(
            "http://127.0.0.1:9/x",
            secret_file.clone(),
        )),
        ..OutputsConfig::default()
    };
    let e = rt
        .block_on(async { spawn_outputs(&cfg, || tx.subscribe(), Vec::new).map(|_| ()) })
        .expect_err("an empty secret is refused");
    assert!(e.to_string().contains("empty.secret"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `cfg`'s outputs following `tx`, with no incidents open before the start.
fn start(cfg: OutputsConfig, tx: &broadcast::Sender<Notice>) -> Outputs {
    spawn_outputs(&cfg, || tx.subscribe(), Vec::new).expect("spawn outputs")
}

fn lines_in(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read")
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_alert_file_rotates_by_size_and_reopens_after_logrotate() {
    use vigil::output::jsonl::{RotatingFile, RotationConfig};
    let dir = temp_dir("rotate");
    let path = dir.join("alerts.jsonl");
    let mut f = RotatingFile::open(
        &path,
        Some(RotationConfig {
            max_bytes: 4096,
            keep: 50,
        }),
    )
    .expect("open");
    // Writes come in odd-sized pieces, as through a buffered writer; lines stay whole.
    let mut text = Vec::new();
    for i in 0..500 {
        writeln!(
            text,
            "{{\"seq\":{i},\"summary\":\"{}\"}}",
            "x".repeat(i % 70)
        )
        .expect("fmt");
    }
    for piece in text.chunks(1000) {
        f.write_all(piece).expect("write");
    }
    f.flush().expect("flush");
    let all = lines_in(&dir);
    assert_eq!(all.len(), 500);
    let rotated = std::fs::read_dir(&dir).expect("dir").count();
    assert!(rotated > 5, "{rotated} files");
    for e in std::fs::read_dir(&dir).expect("dir") {
        let len = e.expect("entry").metadata().expect("meta").len();
        assert!(len <= 4096, "{len}");
    }

    // logrotate moves the file away and sends SIGHUP; the daemon asks for a reopen.
    let moved = dir.join("moved-away");
    std::fs::create_dir_all(&moved).expect("mkdir");
    std::fs::rename(&path, moved.join("alerts.jsonl")).expect("rename");
    f.reopen_handle().request();
    writeln!(f, "{{\"seq\":500}}").expect("write");
    f.flush().expect("flush");
    assert_eq!(
        std::fs::read_to_string(&path).expect("reopened file"),
        "{\"seq\":500}\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_still_sends_what_was_published_before_it() {
    let dir = temp_dir("webhook-drain");
    let secret_file = dir.join("webhook.secret");
    std::fs::write(&secret_file, "k").expect("write secret");
    let (url, mut got) = webhook_receiver().await;
    let (tx, _keep) = broadcast::channel(64);
    let outputs = start(
        OutputsConfig {
            webhook: Some(WebhookConfig::new(&url, secret_file)),
            ..OutputsConfig::default()
        },
        &tx,
    );
    tx.send(alert(9, "i-09", "Last words", Level::Critical, &[]))
        .expect("send");
    // The daemon stops its outputs right after the pipeline's last alerts are stored.
    outputs.shutdown(Duration::from_secs(10)).await;
    let _refused = recv(&mut got).await;
    let (_, body) = recv(&mut got).await;
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(doc["alerts"][0]["rule"]["title"], "Last words");
    let _ = std::fs::remove_dir_all(&dir);
}
