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
