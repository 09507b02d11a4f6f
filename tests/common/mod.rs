//! Shared helpers for the integration tests: running the real `vigil` binary and reading the
//! corpus at `../shared/corpus/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn corpus(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(rel);
    assert!(p.exists(), "corpus file missing: {}", p.display());
    p
}

pub fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("run vigil")
}

/// `vigil replay --events` on files; returns the events, panicking with stderr on failure.
pub fn events(files: &[&Path], extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args: Vec<String> = vec!["replay".into(), "--events".into(), "--quiet".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(&args)
        .output()
        .expect("run vigil");
    assert!(
        out.status.success(),
        "vigil {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

pub fn of_kind<'a>(evs: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    evs.iter().filter(|e| e["kind"] == kind).collect()
}

/// Rows of a Zeek log as maps from field name to value.
pub fn zeek_log(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read zeek log");
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(String::from).collect();
        } else if !line.starts_with('#') && !fields.is_empty() {
            rows.push(
                fields
                    .iter()
                    .cloned()
                    .zip(line.split('\t').map(String::from))
                    .collect(),
            );
        }
    }
    rows
}

/// Writes a classic pcap (microseconds, Ethernet unless `link` says otherwise).
pub fn write_pcap(path: &Path, link: u32, frames: &[(u32, u32, Vec<u8>)]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&link.to_le_bytes());
    for (sec, usec, data) in frames {
        b.extend_from_slice(&sec.to_le_bytes());
        b.extend_from_slice(&usec.to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
    std::fs::write(path, b).expect("write pcap");
}

pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// An Ethernet + IPv4 + TCP (flags given) or UDP (flags `None`) frame.
pub fn eth_ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    tcp_flags: Option<u8>,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let l4 = if tcp_flags.is_some() { 20 } else { 8 };
    let total = (20 + l4 + payload.len()) as u16;
    let proto = if tcp_flags.is_some() { 6 } else { 17 };
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    match tcp_flags {
        Some(fl) => {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, fl, 0xff, 0xff, 0, 0, 0, 0])
        }
        None => f.extend_from_slice(&[0, (8 + payload.len()) as u8, 0, 0]),
    }
    f.extend_from_slice(payload);
    f
}

/// `inner` (an Ethernet frame) inside VXLAN with `vni`, between two hypervisor addresses.
pub fn vxlan(outer_src: [u8; 4], outer_dst: [u8; 4], vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut vx = vec![
        0x08,
        0,
        0,
        0,
        (vni >> 16) as u8,
        (vni >> 8) as u8,
        vni as u8,
        0,
    ];
    vx.extend_from_slice(inner);
    eth_ipv4(outer_src, outer_dst, 49152, 4789, None, &vx)
}

/// A `vigil run` started for a test, on free ports, killed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub data: PathBuf,
    /// `127.0.0.1:PORT` of the API.
    pub api: String,
    /// Syslog port (UDP and TCP), when syslog listens.
    pub syslog: Option<u16>,
    /// Every stderr line so far, kept by a reader thread.
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `vigil run --data DATA --api 127.0.0.1:0 --syslog 127.0.0.1:0 EXTRA...` and waits
    /// for `vigil: ready`.
    pub fn start(data: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_with(data, extra, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        Daemon::start_wrapped(data, extra, env, &[])
    }

    /// As [`Daemon::start_with`], run through `wrapper` (e.g. `ip netns exec NS`), which must
    /// exec vigil so that signals reach it.
    pub fn start_wrapped(
        data: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Daemon {
        use std::io::BufRead;
        let mut args: Vec<String> = vec![
            "run".into(),
            "--data".into(),
            data.display().to_string(),
            "--api".into(),
            "127.0.0.1:0".into(),
            "--syslog".into(),
            "127.0.0.1:0".into(),
        ];
        if !extra.contains(&"--netflow") {
            args.extend(["--netflow".into(), "off".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(env!("CARGO_BIN_EXE_vigil"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_vigil")),
        };
        cmd.args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start vigil run");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let reader = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in reader.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        let t0 = std::time::Instant::now();
        loop {
            if lines.lock().unwrap().iter().any(|l| l == "vigil: ready") {
                break;
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "vigil run exited with {st} before ready:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "vigil run not ready after 30 s:\n{}",
                lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let all = lines.lock().unwrap().clone();
        let after = |prefix: &str| {
            all.iter()
                .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
        };
        let api = after("vigil: api listening on https://").expect("api address printed");
        let syslog = after("vigil: syslog_udp listening on udp ")
            .map(|a| a.rsplit(':').next().unwrap().parse().expect("syslog port"));
        Daemon {
            child,
            data: data.to_path_buf(),
            api,
            syslog,
            stderr: lines,
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub fn signal(&self, sig: &str) {
        // The shell's own kill, so the tests need no procps.
        let st = Command::new("sh")
            .args(["-c", &format!("kill -{sig} {}", self.pid())])
            .status()
            .expect("run sh -c kill");
        assert!(st.success());
    }

    /// `curl` over HTTPS trusting the dev CA; returns (exit code, HTTP status, body).
    pub fn curl(&self, path: &str, extra: &[&str]) -> (i32, String, String) {
        let ca = self.data.join("tls/ca.crt");
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .args(["-w", "\n%{http_code}"])
            .args(extra)
            .arg(format!("https://{}{}", self.api, path))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (
            out.status.code().unwrap_or(-1),
            code.to_string(),
            body.to_string(),
        )
    }

    /// The value of one metric series (`name{labels}` as printed), or 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, _, body) = self.curl("/metrics", &[]);
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until `metric(series) >= want`.
    pub fn wait_metric(&self, series: &str, want: f64) {
        let t0 = std::time::Instant::now();
        while self.metric(series) < want {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(20),
                "{series} stayed below {want}; metrics:\n{}",
                self.curl("/metrics", &[]).2
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for the exit status (at most 20 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let t0 = std::time::Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(20),
                "vigil did not stop within 20 s after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// The address a listener printed at start (`vigil: NAME listening on PROTO ADDR`), e.g.
    /// `listen_addr("netflow")` is `127.0.0.1:PORT`.
    pub fn listen_addr(&self, name: &str) -> Option<String> {
        let prefix = format!("vigil: {name} listening on ");
        let lines = self.stderr.lock().unwrap();
        lines.iter().find_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            Some(
                rest.rsplit(' ')
                    .next()?
                    .trim_start_matches("https://")
                    .to_string(),
            )
        })
    }

    /// Every series of the metric family `name` (without labels, or any labels), summed.
    pub fn metric_sum(&self, name: &str) -> f64 {
        let (_, _, body) = self.curl("/metrics", &[]);
        body.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A free TCP port on loopback (bound and released; another process could take it first).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
