//! Crash safety: alerts are ingested over the API while the daemon is killed with SIGKILL at
//! random points; after each restart every alert that the API list or the live stream had
//! shown is still stored, unchanged, and `vigil store verify` passes on what is left.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const RULE: &str = "\
title: crash test marker
id: 7c2d5e1a-9f3b-4e8d-a6c1-2b3c4d5e6f70
logsource: {}
detection:
    sel:
        message|contains: marker
    condition: sel
level: high
";

fn token(data: &std::path::Path) -> String {
    let out = vigil(&[
        "token",
        "create",
        "--data",
        data.to_str().unwrap(),
        "--role",
        "admin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string()
}

/// Every stored alert, by id, paging through the list.
fn all_alerts(d: &Daemon, tok: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/alerts?limit=1000&cursor={c}"),
            None => "/api/v1/alerts?limit=1000".to_string(),
        };
        let (rc, code, body) = d.curl(&path, &["-H", &format!("Authorization: Bearer {tok}")]);
        if rc != 0 || code != "200" {
            return out; // killed meanwhile: what was shown so far counts
        }
        let v: serde_json::Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(_) => return out,
        };
        for a in v["items"].as_array().into_iter().flatten() {
            out.insert(
                a["id"].as_str().unwrap().to_string(),
                a["event"]["message"].to_string(),
            );
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// A small deterministic generator (xorshift) so that a failing run can be repeated.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn alerts_shown_before_sigkill_survive_and_the_chain_verifies() {
    let dir = tempdir("store-crash");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/marker.yml"), RULE).unwrap();
    let rules = dir.join("rules").display().to_string();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let tok = token(&data);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut serial = 0usize;
    for round in 0..4 {
        let mut d = Daemon::start(&data, &["--rules", &rules]);
        let stop = Arc::new(AtomicBool::new(false));
        // Writer: batches of marker lines through the API, as fast as it goes.
        let writer = {
            let (api, ca, tok, stop) = (
                d.api.clone(),
                data.join("tls/ca.crt"),
                tok.clone(),
                stop.clone(),
            );
            let start = serial;
            std::thread::spawn(move || {
                let mut n = start;
                while !stop.load(Ordering::Relaxed) {
                    let body: String = (0..50)
                        .map(|i| {
                            format!(
                                "{{\"ts\":\"2025-11-24T16:00:00Z\",\"message\":\"marker {}\"}}\n",
                                n + i
                            )
                        })
                        .collect();
                    n += 50;
                    let _ = Command::new("curl")
                        .args(["-sS", "--max-time", "5", "--cacert"])
                        .arg(&ca)
                        .args([
                            "-H",
                            &format!("Authorization: Bearer {tok}"),
                            "--data-binary",
                            &body,
                        ])
                        .arg(format!("https://{api}/api/v1/ingest"))
                        .output();
                }
                n
            })
        };
        // The live stream: what it shows counts as shown.
        let mut stream = Command::new("curl")
            .args(["-sS", "-N", "--max-time", "30", "--cacert"])
            .arg(data.join("tls/ca.crt"))
            .args([
                "-H",
                &format!("Authorization: Bearer {tok}"),
                "-H",
                "Last-Event-ID: 0",
            ])
            .arg(format!("https://{}/api/v1/stream", d.api))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl stream");
        let streamed = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let reader = {
            let streamed = streamed.clone();
            let out = stream.stdout.take().expect("stdout");
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(v) = l.strip_prefix("data: ") {
                        let a: serde_json::Value = serde_json::from_str(v).expect("alert json");
                        streamed.lock().unwrap().push((
                            a["id"].as_str().expect("id").to_string(),
                            a["event"]["message"].to_string(),
                        ));
                    }
                }
            })
        };
        // Kill at a random point while the list is being read.
        let deadline = std::time::Instant::now() + Duration::from_millis(500 + rng.next() % 2500);
        while std::time::Instant::now() < deadline {
            shown.extend(all_alerts(&d, &tok));
        }
        d.child.kill().expect("SIGKILL");
        let _ = d.child.wait();
        stop.store(true, Ordering::Relaxed);
        serial = writer.join().unwrap();
        let _ = stream.wait();
        let _ = reader.join();
        for (id, msg) in streamed.lock().unwrap().drain(..) {
            shown.insert(id, msg);
        }
        eprintln!("round {round}: {} alerts shown so far", shown.len());
    }
    assert!(
        shown.len() > 50,
        "too few alerts to mean anything: {}",
        shown.len()
    );

    let mut d = Daemon::start(&data, &["--rules", &rules]);
    let stored = all_alerts(&d, &tok);
    for (id, msg) in &shown {
        assert_eq!(
            stored.get(id),
            Some(msg),
            "alert {id} was shown before a SIGKILL and is gone"
        );
    }
    assert!(d.stop().success());
    let out = vigil(&["store", "verify", "--data", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "verify after the crashes: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
