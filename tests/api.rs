//! The HTTPS API of a running daemon through real curl: tokens made with `vigil token create`
//! while it runs, alerts ingested over the API for two tenants, tenant isolation on every
//! endpoint (lists, single incidents, actions, the live stream), roles, malformed and
//! oversize requests, the failed-authentication limit, and `vigil incidents` as a client.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const TENANTS: &str = "\
tenants:
  - id: acme
    cidrs: [10.1.0.0/16]
  - id: globex
    cidrs: [10.2.0.0/16]
";

const RULE: &str = "\
title: API test marker
id: 0b3f6d2e-5a8e-4c61-9b0e-1f2a3b4c5d6e
logsource: {}
detection:
    sel:
        message|contains: marker
    condition: sel
level: high
tags: [attack.t1046, attack.discovery]
";

pub fn token(data: &Path, role: &str, tenant: Option<&str>) -> String {
    let mut args = vec![
        "token",
        "create",
        "--data",
        data.to_str().unwrap(),
        "--role",
        role,
    ];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let out = vigil(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("a token line")
        .to_string()
}

/// One call: (HTTP status, body).
fn call(
    d: &Daemon,
    tok: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let auth = tok.map(|t| format!("Authorization: Bearer {t}"));
    let mut extra: Vec<&str> = vec!["-X", method];
    if let Some(a) = &auth {
        extra.extend(["-H", a]);
    }
    if let Some(b) = body {
        extra.extend(["--data-binary", b]);
    }
    let (rc, code, text) = d.curl(path, &extra);
    assert_eq!(rc, 0, "curl {path}: {text}");
    (code.parse().expect("status"), text)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn items(d: &Daemon, tok: &str, path: &str) -> Vec<serde_json::Value> {
    let (st, body) = call(d, Some(tok), "GET", path, None);
    assert_eq!(st, 200, "{path}: {body}");
    json(&body)["items"].as_array().expect("items").clone()
}

fn line(src: &str, dst: &str, n: usize) -> String {
    format!(
        "{{\"ts\":\"2025-11-24T16:00:{:02}Z\",\"src_ip\":\"{src}\",\"dst_ip\":\"{dst}\",\"message\":\"marker {n}\"}}\n",
        n % 60
    )
}

fn setup(name: &str) -> (std::path::PathBuf, Daemon) {
    let dir = tempdir(name);
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/marker.yml"), RULE).unwrap();
    std::fs::write(dir.join("tenants.yaml"), TENANTS).unwrap();
    let rules = dir.join("rules").display().to_string();
    let tenants = dir.join("tenants.yaml").display().to_string();
    let d = Daemon::start(
        &dir.join("data"),
        &["--rules", &rules, "--tenants", &tenants],
    );
    (dir, d)
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(t0.elapsed().as_secs() < 20, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn tenant_isolation_on_every_endpoint_roles_and_bad_requests() {
    let (_dir, d) = setup("api-isolation");
    let data = d.data.clone();
    let admin = token(&data, "admin", None);
    let acme = token(&data, "viewer", Some("acme"));
    let globex_op = token(&data, "operator", Some("globex"));
    let acme_op = token(&data, "operator", Some("acme"));
    let ingest = token(&data, "ingest", None);
    let acme_ingest = token(&data, "ingest", Some("acme"));

    // Three alerts about acme, two about globex, from one ingest call.
    let mut body = String::new();
    for n in 0..3 {
        body.push_str(&line("10.1.0.5", "192.0.2.1", n));
    }
    for n in 3..5 {
        body.push_str(&line("10.2.0.7", "192.0.2.1", n));
    }
    let (st, text) = call(&d, Some(&ingest), "POST", "/api/v1/ingest", Some(&body));
    assert_eq!(
        (st, json(&text)["accepted"].as_u64()),
        (200, Some(5)),
        "{text}"
    );
    wait_for("5 stored alerts", || {
        items(&d, &admin, "/api/v1/alerts").len() == 5
    });

    // Lists: a scoped token sees its tenant only, whatever it asks for.
    let mine = items(&d, &acme, "/api/v1/alerts");
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|a| a["tenant"] == "acme"), "{mine:?}");
    assert!(items(&d, &acme, "/api/v1/alerts?tenant=globex").is_empty());
    let incs = items(&d, &admin, "/api/v1/incidents");
    let id_of = |t: &str| {
        incs.iter()
            .find(|i| i["tenant"] == t)
            .unwrap_or_else(|| panic!("no {t} incident: {incs:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (acme_inc, globex_inc) = (id_of("acme"), id_of("globex"));
    let acme_incs = items(&d, &acme, "/api/v1/incidents");
    assert!(!acme_incs.is_empty() && acme_incs.iter().all(|i| i["tenant"] == "acme"));
    assert!(items(&d, &acme, "/api/v1/incidents?tenant=globex").is_empty());

    // Single incidents and actions: another tenant's is "not found".
    let get = |tok: &str, id: &str| {
        call(
            &d,
            Some(tok),
            "GET",
            &format!("/api/v1/incidents/{id}"),
            None,
        )
        .0
    };
    assert_eq!(get(&acme, &acme_inc), 200);
    assert_eq!(get(&acme, &globex_inc), 404);
    assert_eq!(get(&admin, &globex_inc), 200);
    let act = |tok: &str, id: &str, a: &str| {
        call(
            &d,
            Some(tok),
            "POST",
            &format!("/api/v1/incidents/{id}/{a}"),
            None,
        )
    };
    assert_eq!(act(&globex_op, &acme_inc, "ack").0, 404);
    assert_eq!(
        act(&acme, &acme_inc, "ack").0,
        403,
        "a viewer may not acknowledge"
    );
    let (st, text) = act(&acme_op, &acme_inc, "ack");
    assert_eq!(
        (st, json(&text)["status"].as_str()),
        (200, Some("acknowledged")),
        "{text}"
    );
    let (st, text) = act(&acme_op, &acme_inc, "resolve");
    assert_eq!(
        (st, json(&text)["status"].as_str()),
        (200, Some("resolved")),
        "{text}"
    );
    assert_eq!(act(&ingest, &acme_inc, "ack").0, 403);
    assert_eq!(
        call(&d, Some(&ingest), "GET", "/api/v1/alerts", None).0,
        403
    );
    assert_eq!(
        call(&d, Some(&acme), "POST", "/api/v1/ingest", Some(&body)).0,
        403
    );

    // The stream, from the start: acme's alerts and nothing of globex's.
    let ca = data.join("tls/ca.crt");
    let out = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "3", "--cacert"])
        .arg(&ca)
        .args([
            "-H",
            &format!("Authorization: Bearer {acme}"),
            "-H",
            "Last-Event-ID: 0",
        ])
        .arg(format!("https://{}/api/v1/stream", d.api))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<&str> = text.lines().filter(|l| l.starts_with("data:")).collect();
    assert_eq!(events.len(), 3, "{text}");
    assert!(
        !text.contains("10.2.0.7") && !text.contains("\"globex\""),
        "{text}"
    );

    // A tenant-scoped ingest token's lines belong to its tenant, whatever they claim.
    let (st, _) = call(
        &d,
        Some(&acme_ingest),
        "POST",
        "/api/v1/ingest",
        Some(&line("10.2.0.9", "10.2.0.10", 9)),
    );
    assert_eq!(st, 200);
    wait_for("the scoped ingest's alert", || {
        items(&d, &admin, "/api/v1/alerts").len() == 6
    });
    let newest = &items(&d, &admin, "/api/v1/alerts?limit=1")[0];
    assert_eq!(newest["tenant"], "acme", "{newest}");

    // `vigil incidents` as a client, piped: JSON lines of the caller's tenant.
    let api = format!("https://{}", d.api);
    let out = vigil(&[
        "incidents",
        "list",
        "--server",
        &api,
        "--token",
        &acme,
        "--cacert",
        ca.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.lines().count() >= 1, "{listed}");
    assert!(
        listed.lines().all(|l| json(l)["tenant"] == "acme"),
        "{listed}"
    );

    // Malformed and oversize requests.
    let (st, text) = call(&d, Some(&admin), "GET", "/api/v1/alerts?limit=abc", None);
    assert_eq!(st, 400);
    assert!(text.contains("limit"), "{text}");
    assert_eq!(
        call(&d, Some(&admin), "GET", "/api/v1/alerts?colour=red", None).0,
        400
    );
    let (st, text) = call(
        &d,
        Some(&admin),
        "POST",
        "/api/v1/ingest",
        Some("not a log line at all"),
    );
    assert_eq!(st, 400, "{text}");
    let big = data.join("big.jsonl");
    std::fs::write(&big, line("10.1.0.5", "192.0.2.1", 1).repeat(60_000)).unwrap();
    let (st, _) = call(
        &d,
        Some(&admin),
        "POST",
        "/api/v1/ingest",
        Some(&format!("@{}", big.display())),
    );
    assert_eq!(st, 413);

    // Authentication: 401 without or with a wrong token, then 429 after repeated failures.
    assert_eq!(call(&d, None, "GET", "/api/v1/alerts", None).0, 401);
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(call(&d, Some("vgl_wrong"), "GET", "/api/v1/alerts", None).0);
    }
    assert_eq!(codes[0], 401);
    assert_eq!(*codes.last().unwrap(), 429, "{codes:?}");
    assert_eq!(
        call(&d, Some(&admin), "GET", "/api/v1/alerts", None).0,
        429,
        "the address is blocked"
    );
}

/// A real Alertmanager on a free loopback port, killed when dropped.
struct Alertmanager {
    child: std::process::Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_alertmanager(dir: &Path) -> Alertmanager {
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: \"null\"\n  group_wait: 1s\nreceivers:\n  - name: \"null\"\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run prometheus-alertmanager (apt-get install prometheus-alertmanager)");
    let am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait_for("alertmanager ready", || {
        Command::new("curl")
            .args(["-sf", &format!("{}/-/ready", am.url)])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    am
}

/// Alertmanager's alerts for one incident.
fn am_alerts(am: &Alertmanager, incident: &str) -> Vec<serde_json::Value> {
    let out = Command::new("curl")
        .args(["-sf", &format!("{}/api/v2/alerts", am.url)])
        .output()
        .expect("curl");
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    all.into_iter()
        .filter(|a| a["labels"]["incident_id"] == incident)
        .collect()
}

#[test]
fn incidents_reach_alertmanager_with_their_labels_and_resolve_there() {
    let dir = tempdir("api-alertmanager");
    let am = start_alertmanager(&dir);
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/marker.yml"), RULE).unwrap();
    std::fs::write(dir.join("tenants.yaml"), TENANTS).unwrap();
    let cfg = dir.join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output.alertmanager]\nurl = \"{}\"\nresend_interval = \"2s\"\n",
            am.url
        ),
    )
    .unwrap();
    let d = Daemon::start(
        &dir.join("data"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--rules",
            dir.join("rules").to_str().unwrap(),
            "--tenants",
            dir.join("tenants.yaml").to_str().unwrap(),
        ],
    );
    assert!(
        d.stderr_text().contains("output alertmanager"),
        "{}",
        d.stderr_text()
    );
    let admin = token(&d.data, "admin", None);
    let (st, _) = call(
        &d,
        Some(&admin),
        "POST",
        "/api/v1/ingest",
        Some(&line("10.1.0.5", "192.0.2.1", 1)),
    );
    assert_eq!(st, 200);
    wait_for("an incident", || {
        !items(&d, &admin, "/api/v1/incidents").is_empty()
    });
    let inc = items(&d, &admin, "/api/v1/incidents")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    wait_for("the alert in alertmanager", || {
        !am_alerts(&am, &inc).is_empty()
    });
    let a = &am_alerts(&am, &inc)[0];
    assert_eq!(a["labels"]["alertname"], "API test marker", "{a}");
    assert_eq!(a["labels"]["severity"], "high", "{a}");
    assert_eq!(a["labels"]["tenant"], "acme", "{a}");
    assert_eq!(a["labels"]["technique"], "T1046", "{a}");
    assert_eq!(a["status"]["state"], "active", "{a}");

    let (st, text) = call(
        &d,
        Some(&admin),
        "POST",
        &format!("/api/v1/incidents/{inc}/resolve"),
        None,
    );
    assert_eq!(st, 200, "{text}");
    wait_for("the alert resolved in alertmanager", || {
        am_alerts(&am, &inc)
            .iter()
            .all(|a| a["status"]["state"] != "active")
    });
}

/// `vigil replay --server`: a capture and a log file replayed into the daemon raise there the
/// alerts a local replay raises, stored with their incidents.
#[test]
fn replay_into_a_running_daemon() {
    let dir = tempdir("api-remote-replay");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/marker.yml"), RULE).unwrap();
    let marker_rules = dir.join("rules").display().to_string();
    let d = Daemon::start(&dir.join("data"), &["--rules", &marker_rules]);
    let ingest = token(&d.data, "ingest", None);
    let admin = token(&d.data, "admin", None);
    let log = dir.join("app.jsonl");
    std::fs::write(&log, line("10.1.0.5", "192.0.2.1", 1).repeat(3)).unwrap();
    let out = vigil(&[
        "replay",
        "--server",
        &format!("https://{}", d.api),
        "--token",
        &ingest,
        "--cacert",
        d.data.join("tls/ca.crt").to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("3 log lines") && stderr.contains("accepted 3"),
        "{stderr}"
    );
    wait_for("3 alerts from the remote replay", || {
        items(&d, &admin, "/api/v1/alerts").len() == 3
    });

    // A capture, with the bundled pack's FTP brute-force correlation, against a local replay.
    let d2 = Daemon::start(&dir.join("data2"), &[]);
    let ingest2 = token(&d2.data, "ingest", None);
    let admin2 = token(&d2.data, "admin", None);
    let pcap = corpus("pcap/zeek/ftp/bruteforce.pcap");
    let out = vigil(&[
        "replay",
        "--server",
        &format!("https://{}", d2.api),
        "--token",
        &ingest2,
        "--cacert",
        d2.data.join("tls/ca.crt").to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let local = vigil(&["replay", pcap.to_str().unwrap()]);
    let want: Vec<(String, String)> = String::from_utf8_lossy(&local.stdout)
        .lines()
        .map(|l| {
            let a = json(l);
            (
                a["rule"]["id"].as_str().unwrap().to_string(),
                a["src_ip"].to_string(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    wait_for("the FTP brute force in the daemon", || {
        let got: Vec<(String, String)> = items(&d2, &admin2, "/api/v1/alerts")
            .iter()
            .map(|a| {
                (
                    a["rule"]["id"].as_str().unwrap().to_string(),
                    a["src_ip"].to_string(),
                )
            })
            .collect();
        want.iter().all(|w| got.contains(w))
    });

    // Wrong tokens and unreadable inputs are clear errors.
    let out = vigil(&[
        "replay",
        "--server",
        &format!("https://{}", d2.api),
        "--token",
        "vgl_nope",
        "--cacert",
        d2.data.join("tls/ca.crt").to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
