//! `vigil incidents` against a real `vigil run` over TLS: the dev CA found by default, a
//! rejected token explained, an untrusted server and an unreachable one named. (Listing real
//! incidents end to end waits for the store and its API routes.)

mod common;

use std::process::{Command, Output};

use common::*;

fn incidents(cwd: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.current_dir(cwd)
        .arg("incidents")
        .args(args)
        .env_remove("VIGIL_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run vigil incidents")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn incidents_cli_over_tls_explains_what_goes_wrong() {
    let dir = tempdir("incidents-cli");
    // The daemon's data folder is ./vigil-data of the CLI's working folder, so that the dev CA
    // is found without --cacert.
    let data = dir.join("vigil-data");
    let d = Daemon::start(&data, &[]);
    let server = format!("https://{}", d.api);

    // A token the daemon does not know, from the environment; the dev CA by default.
    let o = incidents(
        &dir,
        &["list", "--server", &server],
        &[("VIGIL_TOKEN", "bogus")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("token rejected; make one with `vigil token create"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());

    // The same with the CA given explicitly and the token as a flag, for every subcommand.
    let ca = data.join("tls/ca.crt").display().to_string();
    for sub in [&["show", "i-1"][..], &["ack", "i-1"], &["resolve", "i-1"]] {
        let mut args = sub.to_vec();
        args.extend(["--server", &server, "--cacert", &ca, "--token", "bogus"]);
        let o = incidents(&std::env::temp_dir(), &args, &[]);
        assert!(
            stderr(&o).contains("token rejected"),
            "{sub:?}: {}",
            stderr(&o)
        );
    }

    // No CA: the system roots do not trust the dev CA, and the message names the server.
    let o = incidents(&std::env::temp_dir(), &["list", "--server", &server], &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        (e.contains("TLS handshake failed") && e.contains(&server) && e.contains("--cacert"))
            || e.contains(vigil::client::SYSTEM_ROOTS),
        "{e}"
    );

    // Nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let gone = format!("https://127.0.0.1:{port}");
    let o = incidents(&dir, &["list", "--server", &gone], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("cannot reach the vigil server at {gone}")),
        "{}",
        stderr(&o)
    );
}

/// A stand-in for the API on plain loopback HTTP: answers each request from `reply` and
/// records the request lines and Authorization headers.
fn fake_api(
    reply: fn(&str, &str) -> (u16, String),
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.strip_prefix("authorization: ") {
                    auth = v.trim().to_string();
                }
            }
            let line = first.trim().to_string();
            log.lock().expect("lock").push(format!("{line} [{auth}]"));
            let mut parts = line.split(' ');
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, body) = reply(method, target);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn incident_json(id: &str, status: &str) -> String {
    format!(
        r#"{{"id":"{id}","tenant":"acme","entity":"10.1.4.20","title":"Container escape","status":"{status}","severity":"high","first_ms":1764000000000,"last_ms":1764000001000,"alert_count":2,"rules":["r1"],"tags":["attack.t1611"],"assignee":null,"notes":[],"history":[]}}"#
    )
}

#[test]
fn incidents_cli_pages_filters_and_acts_through_the_api() {
    let (url, seen) = fake_api(|method, target| match (method, target) {
        ("GET", t) if t.starts_with("/api/v1/incidents?") && !t.contains("cursor=") => (
            200,
            format!(
                r#"{{"items":[{},{}],"next_cursor":"c 2"}}"#,
                incident_json("i-3", "open"),
                incident_json("i-2", "open")
            ),
        ),
        ("GET", t) if t.starts_with("/api/v1/incidents?") => (
            200,
            format!(
                r#"{{"items":[{}],"next_cursor":null}}"#,
                incident_json("i-1", "open")
            ),
        ),
        ("POST", "/api/v1/incidents/i-1/ack") => (200, incident_json("i-1", "acknowledged")),
        ("GET", "/api/v1/incidents/i-9") => (404, r#"{"error":"not found"}"#.into()),
        _ => (500, "{}".into()),
    });
    let tmp = std::env::temp_dir();
    let o = incidents(
        &tmp,
        &[
            "list", "--server", &url, "--tenant", "acme", "--level", "high", "--status", "open",
            "--limit", "5",
        ],
        &[("VIGIL_TOKEN", "t0k")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Piped: JSON lines, three incidents over two pages.
    let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["id"].to_string())
        .collect();
    assert_eq!(ids, ["\"i-3\"", "\"i-2\"", "\"i-1\""]);
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(
            seen[0],
            "GET /api/v1/incidents?limit=5&tenant=acme&level=high&status=open HTTP/1.1 [Bearer t0k]"
        );
        assert_eq!(
            seen[1],
            "GET /api/v1/incidents?limit=3&tenant=acme&level=high&status=open&cursor=c%202 HTTP/1.1 [Bearer t0k]"
        );
    }

    let o = incidents(
        &tmp,
        &["ack", "i-1", "--server", &url, "--token", "t0k"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["status"], "acknowledged");
    assert!(seen
        .lock()
        .expect("lock")
        .contains(&"POST /api/v1/incidents/i-1/ack HTTP/1.1 [Bearer t0k]".to_string()));

    let o = incidents(
        &tmp,
        &["show", "i-9", "--server", &url, "--token", "t0k"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no incident i-9"), "{}", stderr(&o));
}
