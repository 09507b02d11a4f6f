//! Network attacks inside and against tenant acme: a port scan and a 445 sweep from a
//! compromised host, SSH and RDP brute force from the internet (flows and sshd's log, ending in
//! a successful login), a DNS tunnel with exfiltration, a Monero miner, SMB lateral movement,
//! an internet scan and a large upload seen in VPC flow logs.

use std::net::Ipv4Addr;

use super::logs;
use super::wire::{self, Conn, Pcap, Rng};
use super::{at, expect, Input, Scenario, T0};

pub const SUMMARY: &str = "port scan and sweep, SSH/RDP brute force with a successful login, DNS tunnel and exfiltration, crypto mining, SMB lateral movement, VPC REJECT scan, large upload";

const ATTACKER: Ipv4Addr = Ipv4Addr::new(45, 155, 205, 233);
const WEB01: Ipv4Addr = Ipv4Addr::new(10, 1, 4, 20);
const SCANNER: Ipv4Addr = Ipv4Addr::new(10, 1, 4, 66);
const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 53);
const POOL: Ipv4Addr = Ipv4Addr::new(51, 89, 96, 41);

/// RDP's first exchange: TPKT + X.224 Connection Request with an RDP negotiation request for
/// TLS and CredSSP, and the server's confirm choosing CredSSP (MS-RDPBCGR 2.2.1.1, 2.2.1.2).
const X224_CONNECTION_REQUEST: [u8; 19] = [
    0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08, 0x00, 0x03,
    0x00, 0x00, 0x00,
];
const X224_CONNECTION_CONFIRM: [u8; 19] = [
    0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x1f, 0x08, 0x00, 0x02,
    0x00, 0x00, 0x00,
];

/// A vertical scan of one host and a sweep of port 445, from `base` seconds on.
pub(super) fn scan_pcap(base: i64) -> Input {
    let mut p = Pcap::new();
    let target = Ipv4Addr::new(10, 1, 7, 7);
    for port in 1..=100u16 {
        let c = Conn::new(SCANNER, 60_000 + port, target, port);
        let t = at(base).plus_ms(i64::from(port) * 80).micros();
        if matches!(port, 22 | 80) {
            c.session(&mut p, t, &[(b"", b"SSH-2.0-OpenSSH_9.6\r\n")], 1_000);
        } else {
            c.refused(&mut p, t);
        }
    }
    for host in 1..=30u8 {
        let c = Conn::new(
            SCANNER,
            61_000 + u16::from(host),
            Ipv4Addr::new(10, 1, 8, host),
            445,
        );
        c.unanswered(
            &mut p,
            at(base + 30).plus_ms(i64::from(host) * 120).micros(),
        );
    }
    Input {
        name: "scan.pcap",
        bytes: p.into_bytes(),
    }
}

/// SSH and RDP password guessing from the internet.
pub(super) fn bruteforce_pcap(base: i64) -> Input {
    let mut p = Pcap::new();
    for i in 0..25u16 {
        let t = at(base + 100 + i64::from(i) * 6).micros();
        let ssh = Conn::new(ATTACKER, 40_000 + i, WEB01, 22);
        ssh.session(
            &mut p,
            t,
            &[
                (
                    b"SSH-2.0-libssh2_1.10.0\r\n",
                    b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
                ),
                (&wire::ssh_packet(20, 1_100), &wire::ssh_packet(20, 1_300)),
            ],
            300_000,
        );
        let rdp = Conn::new(ATTACKER, 50_000 + i, Ipv4Addr::new(10, 1, 4, 21), 3389);
        rdp.session(
            &mut p,
            t + 2_500_000,
            &[
                (&X224_CONNECTION_REQUEST, &X224_CONNECTION_CONFIRM),
                (&wire::tls_app_data(900), &wire::tls_app_data(1_400)),
            ],
            200_000,
        );
    }
    Input {
        name: "bruteforce.pcap",
        bytes: p.into_bytes(),
    }
}

/// sshd's log on acme-web01 during the brute force.
pub(super) fn auth_log(base: i64) -> Input {
    let mut s = String::new();
    for i in 0..15u32 {
        let t = at(base + 100 + i64::from(i) * 6).plus_ms(900);
        let port = 40_000 + i;
        if i % 4 == 1 {
            s += &logs::syslog(
                38,
                t,
                "acme-web01",
                "sshd",
                Some(21_877 + i),
                &format!("Invalid user admin from 45.155.205.233 port {port}"),
            );
            s += &logs::syslog(
                38,
                t.plus_ms(40),
                "acme-web01",
                "sshd",
                Some(21_877 + i),
                &format!(
                    "Failed password for invalid user admin from 45.155.205.233 port {port} ssh2"
                ),
            );
        } else {
            s += &logs::syslog(
                38,
                t,
                "acme-web01",
                "sshd",
                Some(21_877 + i),
                &format!("Failed password for root from 45.155.205.233 port {port} ssh2"),
            );
        }
    }
    s += &logs::syslog(
        38,
        at(base + 196),
        "acme-web01",
        "sshd",
        Some(21_950),
        "Accepted password for root from 45.155.205.233 port 40015 ssh2",
    );
    s += &logs::syslog(
        86,
        at(base + 196).plus_ms(8),
        "acme-web01",
        "sshd",
        Some(21_950),
        "pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)",
    );
    Input::text("auth.log", s)
}

/// A DNS tunnel (TXT queries carrying base32 chunks) and a Monero miner.
pub(super) fn dns_and_mining_pcap(base: i64) -> Input {
    let mut p = Pcap::new();
    let mut rng = Rng::new(0x5eed_0007);
    for i in 0..80u16 {
        let name = format!("{}.{i:04x}.t.exfil-c2.net", rng.base32(52));
        let c = Conn::new(WEB01, 33_000 + i, RESOLVER, 53);
        let t = at(base + 300).plus_ms(i64::from(i) * 700).micros();
        let q = wire::dns_query(0x4a00 + i, &name, wire::DNS_TXT);
        let a = wire::dns_answer(
            0x4a00 + i,
            &name,
            wire::DNS_TXT,
            Ipv4Addr::UNSPECIFIED,
            &rng.base32(40),
        );
        wire::udp_exchange(&mut p, t, &c, &q, Some(&a));
    }
    // The miner resolves its pool, speaks stratum+tls on 443 and plain stratum on 3333.
    let c = Conn::new(WEB01, 34_001, RESOLVER, 53);
    let q = wire::dns_query(0x7101, "pool.supportxmr.com", wire::DNS_A);
    let a = wire::dns_answer(0x7101, "pool.supportxmr.com", wire::DNS_A, POOL, "");
    wire::udp_exchange(&mut p, at(base + 400).micros(), &c, &q, Some(&a));
    let tls = Conn::new(WEB01, 46_001, POOL, 443);
    tls.session(
        &mut p,
        at(base + 401).micros(),
        &[(
            &wire::tls_client_hello("pool.supportxmr.com"),
            &[0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00],
        )],
        1_000,
    );
    let login = b"{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"login\",\"params\":{\"login\":\"44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A\",\"pass\":\"x\",\"agent\":\"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0\"}}\n";
    let job = b"{\"id\":1,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"id\":\"6d1f\",\"job\":{\"blob\":\"1010c7a4b8\",\"job_id\":\"a1\",\"target\":\"b88d0600\",\"algo\":\"rx/0\"},\"status\":\"OK\"}}\n";
    let share = b"{\"id\":2,\"jsonrpc\":\"2.0\",\"method\":\"submit\",\"params\":{\"id\":\"6d1f\",\"job_id\":\"a1\",\"nonce\":\"0f2a0000\",\"result\":\"e2f1\"}}\n";
    let ok = b"{\"id\":2,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"status\":\"OK\"}}\n";
    let mut exchanges: Vec<(&[u8], &[u8])> = vec![(login, job)];
    exchanges.extend(std::iter::repeat_n((&share[..], &ok[..]), 20));
    Conn::new(WEB01, 46_100, POOL, 3333).session(
        &mut p,
        at(base + 402).micros(),
        &exchanges,
        30_000_000,
    );
    Input {
        name: "dns_tunnel_and_mining.pcap",
        bytes: p.into_bytes(),
    }
}

/// SMB sessions from acme-web01 to six hosts of its tenant, and one WinRM session.
pub(super) fn lateral_pcap(base: i64) -> Input {
    let mut p = Pcap::new();
    let negotiate = [
        0xfe, b'S', b'M', b'B', 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    for host in 1..=6u8 {
        let c = Conn::new(
            WEB01,
            49_700 + u16::from(host),
            Ipv4Addr::new(10, 1, 9, host),
            445,
        );
        c.session(
            &mut p,
            at(base + 1_000 + i64::from(host) * 20).micros(),
            &[(&negotiate, &negotiate), (&[0u8; 600], &[0u8; 400])],
            100_000,
        );
    }
    let winrm = wire::http_request(
        "POST",
        "/wsman",
        "10.1.9.3:5985",
        "Microsoft WinRM Client",
        &[("Content-Type", "application/soap+xml;charset=UTF-8")],
    );
    let c = Conn::new(WEB01, 49_800, Ipv4Addr::new(10, 1, 9, 3), 5985);
    c.session(
        &mut p,
        at(base + 1_200).micros(),
        &[(
            &winrm,
            &wire::http_ok("application/soap+xml", "<s:Envelope/>"),
        )],
        1_000,
    );
    Input {
        name: "lateral.pcap",
        bytes: p.into_bytes(),
    }
}

/// VPC flow logs: an internet scanner rejected on 20 ports, and a 300 MB upload.
pub(super) fn vpc_log(base: i64) -> Input {
    let mut s = String::from(logs::VPC_HEADER);
    let ports = [
        21, 22, 23, 25, 80, 110, 135, 139, 143, 443, 445, 993, 1433, 3306, 3389, 5432, 5900, 6379,
        8080, 9200,
    ];
    for (i, port) in ports.iter().enumerate() {
        let t = T0 + base + 1_500 + i as i64 * 3;
        s += &logs::vpc(
            "eni-0a1b2c3d4e5f60718",
            "89.248.165.52",
            "10.1.4.20",
            47_000 + i as u16,
            *port,
            6,
            1,
            40,
            t,
            t + 60,
            "REJECT",
        );
    }
    let t = T0 + base + 1_800;
    s += &logs::vpc(
        "eni-0a1b2c3d4e5f60718",
        "10.1.4.20",
        "149.28.77.14",
        51_515,
        443,
        6,
        212_000,
        300_114_000,
        t,
        t + 540,
        "ACCEPT",
    );
    Input::text("acme_vpc_flow.log", s)
}

pub fn scenario() -> Scenario {
    Scenario {
        name: "network-attacks",
        description: "Tenant acme under attack: 10.1.4.66 scans 10.1.7.7 and sweeps port 445; 45.155.205.233 brute-forces SSH (and logs in) and RDP; acme-web01 tunnels data over DNS to exfil-c2.net, mines Monero at pool.supportxmr.com, moves laterally over SMB, and uploads 300 MB; an internet scanner is rejected on 20 ports (VPC flow logs).",
        inputs: vec![scan_pcap(0), bruteforce_pcap(0), auth_log(0), dns_and_mining_pcap(0), lateral_pcap(0), vpc_log(0)],
        expect: vec![
            expect("Vertical port scan", &["attack.discovery", "attack.t1046"], "medium"),
            expect("SSH brute force", &["attack.credential_access", "attack.t1110.001"], "medium"),
            expect("Login after brute force", &["attack.initial_access", "attack.t1110.001", "attack.t1078"], "high"),
            expect("DNS tunnel", &["attack.command_and_control", "attack.t1071.004"], "high"),
            expect("DNS exfiltration", &["attack.exfiltration", "attack.t1048.003"], "high"),
            expect("Crypto mining", &["attack.impact", "attack.t1496"], "high"),
            expect("SMB lateral movement", &["attack.lateral_movement", "attack.t1021.002"], "high"),
            expect("Internet scan rejected", &["attack.reconnaissance", "attack.t1595.001"], "medium"),
            expect("Large upload", &["attack.exfiltration", "attack.t1567"], "medium"),
        ],
    }
}
