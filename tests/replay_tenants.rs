//! Enrichment in `vigil replay --tenants`: tenants and zones on both ends, the tenant policy
//! verdict, and VNI spoofing, on a capture built from DESIGN.md's tenants file.

mod common;

use common::*;
use serde_json::Value;

const TENANTS: &str = "\
tenants:
  - id: acme
    cidrs: [10.1.0.0/16]
    vnis: [1001]
  - id: globex
    cidrs: [10.2.0.0/16]
    vnis: [1002]
shared_services:
  - name: dns
    cidrs: [10.255.0.53/32]
    ports: [53]
allow:
  - from: acme
    to: globex
    ports: [443]
infrastructure:
  hypervisors: [192.168.100.0/24]
  management: []
  metadata: [169.254.169.254/32]
";

const SYN: Option<u8> = Some(0x02);
const HV1: [u8; 4] = [192, 168, 100, 1];
const HV2: [u8; 4] = [192, 168, 100, 2];

fn flow<'a>(evs: &'a [Value], dst: &str, dport: u64) -> &'a Value {
    evs.iter()
        .find(|e| e["kind"] == "flow" && e["dst_ip"] == dst && e["dst_port"] == dport)
        .unwrap_or_else(|| panic!("no flow to {dst}:{dport} in {evs:#?}"))
}

#[test]
fn tenants_zones_policy_and_vni_mismatch() {
    let dir = tempdir("tenants");
    let tenants = dir.join("tenants.yaml");
    std::fs::write(&tenants, TENANTS).unwrap();
    let acme = [10, 1, 4, 20];
    let pcap = dir.join("t.pcap");
    write_pcap(
        &pcap,
        1,
        &[
            (
                1,
                0,
                vxlan(
                    HV1,
                    HV2,
                    1001,
                    &eth_ipv4(acme, [10, 2, 9, 30], 40000, 443, SYN, b""),
                ),
            ),
            (
                1,
                1,
                vxlan(
                    HV1,
                    HV2,
                    1001,
                    &eth_ipv4(acme, [10, 2, 9, 30], 40001, 22, SYN, b""),
                ),
            ),
            (
                1,
                2,
                vxlan(
                    HV1,
                    HV2,
                    1001,
                    &eth_ipv4(acme, [10, 1, 7, 7], 40002, 5432, SYN, b""),
                ),
            ),
            (
                1,
                3,
                vxlan(
                    HV1,
                    HV2,
                    1001,
                    &eth_ipv4(acme, [169, 254, 169, 254], 40003, 80, SYN, b""),
                ),
            ),
            (
                1,
                4,
                vxlan(
                    HV1,
                    HV2,
                    1001,
                    &eth_ipv4(acme, [10, 255, 0, 53], 40004, 53, None, b"x"),
                ),
            ),
            (
                1,
                5,
                vxlan(
                    HV1,
                    HV2,
                    1001,
                    &eth_ipv4(acme, [192, 168, 100, 1], 40005, 16509, SYN, b""),
                ),
            ),
            // acme's addresses inside globex's VNI: spoofed or misrouted.
            (
                1,
                6,
                vxlan(
                    HV1,
                    HV2,
                    1002,
                    &eth_ipv4(acme, [10, 1, 7, 8], 40006, 22, SYN, b""),
                ),
            ),
        ],
    );
    let evs = events(&[&pcap], &["--tenants", tenants.to_str().unwrap()]);
    let peering = flow(&evs, "10.2.9.30", 443);
    assert_eq!(peering["src_tenant"], "acme");
    assert_eq!(peering["dst_tenant"], "globex");
    assert_eq!(peering["src_zone"], "tenant");
    assert_eq!(peering["tenant_policy"], "allowed");
    assert_eq!(peering["vni_tenant"], "acme");
    assert_eq!(peering["vni_mismatch"], false);
    assert_eq!(flow(&evs, "10.2.9.30", 22)["tenant_policy"], "denied");
    assert_eq!(flow(&evs, "10.1.7.7", 5432)["tenant_policy"], "intra");
    assert_eq!(flow(&evs, "169.254.169.254", 80)["dst_zone"], "metadata");
    let dns = flow(&evs, "10.255.0.53", 53);
    assert_eq!(dns["dst_zone"], "shared_service");
    assert_eq!(dns["tenant_policy"], "allowed");
    assert_eq!(flow(&evs, "192.168.100.1", 16509)["dst_zone"], "hypervisor");
    let spoof = flow(&evs, "10.1.7.8", 22);
    assert_eq!(spoof["vni"], 1002);
    assert_eq!(spoof["vni_tenant"], "globex");
    assert_eq!(spoof["vni_mismatch"], true);
    // The tunnel's own flow runs between hypervisors.
    let carrier = evs
        .iter()
        .find(|e| e["app_proto"] == "vxlan")
        .expect("carrier flow");
    assert_eq!(carrier["src_zone"], "hypervisor");
}

#[test]
fn bad_tenants_file_names_file_and_line() {
    let dir = tempdir("badtenants");
    let tenants = dir.join("tenants.yaml");
    std::fs::write(
        &tenants,
        "tenants:\n  - id: acme\n    cidrs: [10.1.0.0/33]\n",
    )
    .unwrap();
    let pcap = corpus("pcap/suricata-verify/eve-metadata/testmyids.pcap");
    let out = vigil(&[
        "replay",
        "--tenants",
        tenants.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", tenants.display())), "{err}");
    assert!(err.contains("10.1.0.0/33"), "{err}");
    assert!(out.stdout.is_empty());
}
