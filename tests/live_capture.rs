//! Live capture end to end: vigil captures on one end of a veth pair inside a network
//! namespace of the test's own, tcpreplay sends corpus captures into the other end from a
//! second namespace, and the flows vigil reports match `vigil replay` on the same files.
//! Both ends live in private namespaces, so nothing the test sends can leave the machine.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair, removed when dropped.
struct Wire {
    cap_ns: String,
    src_ns: String,
    cap_if: String,
    src_if: String,
}

impl Wire {
    fn new(tag: &str) -> Wire {
        let id = std::process::id() % 100_000;
        let w = Wire {
            cap_ns: format!("vigil-cap-{tag}-{id}"),
            src_ns: format!("vigil-src-{tag}-{id}"),
            cap_if: format!("vc{tag}{id}"),
            src_if: format!("vs{tag}{id}"),
        };
        for ns in [&w.cap_ns, &w.src_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            sh(&["ip", "netns", "add", ns]);
            // Quiet links: no IPv6 autoconfiguration chatter in the captures.
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ]);
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        sh(&[
            "ip", "link", "add", &w.cap_if, "netns", &w.cap_ns, "type", "veth", "peer", "name",
            &w.src_if, "netns", &w.src_ns,
        ]);
        sh(&["ip", "-n", &w.cap_ns, "link", "set", &w.cap_if, "up"]);
        sh(&["ip", "-n", &w.src_ns, "link", "set", &w.src_if, "up"]);
        w
    }

    fn replay(&self, pcap: &std::path::Path) {
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.src_ns,
            "tcpreplay",
            "-q",
            // A steady 500 packets/s: a burst at top speed overruns the kernel's default
            // socket buffer when the machine is busy, which would test the machine, not vigil.
            "--pps=500",
            "-i",
            &self.src_if,
            pcap.to_str().unwrap(),
        ]);
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.cap_ns])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.src_ns])
            .output();
    }
}

type Key = (String, u64, String, u64, String, Option<u64>);

/// Flows by (src, sport, dst, dport, proto, vni) -> (pkts to server, pkts to client, bytes to server, bytes to client).
fn flows(evs: &[serde_json::Value]) -> BTreeMap<Key, (u64, u64, u64, u64)> {
    let mut m = BTreeMap::new();
    for f in evs.iter().filter(|e| e["kind"] == "flow") {
        let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
        let n = |k: &str| f[k].as_u64().unwrap_or(0);
        let key = (
            s("src_ip"),
            n("src_port"),
            s("dst_ip"),
            n("dst_port"),
            s("proto"),
            f["vni"].as_u64(),
        );
        let e = m.entry(key).or_insert((0, 0, 0, 0));
        e.0 += n("pkts_toserver");
        e.1 += n("pkts_toclient");
        e.2 += n("bytes_toserver");
        e.3 += n("bytes_toclient");
    }
    m
}

#[test]
fn live_flows_match_replay() {
    let pcaps = [
        corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap"),
        corpus("pcap/zeek/ftp/bruteforce.pcap"),
        corpus("pcap/suricata-verify/geneve-decoder/input.pcap"),
    ];
    let wire = Wire::new("a");
    let data = tempdir("live");
    let mut d = Daemon::start_wrapped(
        &data,
        &["--interface", &wire.cap_if],
        &[],
        &["ip", "netns", "exec", &wire.cap_ns],
    );
    for p in &pcaps {
        wire.replay(p);
    }
    // Let the last packets cross the veth and reach the workers, then drain.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let st = d.stop();
    assert!(st.success(), "{}", d.stderr_text());
    let text = std::fs::read_to_string(data.join("events.jsonl")).expect("events.jsonl");
    let live: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let want = flows(&events(
        &pcaps.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
        &[],
    ));
    let got = flows(&live);
    assert_eq!(want.len(), 30 + 1 + 5, "flows in the corpus files");
    for (k, v) in &want {
        assert_eq!(
            got.get(k),
            Some(v),
            "flow {k:?}; live capture saw:\n{got:#?}"
        );
    }
    // The L7 events are there too: the HTTP request and the 30 failed FTP logins.
    assert_eq!(live.iter().filter(|e| e["kind"] == "http").count(), 1);
    assert_eq!(
        live.iter().filter(|e| e["ftp_reply_code"] == 530).count(),
        30
    );
}

/// Without CAP_NET_RAW, `vigil run --interface` stops at start and says how to grant it.
#[test]
fn capture_without_cap_net_raw_says_what_is_missing() {
    let data = tempdir("nocap");
    sh(&["chmod", "0777", data.to_str().unwrap()]);
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "run",
            "--data",
            data.to_str().unwrap(),
            "--api",
            "127.0.0.1:0",
            "--syslog",
            "off",
            "--netflow",
            "off",
            "--interface",
            "lo",
        ])
        .output()
        .expect("run setpriv");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs the CAP_NET_RAW capability"), "{err}");
    assert!(err.contains("AmbientCapabilities"), "{err}");
    let missing = vigil(&[
        "run",
        "--data",
        data.to_str().unwrap(),
        "--api",
        "127.0.0.1:0",
        "--syslog",
        "off",
        "--netflow",
        "off",
        "--interface",
        "nosuchif0",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no interface `nosuchif0`"));
}
