//! Tenant isolation: captured on the underlay between hypervisors hv1 and hv2 (VXLAN), tenant
//! acme uses its allowed peering to globex (443), then reaches globex's SSH and NFS, sends a
//! frame through globex's VNI, and touches the management network; VPC flow logs show acme
//! sweeping globex's hosts.

use std::net::Ipv4Addr;

use super::logs;
use super::wire::{self, Conn, Overlay, Pcap};
use super::{at, expect, Input, Scenario, T0};

pub const SUMMARY: &str = "denied cross-tenant SSH and NFS, VNI spoofing, tenant to management network, a cross-tenant sweep in VPC flow logs";

const HV1: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 1);
const HV2: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 2);
const ACME: Ipv4Addr = Ipv4Addr::new(10, 1, 4, 20);

/// RMCP + IPMI 1.5 "Get Channel Authentication Capabilities", the first packet of ipmitool and
/// of IPMI scanners.
const IPMI_GET_CHANNEL_AUTH: [u8; 23] = [
    0x06, 0x00, 0xff, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x20, 0x18,
    0xc8, 0x81, 0x00, 0x38, 0x8e, 0x04, 0xb5,
];

fn vni(v: u32) -> Overlay {
    Overlay {
        outer_src: HV1,
        outer_dst: HV2,
        vni: v,
    }
}

/// The underlay capture, from `base` seconds on.
pub(super) fn underlay_pcap(base: i64) -> Input {
    let mut p = Pcap::new();
    let globex_api = Ipv4Addr::new(10, 2, 9, 30);
    // The allowed peering: acme -> globex:443 (TLS).
    let peering = Conn::new(ACME, 40_100, globex_api, 443).in_overlay(vni(1001));
    let hello = wire::tls_client_hello("api.globex.internal");
    peering.session(
        &mut p,
        at(base + 10).micros(),
        &[(&hello, &[0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00])],
        1_000,
    );
    // Denied: acme -> globex SSH, answered.
    let ssh = Conn::new(ACME, 40_122, globex_api, 22).in_overlay(vni(1001));
    ssh.session(
        &mut p,
        at(base + 30).micros(),
        &[
            (
                b"SSH-2.0-OpenSSH_9.6\r\n",
                b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n",
            ),
            (&wire::ssh_packet(20, 1_080), &wire::ssh_packet(20, 1_200)),
        ],
        400_000,
    );
    // Denied: acme -> globex NFS.
    let nfs = Conn::new(ACME, 812, Ipv4Addr::new(10, 2, 50, 10), 2049).in_overlay(vni(1001));
    nfs.session(
        &mut p,
        at(base + 60).micros(),
        &[(&[0x80, 0, 0, 0x28], &[0x80, 0, 0, 0x18])],
        1_000,
    );
    // acme's addresses inside globex's VNI: a frame injected into (or misrouted through)
    // globex's overlay.
    let spoof = Conn::new(ACME, 40_177, Ipv4Addr::new(10, 1, 7, 8), 22).in_overlay(vni(1002));
    spoof.unanswered(&mut p, at(base + 90).micros());
    // acme -> the management network's IPMI.
    let ipmi = Conn::new(ACME, 49_152, Ipv4Addr::new(192, 168, 200, 10), 623).in_overlay(vni(1001));
    wire::udp_exchange(
        &mut p,
        at(base + 120).micros(),
        &ipmi,
        &IPMI_GET_CHANNEL_AUTH,
        None,
    );
    Input {
        name: "underlay_vxlan.pcap",
        bytes: p.into_bytes(),
    }
}

/// VPC flow logs of globex's subnet: acme's host tries SSH on twelve globex hosts.
pub(super) fn vpc_sweep(base: i64) -> Input {
    let mut s = String::from(logs::VPC_HEADER);
    for i in 0..12u8 {
        let t = T0 + base + 200 + i64::from(i) * 4;
        s += &logs::vpc(
            "eni-0b7e2c4d1a9f30512",
            "10.1.4.20",
            &format!("10.2.9.{}", 40 + i),
            41_000 + u16::from(i),
            22,
            6,
            2,
            120,
            t,
            t + 60,
            "REJECT",
        );
    }
    Input::text("globex_vpc_flow.log", s)
}

pub fn scenario() -> Scenario {
    Scenario {
        name: "tenant-isolation",
        description: "Tenant acme (10.1.0.0/16, VNI 1001) uses its allowed peering to globex on 443, then crosses the boundary: SSH and NFS to globex, a frame spoofed into globex's VNI 1002, IPMI on the management network, and a sweep of globex's hosts seen in VPC flow logs.",
        inputs: vec![underlay_pcap(0), vpc_sweep(0)],
        expect: vec![
            expect("Denied cross-tenant flow answered", &["cloud.tenant_isolation", "attack.defense_evasion", "attack.t1599"], "high"),
            expect("Another tenant's SSH", &["cloud.tenant_isolation", "attack.lateral_movement", "attack.t1021"], "high"),
            expect("Another tenant's storage", &["cloud.tenant_isolation", "attack.collection", "attack.t1530"], "high"),
            expect("Traffic in another tenant's VNI", &["cloud.tenant_isolation", "attack.defense_evasion", "attack.t1599"], "high"),
            expect("Tenant reaches the management network", &["cloud.tenant_isolation", "attack.lateral_movement", "attack.t1210"], "high"),
            expect("Cross-tenant sweep", &["cloud.tenant_isolation", "attack.discovery", "attack.t1046"], "high"),
        ],
    }
}
