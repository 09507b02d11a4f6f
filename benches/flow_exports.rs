//! Flow export decoding: NetFlow v9 and IPFIX records per second on one core, beside nfcapd
//! (Debian package nfdump) fed the same datagrams over loopback UDP.
//!
//! `cargo bench --bench flow_exports` generates datagrams of 30 records each (the template
//! repeated every 20 datagrams, as exporters refresh it), then measures (1) vigil's decoder in
//! memory: typed records, and full flow events with Community ID; (2) like for like with
//! nfcapd: each tool receives the datagrams from a full-speed sender on a loopback port, and
//! the figure is records decoded per second of the receiving thread's (or process's) CPU
//! time, so socket reads count for both and datagrams lost to a full socket buffer do not.
//! `VIGIL_BENCH_RECORDS` sets the number of records (default 3,000,000).

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use vigil::event::Timestamp;
use vigil::source::netflow::FlowExportDecoder;

const PER_DATAGRAM: usize = 30;
const REFRESH: usize = 20;

/// softflowd's IPv4 template: addresses, times, counts, interfaces, ports, protocol, flags.
const FIELDS: [(u16, u16); 14] = [
    (8, 4),
    (12, 4),
    (22, 4),
    (21, 4),
    (1, 4),
    (2, 4),
    (10, 4),
    (14, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (6, 1),
    (60, 1),
    (5, 1),
];
const REC_LEN: usize = 40;

fn record(out: &mut Vec<u8>, i: u32) {
    out.extend_from_slice(&(0x0a00_0000 | (i & 0xffff)).to_be_bytes());
    out.extend_from_slice(&(0xc0a8_0000 | (i >> 4 & 0xffff)).to_be_bytes());
    out.extend_from_slice(&(1000 + i % 5000).to_be_bytes());
    out.extend_from_slice(&(2000 + i % 5000).to_be_bytes());
    out.extend_from_slice(&(500 + i % 9000).to_be_bytes());
    out.extend_from_slice(&(3 + i % 40).to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
    out.extend_from_slice(&[0x01, 0xbb, if i % 3 == 0 { 17 } else { 6 }, 0x1b, 4, 0]);
}

fn template_set(set_id: u16) -> Vec<u8> {
    let mut s = set_id.to_be_bytes().to_vec();
    s.extend_from_slice(&((8 + FIELDS.len() * 4) as u16).to_be_bytes());
    s.extend_from_slice(&256u16.to_be_bytes());
    s.extend_from_slice(&(FIELDS.len() as u16).to_be_bytes());
    for (t, l) in FIELDS {
        s.extend_from_slice(&t.to_be_bytes());
        s.extend_from_slice(&l.to_be_bytes());
    }
    s
}

/// `n` datagrams of NetFlow v9 (`ipfix` false) or IPFIX.
fn datagrams(n: usize, ipfix: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0u32;
    for d in 0..n {
        let mut sets = Vec::new();
        if d % REFRESH == 0 {
            sets.extend(template_set(if ipfix { 2 } else { 0 }));
        }
        sets.extend_from_slice(&256u16.to_be_bytes());
        sets.extend_from_slice(&((4 + PER_DATAGRAM * REC_LEN) as u16).to_be_bytes());
        for _ in 0..PER_DATAGRAM {
            record(&mut sets, i);
            i += 1;
        }
        let secs = 1_764_000_000 + d as u32 / 1000;
        let mut m = Vec::with_capacity(sets.len() + 20);
        if ipfix {
            m.extend_from_slice(&10u16.to_be_bytes());
            m.extend_from_slice(&((16 + sets.len()) as u16).to_be_bytes());
            m.extend_from_slice(&secs.to_be_bytes());
            m.extend_from_slice(&(d as u32).to_be_bytes());
            m.extend_from_slice(&0u32.to_be_bytes());
        } else {
            m.extend_from_slice(&9u16.to_be_bytes());
            m.extend_from_slice(&(PER_DATAGRAM as u16 + u16::from(d % REFRESH == 0)).to_be_bytes());
            m.extend_from_slice(&100_000u32.to_be_bytes());
            m.extend_from_slice(&secs.to_be_bytes());
            m.extend_from_slice(&(d as u32).to_be_bytes());
            m.extend_from_slice(&0u32.to_be_bytes());
        }
        m.extend_from_slice(&sets);
        out.push(m);
    }
    out
}

const EXPORTER: [u8; 4] = [192, 0, 2, 1];

fn thread_cpu() -> f64 {
    cpu_secs(&std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default())
}

/// Best of three: records per CPU second of this thread (the machine is shared, so wall time
/// would measure the neighbours too) into typed records, and into flow events.
fn in_memory(dgrams: &[Vec<u8>]) -> (f64, f64) {
    let mut best = (0f64, 0f64);
    for _ in 0..3 {
        let mut d = FlowExportDecoder::default();
        let mut n = 0u64;
        let t = thread_cpu();
        for _ in 0..4 {
            for g in dgrams {
                let st = d
                    .records(EXPORTER.into(), Timestamp(0), g, &mut |_, r| {
                        std::hint::black_box(r);
                    })
                    .unwrap_or_default();
                n += st.records();
            }
        }
        best.0 = best.0.max(n as f64 / (thread_cpu() - t).max(0.01));
        let mut d = FlowExportDecoder::default();
        let mut out = Vec::with_capacity(64);
        let mut n = 0u64;
        let t = thread_cpu();
        for g in dgrams {
            out.clear();
            let _ = d.datagram(EXPORTER.into(), Timestamp(0), g, &mut out);
            n += out.len() as u64;
        }
        best.1 = best.1.max(n as f64 / (thread_cpu() - t).max(0.01));
    }
    best
}

/// CPU seconds (user + system) from a /proc stat line.
fn cpu_secs(stat: &str) -> f64 {
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn send_all(dgrams: &[Vec<u8>], port: u16) {
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    for (i, g) in dgrams.iter().enumerate() {
        let _ = tx.send_to(g, ("127.0.0.1", port));
        if i % 64 == 63 {
            // Give the receiver a chance on a 2-core machine; the figure is per CPU second.
            std::thread::yield_now();
        }
    }
}

/// vigil receiving on a loopback port and decoding into flow events (or only typed records)
/// on one thread.
fn vigil_udp(dgrams: &[Vec<u8>], events: bool) -> (u64, f64) {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let port = rx.local_addr().expect("addr").port();
    let recv = std::thread::spawn(move || {
        let mut d = FlowExportDecoder::default();
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::with_capacity(64);
        let mut n = 0u64;
        let cpu0 = thread_cpu();
        let mut started = false;
        loop {
            match rx.recv_from(&mut buf) {
                Ok((len, from)) => {
                    started = true;
                    if events {
                        out.clear();
                        let _ = d.datagram(from.ip(), Timestamp(0), &buf[..len], &mut out);
                        n += out.len() as u64;
                    } else {
                        let st = d
                            .records(from.ip(), Timestamp(0), &buf[..len], &mut |_, r| {
                                std::hint::black_box(r);
                            })
                            .unwrap_or_default();
                        n += st.records();
                    }
                }
                Err(_) if started => break,
                Err(_) => continue,
            }
        }
        let cpu1 = thread_cpu();
        (n, cpu1 - cpu0)
    });
    std::thread::sleep(Duration::from_millis(100));
    send_all(dgrams, port);
    recv.join().unwrap_or((0, 0.0))
}

/// nfcapd on a loopback port; records counted by `nfdump -I` in its output.
fn nfcapd_udp(dgrams: &[Vec<u8>], dir: &Path) -> Option<(u64, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).ok()?;
    let port = UdpSocket::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut child = Command::new("nfcapd")
        .args([
            "-b",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-B",
            "8388608",
            "-t",
            "3600",
        ])
        .arg("-w")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500));
    let stat = format!("/proc/{}/stat", child.id());
    let cpu0 = cpu_secs(&std::fs::read_to_string(&stat).ok()?);
    send_all(dgrams, port);
    std::thread::sleep(Duration::from_millis(500));
    let cpu1 = cpu_secs(&std::fs::read_to_string(&stat).ok()?);
    // SIGTERM so that nfcapd writes its file out.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .arg("-I")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let flows = text
        .lines()
        .find(|l| l.starts_with("Flows:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())?;
    Some((flows, cpu1 - cpu0))
}

fn main() {
    let records: usize = std::env::var("VIGIL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000_000);
    let n = records / PER_DATAGRAM;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/nfcapd");
    println!(
        "flow exports: {n} datagrams of {PER_DATAGRAM} records each ({} records)",
        n * PER_DATAGRAM
    );
    for (name, ipfix) in [("NetFlow v9", false), ("IPFIX", true)] {
        let dgrams = datagrams(n, ipfix);
        let (recs, evs) = in_memory(&dgrams);
        println!("{name}: vigil in memory, one thread: {recs:.0} records per CPU second to typed records, {evs:.0} to flow events");
        for (what, events) in [("typed records", false), ("flow events", true)] {
            let (vn, vcpu) = vigil_udp(&dgrams, events);
            println!(
                "{name}: vigil over loopback UDP to {what}: {vn} records in {vcpu:.2} CPU s = {:.0} records per CPU second",
                vn as f64 / vcpu.max(1e-9)
            );
        }
        match nfcapd_udp(&dgrams, &dir) {
            Some((fn_, fcpu)) => println!(
                "{name}: nfcapd over loopback UDP: {fn_} records in {fcpu:.2} CPU s = {:.0} records per CPU second",
                fn_ as f64 / fcpu.max(1e-9)
            ),
            None => println!("{name}: nfcapd not run (is the nfdump package installed?)"),
        }
    }
}
