//! The shipped Grafana dashboard against real peers: a real Prometheus scrapes `vigil run`
//! over HTTPS (trusting the dev CA) while flows, syslog and bad input come in, then every
//! PromQL expression in `grafana/dashboards/vigil.json` must be valid and return data, and
//! `promtool check metrics` must accept the scrape.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const TENANTS: &str = "\
tenants:
  - id: acme
    cidrs: [10.1.0.0/16]
  - id: globex
    cidrs: [10.2.0.0/16]
";

const VPC_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags";

/// A Prometheus on a free loopback port with its own storage, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` over HTTPS every second, trusting `ca`.
    fn start(dir: &Path, target: &str, ca: &Path) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: vigil\n    scheme: https\n    tls_config:\n      ca_file: {}\n    static_configs:\n      - targets: [\"{target}\"]\n",
                ca.display()
            ),
        )
        .expect("write prometheus.yml");
        // The port is free when picked; if Prometheus loses it to someone else, try another.
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("tsdb-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("prometheus log"))
                .spawn()
                .expect("run prometheus (Debian package prometheus)");
            let mut p = Prometheus {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log,
            };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = p.child.try_wait() {
                    break;
                }
                if http_get(&format!("{}/-/ready", p.url)).is_some() {
                    return p;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = p.child.kill();
            eprintln!("prometheus did not come up:\n{}", p.log_text());
        }
        panic!("prometheus did not start in three attempts");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/<path>` with URL-encoded parameters; the decoded JSON answer.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "-G"]);
        for (k, v) in params {
            cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let out = cmd
            .arg(format!("{}/api/v1/{path}", self.url))
            .output()
            .expect("run curl");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "prometheus /api/v1/{path} {params:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn query(&self, expr: &str) -> Value {
        self.api("query", &[("query", expr)])
    }

    /// Waits until the scrape target is up.
    fn wait_target_up(&self) {
        let t0 = Instant::now();
        loop {
            let targets = self.api("targets", &[]);
            let active = &targets["data"]["activeTargets"];
            if active[0]["health"] == "up" {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the vigil target never came up: {active}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a plain HTTP GET that answered 2xx.
fn http_get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sSf", "--max-time", "2", url])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every `expr` anywhere in the dashboard (panel targets, rows' nested panels).
fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

/// A dashboard expression as Grafana sends it with "All" tenants selected.
fn substitute(expr: &str) -> String {
    expr.replace("${tenant}", ".*")
        .replace("$tenant", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$__interval", "15s")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Appends one round of VPC flow records: a SYN sweep of `ports` on one host of each tenant.
fn append_scan(log: &Path, ports: std::ops::Range<u16>, bad_line: bool) {
    let now = now_secs();
    let mut text = String::new();
    for tenant in [1, 2] {
        for p in ports.clone() {
            text.push_str(&format!(
                "2 123456789012 eni-0a1b2c 10.{tenant}.0.5 10.{tenant}.0.9 40000 {p} 6 1 60 {now} {now} ACCEPT OK 2\n"
            ));
        }
    }
    if bad_line {
        text.push_str("2 not a flow record\n");
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("append to the flow log");
}

fn logger_udp(port: u16, msg: &str) {
    let st = Command::new("logger")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(["--udp", "--rfc3164", "-t", "vigiltest", msg])
        .status()
        .expect("run logger");
    assert!(st.success(), "logger failed");
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let dir = tempdir("prometheus");
    let data = dir.join("data");
    let tenants = dir.join("tenants.yaml");
    std::fs::write(&tenants, TENANTS).expect("write tenants");
    let flows = dir.join("vpc-flows.log");
    std::fs::write(&flows, format!("{VPC_HEADER}\n")).expect("write the flow log");
    // Small syslog messages, so that an oversized one is dropped (and counted) on purpose.
    let config = dir.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[sources]\nsyslog_max_message = 1024\nfiles = [\"{}\"]\n",
            flows.display()
        ),
    )
    .expect("write config");
    let d = Daemon::start(
        &data,
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "--tenants",
            tenants.to_str().expect("utf-8 path"),
            "--netflow",
            "127.0.0.1:0",
        ],
    );
    let syslog = d.syslog.expect("syslog port");
    let netflow = d.listen_addr("netflow").expect("netflow address");

    let prom = Prometheus::start(&dir, &d.api, &data.join("tls/ca.crt"));
    prom.wait_target_up();

    // A few seconds of traffic while Prometheus scrapes every second, so rates have points.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    for round in 0..6u16 {
        append_scan(&flows, 100 + round * 20..120 + round * 20, round == 0);
        logger_udp(syslog, &format!("round {round}: session opened"));
        // Not a flow export: a decode error on the NetFlow listener.
        udp.send_to(&[0, 5, 0, 1, 0xde, 0xad], &netflow)
            .expect("send to netflow");
        // Longer than syslog_max_message: dropped and counted as too_long.
        udp.send_to(&[b'x'; 2000], format!("127.0.0.1:{syslog}"))
            .expect("send to syslog");
        std::thread::sleep(Duration::from_millis(700));
    }
    d.signal("HUP");
    d.wait_metric("vigil_reload_total{result=\"ok\",what=\"tenants\"}", 1.0);

    // Prometheus has seen alerts of both tenants.
    let t0 = Instant::now();
    loop {
        let r = prom.api(
            "label/tenant/values",
            &[("match[]", "vigil_alerts_by_tenant_total")],
        );
        let values: Vec<&str> = r["data"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if values.contains(&"acme") && values.contains(&"globex") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no alerts for both tenants in Prometheus: {r}\nvigil:\n{}",
            d.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Two more scrapes, so the last counters are in.
    std::thread::sleep(Duration::from_secs(2));

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards/vigil.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read the dashboard"))
            .expect("the dashboard is JSON");
    let mut all = Vec::new();
    exprs(&dashboard["panels"], &mut all);
    assert!(all.len() >= 20, "only {} expressions found", all.len());
    let mut failures = Vec::new();
    for expr in &all {
        let q = substitute(expr);
        assert!(!q.contains('$'), "unsubstituted variable in {expr}");
        let r = prom.query(&q);
        let empty = r["data"]["result"].as_array().is_none_or(|a| a.is_empty());
        if r["status"] != "success" {
            failures.push(format!("invalid: {q}\n    {r}"));
        } else if empty {
            failures.push(format!("no data: {q}"));
        }
    }
    // The tenant variable's query.
    let tenants_var = dashboard["templating"]["list"]
        .as_array()
        .and_then(|l| l.iter().find(|v| v["name"] == "tenant"))
        .expect("a tenant variable");
    assert_eq!(
        tenants_var["definition"],
        "label_values(vigil_alerts_by_tenant_total, tenant)"
    );

    // The scrape passes promtool's own checks.
    let (_, code, scrape) = d.curl("/metrics", &[]);
    assert_eq!(code, "200");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (Debian package prometheus)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("write to promtool");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "vigil_alerts_by_tenant_total{level=\"low\",tenant=\"acme\"}",
        "vigil_alerts_by_tenant_total{level=\"low\",tenant=\"globex\"}",
        "vigil_alerts_by_tactic_total{tactic=\"discovery\"}",
    ] {
        assert!(scrape.contains(name), "{name} missing from the scrape");
    }
    // Last, so that the checks above run whatever the outcome: the incident panels need a
    // daemon whose store sets vigil_incidents_open, vigil_tenant_risk_score and
    // vigil_store_size_bytes.
    assert!(
        failures.is_empty(),
        "{} of {} dashboard queries failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn the_dashboard_uses_the_datasource_variable_everywhere() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards/vigil.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read"))
        .expect("the dashboard is JSON");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let mut ids = std::collections::HashSet::new();
    for p in d["panels"].as_array().expect("panels") {
        assert!(
            ids.insert(p["id"].clone()),
            "duplicate panel id {}",
            p["id"]
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().expect("targets") {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    let provisioned = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/provisioning/datasources/vigil.yaml"),
    )
    .expect("read the data source provisioning");
    assert!(provisioned.contains("uid: vigil-prometheus"));
}
