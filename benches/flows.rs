//! The flow path's benchmark: packets per second of `vigil replay --speed max` beside
//! `nfpcapd -r` (Debian package nfdump) on the same generated capture, and peak memory per
//! tracked flow with a million concurrent flows.
//!
//! `cargo bench --bench flows` generates its captures under `target/bench/` once, runs each
//! tool three times, and prints the best run of each. Set `VIGIL_BENCH_PACKETS` to change the
//! size of the throughput capture (default 2,000,000 packets).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const CONCURRENT: u32 = 50_000;
const PER_FLOW: u32 = 20;

struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(PcapWriter { out })
    }
    fn packet(&mut self, ts_us: u64, frame: &[u8]) -> std::io::Result<()> {
        self.out
            .write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())?;
        self.out
            .write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(frame)
    }
}

/// Appends Ethernet + IPv4 + (TCP or UDP) to `f`.
#[allow(clippy::too_many_arguments)]
fn frame(
    f: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    tcp_flags: Option<u8>,
    payload: usize,
) {
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    let l4 = if tcp_flags.is_some() { 20 } else { 8 };
    let total = (20 + l4 + payload) as u16;
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
        None => f.extend_from_slice(&[((8 + payload) >> 8) as u8, (8 + payload) as u8, 0, 0]),
    }
    f.resize(f.len() + payload, 0x5a);
}

/// One packet of flow `id`, number `k` within the flow.
fn flow_packet(f: &mut Vec<u8>, id: u32, k: u32) {
    let client = [10, (id >> 16) as u8, (id >> 8) as u8, id as u8];
    let server = [172, 16, (id % 251) as u8, 1];
    let cport = 1024 + (id % 60_000) as u16;
    let tcp = id % 10 < 7;
    let to_server = k % 2 == 0;
    let (src, dst, sport, dport) = if to_server {
        (client, server, cport, if tcp { 443 } else { 53 })
    } else {
        (server, client, if tcp { 443 } else { 53 }, cport)
    };
    let (flags, payload) = if tcp {
        match k {
            0 => (Some(0x02), 0),
            1 => (Some(0x12), 0),
            2 => (Some(0x10), 0),
            k if k >= PER_FLOW - 2 => (Some(0x11), 0),
            _ => (Some(0x18), 96),
        }
    } else {
        (None, 64)
    };
    // A fifth of the flows travel inside VXLAN between two hypervisors.
    if id % 5 == 0 {
        let mut inner = Vec::with_capacity(200);
        frame(&mut inner, src, dst, sport, dport, flags, payload);
        let mut vx = vec![0x08, 0, 0, 0, 0, 0x03, (0xe8 + (id % 4)) as u8, 0];
        vx.extend_from_slice(&inner);
        let start = f.len();
        frame(
            f,
            [192, 168, 100, 1],
            [192, 168, 100, 2],
            49152 + (id % 1000) as u16,
            4789,
            None,
            vx.len(),
        );
        let at = f.len() - vx.len();
        f[at..].copy_from_slice(&vx);
        let _ = start;
    } else {
        frame(f, src, dst, sport, dport, flags, payload);
    }
}

fn generate_throughput(path: &Path, packets: u64) -> std::io::Result<()> {
    let mut w = PcapWriter::new(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path)?,
    ))?;
    let mut f = Vec::with_capacity(256);
    let round = CONCURRENT as u64 * PER_FLOW as u64;
    for i in 0..packets {
        let slot = (i % CONCURRENT as u64) as u32;
        let k = ((i / CONCURRENT as u64) % PER_FLOW as u64) as u32;
        let generation = (i / round) as u32;
        let id = slot + generation * CONCURRENT;
        f.clear();
        flow_packet(&mut f, id, k);
        w.packet(1_700_000_000_000_000 + i * 2, &f)?;
    }
    w.out.flush()
}

/// `flows` flows of two packets each (SYN, SYN-ACK), all still open at the end.
fn generate_concurrent(path: &Path, flows: u32) -> std::io::Result<()> {
    let mut w = PcapWriter::new(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path)?,
    ))?;
    let mut f = Vec::with_capacity(128);
    for id in 0..flows {
        for k in 0..2 {
            f.clear();
            let client = [10, (id >> 16) as u8, (id >> 8) as u8, id as u8];
            let server = [172, 17, (id % 251) as u8, 1];
            let cport = 1024 + (id % 60_000) as u16;
            if k == 0 {
                frame(&mut f, client, server, cport, 22, Some(0x02), 0);
            } else {
                frame(&mut f, server, client, 22, cport, Some(0x12), 0);
            }
            w.packet(1_700_000_000_000_000 + (id as u64 * 2 + k) * 5, &f)?;
        }
    }
    w.out.flush()
}

struct Run {
    secs: f64,
    max_rss_kb: u64,
}

/// Runs a command under GNU time for its wall time and peak RSS.
fn timed(cmd: &[&str]) -> Option<Run> {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .args(cmd)
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let max_rss_kb = err
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0);
    Some(Run { secs, max_rss_kb })
}

/// The fastest of `runs` runs; `cmd` makes the command line of run `i`.
fn best(runs: usize, cmd: impl Fn(usize) -> Vec<String>) -> Option<Run> {
    (0..runs)
        .filter_map(|i| {
            let args = cmd(i);
            timed(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .min_by(|a, b| a.secs.total_cmp(&b.secs))
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let vigil = env!("CARGO_BIN_EXE_vigil");
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("this benchmark needs GNU time (Debian package `time`) for peak memory");
        std::process::exit(1);
    }
    let packets: u64 = std::env::var("VIGIL_BENCH_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);

    let cap = dir.join(format!("flows-{packets}.pcap"));
    if !cap.exists() {
        eprintln!(
            "generating {} ({packets} packets, {CONCURRENT} concurrent flows, 1/5 in VXLAN)",
            cap.display()
        );
        generate_throughput(&cap, packets).expect("generate capture");
    }
    let cap_s = cap.to_str().unwrap_or_default();
    let size = std::fs::metadata(&cap).map(|m| m.len()).unwrap_or(0);
    println!(
        "capture: {cap_s} ({packets} packets, {:.0} MB)",
        size as f64 / 1e6
    );

    let v = best(3, |_| {
        ["replay", "--speed", "max", "--quiet", cap_s].iter().fold(
            vec![vigil.to_string()],
            |mut v, a| {
                v.push(a.to_string());
                v
            },
        )
    });
    // nfpcapd writes nfcapd files; each run gets an empty folder of its own.
    let nf = if Command::new("nfpcapd").arg("-h").output().is_ok() {
        best(3, |i| {
            let out = dir.join(format!("nfpcapd-out-{i}"));
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::create_dir_all(&out);
            vec![
                "nfpcapd".into(),
                "-r".into(),
                cap_s.into(),
                "-w".into(),
                out.display().to_string(),
            ]
        })
    } else {
        eprintln!("nfpcapd not found: install Debian's nfdump to compare");
        None
    };
    let rate = |r: &Run| packets as f64 / r.secs;
    println!(
        "{:<28} {:>14} {:>10} {:>12}",
        "flow path", "packets/s", "seconds", "peak RSS MB"
    );
    if let Some(r) = &v {
        println!(
            "{:<28} {:>14.0} {:>10.3} {:>12.1}",
            "vigil replay --speed max",
            rate(r),
            r.secs,
            r.max_rss_kb as f64 / 1024.0
        );
    }
    if let Some(r) = &nf {
        println!(
            "{:<28} {:>14.0} {:>10.3} {:>12.1}",
            "nfpcapd -r (nfdump)",
            rate(r),
            r.secs,
            r.max_rss_kb as f64 / 1024.0
        );
    }
    if let (Some(a), Some(b)) = (&v, &nf) {
        println!(
            "vigil / nfpcapd packet rate: {:.2}x (goal: at least 2x)",
            rate(a) / rate(b)
        );
    }

    let flows: u32 = 1_000_000;
    let conc = dir.join("concurrent-1m.pcap");
    if !conc.exists() {
        eprintln!("generating {} ({flows} concurrent flows)", conc.display());
        generate_concurrent(&conc, flows).expect("generate capture");
    }
    let conc_s = conc.to_str().unwrap_or_default();
    let base = timed(&[
        vigil,
        "replay",
        "--quiet",
        "--max-flows",
        "2000000",
        &format!(
            "{}/../shared/corpus/pcap/suricata-verify/eve-metadata/testmyids.pcap",
            env!("CARGO_MANIFEST_DIR")
        ),
    ]);
    // Twice: as shipped (the bundled rules see every flow, and their correlations keep state),
    // and flow tracking alone (an empty rule folder).
    let no_rules = dir.join("no-rules");
    let _ = std::fs::create_dir_all(&no_rules);
    let no_rules_s = no_rules.to_str().unwrap_or_default();
    let runs: [(&str, Vec<&str>); 2] = [
        ("with the bundled rules", vec![]),
        ("flow tracking only", vec!["--rules", no_rules_s]),
    ];
    for (what, extra) in runs {
        let mut cmd = vec![
            vigil,
            "replay",
            "--speed",
            "max",
            "--quiet",
            "--max-flows",
            "2000000",
        ];
        cmd.extend(extra);
        cmd.push(conc_s);
        if let Some(r) = timed(&cmd) {
            let per_flow = r.max_rss_kb as f64 * 1024.0 / flows as f64;
            println!(
                "memory ({what}): {flows} concurrent flows, peak RSS {:.1} MB = {per_flow:.0} bytes per flow (goal: at most 250); baseline on a tiny capture {:.1} MB",
                r.max_rss_kb as f64 / 1024.0,
                base.as_ref().map(|b| b.max_rss_kb as f64 / 1024.0).unwrap_or(0.0)
            );
        }
    }
}
