//! `vigil replay` over real captures from Suricata's, Zeek's and tcpdump's test suites,
//! compared with what those tools say the captures contain.

mod common;

use common::*;
use serde_json::Value;

fn find<'a>(flows: &[&'a Value], pred: impl Fn(&Value) -> bool) -> Vec<&'a Value> {
    flows.iter().copied().filter(|f| pred(f)).collect()
}

/// suricata-verify vxlan-decoder-01: one flow 53 -> 12345 (inside VXLAN) and one 32021 -> 12345.
#[test]
fn suricata_vxlan_decoder_01() {
    let evs = events(
        &[&corpus("pcap/suricata-verify/vxlan-decoder-01/input.pcap")],
        &[],
    );
    let flows = of_kind(&evs, "flow");
    assert_eq!(
        find(&flows, |f| f["src_port"] == 53 && f["dst_port"] == 12345).len(),
        1
    );
    assert_eq!(
        find(&flows, |f| f["src_port"] == 32021 && f["dst_port"] == 12345).len(),
        1
    );
    let inner = find(&flows, |f| f["src_port"] == 53)[0];
    assert_eq!(inner["tunnel"], "vxlan");
    assert_eq!(inner["vni"], 37);
}

/// suricata-verify geneve-decoder: the ICMP flow inside GENEVE, 4 packets and 392 bytes each way.
#[test]
fn suricata_geneve_decoder() {
    let evs = events(
        &[&corpus("pcap/suricata-verify/geneve-decoder/input.pcap")],
        &[],
    );
    let flows = of_kind(&evs, "flow");
    let icmp = find(&flows, |f| {
        f["src_ip"] == "10.0.0.1" && f["dst_ip"] == "10.0.0.2"
    });
    assert_eq!(icmp.len(), 1, "{flows:#?}");
    let f = icmp[0];
    assert_eq!(f["proto"], "icmp");
    assert_eq!(
        (f["pkts_toserver"].as_u64(), f["pkts_toclient"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        (f["bytes_toserver"].as_u64(), f["bytes_toclient"].as_u64()),
        (Some(392), Some(392))
    );
    assert_eq!(f["state"], "established");
    assert_eq!(f["icmp_type"], 8);
    assert_eq!(f["tunnel"], "geneve");
}

/// suricata-verify netflow-eve on eve-metadata/testmyids.pcap: 6 packets / 425 bytes to the
/// server, 4 / 495 back, flags FSPA, start and end as Suricata reports them.
#[test]
fn suricata_netflow_eve() {
    let evs = events(
        &[&corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap")],
        &[],
    );
    let flows = of_kind(&evs, "flow");
    assert_eq!(flows.len(), 1);
    let f = flows[0];
    assert_eq!(f["src_ip"], "10.16.1.11");
    assert_eq!(f["src_port"], 46652);
    assert_eq!(f["dst_ip"], "82.165.177.154");
    assert_eq!(f["dst_port"], 80);
    assert_eq!(
        (f["pkts_toserver"].as_u64(), f["bytes_toserver"].as_u64()),
        (Some(6), Some(425))
    );
    assert_eq!(
        (f["pkts_toclient"].as_u64(), f["bytes_toclient"].as_u64()),
        (Some(4), Some(495))
    );
    assert_eq!(f["tcp_flags"], "FSPA"); // Suricata: tcp_flags 1b
    assert_eq!(f["start"], "2016-05-27T06:56:11.304062Z");
    assert_eq!(f["end"], "2016-05-27T06:56:11.900923Z");
    assert_eq!(f["state"], "closed");
}

/// suricata-verify community-id-ipv4 (seed 7).
#[test]
fn suricata_community_id_ipv4() {
    let evs = events(
        &[&corpus("pcap/suricata-verify/community-id-ipv4/input.pcap")],
        &["--community-id-seed", "7"],
    );
    let flows = of_kind(&evs, "flow");
    let f = find(&flows, |f| f["src_port"] == 35958 && f["dst_port"] == 443);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["src_ip"], "172.26.0.39");
    assert_eq!(f[0]["dst_ip"], "172.217.14.206");
    assert_eq!(f[0]["community_id"], "1:IwiTNfuO7aCaamMijl+7/X9uLx0=");
}

type Conn = (String, u64, String, u64, String, u64, u64);

fn conn_key(f: &Value) -> Conn {
    (
        f["src_ip"].as_str().unwrap_or("").to_string(),
        f["src_port"].as_u64().unwrap_or(0),
        f["dst_ip"].as_str().unwrap_or("").to_string(),
        f["dst_port"].as_u64().unwrap_or(0),
        f["proto"].as_str().unwrap_or("").to_string(),
        f["pkts_toserver"].as_u64().unwrap_or(0),
        f["pkts_toclient"].as_u64().unwrap_or(0),
    )
}

/// Every connection of Zeek's conn.log (outer tunnel flows and inner flows alike) is one of
/// vigil's flows with the same endpoints and packet counts, and nothing else is.
fn compare_with_zeek(pcap: &str, baseline: &str, tunnel: &str, vni: u64) {
    let evs = events(&[&corpus(pcap)], &[]);
    let flows = of_kind(&evs, "flow");
    let mut ours: Vec<Conn> = flows.iter().map(|f| conn_key(f)).collect();
    let mut zeek: Vec<Conn> = zeek_log(&corpus(&format!("{baseline}/conn.log")))
        .iter()
        .map(|r| {
            (
                r["id.orig_h"].clone(),
                r["id.orig_p"].parse().unwrap_or(0),
                r["id.resp_h"].clone(),
                r["id.resp_p"].parse().unwrap_or(0),
                r["proto"].clone(),
                r["orig_pkts"].parse().unwrap_or(0),
                r["resp_pkts"].parse().unwrap_or(0),
            )
        })
        .collect();
    ours.sort();
    zeek.sort();
    assert_eq!(ours, zeek);
    // Zeek's tunnel.log names the outer connections that carried the tunnel.
    for t in zeek_log(&corpus(&format!("{baseline}/tunnel.log"))) {
        let (h, p) = (&t["id.orig_h"], t["id.orig_p"].parse::<u64>().unwrap_or(0));
        let carrier = find(&flows, |f| f["src_ip"] == h.as_str() && f["src_port"] == p);
        assert_eq!(carrier.len(), 1, "tunnel {h}:{p}");
        assert_eq!(carrier[0]["app_proto"], tunnel);
    }
    // Inner flows carry the tunnel id (as Wireshark decodes it from the same capture).
    let inner = find(&flows, |f| f.get("tunnel").is_some());
    assert!(!inner.is_empty());
    for f in inner {
        assert_eq!(f["tunnel"], tunnel);
        assert_eq!(f["vni"], vni);
    }
}

#[test]
fn zeek_vxlan_matches_conn_log() {
    compare_with_zeek(
        "pcap/zeek/tunnels/vxlan.pcap",
        "pcap/zeek/baseline/core.tunnels.vxlan",
        "vxlan",
        123,
    );
}

#[test]
fn zeek_geneve_matches_conn_log() {
    compare_with_zeek(
        "pcap/zeek/tunnels/geneve.pcap",
        "pcap/zeek/baseline/core.tunnels.geneve",
        "geneve",
        0,
    );
}

/// tcpdump's geneve-vni.out lists the packets of VNI 0xb; vigil's flows in VNI 11 hold
/// exactly those packets, with the same inner endpoints.
#[test]
fn tcpdump_geneve_vni() {
    let out = std::fs::read_to_string(corpus("pcap/tcpdump/geneve-vni.out")).expect("read .out");
    let mut want_pkts = 0u64;
    let mut want_hosts = std::collections::BTreeSet::new();
    for line in out.lines().filter(|l| l.contains("vni 0xb:")) {
        want_pkts += 1;
        let inner = line.split("vni 0xb: IP ").nth(1).unwrap_or("");
        let mut it = inner.split_whitespace();
        let (src, dst) = (
            it.next().unwrap_or(""),
            it.nth(1).unwrap_or("").trim_end_matches(':'),
        );
        let host = |s: &str| s.split('.').take(4).collect::<Vec<_>>().join(".");
        let mut pair = [host(src), host(dst)];
        pair.sort();
        want_hosts.insert(pair);
    }
    assert_eq!(want_pkts, 20);
    let evs = events(&[&corpus("pcap/tcpdump/geneve.pcap")], &[]);
    let flows = of_kind(&evs, "flow");
    let vni11 = find(&flows, |f| f["vni"] == 11);
    let pkts: u64 = vni11
        .iter()
        .map(|f| {
            f["pkts_toserver"].as_u64().unwrap_or(0) + f["pkts_toclient"].as_u64().unwrap_or(0)
        })
        .sum();
    assert_eq!(pkts, want_pkts);
    let hosts: std::collections::BTreeSet<[String; 2]> = vni11
        .iter()
        .map(|f| {
            let mut p = [
                f["src_ip"].as_str().unwrap_or("").to_string(),
                f["dst_ip"].as_str().unwrap_or("").to_string(),
            ];
            p.sort();
            p
        })
        .collect();
    assert_eq!(hosts, want_hosts);
    // The other VNI in the capture (0xa) is kept apart.
    assert!(!find(&flows, |f| f["vni"] == 10).is_empty());
}

/// Pacing by packet time changes how long a replay takes, never what it produces.
#[test]
fn speed_changes_pace_not_output() {
    let pcap = corpus("pcap/suricata-verify/geneve-decoder/input.pcap"); // ~3 s of packet time
    let t = std::time::Instant::now();
    let fast = events(&[&pcap], &[]);
    let fast_time = t.elapsed();
    let t = std::time::Instant::now();
    let paced = events(&[&pcap], &["--speed", "10x"]);
    let paced_time = t.elapsed();
    assert_eq!(fast, paced);
    assert!(
        paced_time.as_secs_f64() >= 0.28,
        "10x of 3 s took only {paced_time:?}"
    );
    assert!(paced_time > fast_time);
}

/// suricata-verify dns/bug-1158: every DNS query Suricata logs is extracted, and responses
/// carry their rcode.
#[test]
fn suricata_dns_bug_1158_queries() {
    let yaml =
        std::fs::read_to_string(corpus("pcap/suricata-verify/dns/bug-1158/test.yaml")).unwrap();
    let want: std::collections::BTreeSet<String> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("dns.queries[0].rrname: "))
        .map(|s| s.trim().trim_matches('\'').trim_matches('"').to_string())
        .collect();
    assert!(want.len() > 10, "expected many queries in test.yaml");
    let evs = events(
        &[&corpus("pcap/suricata-verify/dns/bug-1158/input.pcap")],
        &[],
    );
    let dns = of_kind(&evs, "dns");
    let got: std::collections::BTreeSet<String> = dns
        .iter()
        .filter_map(|e| e["query"].as_str())
        .map(String::from)
        .collect();
    assert_eq!(got, want);
    assert!(dns.iter().any(|e| e["dns_type"] == "answer"
        && e["rcode"] == "NOERROR"
        && e["record_type"] == "TXT"));
    assert!(dns.iter().all(|e| e["logsource"]["category"] == "dns"));
}

/// The TLS flow of community-id-ipv4 is `app_proto: tls` and yields a `tls` event with the
/// SNI Suricata logs, the same community id, and the JA3 Wireshark computes.
#[test]
fn suricata_tls_sni_and_app_proto() {
    let evs = events(
        &[&corpus("pcap/suricata-verify/community-id-ipv4/input.pcap")],
        &["--community-id-seed", "7"],
    );
    let tls = of_kind(&evs, "tls");
    assert_eq!(tls.len(), 1);
    assert_eq!(tls[0]["sni"], "ipv4.google.com");
    assert_eq!(tls[0]["tls_version"], "TLS 1.3");
    assert_eq!(tls[0]["ja3"], "e690df036922288311144cc96acf6515");
    assert_eq!(tls[0]["community_id"], "1:IwiTNfuO7aCaamMijl+7/X9uLx0=");
    let flows = of_kind(&evs, "flow");
    assert_eq!(flows[0]["app_proto"], "tls");
}

/// testmyids.pcap: the HTTP request curl made, as Sigma's proxy fields, and the flow marked http.
#[test]
fn http_request_fields() {
    let evs = events(
        &[&corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap")],
        &[],
    );
    let http = of_kind(&evs, "http");
    assert_eq!(http.len(), 1);
    let h = http[0];
    assert_eq!(h["logsource"]["category"], "proxy");
    assert_eq!(h["cs-method"], "GET");
    assert_eq!(h["c-uri"], "/");
    assert_eq!(h["cs-host"], "www.testmyids.com");
    assert_eq!(h["c-useragent"], "curl/7.43.0");
    assert_eq!(h["http.user_agent"], "curl/7.43.0");
    assert_eq!(of_kind(&evs, "flow")[0]["app_proto"], "http");
}

/// SSH banners of both sides annotate the flow (suricata-verify ssh-hassh).
#[test]
fn ssh_banners_annotate_flows() {
    let evs = events(&[&corpus("pcap/suricata-verify/ssh-hassh/input.pcap")], &[]);
    let ssh = of_kind(&evs, "flow")
        .into_iter()
        .filter(|f| f["app_proto"] == "ssh")
        .collect::<Vec<_>>();
    assert_eq!(ssh.len(), 1);
    assert_eq!(ssh[0]["ssh_client"], "SSH-2.0-OpenSSH_for_Windows_7.7");
    assert_eq!(ssh[0]["ssh_server"], "SSH-2.0-OpenSSH_7.4");
}

/// Zeek's ftp/bruteforce.pcap: every login attempt (USER bro, a redacted PASS) and its 530
/// reply become `ftp` events oriented from the client 192.168.56.1.
#[test]
fn ftp_logins_and_replies() {
    let evs = events(&[&corpus("pcap/zeek/ftp/bruteforce.pcap")], &[]);
    let ftp = of_kind(&evs, "ftp");
    let failed: Vec<_> = ftp.iter().filter(|e| e["ftp_reply_code"] == 530).collect();
    assert_eq!(failed.len(), 30);
    assert!(failed
        .iter()
        .all(|e| e["src_ip"] == "192.168.56.1" && e["dst_port"] == 21));
    let users = ftp
        .iter()
        .filter(|e| e["ftp_command"] == "USER" && e["ftp_arg"] == "bro")
        .count();
    assert_eq!(users, 30);
    assert!(ftp
        .iter()
        .filter(|e| e["ftp_command"] == "PASS")
        .all(|e| e["ftp_arg"] == "********"));
    assert!(of_kind(&evs, "flow")
        .iter()
        .all(|f| f["app_proto"] == "ftp"));
}
