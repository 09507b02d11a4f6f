//! `vigil replay` on every capture format it claims to read, and on broken input: a clear
//! message naming the file, the packet and the offset, exit code 2, and never a panic.

mod common;

use common::*;
use std::process::Command;

fn editcap(args: &[&str]) {
    let st = Command::new("editcap")
        .args(args)
        .status()
        .expect("editcap (Debian package wireshark-common / tshark) must be installed");
    assert!(st.success(), "editcap {args:?}");
}

/// pcapng and nanosecond pcap, written by Wireshark's editcap, give the same flows as the
/// original microsecond pcap.
#[test]
fn pcapng_and_nanosecond_pcap_read_the_same() {
    let dir = tempdir("formats");
    let src = corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap");
    let ng = dir.join("t.pcapng");
    let ns = dir.join("t-ns.pcap");
    editcap(&["-F", "pcapng", src.to_str().unwrap(), ng.to_str().unwrap()]);
    editcap(&[
        "-F",
        "nsecpcap",
        src.to_str().unwrap(),
        ns.to_str().unwrap(),
    ]);
    let a = events(&[&src], &[]);
    assert_eq!(a, events(&[&ng], &[]));
    assert_eq!(a, events(&[&ns], &[]));
}

/// Several files are read in order as one stream.
#[test]
fn several_files_in_order() {
    let a = corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap");
    let b = corpus("pcap/suricata-verify/geneve-decoder/input.pcap");
    let both = events(&[&a, &b], &[]);
    assert_eq!(
        both.len(),
        events(&[&a], &[]).len() + events(&[&b], &[]).len()
    );
}

#[test]
fn truncated_capture_names_packet_and_offset() {
    let dir = tempdir("trunc");
    let src = std::fs::read(corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap")).unwrap();
    // Header (24) + first record (16 + 74) + second record header + part of its data.
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &src[..24 + 16 + 74 + 16 + 10]).unwrap();
    let out = vigil(&["replay", "--events", "--quiet", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: packet 2 (offset 114)", cut.display())),
        "{err}"
    );
    assert!(err.contains("truncated"), "{err}");
    // What came before the damage was still processed.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

#[test]
fn not_a_capture_is_refused_before_anything_runs() {
    let dir = tempdir("notpcap");
    let txt = dir.join("notes.bin");
    std::fs::write(&txt, [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    let good = corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap");
    let out = vigil(&[
        "replay",
        "--events",
        "--quiet",
        good.to_str().unwrap(),
        txt.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&txt.display().to_string()), "{err}");
    assert!(out.stdout.is_empty());
    let missing = vigil(&["replay", "/nonexistent/x.pcap"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.pcap"));
}

fn eth_ipv4_udp(ihl_words: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    let mut ip = vec![
        0x40 | ihl_words,
        0,
        0,
        28,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
        10,
        0,
        0,
        1,
        10,
        0,
        0,
        2,
    ];
    ip.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
    f.extend(ip);
    f
}

/// A malformed packet inside a good file is reported with its number and counted; the
/// rest of the file still yields its flows; exit code 0.
#[test]
fn malformed_packets_are_counted_not_fatal() {
    let dir = tempdir("malformed");
    let p = dir.join("m.pcap");
    write_pcap(
        &p,
        1,
        &[
            (1, 0, eth_ipv4_udp(5)),
            (2, 0, eth_ipv4_udp(3)),
            (3, 0, eth_ipv4_udp(5)),
        ],
    );
    let out = vigil(&["replay", "--events", "--quiet", p.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("packet 2 (offset 82)"), "{err}");
    assert!(
        err.contains("header length 12 below the minimum of 20"),
        "{err}"
    );
    assert!(err.contains("1 malformed packets"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let flows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["pkts_toserver"], 2);
}

/// Raw IP and Linux cooked captures decode like Ethernet ones.
#[test]
fn raw_ip_and_linux_cooked_link_types() {
    let dir = tempdir("links");
    let eth = eth_ipv4_udp(5);
    let raw = dir.join("raw.pcap");
    write_pcap(&raw, 101, &[(1, 0, eth[14..].to_vec())]);
    let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&eth[14..]);
    let sllp = dir.join("sll.pcap");
    write_pcap(&sllp, 113, &[(1, 0, sll)]);
    for p in [&raw, &sllp] {
        let evs = events(&[p], &[]);
        assert_eq!(evs.len(), 1, "{}", p.display());
        assert_eq!(evs[0]["src_ip"], "10.0.0.1");
        assert_eq!(evs[0]["dst_port"], 53);
    }
    let odd = dir.join("odd.pcap");
    write_pcap(&odd, 147, &[(1, 0, eth.clone())]);
    let out = vigil(&["replay", "--events", "--quiet", odd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("link type 147 is not decoded"));
}
